//! The API-key lifecycle: create (secret shown once), list, get, update, roll, revoke. Each
//! change is one transaction with its audit record, its change-feed entry and its webhook
//! event (`webhooks::publish`, in the outbox: delivered even if the node dies after commit).

pub mod expiry;
mod list;
pub mod quota_alerts;
pub mod sessions;
mod view;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::actor::Actor;
use super::audit::Recorder;
use super::webhooks::{self, Event};
use super::{ServiceError, ServiceResult, audit};
use crate::domain::Warning;
use crate::domain::key::session::{self, SessionEnd};
use crate::domain::key::{self, Key, KeyDraft, KeyPatch, ValidKey, ValidPatch};
use crate::domain::limits::Quota;
use crate::domain::scope::Scope;
use crate::domain::secret::{KeyId, Secret, SecretPrefix};
use crate::domain::webhook::EventType;
use crate::store::{self, DbConnection};

pub use list::{DEFAULT_LIMIT, ListParams, MAX_LIMIT, Page, list};
pub use view::{KeyView, ScopeView};

/// Result of a create: `secret` is `None` on a dry run.
#[derive(Debug)]
pub struct Created {
    pub key: KeyView,
    pub secret: Option<Secret>,
    pub warnings: Vec<Warning>,
}

/// Validates, applies the no-escalation rule, then (unless `dry_run`) stores the key, its
/// secret under the deployment's `prefix`.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    draft: &KeyDraft,
    dry_run: bool,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<Created> {
    let (valid, warnings) = key::validate_create(draft, now).map_err(ServiceError::Validation)?;
    check_escalation(actor, &valid.scopes)?;
    let created_with_secret = valid.attributes.secret;
    if dry_run {
        let preview = valid.into_key(String::new(), &actor.org_id, String::new(), now);
        return Ok(Created {
            key: KeyView::of(&preview, now),
            secret: None,
            warnings,
        });
    }
    let (view, secret) = store::write_tx(conn, |conn| {
        let (view, secret) = insert_new(conn, &actor.org_id, valid.clone(), prefix, now)?;
        let details = serde_json::Value::Object(view.audited());
        audit::record(
            conn,
            actor,
            audit::action::KEY_CREATED,
            &view.id,
            details,
            now,
        )?;
        let event = Event::about_key(EventType::KeyCreated, &view.id, &view, json!({}));
        webhooks::publish(conn, &actor.org_id, &event, now)?;
        Ok::<_, ServiceError>((view, secret))
    })?;
    Ok(Created {
        key: view,
        // A key created without a secret has one nobody is ever shown (its column needs a
        // digest), so it can never authenticate with it.
        secret: created_with_secret.then_some(secret),
        warnings,
    })
}

/// Stores a new key with a fresh id and secret (under `prefix`); only the secret's digest is
/// written.
pub(crate) fn insert_new(
    conn: &mut DbConnection,
    org_id: &str,
    valid: ValidKey,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<(KeyView, Secret)> {
    let secret = Secret::generate_with(prefix);
    let hint = if valid.attributes.secret {
        secret.hint()
    } else {
        String::new()
    };
    let key = valid.into_key(KeyId::generate().as_str().to_owned(), org_id, hint, now);
    store::keys::insert(conn, &key, secret.digest().as_bytes(), now)?;
    if let Some(remaining) = key.attributes.quota.as_ref().and_then(|q| q.remaining) {
        store::limits::set_credits(conn, &key.id, remaining, now)?;
    }
    Ok((KeyView::of(&key, now), secret))
}

fn check_escalation(actor: &Actor, wanted: &[Scope]) -> ServiceResult<()> {
    let errors = key::escalation_errors(&actor.scopes, wanted);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Escalation(errors))
    }
}

/// Refused unless the caller covers all of the stored key's scopes: the standing needed to
/// roll it (`key::standing_errors`).
fn require_standing(actor: &Actor, current: &Key) -> ServiceResult<()> {
    let errors = key::standing_errors(&actor.scopes, &current.scopes);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Escalation(errors))
    }
}

