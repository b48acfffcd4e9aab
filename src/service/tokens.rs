//! Issuing access tokens (client-credentials grant) and verifying them.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::auth::{AuthFailure, KeyPrincipal, identify_secret};
use super::keycache::KeyCache;
use super::keyring::KeyRing;
use super::{ServiceError, ServiceResult};
use crate::crypto::jws::{self, VerifyError};
use crate::domain::oauth::{ClientCredentials, OAuthError, OAuthErrorCode};
use crate::domain::scope::{Scope, format_scope_list, parse_scope_list};
use crate::domain::secret::random_id;
use crate::domain::token::{AccessClaims, expiry};
use crate::store::{self, Conn};

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl: Duration,
}

/// A successful grant. `Debug` leaves the token out.
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub key_id: String,
    pub org_id: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A refused grant: the RFC 6749 error for the client, and the metering reason
/// (`bad_secret`, `revoked`, `expired`, `ip_not_allowed`, `scope_not_allowed`).
#[derive(Debug, Clone)]
pub struct Denied {
    pub error: OAuthError,
    pub reason: &'static str,
    /// The key the request was for (for a bad secret: the client_id it claimed).
    pub key_id: Option<String>,
    /// The credentials were not valid at all (see `callers::Refusal::guessed`).
    pub guessed: bool,
}

/// RFC 6749 §4.4: authenticate the client, narrow the scope, sign. Reads the key; writes nothing.
// Each argument is a distinct input of the grant or a cache the hot path needs; a bundle
// struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    conn: &mut Conn<'_>,
    ring: &KeyRing,
    keys: &KeyCache,
    settings: &TokenSettings,
    creds: &ClientCredentials,
    requested_scope: Option<&str>,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<Issued, Denied>> {
    // The secret is looked up by digest alone and the id compared afterwards, so a wrong id and a
    // wrong secret take the same path (no early exit that tells ids apart).
    let key = match identify_secret(conn, keys, &creds.client_secret, now)? {
        Ok(key) if key.key_id == creds.client_id => key,
        // An unknown secret, or the secret of another key (whatever that key's state): a bad
        // secret for the client named. Nothing about the other key is told or metered.
        Ok(_) | Err(_) => {
            return Ok(Err(Denied {
                error: OAuthError::invalid_client("client authentication failed"),
                reason: AuthFailure::UnknownSecret.reason(),
                // The key the client claims to be: metered as a bad-secret attempt on it (the
                // flush drops ids that name no key).
                key_id: Some(creds.client_id.clone()),
                guessed: true,
            }));
        }
    };
    // The caller holds this client's valid secret from here on: it may be told why.
    if let Err(failure) = key.admit(Some(client_ip)) {
        return Ok(Err(Denied {
            error: OAuthError::invalid_client(failure.describe()),
            reason: failure.reason(),
            key_id: Some(key.key_id),
            guessed: false,
        }));
    }
    let granted = match narrow_scope(&key.scopes, requested_scope) {
        Ok(s) => s,
        Err(error) => {
            return Ok(Err(Denied {
                error,
                reason: "scope_not_allowed",
                key_id: Some(key.key_id),
                guessed: false,
            }));
        }
    };
    let signer = match ring.signer(&key.org_id) {
        Some(s) => s,
        None => {
            ring.reload_if_stale(conn.get()?)?;
            ring.signer(&key.org_id).ok_or_else(|| {
                ServiceError::Crypto(format!("org {} has no signing key", key.org_id))
            })?
        }
    };
    let exp = expiry(now, settings.ttl.as_secs(), key.expires_at);
    let scope = format_scope_list(&granted);
    let jti = random_id("", 22);
    let claims = AccessClaims::<&str> {
        iss: &settings.issuer,
        sub: &key.key_id,
        client_id: &key.key_id,
        org_id: &key.org_id,
        aud: &settings.audience,
        iat: now.timestamp(),
        exp,
        jti: &jti,
        scope: &scope,
    };
    let access_token = signer
        .sign(&claims)
        .map_err(|e| ServiceError::Crypto(e.to_string()))?;
    Ok(Ok(Issued {
        access_token,
        expires_in: (exp - now.timestamp()).max(0),
        scope,
        key_id: key.key_id,
        org_id: key.org_id,
    }))
}

