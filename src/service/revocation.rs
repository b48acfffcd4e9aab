//! RFC 7009 token revocation: access tokens by `jti` (until they expire), API-key secrets by
//! revoking the key.

use chrono::{DateTime, Utc};

use super::audit;
use super::auth::identify_secret;
use super::keycache::KeyCache;
use super::keyring::KeyRing;
use super::keys::Actor;
use super::tokens;
use super::{ServiceError, ServiceResult};
use crate::domain::oauth::{OAuthError, OAuthErrorCode};
use crate::domain::scope::Action;
use crate::store::{self, Conn, DbConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    AccessToken,
    ApiKey,
    /// Unknown, invalid, already dead or another org's: RFC 7009 §2.2 answers 200 all the same.
    Nothing,
}

/// The caller may revoke what was issued to it, and anything of a key it holds `admin` over.
fn may_revoke(caller: &Actor, key_id: &str) -> bool {
    caller.key_id.as_deref() == Some(key_id)
        || caller
            .scopes
            .iter()
            .any(|s| s.allows(Action::Admin, &format!("keys/{key_id}")))
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        OAuthErrorCode::UnauthorizedClient,
        "the token was issued to another client",
    )
}

// Each argument is a distinct input of RFC 7009 §2.1 or a cache the hot path needs; a bundle
// struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn revoke(
    conn: &mut DbConnection,
    ring: &KeyRing,
    keys: &KeyCache,
    issuer: &str,
    caller: &Actor,
    token: &str,
    hint: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<Result<Revoked, OAuthError>> {
    if hint == Some("refresh_token") {
        return Ok(Err(OAuthError::new(
            OAuthErrorCode::UnsupportedTokenType,
            "this server issues no refresh tokens",
        )));
    }
    if token.contains('.') {
        return Ok(
            match tokens::verify(&mut Conn::Attached(conn), ring, keys, issuer, token, now)? {
                Ok(v) if v.claims.org_id != caller.org_id => Ok(Revoked::Nothing),
                Ok(v) if !may_revoke(caller, &v.claims.client_id) => Err(not_yours()),
                Ok(v) => {
                    let expires = DateTime::from_timestamp(v.claims.exp, 0).unwrap_or(now);
                    store::write_tx(conn, |conn| {
                        store::revoked_tokens::insert(
                            conn,
                            &v.claims.jti,
                            &v.claims.org_id,
                            expires,
                            now,
                        )?;
                        let details =
                            serde_json::json!({"jti": v.claims.jti, "expires_at": expires});
                        audit::record(
                            conn,
                            caller,
                            audit::action::TOKEN_REVOKED,
                            &v.claims.client_id,
                            details,
                            now,
                        )?;
                        Ok::<_, ServiceError>(store::change_log::append(
                            conn,
                            store::change_log::KIND_TOKEN,
                            &v.claims.jti,
                            now,
                        )?)
                    })?;
                    keys.revoke_token(&v.claims.jti, v.claims.exp);
                    Ok(Revoked::AccessToken)
                }
                Err(_) => Ok(Revoked::Nothing),
            },
        );
    }
    Ok(
        match identify_secret(&mut Conn::Attached(conn), keys, token, now)? {
            Ok(key) if key.org_id != caller.org_id => Ok(Revoked::Nothing),
            Ok(key) if !may_revoke(caller, &key.key_id) => Err(not_yours()),
            Ok(key) => {
                super::keys::revoke(conn, caller, &key.key_id, now)?;
                keys.invalidate(&key.key_id);
                Ok(Revoked::ApiKey)
            }
            Err(_) => Ok(Revoked::Nothing),
        },
    )
}
