//! The client-credentials grant (RFC 6749 §4.4): authenticate the client, narrow the scope,
//! sign an RFC 9068 access token. Reads the key; writes nothing.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::budget::Spent;
use super::credential::Denied;
use super::{Authority, Refusal};
use crate::domain::audience::{Audiences, Target};
use crate::domain::issuer::Issuer;
use crate::domain::oauth::ClientAuth;
use crate::domain::scope::{Scope, format_scope_list, parse_scope_list};
use crate::domain::secret::random_id;
use crate::domain::token::{self, AccessClaims, expiry};
use crate::domain::usage::{TokenAuth, UsageEvent};
use crate::service::{ServiceError, ServiceResult};
use crate::store::Conn;

#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `iss` of every token, exactly as configured, and the issuer tokens are verified against.
    pub issuer: Issuer,
    /// What a token's `aud` may be (RFC 8707); a token is taken only when one of its audiences
    /// is among them.
    pub audiences: Audiences,
    pub ttl: Duration,
}

/// A token request: who the client says it is, the scope and the audiences it asks for, where
/// it comes from.
pub struct GrantRequest {
    pub client: ClientAuth,
    pub scope: Option<String>,
    /// The RFC 8707 resources asked for, checked against `TokenSettings::audiences` before the
    /// request gets here (`Audiences::target`); the default audience when none.
    pub target: Target,
    pub ip: IpAddr,
}

/// A successful grant. `Debug` leaves the token out.
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub key_id: String,
    pub org_id: String,
    /// How the client authenticated, for usage.
    pub auth: TokenAuth,
    /// What the token cost the key's rate limits and quota.
    pub spent: Spent,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// RFC 6749 §4.4, metered as a token issued or a denial of the key the client named.
    pub fn grant(
        &self,
        conn: &mut Conn<'_>,
        request: &GrantRequest,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Issued, Refusal>> {
        let outcome = self.issue(conn, request, now)?;
        Ok(self.settle(
            outcome,
            |issued| (&issued.key_id, UsageEvent::TokenIssued(issued.auth)),
            request.ip,
            super::claimed(&request.client),
            now,
        ))
    }

    fn issue(
        &self,
        conn: &mut Conn<'_>,
        request: &GrantRequest,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Issued, Denied>> {
        let found = match self.client(conn, &request.client, request.ip, now)? {
            Ok(found) => found,
            Err(denied) => return Ok(Err(denied)),
        };
        let key = &found.key;
        // The caller holds this client's valid secret from here on: it may be told why.
        if let Err(refusal) = key.admit(Some(request.ip), now) {
            return Ok(Err(Denied::of(refusal, &key.id)));
        }
        let granted = match narrow_scope(&key.scopes, request.scope.as_deref()) {
            Ok(s) => s,
            Err(detail) => {
                return Ok(Err(Denied::of(Refusal::ScopeNotAllowed(detail), &key.id)));
            }
        };
        // Last of the checks, and before signing: a refusal spends nothing, and a run that stops
        // here for want of the database has spent nothing either.
        let spent = match self.budget.take(conn, key, 1, now)? {
            Ok(spent) => spent,
            Err(refusal) => return Ok(Err(Denied::of(refusal, &key.id))),
        };
        let signer = match self.ring.signer(&key.org_id) {
            Some(s) => s,
            None => {
                self.ring.reload_if_stale(conn.get()?)?;
                self.ring.signer(&key.org_id).ok_or_else(|| {
                    ServiceError::Crypto(format!("org {} has no signing key", key.org_id))
                })?
            }
        };
        let settings = &self.tokens;
        let exp = expiry(now, settings.ttl.as_secs(), key.token_limit(found.slot));
        let scope = format_scope_list(&granted);
        let jti = token::jti(&random_id("", 22), key.secrets.generation_of(found.slot));
        let claims = AccessClaims::<&str> {
            iss: settings.issuer.as_str(),
            sub: &key.id,
            client_id: &key.id,
            org_id: &key.org_id,
            aud: settings.audiences.audience(&request.target),
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
            key_id: key.id.clone(),
            org_id: key.org_id.clone(),
            auth: request.client.token_auth(&key.id),
            spent,
        }))
    }
}

/// RFC 6749 §3.3: omitted = every scope of the key; otherwise each requested scope must be
/// covered by one of the key's scopes (same action or `*`, covering filter). `Err` says why.
pub fn narrow_scope(held: &[Scope], requested: Option<&str>) -> Result<Vec<Scope>, String> {
    let Some(text) = requested else {
        return Ok(held.to_vec());
    };
    let wanted = parse_scope_list(text)?;
    if wanted.is_empty() {
        return Ok(held.to_vec());
    }
    let mut granted: Vec<Scope> = Vec::with_capacity(wanted.len());
    for w in wanted {
        if !held.iter().any(|h| h.covers(&w)) {
            return Err(format!(
                "scope `{w}` is not covered by the scopes of this key"
            ));
        }
        if !granted.contains(&w) {
            granted.push(w);
        }
    }
    Ok(granted)
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
            assert!(narrow_scope(&held, Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(
            narrow_scope(&scopes("*:*"), Some("write:x admin:y")).unwrap(),
            scopes("write:x admin:y")
        );
    }
}