/// A caller without standing over the key may only rename it or tighten its limits: not change
/// its scopes, even to narrow them (`key::patch_standing_errors` says why). Judged on the row
/// as locked, before the change.
fn check_patch_standing(actor: &Actor, current: &Key, patch: &ValidPatch) -> ServiceResult<()> {
    if key::standing_errors(&actor.scopes, &current.scopes).is_empty() {
        return Ok(());
    }
    let errors =
        key::patch_standing_errors(&patch.changes(), &current.ip_rules, current.expires_at);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Escalation(errors))
    }
}

/// A key of the org, locked until the transaction ends; a console session's key or a revoked
/// key cannot be changed.
fn find_changeable(conn: &mut DbConnection, org_id: &str, id: &str) -> ServiceResult<Key> {
    let current = store::keys::find_locked(conn, org_id, id)?
        .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
    session::editable(&current)?;
    if current.revoked_at.is_some() {
        return Err(ServiceError::KeyRevoked(id.to_owned()));
    }
    Ok(current)
}

pub fn get(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<KeyView> {
    let key = store::keys::find(conn, org_id, id)?
        .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
    let mut view = [KeyView::of(&key, now)];
    count_credits(conn, &mut view, now)?;
    let [view] = view;
    Ok(view)
}

/// Fills in the quota credits of keys that have one, as counted now (`store::limits`).
pub(crate) fn count_credits(
    conn: &mut DbConnection,
    views: &mut [KeyView],
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let quotas: Vec<(&str, &crate::domain::limits::Quota)> = views
        .iter()
        .filter_map(|v| v.attributes.quota.as_ref().map(|q| (v.id.as_str(), q)))
        .collect();
    let mut counted = store::limits::remaining_of(conn, &quotas, now)?;
    for view in views {
        if let Some(quota) = view.attributes.quota.as_mut() {
            quota.remaining = Some(counted.remove(&view.id).unwrap_or(0));
        }
    }
    Ok(())
}

/// A change of a quota's credits (`POST /v1/keys/{id}/quota`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditChange {
    /// Adds credits to what is left (a top-up).
    Add(u64),
    /// Sets what is left: credits nodes hold from before are void.
    Set(u64),
}

/// Changes a key's credits atomically and returns what is left after; audited. The key must
/// have a quota and not be revoked.
pub fn change_credits(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: CreditChange,
    now: DateTime<Utc>,
) -> ServiceResult<u64> {
    store::write_tx(conn, |conn| {
        let current = find_changeable(conn, &actor.org_id, id)?;
        let Some(quota) = current.attributes.quota.clone() else {
            return Err(ServiceError::NoQuota(id.to_owned()));
        };
        let details = match change {
            CreditChange::Add(n) => {
                store::limits::add_credits(conn, id, n, &quota, now)?;
                json!({"add": n})
            }
            CreditChange::Set(n) => {
                store::limits::set_credits(conn, id, n, now)?;
                json!({"set": n})
            }
        };
        let remaining = store::limits::remaining_of(conn, &[(id, &quota)], now)?
            .remove(id)
            .unwrap_or(0);
        let mut details = details;
        details["remaining"] = json!(remaining);
        audit::record(
            conn,
            actor,
            audit::action::KEY_QUOTA_CHANGED,
            id,
            details,
            now,
        )?;
        Ok(remaining)
    })
}

#[derive(Debug)]
pub struct Updated {
    pub key: KeyView,
    pub warnings: Vec<Warning>,
    /// The credits were set or the quota removed: what nodes hold of the old ones is void
    /// (`Budget::void_credits`).
    pub credits_reset: bool,
    /// The console sessions the change ended (its scopes, addresses or expiry changed), for
    /// this node to forget at once.
    pub ended_sessions: Vec<String>,
}

