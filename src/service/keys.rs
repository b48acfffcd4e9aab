//! The API-key lifecycle: create (secret shown once), list, get, update, revoke.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use serde_json::json;

use super::actor::Actor;
use super::{ServiceError, ServiceResult, audit};
use crate::domain::FieldError;
use crate::domain::Warning;
use crate::domain::ip_rules::IpRules;
use crate::domain::key::{self, KeyDraft, KeyPatch, KeyStatus};
use crate::domain::scope::{Action, Scope, format_scope_list, parse_scope_list};
use crate::domain::secret::{KeyId, Secret};
use crate::store::keys::{KeyChanges, KeyRecord, ListQuery, NewKey, Position, StatusFilter};
use crate::store::{self, DbConnection, StoreError};

/// A scope in object form: an action over a resource filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Scope)]
pub struct ScopeView {
    #[schema(value_type = Action)]
    pub action: &'static str,
    /// `*` for every resource, or `/`-separated segments where `*` is one segment and a final
    /// `**` any number of them, e.g. `projects/42/**`: at most 32 segments, each `*`, `**` or
    /// 1–128 characters of `[A-Za-z0-9._~-]`; empty means `*`. (The pattern states
    /// `domain::scope::ResourceFilter::parse`; the document's wire-form scopes reuse it.)
    #[schema(
        example = "projects/42/**",
        pattern = r"^(((\*|[A-Za-z0-9._~-]{1,128})/){0,31}(\*\*?|[A-Za-z0-9._~-]{1,128}))?$",
        max_length = 512
    )]
    pub resource: String,
}

/// The key object of the API. It has no secret and no digest, by construction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Key)]
pub struct KeyView {
    /// Public id, also the OAuth `client_id` (empty in a dry-run preview).
    #[schema(example = "key_8fQx2mWc0r9ZtLkP")]
    pub id: String,
    pub name: String,
    pub status: KeyStatus,
    pub scopes: Vec<ScopeView>,
    /// Canonical networks the key may be used from; empty means anywhere.
    pub allowed_cidrs: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The secret's prefix and last characters, to recognise it (`lk_…9fQx`).
    #[schema(example = "lk_…9fQx")]
    pub secret_hint: String,
    /// After a roll with a grace period: when the previous secret stops working (else null).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
}

impl KeyView {
    fn from_record(r: KeyRecord, now: DateTime<Utc>) -> ServiceResult<Self> {
        let scopes = parse_scope_list(&r.scopes)
            .map_err(|e| StoreError::Corrupt(format!("key {}: scopes: {e}", r.id)))?;
        Ok(KeyView {
            status: KeyStatus::of(r.revoked_at, r.expires_at, now),
            scopes: scopes.iter().map(scope_view).collect(),
            allowed_cidrs: split_list(&r.allowed_cidrs),
            id: r.id,
            name: r.name,
            expires_at: r.expires_at,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
            secret_hint: r.secret_hint,
            previous_secret_expires_at: r.previous_secret_expires_at.filter(|t| *t > now),
        })
    }
}

fn scope_view(s: &Scope) -> ScopeView {
    ScopeView {
        action: s.action.as_str(),
        resource: s.resource.to_string(),
    }
}

pub(crate) fn split_list(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Result of a create: `secret` is `None` on a dry run.
#[derive(Debug)]
pub struct Created {
    pub key: KeyView,
    pub secret: Option<Secret>,
    pub warnings: Vec<Warning>,
}

/// Validates, applies the no-escalation rule, then (unless `dry_run`) stores the key.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &KeyDraft,
    dry_run: bool,
    now: DateTime<Utc>,
) -> ServiceResult<Created> {
    let (valid, warnings) = key::validate_create(draft, now).map_err(ServiceError::Validation)?;
    check_escalation(actor, &valid.scopes)?;
    if dry_run {
        let preview = KeyView {
            id: String::new(),
            name: valid.name,
            status: KeyStatus::Active,
            scopes: valid.scopes.iter().map(scope_view).collect(),
            allowed_cidrs: valid.ip_rules.to_strings(),
            expires_at: valid.expires_at,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            secret_hint: String::new(),
            previous_secret_expires_at: None,
        };
        return Ok(Created {
            key: preview,
            secret: None,
            warnings,
        });
    }
    let (view, secret) = store::write_tx(conn, |conn| {
        let (view, secret) = insert_new(
            conn,
            &actor.org_id,
            &valid.name,
            &valid.scopes,
            &valid.ip_rules,
            valid.expires_at,
            now,
        )?;
        let details = json!({
            "name": view.name,
            "scopes": scope_strings(&view),
            "allowed_cidrs": view.allowed_cidrs,
            "expires_at": view.expires_at,
        });
        audit::record(
            conn,
            actor,
            audit::action::KEY_CREATED,
            &view.id,
            details,
            now,
        )?;
        Ok::<_, ServiceError>((view, secret))
    })?;
    Ok(Created {
        key: view,
        secret: Some(secret),
        warnings,
    })
}

