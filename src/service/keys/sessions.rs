//! Console sessions (`POST /v1/console/sessions`): a key of kind `console_session` that the web
//! console holds to renew its access token, bounded by the key that signed in (its parent). The
//! rules are `domain::key::session`; here they meet the store, the audit trail and the feed.
//!
//! [`end_with_parent`] is the ONE place a parent's sessions end: every use case that revokes,
//! rolls or re-scopes a key calls it inside its own transaction (`keys::revoke`, `keys::roll`,
//! `keys::update`, `leaks`, and through `keys::revoke` the RFC 7009 revocation of a secret), so
//! no credential derived from a key outlives what happened to the key.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::KeyView;
use crate::domain::key::Key;
use crate::domain::key::session::{self, SessionEnd, SessionRefusal};
use crate::domain::secret::{KeyId, Secret, SecretPrefix};
use crate::domain::webhook::EventType;
use crate::service::actor::Actor;
use crate::service::audit::{self, Recorder};
use crate::service::webhooks::{self, Event};
use crate::service::{ServiceError, ServiceResult};
use crate::store::{self, DbConnection};

/// A session just started: its key and its secret (shown this once).
#[derive(Debug)]
pub struct Started {
    pub key: KeyView,
    pub secret: Secret,
}

/// Starts a console session for the calling key, lasting `lifetime` at most (and never past the
/// parent's expiry), with exactly the caller's scopes: those of the credential it presented,
/// which for a down-scoped token are fewer than its key's. Audited as `key.created` (details
/// say `kind: console_session` and the parent) and announced as `key.created`.
pub fn start(
    conn: &mut DbConnection,
    actor: &Actor,
    lifetime: Duration,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<Started> {
    let parent_id = actor.key_id.as_deref().ok_or(SessionRefusal::NotAKey)?;
    let secret = Secret::generate_with(prefix);
    store::write_tx(conn, |conn| {
        // Locked: a revocation, roll or re-scoping of the parent waits for this session to be
        // written, and then ends it (`end_with_parent`); or it went first, and `plan` sees the
        // parent as it left it (revoked: refused; narrowed: only what it still covers).
        let parent = store::keys::find_locked(conn, &actor.org_id, parent_id)?
            .ok_or_else(|| ServiceError::KeyNotFound(parent_id.to_owned()))?;
        let plan = session::plan(&parent, &actor.scopes, lifetime, now)?;
        let id = KeyId::generate().as_str().to_owned();
        let key = plan.into_key(id, &actor.org_id, secret.hint(), now);
        store::keys::insert(conn, &key, secret.digest().as_bytes(), now)?;
        let view = KeyView::of(&key, now);
        audit::record(
            conn,
            actor,
            audit::action::KEY_CREATED,
            &view.id,
            serde_json::Value::Object(view.audited()),
            now,
        )?;
        let event = Event::about_key(EventType::KeyCreated, &view.id, &view, json!({}));
        webhooks::publish(conn, &actor.org_id, &event, now)?;
        Ok(Started {
            key: view,
            secret: secret.clone(),
        })
    })
}

/// Ends the live console sessions of `parent` (rule 4 of `domain::key::session`), inside the
/// caller's transaction, which holds the parent's row: each is revoked, audited as
/// `key.revoked` by `by` with `reason`, announced as `key.revoked`, and gets its change-feed
/// entry, so that every node's key cache drops it (and with it the tokens it issued) within the
/// feed's bound. Returns the ids ended, for this node to forget at once after the commit.
pub fn end_with_parent(
    conn: &mut DbConnection,
    parent: &Key,
    reason: SessionEnd,
    by: Recorder<'_>,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    let live = store::keys::live_sessions_of(conn, &parent.org_id, &parent.id, now)?;
    let mut ended = Vec::with_capacity(live.len());
    for session in live {
        // A sign-out committed meanwhile already revoked it: nothing more to record.
        if !store::keys::revoke(conn, &session.org_id, &session.id, now)? {
            continue;
        }
        let Some(after) = store::keys::find(conn, &session.org_id, &session.id)? else {
            continue;
        };
        let view = KeyView::of(&after, now);
        let details = json!({
            "name": view.name,
            "kind": view.kind,
            "parent_key_id": parent.id,
            "reason": reason.as_str(),
        });
        let why = Some(reason.as_str());
        super::record_revocation(conn, by, &view, &parent.org_id, details, why, now)?;
        ended.push(view.id);
    }
    Ok(ended)
}
