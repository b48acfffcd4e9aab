//! The audit trail: who did what, to what, when and from where. Every entry is written by the
//! use case that makes the change, inside its transaction, so no change goes unrecorded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::actor::Actor;
use super::{ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::secret::KeyId;
use crate::store::audit::{self as store_audit, Filter, NewEvent};
use crate::store::{self, DbConnection};

/// What the command line is recorded as.
pub const CLI_ACTOR: &str = "cli";
/// What Latchkey itself is recorded as (an endpoint disabled after failing for days).
pub const SYSTEM_ACTOR: &str = "system";

/// The recorded action names (stable: clients filter on them).
pub mod action {
    pub const ORG_BOOTSTRAPPED: &str = "org.bootstrapped";
    pub const KEY_CREATED: &str = "key.created";
    pub const KEY_UPDATED: &str = "key.updated";
    pub const KEY_REVOKED: &str = "key.revoked";
    pub const KEY_ROLLED: &str = "key.rolled";
    pub const KEY_QUOTA_CHANGED: &str = "key.quota_changed";
    pub const SIGNING_KEY_ROTATED: &str = "signing_key.rotated";
    pub const TOKEN_REVOKED: &str = "token.revoked";
    pub const KEY_LEAKED: &str = "key.leaked";
    pub const ORG_UPDATED: &str = "org.updated";
    pub const WEBHOOK_CREATED: &str = "webhook.created";
    pub const WEBHOOK_UPDATED: &str = "webhook.updated";
    pub const WEBHOOK_DELETED: &str = "webhook.deleted";
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
    pub const WEBHOOK_DELIVERY_RETRIED: &str = "webhook.delivery_retried";
    pub const ALL: [&str; 15] = [
        ORG_BOOTSTRAPPED,
        KEY_CREATED,
        KEY_UPDATED,
        KEY_REVOKED,
        KEY_ROLLED,
        KEY_QUOTA_CHANGED,
        SIGNING_KEY_ROTATED,
        TOKEN_REVOKED,
        KEY_LEAKED,
        ORG_UPDATED,
        WEBHOOK_CREATED,
        WEBHOOK_UPDATED,
        WEBHOOK_DELETED,
        WEBHOOK_DISABLED,
        WEBHOOK_DELIVERY_RETRIED,
    ];
}

/// What a console session's actions are recorded as made through (`actor_via`).
pub const VIA_CONSOLE: &str = "console";

/// Records one event; call inside the change's transaction. What a console session does is
/// credited to the key that started it, via the console: the person at the console signed in
/// with that key, and the session is only how the console holds on to it.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    target: &str,
    details: Value,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let ip = actor.ip.map(|ip| ip.to_string());
    let (who, session) = match &actor.session_parent {
        Some(parent) => (parent.as_str(), actor.key_id.as_deref()),
        None => (actor.key_id.as_deref().unwrap_or(CLI_ACTOR), None),
    };
    insert(
        conn,
        &actor.org_id,
        (who, session),
        ip,
        (action, target, details),
        now,
    )
}

/// Records an event of `org_id` made by someone other than a key of it: Latchkey itself
/// (`SYSTEM_ACTOR`) or a leak reporter. Call inside the change's transaction.
pub fn record_as(
    conn: &mut DbConnection,
    org_id: &str,
    actor: &str,
    action: &str,
    target: &str,
    details: Value,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    insert(
        conn,
        org_id,
        (actor, None),
        None,
        (action, target, details),
        now,
    )
}

/// Who made a change, for a use case that is reached both by callers and by reporters who are
/// not keys of the org (a leak report revokes a key, and with it the key's console sessions).
#[derive(Debug, Clone, Copy)]
pub enum Recorder<'a> {
    /// A key of the org, or the command line (`record`).
    Caller(&'a Actor),
    /// Latchkey itself or a reporter, by the name the trail shows (`record_as`).
    As(&'a str),
}

impl Recorder<'_> {
    /// Records one event of `org_id` as made by this recorder; call inside the change's
    /// transaction.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        org_id: &str,
        action: &str,
        target: &str,
        details: Value,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        match self {
            Recorder::Caller(actor) => record(conn, actor, action, target, details, now),
            Recorder::As(who) => record_as(conn, org_id, who, action, target, details, now),
        }
    }
}

/// The one write of an audit event: `who` is the actor and the console session it acted
/// through, if any; `what` its action, target and details.
fn insert(
    conn: &mut DbConnection,
    org_id: &str,
    (actor, actor_session): (&str, Option<&str>),
    ip: Option<String>,
    (action, target, details): (&str, &str, Value),
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    store_audit::insert(
        conn,
        &NewEvent {
            org_id,
            at: now,
            actor,
            action,
            target,
            ip,
            details: details.to_string(),
            actor_session,
        },
    )?;
    Ok(())
}

