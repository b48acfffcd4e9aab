//! Expiry warnings: `key.expiring` at each threshold before a key's `expires_at`, and
//! `key.expired` when it passes. Every node looks; each warning is produced once, by the node
//! whose transaction records it first (`store::webhooks::record_warning`), with its event in
//! the same transaction. Which warning is due is `domain::webhook::ExpiryWarnings::due`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::KeyView;
use crate::domain::key::Key;
use crate::domain::webhook::{EventType, ExpiryWarnings};
use crate::service::ServiceResult;
use crate::service::webhooks::events::{self, Event};
use crate::store::webhooks as store;
use crate::store::{self as db, DbConnection};

/// Keys read at once.
const PAGE: i64 = 500;
/// How long after its expiry a key still gets its `key.expired`: a deployment that was down
/// (or a key that expired before this feature) does not announce ancient expiries.
const EXPIRED_LOOKBACK: TimeDelta = TimeDelta::days(7);

/// Produces the warnings due at `now`; returns how many events this node produced.
pub fn produce(
    conn: &mut DbConnection,
    warnings: &ExpiryWarnings,
    now: DateTime<Utc>,
) -> ServiceResult<usize> {
    let horizon = TimeDelta::from_std(warnings.horizon()).unwrap_or_default();
    let (from, to) = (now - EXPIRED_LOOKBACK, now + horizon);
    let mut produced = 0;
    let mut after: Option<(DateTime<Utc>, String)> = None;
    loop {
        let keys = db::keys::expiring(conn, from, to, after.as_ref(), PAGE)?;
        for key in &keys {
            if produce_for(conn, warnings, key, now)? {
                produced += 1;
            }
        }
        match keys.last() {
            Some(last) if keys.len() as i64 == PAGE => {
                after = last.expires_at.map(|t| (t, last.id.clone()));
            }
            _ => return Ok(produced),
        }
    }
}

/// The warning due for one key, if any: recorded and published in one transaction, unless
/// another node got there first.
fn produce_for(
    conn: &mut DbConnection,
    warnings: &ExpiryWarnings,
    key: &Key,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let Some(expires_at) = key.expires_at else {
        return Ok(false);
    };
    let done: Vec<Duration> = store::warnings_produced(conn, &key.id, expires_at)?
        .into_iter()
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
        .collect();
    let Some(due) = warnings.due(expires_at, now, &done) else {
        return Ok(false);
    };
    db::write_tx(conn, |conn| {
        // The nearest first: whoever records it produces the event; a node that finds it
        // recorded has lost the race and writes nothing.
        let mut order = due.crossed.clone();
        order.sort_unstable();
        for (i, threshold) in order.iter().enumerate() {
            let seconds = i64::try_from(threshold.as_secs()).unwrap_or(i64::MAX);
            let recorded = store::record_warning(conn, &key.id, expires_at, seconds, now)?;
            if i == 0 && !recorded {
                return Ok(false);
            }
        }
        let view = KeyView::of(key, now);
        let event = if due.nearest.is_zero() {
            Event::about_key(EventType::KeyExpired, &view.id, &view, json!({}))
        } else {
            let left = (expires_at - now).num_seconds().max(0);
            Event::about_key(
                EventType::KeyExpiring,
                &view.id,
                &view,
                json!({
                    "expires_in_seconds": left,
                    "threshold_seconds": due.nearest.as_secs(),
                }),
            )
        };
        events::publish(conn, &key.org_id, &event, now)?;
        Ok(true)
    })
}
