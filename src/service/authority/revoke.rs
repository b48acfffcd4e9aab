//! RFC 7009 token revocation: access tokens by `jti` (until they expire), API-key secrets by
//! revoking the key.

use chrono::{DateTime, Utc};

use super::{Authority, Refusal};
use crate::domain::oauth::{OAuthError, OAuthErrorCode};
use crate::domain::scope::Action;
use crate::service::actor::Actor;
use crate::service::{ServiceError, ServiceResult, audit};
use crate::store::{self, Conn, DbConnection};

/// Why nothing was revoked, other than there being nothing to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRevoked {
    /// `unauthorized_client`: the token is another client's, and the caller has no `admin` over
    /// its key (RFC 7009 §2.1).
    Error(OAuthError),
    /// The caller is throttled and the token would need a database lookup: it must ask again
    /// (a revocation silently dropped would be worse than a 429).
    Refused(Refusal),
}

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

impl Authority {
    /// RFC 7009 §2.1 for an authenticated caller. There is no `token_type_hint` parameter: a
    /// hint "MUST NOT" stop the search (§2.1), and telling a token from a secret costs nothing
    /// (a secret has no `.`), so a hint, whatever it says, changes nothing. Writes (the denylist or the key) and
    /// forgets on this node what it revoked; other nodes learn it from the change feed.
    pub fn revoke(
        &self,
        conn: &mut DbConnection,
        caller: &Actor,
        token: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Revoked, NotRevoked>> {
        let subject = match self.subject(&mut Conn::Attached(conn), caller, token, now)? {
            Ok(s) => s,
            Err(Refusal::Throttled(wait)) => {
                return Ok(Err(NotRevoked::Refused(Refusal::Throttled(wait))));
            }
            // Unknown, invalid, already dead or another org's: 200 all the same (§2.2).
            Err(_) => return Ok(Ok(Revoked::Nothing)),
        };
        if !may_revoke(caller, &subject.key.id) {
            return Ok(Err(NotRevoked::Error(not_yours())));
        }
        match &subject.token {
            Some(token) => {
                let claims = &token.claims;
                let expires = DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
                store::write_tx(conn, |conn| {
                    store::revoked_tokens::insert(conn, &claims.jti, &claims.org_id, expires, now)?;
                    let details = serde_json::json!({"jti": claims.jti, "expires_at": expires});
                    audit::record(
                        conn,
                        caller,
                        audit::action::TOKEN_REVOKED,
                        &claims.client_id,
                        details,
                        now,
                    )?;
                    Ok::<_, ServiceError>(store::change_log::append(
                        conn,
                        store::change_log::KIND_TOKEN,
                        &claims.jti,
                        now,
                    )?)
                })?;
                self.keys.revoke_token(&claims.jti, claims.exp);
                Ok(Ok(Revoked::AccessToken))
            }
            None => {
                let revoked = crate::service::keys::revoke(conn, caller, &subject.key.id, now)?;
                self.forget(&subject.key.id);
                for session in &revoked.ended_sessions {
                    self.forget(session);
                }
                Ok(Ok(Revoked::ApiKey))
            }
        }
    }
}