/// Applies a PATCH through the one typed patch (`ValidPatch::apply`). Takes effect at once on
/// this node, and on the others through the change feed. New scopes must be covered by the
/// caller (`check_escalation`); changing the key's scopes or loosening its limits needs
/// standing over it (`check_patch_standing`).
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
        let current = find_changeable(conn, &actor.org_id, id)?;
        check_patch_standing(actor, &current, &valid)?;
        let mut next = current.clone();
        valid.apply(&mut next);
        if session::ends_sessions(&current, &next) {
            session::guard_parent(actor.session_parent.as_deref(), id)?;
        }
        if !next.attributes.secret && !next.attributes.takes_assertions() {
            return Err(ServiceError::Validation(vec![key::no_credential_error()]));
        }
        let keeps_credits = next
            .attributes
            .quota
            .as_ref()
            .is_some_and(|q| q.remaining.is_none());
        if keeps_credits && current.attributes.quota.is_none() {
            return Err(ServiceError::Validation(vec![
                crate::domain::FieldError::new(
                    "quota.remaining",
                    "is required: this key has no quota yet, so give the credits to start with",
                ),
            ]));
        }
        let mut views = [KeyView::of(&current, now), KeyView::of(&next, now)];
        count_credits(conn, &mut views[..1], now)?;
        let counted = views[0].attributes.quota.as_ref().and_then(|q| q.remaining);
        if let Some(q) = views[1].attributes.quota.as_mut().filter(|_| keeps_credits) {
            q.remaining = counted;
        }
        let [before, after] = views;
        let mut ended_sessions = Vec::new();
        if !dry_run {
            if !store::keys::update(conn, &next, now)? {
                return Err(ServiceError::KeyRevoked(id.to_owned()));
            }
            match (&valid.attributes.quota, next.attributes.quota.as_ref()) {
                (Some(None), _) => store::limits::remove_credits(conn, id, now)?,
                (Some(Some(_)), Some(quota)) => {
                    if let Some(n) = quota.remaining {
                        store::limits::set_credits(conn, id, n, now)?;
                    }
                }
                _ => {}
            }
            let changes = changed_fields(&before, &after);
            audit::record(
                conn,
                actor,
                audit::action::KEY_UPDATED,
                id,
                changes.clone(),
                now,
            )?;
            let event = Event::about_key(
                EventType::KeyUpdated,
                &after.id,
                &after,
                json!({"changes": changes}),
            );
            webhooks::publish(conn, &actor.org_id, &event, now)?;
            // A session must never keep scopes, addresses, time or credentials its parent no
            // longer has.
            if session::ends_sessions(&current, &next) {
                ended_sessions = sessions::end_with_parent(
                    conn,
                    &current,
                    SessionEnd::ParentChanged,
                    Recorder::Caller(actor),
                    now,
                )?;
            }
            store::change_log::append(conn, store::change_log::KIND_KEY, id, now)?;
        }
        let credits_reset = !dry_run
            && matches!(
                &valid.attributes.quota,
                Some(None)
                    | Some(Some(Quota {
                        remaining: Some(_),
                        ..
                    }))
            );
        Ok(Updated {
            key: after,
            warnings: warnings.clone(),
            credits_reset,
            ended_sessions,
        })
    })
}

/// The audit details of an update: `before` and `after` of each field that changed.
fn changed_fields(before: &KeyView, after: &KeyView) -> serde_json::Value {
    let (mut old, new) = (before.audited(), after.audited());
    old.retain(|name, value| new.get(name) != Some(value));
    let new: serde_json::Map<_, _> = new
        .into_iter()
        .filter(|(name, _)| old.contains_key(name))
        .collect();
    json!({"before": old, "after": new})
}

/// Longest grace period for the previous secret after a roll.
pub const MAX_ROLL_GRACE_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug)]
pub struct Rolled {
    pub key: KeyView,
    pub secret: Secret,
    /// The console sessions the roll ended, for this node to forget at once.
    pub ended_sessions: Vec<String>,
}

