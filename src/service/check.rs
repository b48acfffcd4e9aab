//! `POST /v1/check`: the access decision a resource server needs for a token or a raw key,
//! when it cannot (or would rather not) verify JWTs itself.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{AuthFailure, KeyPrincipal, identify_secret};
use super::keycache::KeyCache;
use super::keyring::KeyRing;
use super::tokens::{self, TokenRejection};
use super::{ServiceError, ServiceResult};
use crate::crypto::jws::VerifyError;
use crate::domain::FieldError;
use crate::domain::scope::{Action, Scope, format_scope_list, is_valid_resource};

/// Fields are optional here so that each missing one is reported by name; the OpenAPI schema
/// states which are required.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "The body of `POST /v1/check`.")]
pub struct CheckRequest {
    /// An access token or an API-key secret of the caller's org.
    #[schema(value_type = String, min_length = 1)]
    pub token: Option<String>,
    #[schema(value_type = Action)]
    pub action: Option<String>,
    /// A concrete resource path (no wildcards), e.g. `projects/42/files/7`: segments of 1–128
    /// characters of `[A-Za-z0-9._~-]` joined by `/`, at most 512 characters in all.
    #[schema(
        value_type = String,
        example = "projects/42/files/7",
        pattern = "^[A-Za-z0-9._~-]{1,128}(/[A-Za-z0-9._~-]{1,128})*$",
        max_length = 512
    )]
    pub resource: Option<String>,
    /// The address the request came from, checked against the key's allowed CIDRs.
    #[schema(value_type = Option<String>, example = "203.0.113.7")]
    pub ip: Option<String>,
}

/// The answer of `POST /v1/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Decision {
    pub allowed: bool,
    /// `allowed`, `invalid_token`, `revoked`, `expired`, `ip_not_allowed`, `scope_not_allowed`.
    #[schema(example = "allowed")]
    pub reason: &'static str,
    /// The key behind the credential; `null` when it is not a valid credential of this org.
    pub key_id: Option<String>,
    /// The scopes the credential carries now (for a token: its scopes still covered by the key's).
    pub scopes: Vec<String>,
}

impl Decision {
    fn deny(reason: &'static str, key_id: Option<String>, scopes: &[Scope]) -> Self {
        Decision {
            allowed: false,
            reason,
            key_id,
            scopes: scope_strings(scopes),
        }
    }
}

fn scope_strings(scopes: &[Scope]) -> Vec<String> {
    format_scope_list(scopes)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

struct Valid {
    token: String,
    action: Action,
    resource: String,
    ip: Option<IpAddr>,
}

fn validate(req: &CheckRequest) -> Result<Valid, Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = req.token.clone().filter(|t| !t.is_empty());
    if token.is_none() {
        errors.push(FieldError::new(
            "token",
            "is required: an access token or an API-key secret",
        ));
    }
    let action = match req.action.as_deref() {
        Some(a) => Action::parse(a)
            .map_err(|m| errors.push(FieldError::new("action", m)))
            .ok(),
        None => {
            errors.push(FieldError::new("action", "is required"));
            None
        }
    };
    let resource = match req.resource.as_deref() {
        Some(r) if is_valid_resource(r) => Some(r.to_owned()),
        Some(_) => {
            errors.push(FieldError::new(
                "resource",
                "must be a concrete resource path: segments of [A-Za-z0-9._~-] joined by '/', no wildcards",
            ));
            None
        }
        None => {
            errors.push(FieldError::new("resource", "is required"));
            None
        }
    };
    let ip = match req.ip.as_deref() {
        None => None,
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => Some(crate::domain::client_ip::unmap(ip)),
            Err(_) => {
                errors.push(FieldError::new("ip", "must be an IPv4 or IPv6 address"));
                None
            }
        },
    };
    match (token, action, resource) {
        (Some(token), Some(action), Some(resource)) if errors.is_empty() => Ok(Valid {
            token,
            action,
            resource,
            ip,
        }),
        _ => Err(errors),
    }
}

/// Decides for a credential of the caller's org; anything else is `invalid_token`.
pub fn check(
    conn: &mut crate::store::Conn<'_>,
    ring: &KeyRing,
    keys: &KeyCache,
    issuer: &str,
    caller_org: &str,
    req: &CheckRequest,
    now: DateTime<Utc>,
) -> ServiceResult<Decision> {
    let v = validate(req).map_err(ServiceError::Validation)?;
    let (key, scopes): (KeyPrincipal, Vec<Scope>) = if v.token.contains('.') {
        match tokens::verify(conn, ring, keys, issuer, &v.token, now)? {
            Ok(t) if t.key.org_id == caller_org => (t.key, t.scopes),
            Ok(_) => return Ok(Decision::deny("invalid_token", None, &[])),
            Err(TokenRejection::Invalid(VerifyError::Expired)) => {
                return Ok(Decision::deny("expired", None, &[]));
            }
            Err(TokenRejection::TokenRevoked) => return Ok(Decision::deny("revoked", None, &[])),
            Err(TokenRejection::KeyInactive(f)) => {
                return Ok(Decision::deny(f.reason(), None, &[]));
            }
            Err(_) => return Ok(Decision::deny("invalid_token", None, &[])),
        }
    } else {
        match identify_secret(conn, keys, &v.token, now)? {
            Ok(k) if k.org_id == caller_org => {
                let scopes = k.scopes.clone();
                (k, scopes)
            }
            _ => return Ok(Decision::deny("invalid_token", None, &[])),
        }
    };
    let key_id = Some(key.key_id.clone());
    if let Err(f) = key.admit(v.ip) {
        let reason = if f == AuthFailure::IpNotAllowed {
            "ip_not_allowed"
        } else {
            f.reason()
        };
        return Ok(Decision::deny(reason, key_id, &scopes));
    }
    if !scopes.iter().any(|s| s.allows(v.action, &v.resource)) {
        return Ok(Decision::deny("scope_not_allowed", key_id, &scopes));
    }
    Ok(Decision {
        allowed: true,
        reason: "allowed",
        key_id,
        scopes: scope_strings(&scopes),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(
        token: Option<&str>,
        action: Option<&str>,
        resource: Option<&str>,
        ip: Option<&str>,
    ) -> CheckRequest {
        CheckRequest {
            token: token.map(str::to_owned),
            action: action.map(str::to_owned),
            resource: resource.map(str::to_owned),
            ip: ip.map(str::to_owned),
        }
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        let fields = |r: CheckRequest| -> Vec<String> {
            validate(&r)
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert!(
            fields(req(
                Some("t"),
                Some("read"),
                Some("projects/1"),
                Some("::ffff:10.0.0.1")
            ))
            .is_empty()
        );
        assert_eq!(
            fields(req(None, None, None, None)),
            vec!["token", "action", "resource"]
        );
        assert_eq!(
            fields(req(
                Some("t"),
                Some("fly"),
                Some("projects/*"),
                Some("nope")
            )),
            vec!["action", "resource", "ip"]
        );
        assert_eq!(
            validate(&req(
                Some("t"),
                Some("read"),
                Some("a"),
                Some("::ffff:10.0.0.1")
            ))
            .ok()
            .unwrap()
            .ip,
            Some("10.0.0.1".parse().unwrap())
        );
    }
}
