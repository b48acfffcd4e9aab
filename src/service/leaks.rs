//! Leaked secrets: a secret reported public (`POST /v1/leaks`, GitHub secret scanning) is
//! answered at once by its org's `leak_policy`: the key revoked, or flagged. Either way the
//! report is audited as `key.leaked` in the key's org and announced by the `key.leaked` event.
//! A reporter learns what happened to each secret, never whose it was.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::audit::Recorder;
use super::keys::{self, KeyView, sessions};
use super::webhooks::{self, Event};
use super::{ServiceResult, audit};
use crate::domain::key::session::SessionEnd;
use crate::domain::org::LeakPolicy;
use crate::domain::secret::Secret;
use crate::domain::webhook::EventType;
use crate::store::{self, DbConnection};

/// Most secrets one report may carry.
pub const MAX_SECRETS: usize = 100;
/// Longest `source` kept (a URL, usually).
pub const MAX_SOURCE_LEN: usize = 2048;

/// What became of a reported secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakOutcome {
    /// A key's secret: the key is revoked now.
    Revoked,
    /// A key's secret: the key is flagged (`leaked_at`), as its org asked; it still works.
    Flagged,
    /// A key's secret, and the key was revoked already.
    AlreadyRevoked,
    /// No key has this secret (or it is not a secret of this deployment).
    Unknown,
}

/// Who reported, as the audit trail records it, and where the secret was found.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// `leak-report:<key id>` or `github-secret-scanning`.
    pub reporter: &'a str,
    pub source: Option<&'a str>,
}

/// Handles each secret in a transaction of its own (one key's trouble does not undo another's
/// revocation). Returns the outcomes in order, and the ids of the keys revoked now, with the
/// console sessions that ended with them (whose cached copies the caller drops at once).
pub fn report(
    conn: &mut DbConnection,
    report: &Report<'_>,
    secrets: &[String],
    now: DateTime<Utc>,
) -> ServiceResult<(Vec<LeakOutcome>, Vec<String>)> {
    let mut outcomes = Vec::with_capacity(secrets.len());
    let mut revoked = Vec::new();
    for text in secrets {
        let (outcome, id, ended) = one(conn, report, text, now)?;
        if let (LeakOutcome::Revoked, Some(id)) = (outcome, id) {
            revoked.push(id);
        }
        revoked.extend(ended);
        outcomes.push(outcome);
    }
    Ok((outcomes, revoked))
}

/// One secret: what became of it, the key it was of, and the console sessions that ended.
type Handled = (LeakOutcome, Option<String>, Vec<String>);

fn one(
    conn: &mut DbConnection,
    report: &Report<'_>,
    text: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Handled> {
    let Ok(secret) = Secret::parse(text.trim()) else {
        return Ok((LeakOutcome::Unknown, None, Vec::new()));
    };
    let digest = secret.digest();
    store::write_tx(conn, |conn| {
        let Some(found) = store::keys::find_by_digest(conn, digest.as_bytes(), now)? else {
            return Ok((LeakOutcome::Unknown, None, Vec::new()));
        };
        let key = found.key;
        if key.revoked_at.is_some() {
            return Ok((LeakOutcome::AlreadyRevoked, Some(key.id), Vec::new()));
        }
        let org = store::orgs::find_by_id(conn, &key.org_id)?;
        let policy = org.map(|o| o.leak_policy).unwrap_or_default();
        let outcome = match policy {
            LeakPolicy::Revoke => {
                store::keys::revoke(conn, &key.org_id, &key.id, now)?;
                LeakOutcome::Revoked
            }
            LeakPolicy::Notify => {
                store::keys::flag_leaked(conn, &key.id, now)?;
                LeakOutcome::Flagged
            }
        };
        let details = json!({
            "source": report.source,
            "action": if outcome == LeakOutcome::Revoked { "revoked" } else { "flagged" },
            "secret_hint": secret.hint(),
        });
        audit::record_as(
            conn,
            &key.org_id,
            report.reporter,
            audit::action::KEY_LEAKED,
            &key.id,
            details.clone(),
            now,
        )?;
        let after = store::keys::find(conn, &key.org_id, &key.id)?.unwrap_or(key);
        let view = KeyView::of(&after, now);
        let leaked = Event::about_key(
            EventType::KeyLeaked,
            &view.id,
            &view,
            json!({"source": report.source, "action": details["action"]}),
        );
        webhooks::publish(conn, &after.org_id, &leaked, now)?;
        if outcome == LeakOutcome::Revoked {
            let details = json!({"name": after.name, "reason": "leaked"});
            let by = Recorder::As(report.reporter);
            keys::record_revocation(conn, by, &view, &after.org_id, details, Some("leaked"), now)?;
        } else {
            // Flagged: `leaked_at` changed, which the key caches must learn too.
            store::change_log::append(conn, store::change_log::KIND_KEY, &after.id, now)?;
        }
        // A leaked key's console sessions end with it; a key only flagged keeps them, as it
        // keeps working itself.
        let ended = if outcome == LeakOutcome::Revoked {
            sessions::end_with_parent(
                conn,
                &after,
                SessionEnd::ParentRevoked,
                Recorder::As(report.reporter),
                now,
            )?
        } else {
            Vec::new()
        };
        Ok((outcome, Some(after.id), ended))
    })
}
