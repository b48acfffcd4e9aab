//! `POST /v1/check`: the access decision a resource server needs for a token or a raw key,
//! when it cannot (or would rather not) verify JWTs itself.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::budget::Spent;
use super::credential::{Denied, Gate, looks_like_token};
use super::keycache::CachedKey;
use super::{Authority, Refusal};
use crate::domain::FieldError;
use crate::domain::limits::{LimitState, MAX_COST, whole_number};
use crate::domain::refusal::CheckReason;
use crate::domain::scope::{Action, Scope, is_valid_resource};
use crate::domain::usage::UsageEvent;
use crate::service::actor::Actor;
use crate::service::{ServiceError, ServiceResult};
use crate::store::Conn;

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
    /// Units this request spends from every rate limit and the quota of the key behind the
    /// credential: a whole number from 0 to 10,000, default 1. A refused check spends nothing.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 10000, example = 1)]
    pub cost: Option<serde_json::Value>,
}

/// The answer of `POST /v1/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Decision {
    pub allowed: bool,
    pub reason: CheckReason,
    /// The key behind the credential; `null` when it is not a valid credential of this org.
    pub key_id: Option<String>,
    /// The scopes the credential carries now (for a token: its scopes still covered by the key's).
    pub scopes: Vec<String>,
    /// The key's metadata, when the credential is a valid one of this org.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The key's most restrictive rate limit after this check (`null` when it has none, or
    /// the check was refused before the limits were counted).
    pub ratelimit: Option<LimitState>,
    /// The key's quota credits left after this check; `null` when unlimited (or not counted).
    pub quota_remaining: Option<u64>,
}

impl Decision {
    fn deny(reason: CheckReason, key_id: Option<String>, scopes: &[Scope]) -> Self {
        Decision {
            allowed: false,
            reason,
            key_id,
            scopes: scope_strings(scopes),
            metadata: None,
            ratelimit: None,
            quota_remaining: None,
        }
    }
}

/// Each scope in its wire form (`action:filter`; a scope has no whitespace), written once: on
/// every `/v1/check` answer, so not through the space-joined list and back.
fn scope_strings(scopes: &[Scope]) -> Vec<String> {
    scopes.iter().map(Scope::to_string).collect()
}

struct Valid {
    token: String,
    action: Action,
    resource: String,
    ip: Option<IpAddr>,
    cost: u64,
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
    let cost = match &req.cost {
        None | Some(serde_json::Value::Null) => Some(1),
        Some(v) => whole_number(v)
            .filter(|c| *c <= u64::from(MAX_COST))
            .or_else(|| {
                errors.push(FieldError::new(
                    "cost",
                    format!("must be a whole number from 0 to {MAX_COST}"),
                ));
                None
            }),
    };
    match (token, action, resource, cost) {
        (Some(token), Some(action), Some(resource), Some(cost)) if errors.is_empty() => Ok(Valid {
            token,
            action,
            resource,
            ip,
            cost,
        }),
        _ => Err(errors),
    }
}

/// The credential a caller asks about (introspection, `/v1/check`): a key of the caller's
/// org, and the scopes the credential carries.
pub(super) struct Subject {
    pub key: std::sync::Arc<CachedKey>,
    pub scopes: Vec<Scope>,
    /// Set for an access token.
    pub token: Option<std::sync::Arc<super::verified::Verified>>,
}

impl Authority {
    /// What a caller's credential `presented` is: a live token or a secret of a key of the
    /// caller's org (anything else is just not valid: `BadToken` or `BadSecret`, never told
    /// apart for another org's). A secret's key may be inactive (the caller decides what that
    /// means); a token's must be active. An unknown secret counts against the asking key, and a
    /// key that has used up that allowance gets no more lookups of secrets the node does not
    /// hold: `Throttled`.
    pub(super) fn subject(
        &self,
        conn: &mut Conn<'_>,
        caller: &Actor,
        presented: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Subject, Refusal>> {
        let ip = caller.ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if looks_like_token(presented) {
            return Ok(
                match self.verify_token(conn, presented, Some(&caller.org_id), ip, now)? {
                    Ok(t) => Ok(Subject {
                        key: t.key,
                        scopes: t.scopes,
                        token: Some(t.token),
                    }),
                    Err(Denied { refusal, .. }) => Err(refusal),
                },
            );
        }
        let asker = caller.key_id.as_deref();
        let gate = Gate {
            ip,
            claimed: None,
            asker,
        };
        Ok(match self.identify_secret(conn, presented, gate, now)? {
            Ok(found) if found.key.org_id == caller.org_id => Ok(Subject {
                scopes: found.key.scopes.clone(),
                key: found.key,
                token: None,
            }),
            Ok(_) => Err(Refusal::BadSecret),
            // It cost a lookup: counted against the asking key (`Throttled` once it is over).
            Err(Refusal::BadSecret) => match asker.and_then(|a| self.throttle.asked_unknown(a)) {
                Some(wait) => Err(Refusal::Throttled(wait.0)),
                None => Err(Refusal::BadSecret),
            },
            Err(refusal) => Err(refusal),
        })
    }

    /// Decides for a credential of the caller's org (anything else is `invalid_token`), and
    /// meters the subject's use as the resource server reports it: a request, or a denial.
    /// `Err` only when the caller is throttled.
    pub fn check(
        &self,
        conn: &mut Conn<'_>,
        caller: &Actor,
        request: &CheckRequest,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Decision, Refusal>> {
        let v = validate(request).map_err(ServiceError::Validation)?;
        let subject = match self.subject(conn, caller, &v.token, now)? {
            Ok(s) => s,
            Err(Refusal::Throttled(wait)) => return Ok(Err(Refusal::Throttled(wait))),
            Err(refusal) => return Ok(Ok(Decision::deny(refusal.check_reason(), None, &[]))),
        };
        let key_id = &subject.key.id;
        let refusal = match subject.key.admit(v.ip, now) {
            Err(refusal) => Some(refusal),
            Ok(())
                if !subject
                    .scopes
                    .iter()
                    .any(|s| s.allows(v.action, &v.resource)) =>
            {
                Some(Refusal::ScopeNotAllowed(String::new()))
            }
            Ok(()) => None,
        };
        // Counted last, once everything else allows it: a refused check spends nothing.
        let (refusal, spent) = match refusal {
            Some(r) => (Some(r), Spent::default()),
            None => match self.budget.take(conn, &subject.key, v.cost, now)? {
                Ok(spent) => (None, spent),
                Err(r) => (Some(r), Spent::default()),
            },
        };
        let event = match refusal.as_ref().and_then(Refusal::deny_reason) {
            Some(reason) => UsageEvent::Denied(reason),
            None => UsageEvent::Request,
        };
        self.usage.record(key_id, event, now, v.ip);
        let decision = match refusal {
            Some(r) => Decision {
                ratelimit: r.ratelimit().cloned(),
                ..Decision::deny(r.check_reason(), Some(key_id.clone()), &subject.scopes)
            },
            None => Decision {
                allowed: true,
                reason: CheckReason::Allowed,
                key_id: Some(key_id.clone()),
                scopes: scope_strings(&subject.scopes),
                metadata: None,
                ratelimit: spent.ratelimit,
                quota_remaining: spent.quota_remaining,
            },
        };
        Ok(Ok(Decision {
            metadata: Some(subject.key.attributes.metadata.clone()),
            ..decision
        }))
    }
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
            cost: None,
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