/// `GET /v1/audit` parameters as received (text); the OpenAPI document describes the accepted
/// values.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action (`action_schema`, which also carries this description: utoipa leaves
    /// a `schema_with` parameter's doc comment out).
    #[param(schema_with = action_schema)]
    pub action: Option<String>,
    /// Only events about this target (e.g. a key id).
    pub target: Option<String>,
    /// Page size: 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The `action` filter's schema: one of `action::ALL`.
fn action_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(action::ALL))
        .description(Some("Only events of this action."))
        .build()
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The acting key id; `cli` for the command line; `system` for Latchkey itself; or who
    /// reported a leaked secret (`leak-report:<key id>`, `github-secret-scanning`). A change
    /// made through a web-console session is credited to the key that signed in (the session's
    /// parent), with `actor_via` and `actor_session` saying so.
    pub actor: String,
    /// The actor key's name, read now (so a renamed key shows its current name); null when the
    /// actor is not a key of the org.
    pub actor_name: Option<String>,
    /// `console` when the change was made through a web-console session; else null.
    #[schema(value_type = Option<String>, example = "console")]
    pub actor_via: Option<&'static str>,
    /// The console session key that made the change (`actor_via: console`); else null.
    pub actor_session: Option<String>,
    #[schema(example = "key.created")]
    pub action: String,
    /// What the action was done to, e.g. a key id or a signing key's kid.
    pub target: String,
    /// The target key's name, read now; null when the target is not a key of the org.
    pub target_name: Option<String>,
    pub ip: Option<String>,
    /// What changed (before/after values for updates); never a secret.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: i64) -> String {
    super::encode_cursor("evt", id)
}

fn decode_cursor(text: &str) -> Option<i64> {
    super::decode_cursor("evt", text)
}

fn parse(p: &AuditParams) -> ServiceResult<Filter> {
    let mut errors = Vec::new();
    let limit = super::page_limit(p.limit.as_deref(), &mut errors);
    let before_id = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => decode_cursor(c).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor returned by this API",
            ));
            None
        }),
    };
    let action = p.action.clone();
    if let Some(a) = action.as_deref().filter(|a| !action::ALL.contains(a)) {
        errors.push(FieldError::new(
            "action",
            format!("{a:?} is not one of {}", action::ALL.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    Ok(Filter {
        action,
        target: p.target.clone().filter(|t| !t.is_empty()),
        before_id,
        limit,
    })
}

/// Newest first, cursor-paginated, optionally by action and target.
pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    params: &AuditParams,
) -> ServiceResult<AuditPage> {
    let filter = parse(params)?;
    // Targets are key ids and kids, free of control characters: a target with one matches
    // nothing, taken literally, and is not sent (PostgreSQL's text cannot even carry a NUL).
    if filter
        .target
        .as_deref()
        .is_some_and(|t| t.chars().any(char::is_control))
    {
        return Ok(AuditPage {
            events: Vec::new(),
            next_cursor: None,
        });
    }
    let mut rows = store_audit::list(
        conn,
        org_id,
        &Filter {
            limit: filter.limit + 1,
            ..filter.clone()
        },
    )?;
    let more = rows.len() as i64 > filter.limit;
    rows.truncate(filter.limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    let names = key_names(conn, org_id, &rows)?;
    let name_of = |id: &str| names.get(id).map(|l| l.name.clone());
    let events = rows
        .into_iter()
        .map(|r| AuditEvent {
            id: format!("evt_{}", r.id),
            at: r.at.and_utc(),
            actor_name: name_of(&r.actor),
            actor: r.actor,
            actor_via: r.actor_session.as_ref().map(|_| VIA_CONSOLE),
            actor_session: r.actor_session,
            action: r.action,
            target_name: name_of(&r.target),
            target: r.target,
            ip: r.ip,
            details: serde_json::from_str(&r.details).unwrap_or(Value::Null),
        })
        .collect();
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

/// The names of the keys a page of events names as actor or target, in one read.
fn key_names(
    conn: &mut DbConnection,
    org_id: &str,
    rows: &[store_audit::EventRow],
) -> ServiceResult<std::collections::HashMap<String, store::keys::KeyLabel>> {
    let mut ids: Vec<String> = rows
        .iter()
        .flat_map(|r| [&r.actor, &r.target])
        .filter(|id| KeyId::parse(id).is_ok())
        .cloned()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(store::keys::labels(conn, org_id, &ids)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_filters_are_validated() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("junk"), None);
        let bad = AuditParams {
            action: Some("key.exploded".into()),
            limit: Some("0".into()),
            cursor: Some("x".into()),
            ..Default::default()
        };
        match parse(&bad) {
            Err(ServiceError::Validation(e)) => {
                assert_eq!(
                    e.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
                    vec!["limit", "cursor", "action"]
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
