//! Console sessions (`POST /v1/console/sessions`): a key of kind `console_session` that the web
//! console holds to renew its access token, bounded by the key that signed in (its parent). The
//! rules are `domain::key::session`; here they meet the store and the audit trail.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::KeyView;
use crate::domain::key::session::{self, SessionRefusal};
use crate::domain::secret::{KeyId, Secret, SecretPrefix};
use crate::domain::webhook::EventType;
use crate::service::actor::Actor;
use crate::service::audit;
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
        // Locked: a revocation of the parent waits for this session to be written; or it went
        // first, and `plan` refuses.
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