/// Stores a new key with a fresh id and secret; only the secret's digest is written.
pub(crate) fn insert_new(
    conn: &mut DbConnection,
    org_id: &str,
    name: &str,
    scopes: &[Scope],
    ip_rules: &IpRules,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ServiceResult<(KeyView, Secret)> {
    let id = KeyId::generate();
    let secret = Secret::generate();
    let scopes_text = format_scope_list(scopes);
    let cidrs_text = ip_rules.to_strings().join(" ");
    let hint = secret.hint();
    store::keys::insert(
        conn,
        &NewKey {
            id: id.as_str(),
            org_id,
            name,
            secret_digest: secret.digest().as_bytes(),
            secret_hint: &hint,
            scopes: &scopes_text,
            allowed_cidrs: &cidrs_text,
            expires_at,
            now,
        },
    )?;
    let view = KeyView {
        id: id.as_str().to_owned(),
        name: name.to_owned(),
        status: KeyStatus::of(None, expires_at, now),
        scopes: scopes.iter().map(scope_view).collect(),
        allowed_cidrs: ip_rules.to_strings(),
        expires_at,
        created_at: now,
        revoked_at: None,
        last_used_at: None,
        secret_hint: hint,
        previous_secret_expires_at: None,
    };
    Ok((view, secret))
}

fn check_escalation(actor: &Actor, wanted: &[Scope]) -> ServiceResult<()> {
    let errors = key::escalation_errors(&actor.scopes, wanted);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Escalation(errors))
    }
}

/// Whether the caller covers all of the stored key's scopes: the standing needed to roll it,
/// change its scopes or loosen its limits (`key::standing_errors`).
fn standing(actor: &Actor, current: &store::keys::KeyRecord) -> ServiceResult<Vec<FieldError>> {
    let held = parse_scope_list(&current.scopes)
        .map_err(|e| StoreError::Corrupt(format!("key {}: scopes: {e}", current.id)))?;
    Ok(key::standing_errors(&actor.scopes, &held))
}

/// A caller without standing over the key may only rename it or tighten its limits: not change
/// its scopes, even to narrow them (`key::patch_standing_errors` says why). Judged on the row
/// as locked, before the change.
fn check_patch_standing(
    actor: &Actor,
    current: &store::keys::KeyRecord,
    patch: &key::ValidPatch,
) -> ServiceResult<()> {
    if standing(actor, current)?.is_empty() {
        return Ok(());
    }
    let rules = IpRules::from_canonical(&split_list(&current.allowed_cidrs))
        .map_err(|e| StoreError::Corrupt(format!("key {}: {e}", current.id)))?;
    let errors = key::patch_standing_errors(patch, &rules, current.expires_at);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Escalation(errors))
    }
}

pub fn get(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<KeyView> {
    let record = store::keys::find(conn, org_id, id)?
        .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
    KeyView::from_record(record, now)
}

pub use super::{DEFAULT_LIMIT, MAX_LIMIT};

/// `GET /v1/keys` parameters as received (text), validated here so the CLI and HTTP agree.
/// The OpenAPI document describes the accepted values.
#[derive(Debug, Default, Clone, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active` (the default), `expired`, `revoked` or `all`.
    #[param(value_type = Option<String>, pattern = "^(active|expired|revoked|all)$")]
    pub status: Option<String>,
    /// Case-insensitive substring of the key name.
    pub search: Option<String>,
    /// Page size: 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = KeyPage)]
pub struct Page {
    pub keys: Vec<KeyView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    params: &ListParams,
    now: DateTime<Utc>,
) -> ServiceResult<Page> {
    let query = parse_list_params(params)?;
    // One row more than asked tells whether there is a next page without a second query.
    let mut rows = store::keys::list(
        conn,
        org_id,
        &ListQuery {
            limit: query.limit + 1,
            ..query.clone()
        },
        now,
    )?;
    let next_cursor = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|r| {
            encode_cursor(&Position {
                created_at: r.created_at,
                id: r.id.clone(),
            })
        })
    } else {
        None
    };
    let keys = rows
        .into_iter()
        .map(|r| KeyView::from_record(r, now))
        .collect::<ServiceResult<_>>()?;
    Ok(Page { keys, next_cursor })
}