/// RFC 6749 §3.3: omitted = every scope of the key; otherwise each requested scope must be
/// covered by one of the key's scopes (same action or `*`, covering filter).
pub fn narrow_scope(held: &[Scope], requested: Option<&str>) -> Result<Vec<Scope>, OAuthError> {
    let Some(text) = requested else {
        return Ok(held.to_vec());
    };
    let wanted =
        parse_scope_list(text).map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e))?;
    if wanted.is_empty() {
        return Ok(held.to_vec());
    }
    let mut granted: Vec<Scope> = Vec::with_capacity(wanted.len());
    for w in wanted {
        if !held.iter().any(|h| h.covers(&w)) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                format!("scope `{w}` is not covered by the scopes of this key"),
            ));
        }
        if !granted.contains(&w) {
            granted.push(w);
        }
    }
    Ok(granted)
}

/// A token that verified and whose key is still active.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub claims: AccessClaims,
    /// The token's scopes still covered by the key's current scopes: narrowing a key narrows its
    /// outstanding tokens at once.
    pub scopes: Vec<Scope>,
    pub key: KeyPrincipal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Invalid(VerifyError),
    UnknownKid,
    /// Signed by one org's key but claiming another org.
    OrgMismatch,
    KeyGone,
    KeyInactive(AuthFailure),
    /// Revoked through `POST /oauth/revoke` (RFC 7009).
    TokenRevoked,
}

/// Signature, `alg`, `typ`, `kid`, `exp`, `iss`, org binding, the revocation list, and the
/// key's live status.
pub fn verify(
    conn: &mut Conn<'_>,
    ring: &KeyRing,
    keys: &KeyCache,
    issuer: &str,
    token: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Result<VerifiedToken, TokenRejection>> {
    let (kid, _) = match jws::peek_header(token) {
        Ok(h) => h,
        Err(e) => return Ok(Err(TokenRejection::Invalid(e))),
    };
    let verifier = match ring.verifier(&kid) {
        Some(v) => v,
        None => {
            ring.reload_if_stale(conn.get()?)?;
            match ring.verifier(&kid) {
                Some(v) => v,
                None => return Ok(Err(TokenRejection::UnknownKid)),
            }
        }
    };
    let claims: AccessClaims = match verifier.verify(token, issuer) {
        Ok(c) => c,
        Err(e) => return Ok(Err(TokenRejection::Invalid(e))),
    };
    if claims.org_id != verifier.org_id || claims.sub != claims.client_id {
        return Ok(Err(TokenRejection::OrgMismatch));
    }
    let revoked = match keys.token_revoked(&claims.jti) {
        Some(known) => known,
        None => store::revoked_tokens::is_revoked(conn.get()?, &claims.jti)?,
    };
    if revoked {
        return Ok(Err(TokenRejection::TokenRevoked));
    }
    let key = match keys
        .by_id(&claims.client_id)
        .filter(|k| k.org_id == claims.org_id)
    {
        Some(cached) => cached.at(now),
        None => {
            let ticket = keys.ticket();
            let Some(record) = store::keys::find(conn.get()?, &claims.org_id, &claims.client_id)?
            else {
                return Ok(Err(TokenRejection::KeyGone));
            };
            let key = KeyPrincipal::from_record(record, now)?;
            keys.insert(ticket, None, key.clone());
            key
        }
    };
    if let Err(f) = key.admit(None) {
        return Ok(Err(TokenRejection::KeyInactive(f)));
    }
    let scopes = parse_scope_list(&claims.scope)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| key.scopes.iter().any(|h| h.covers(s)))
        .collect();
    Ok(Ok(VerifiedToken {
        claims,
        scopes,
        key,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scopes(s: &str) -> Vec<Scope> {
        parse_scope_list(s).unwrap()
    }

    #[test]
    fn scope_is_narrowed_by_covering() {
        let held = scopes("read:projects/** admin:keys");
        assert_eq!(narrow_scope(&held, None).unwrap(), held);
        assert_eq!(
            narrow_scope(&held, Some("read:projects/42/**")).unwrap(),
            scopes("read:projects/42/**")
        );
        assert_eq!(
            narrow_scope(&held, Some("read:projects/1 read:projects/1")).unwrap(),
            scopes("read:projects/1")
        );
        for bad in [
            "write:projects/1",
            "read:*",
            "*:projects/1",
            "admin:keys/x",
            "read:a//b",
            "bogus",
        ] {
            assert_eq!(
                narrow_scope(&held, Some(bad)).unwrap_err().code,
                OAuthErrorCode::InvalidScope,
                "{bad}"
            );
        }
        assert_eq!(
            narrow_scope(&scopes("*:*"), Some("write:x admin:y")).unwrap(),
            scopes("write:x admin:y")
        );
    }
}
