//! Quota events: `quota.low` when a key's credits left fall to a share of what the period
//! started with ([`QUOTA_LOW_PERCENT`]), `quota.exhausted` when none is left (the rule is
//! `QuotaAlert::due`). Each is produced at most once per period (a refill, a set or a top-up
//! starts again), by the node whose transaction records it first (`store::limits::record_alert`),
//! with its event in the same transaction.
//!
//! Credits are spent in memory (`authority::budget`); the database learns how many are left
//! when a node leases more, so that is where these are noticed: at most one lease late. A
//! crash between the lease and the event loses nothing: the condition still holds at the next
//! lease, and nothing was recorded.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::KeyView;
use crate::domain::limits::{QUOTA_LOW_PERCENT, QuotaAlert};
use crate::domain::webhook::EventType;
use crate::service::ServiceResult;
use crate::service::webhooks::events::{self, Event};
use crate::store::{self, DbConnection};

/// `left` credits of the period `credits` call for `alert`: produces its event unless another node (or this one,
/// earlier) already did. `true` when this call produced it.
pub fn raise(
    conn: &mut DbConnection,
    org_id: &str,
    key_id: &str,
    alert: QuotaAlert,
    credits: &store::limits::Credits,
    left: u64,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    store::write_tx(conn, |conn| {
        let Some(key) = store::keys::find(conn, org_id, key_id)? else {
            return Ok(false);
        };
        if !store::limits::record_alert(conn, key_id, credits.generation, alert.as_str(), now)? {
            return Ok(false);
        }
        let kind = match alert {
            QuotaAlert::Low => EventType::QuotaLow,
            QuotaAlert::Exhausted => EventType::QuotaExhausted,
        };
        let view = KeyView::of(&key, now);
        let event = Event::about_key(
            kind,
            &key.id,
            &view,
            json!({
                "quota": {
                    "remaining": left,
                    "period_credits": credits.period,
                    "low_percent": QUOTA_LOW_PERCENT,
                    "refilled_at": credits.refilled_at,
                }
            }),
        );
        events::publish(conn, &key.org_id, &event, now)?;
        Ok(true)
    })
}