fn parse_list_params(p: &ListParams) -> ServiceResult<ListQuery> {
    let mut errors = Vec::new();
    let status = match p.status.as_deref().unwrap_or("active") {
        "active" => StatusFilter::Active,
        "expired" => StatusFilter::Expired,
        "revoked" => StatusFilter::Revoked,
        "all" => StatusFilter::All,
        other => {
            errors.push(FieldError::new(
                "status",
                format!("{other:?} is not one of active, expired, revoked, all"),
            ));
            StatusFilter::Active
        }
    };
    let limit = super::page_limit(p.limit.as_deref(), &mut errors);
    let after = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => decode_cursor(c).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor returned by this API",
            ));
            None
        }),
    };
    let search = p
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > key::NAME_MAX_CHARS)
    {
        errors.push(FieldError::new(
            "search",
            "is longer than any key name can be",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    Ok(ListQuery {
        status,
        search,
        limit,
        after,
    })
}

/// Opaque to clients: base64url of `<created_at µs>.<key id>`.
fn encode_cursor(pos: &Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", pos.created_at.timestamp_micros(), pos.id))
}

fn decode_cursor(text: &str) -> Option<Position> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let (micros, id) = raw.split_once('.')?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    KeyId::parse(id).ok()?;
    Some(Position {
        created_at,
        id: id.to_owned(),
    })
}

#[derive(Debug)]
pub struct Updated {
    pub key: KeyView,
    pub warnings: Vec<Warning>,
}

/// Applies a PATCH. Takes effect at once: the key is re-read from the database on every use.
/// New scopes must be covered by the caller (`check_escalation`); changing the key's scopes or
/// loosening its limits needs standing over it (`check_patch_standing`).
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    patch: &KeyPatch,
    dry_run: bool,
    now: DateTime<Utc>,
) -> ServiceResult<Updated> {
    let (valid, warnings) = key::validate_patch(patch, now).map_err(ServiceError::Validation)?;
    if let Some(scopes) = &valid.scopes {
        check_escalation(actor, scopes)?;
    }
    store::write_tx(conn, |conn| {
        let current = store::keys::find_locked(conn, &actor.org_id, id)?
            .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
        if current.revoked_at.is_some() {
            return Err(ServiceError::KeyRevoked(id.to_owned()));
        }
        check_patch_standing(actor, &current, &valid)?;
        let changes = KeyChanges {
            name: valid.name.clone(),
            scopes: valid.scopes.as_deref().map(format_scope_list),
            allowed_cidrs: valid.ip_rules.as_ref().map(|r| r.to_strings().join(" ")),
            expires_at: valid.expires_at,
        };
        let mut next = current.clone();
        if let Some(n) = &changes.name {
            next.name = n.clone();
        }
        if let Some(s) = &changes.scopes {
            next.scopes = s.clone();
        }
        if let Some(c) = &changes.allowed_cidrs {
            next.allowed_cidrs = c.clone();
        }
        if let Some(e) = changes.expires_at {
            next.expires_at = e;
        }
        let before = KeyView::from_record(current, now)?;
        let after = KeyView::from_record(next, now)?;
        if !dry_run {
            if !store::keys::update(conn, &actor.org_id, id, &changes, now)? {
                return Err(ServiceError::KeyRevoked(id.to_owned()));
            }
            let details = json!({"before": changed_fields(&before, &changes), "after": changed_fields(&after, &changes)});
            audit::record(conn, actor, audit::action::KEY_UPDATED, id, details, now)?;
            store::change_log::append(conn, store::change_log::KIND_KEY, id, now)?;
        }
        Ok(Updated {
            key: after,
            warnings: warnings.clone(),
        })
    })
}