/// A new secret for the same key id (so the same OAuth `client_id`): the old one keeps working
/// for `grace_seconds` (0 = stops at once), for rotating a secret without downtime, and the
/// tokens it obtained end with it. No escalation: only a caller whose scopes cover all of the
/// key's may roll it. The new secret has the deployment's `prefix`, whatever the old one had.
/// The key's console sessions end at once, whatever the grace period: a roll may mean the old
/// secret leaked, and a session started with it must not outlive that.
/// What every revocation writes beside the row, in its transaction: the audit record
/// (`key.revoked` by `by`, with `details`), the `key.revoked` event (with `reason`, if any), and
/// the change-feed entry that makes every node's key cache drop the key.
pub(crate) fn record_revocation(
    conn: &mut DbConnection,
    by: Recorder<'_>,
    view: &KeyView,
    org_id: &str,
    details: serde_json::Value,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    by.record(
        conn,
        org_id,
        audit::action::KEY_REVOKED,
        &view.id,
        details,
        now,
    )?;
    let extra = reason.map_or_else(|| json!({}), |r| json!({"reason": r}));
    let event = Event::about_key(EventType::KeyRevoked, &view.id, view, extra);
    webhooks::publish(conn, org_id, &event, now)?;
    store::change_log::append(conn, store::change_log::KIND_KEY, &view.id, now)?;
    Ok(())
}

pub fn roll(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    grace_seconds: Option<i64>,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<Rolled> {
    let grace = grace_seconds.unwrap_or(0);
    if !(0..=MAX_ROLL_GRACE_SECS).contains(&grace) {
        return Err(ServiceError::Validation(vec![
            crate::domain::FieldError::new(
                "grace_seconds",
                format!(
                    "must be a whole number of seconds from 0 to {MAX_ROLL_GRACE_SECS} (7 days)"
                ),
            ),
        ]));
    }
    let org_id = actor.org_id.as_str();
    let secret = Secret::generate_with(prefix);
    let until = (grace > 0).then(|| now + chrono::Duration::seconds(grace));
    store::write_tx(conn, |conn| {
        let current = find_changeable(conn, org_id, id)?;
        // The caller receives the new secret: otherwise an admin of keys could roll a wider key
        // and become it.
        require_standing(actor, &current)?;
        session::guard_parent(actor.session_parent.as_deref(), id)?;
        if !current.attributes.secret {
            return Err(ServiceError::NoSecret(id.to_owned()));
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
        let event = Event::about_key(EventType::KeyRolled, &key.id, &key, json!({}));
        webhooks::publish(conn, org_id, &event, now)?;
        let ended_sessions = sessions::end_with_parent(
            conn,
            &current,
            SessionEnd::ParentRolled,
            Recorder::Caller(actor),
            now,
        )?;
        store::change_log::append(conn, store::change_log::KIND_KEY, id, now)?;
        Ok(Rolled {
            key,
            secret: secret.clone(),
            ended_sessions,
        })
    })
}

/// A revoked key, and the console sessions that ended with it.
#[derive(Debug)]
pub struct Revocation {
    pub key: KeyView,
    /// For this node to forget at once (the others learn it from the change feed).
    pub ended_sessions: Vec<String>,
}

/// Permanent and idempotent: revoking a revoked key returns it unchanged. The key's console
/// sessions end with it, in the same transaction.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Revocation> {
    store::write_tx(conn, |conn| {
        let newly = store::keys::revoke(conn, &actor.org_id, id, now)?;
        let revoked = store::keys::find(conn, &actor.org_id, id)?
            .ok_or_else(|| ServiceError::KeyNotFound(id.to_owned()))?;
        let key = get(conn, &actor.org_id, id, now)?;
        // Looked for even on a repeated revoke: a session still live under a revoked parent
        // (there should be none) ends now rather than at its expiry.
        let ended_sessions = sessions::end_with_parent(
            conn,
            &revoked,
            SessionEnd::ParentRevoked,
            Recorder::Caller(actor),
            now,
        )?;
        // A repeated revoke changes nothing of the key, so it records nothing of it.
        if newly {
            let details = json!({"name": key.name});
            let by = Recorder::Caller(actor);
            record_revocation(conn, by, &key, &actor.org_id, details, None, now)?;
        }
        Ok(Revocation {
            key,
            ended_sessions,
        })
    })
}