/// Longest grace period for the previous secret after a roll.
pub const MAX_ROLL_GRACE_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug)]
pub struct Rolled {
    pub key: KeyView,
    pub secret: Secret,
}

/// A new secret for the same key id (so the same OAuth `client_id`): the old one keeps working
/// for `grace_seconds` (0 = stops at once), for rotating a secret without downtime. No
/// escalation: only a caller whose scopes cover all of the key's may roll it.
pub fn roll(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    grace_seconds: Option<i64>,
    now: DateTime<Utc>,
) -> ServiceResult<Rolled> {
    let grace = grace_seconds.unwrap_or(0);
    if !(0..=MAX_ROLL_GRACE_SECS).contains(&grace) {
        return Err(ServiceError::Validation(vec![FieldError::new(
            "grace_seconds",
            format!("must be a whole number of seconds from 0 to {MAX_ROLL_GRACE_SECS} (7 days)"),
        )]));
    }
    let org_id = actor.org_id.as_str();
    let secret = Secret::generate();
    let until = (grace > 0).then(|| now + chrono::Duration::seconds(grace));
    store::write_tx(conn, |conn| {
        let current = store::keys::find_locked(conn, org_id, id)?
            .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
        if current.revoked_at.is_some() {
            return Err(ServiceError::KeyRevoked(id.to_owned()));
        }
        // The caller receives the new secret: otherwise an admin of keys could roll a wider key
        // and become it.
        let errors = standing(actor, &current)?;
        if !errors.is_empty() {
            return Err(ServiceError::Escalation(errors));
        }
        if !store::keys::roll_secret(
            conn,
            org_id,
            id,
            secret.digest().as_bytes(),
            &secret.hint(),
            until,
            now,
        )? {
            return Err(ServiceError::KeyRevoked(id.to_owned()));
        }
        let key = get(conn, org_id, id, now)?;
        let details = json!({"grace_seconds": grace, "previous_secret_expires_at": key.previous_secret_expires_at});
        audit::record(conn, actor, audit::action::KEY_ROLLED, id, details, now)?;
        store::change_log::append(conn, store::change_log::KIND_KEY, id, now)?;
        Ok(Rolled {
            key,
            secret: secret.clone(),
        })
    })
}

/// Permanent and idempotent: revoking a revoked key returns it unchanged.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<KeyView> {
    store::write_tx(conn, |conn| {
        let newly = store::keys::revoke(conn, &actor.org_id, id, now)?;
        let key = get(conn, &actor.org_id, id, now)?;
        // A repeated revoke changes nothing, so it records nothing.
        if newly {
            audit::record(
                conn,
                actor,
                audit::action::KEY_REVOKED,
                id,
                json!({"name": key.name}),
                now,
            )?;
            store::change_log::append(conn, store::change_log::KIND_KEY, id, now)?;
        }
        Ok(key)
    })
}

fn scope_strings(k: &KeyView) -> Vec<String> {
    k.scopes
        .iter()
        .map(|s| format!("{}:{}", s.action, s.resource))
        .collect()
}

/// The fields a PATCH touched, as they are in `k`: the before/after of the audit entry.
fn changed_fields(k: &KeyView, changes: &KeyChanges) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    if changes.name.is_some() {
        m.insert("name".into(), json!(k.name));
    }
    if changes.scopes.is_some() {
        m.insert("scopes".into(), json!(scope_strings(k)));
    }
    if changes.allowed_cidrs.is_some() {
        m.insert("allowed_cidrs".into(), json!(k.allowed_cidrs));
    }
    if changes.expires_at.is_some() {
        m.insert("expires_at".into(), json!(k.expires_at));
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let pos = Position {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "key_abcdefghijklmnop".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&pos)), Some(pos));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("12.bad id")), None);
    }

    #[test]
    fn list_parameters_are_validated() {
        let bad = ListParams {
            status: Some("gone".into()),
            limit: Some("0".into()),
            cursor: Some("x".into()),
            ..Default::default()
        };
        match parse_list_params(&bad) {
            Err(ServiceError::Validation(e)) => {
                let f: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(f, vec!["status", "limit", "cursor"]);
            }
            other => panic!("expected validation error, got {other:?}"),
        }
        let q = parse_list_params(&ListParams {
            search: Some("  CI ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.search.as_deref(), Some("ci"));
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.status, StatusFilter::Active);
    }
}
