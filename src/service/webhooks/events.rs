//! Turning a change into events: written to the outbox by the change's own transaction, one
//! delivery per endpoint of the org that subscribed to the event's type. A change nobody
//! subscribed to writes nothing but the one read of the org's webhooks.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::secret::random_id;
use crate::domain::webhook::{self, EventType};
use crate::service::ServiceResult;
use crate::store::DbConnection;
use crate::store::webhooks::{self as store, NewDelivery, Webhook};

/// An event about to be published.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    /// Events with the same ordering key reach each endpoint in the order they were made: the
    /// key's id for the events of a key.
    pub ordering_key: String,
    pub data: Value,
}

impl Event {
    /// An event about the key `key_id`: `data.key` is the key object of the API (`KeyView`,
    /// which has no secret), plus `extra`'s members.
    pub fn about_key(
        kind: EventType,
        key_id: &str,
        key: &impl serde::Serialize,
        extra: Value,
    ) -> Event {
        let mut data = json!({ "key": key });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        Event {
            kind,
            ordering_key: key_id.to_owned(),
            data,
        }
    }
}

/// A new event id: the `webhook-id` of every attempt of every delivery of the event.
fn event_id() -> String {
    random_id("msg_", 24)
}

/// Writes the event to the outbox for every enabled endpoint of the org subscribed to its type.
/// Call inside the change's transaction. Returns the event's id.
pub fn publish(
    conn: &mut DbConnection,
    org_id: &str,
    event: &Event,
    now: DateTime<Utc>,
) -> ServiceResult<String> {
    let id = event_id();
    let subscribers: Vec<Webhook> = store::list(conn, org_id)?
        .into_iter()
        .filter(|w| w.disabled_at.is_none() && w.events.contains(&event.kind))
        .collect();
    if subscribers.is_empty() {
        return Ok(id);
    }
    let payload = webhook::payload(event.kind, now, event.data.clone());
    for hook in &subscribers {
        enqueue(conn, hook, &id, event, &payload, now)?;
    }
    Ok(id)
}

/// One delivery of event `id` (its body `payload`) to `hook`; returns the delivery's id.
fn enqueue(
    conn: &mut DbConnection,
    hook: &Webhook,
    id: &str,
    event: &Event,
    payload: &str,
    now: DateTime<Utc>,
) -> ServiceResult<i64> {
    Ok(store::enqueue(
        conn,
        &NewDelivery {
            webhook_id: &hook.id,
            event_id: id,
            event_type: event.kind,
            ordering_key: &event.ordering_key,
            payload,
            now,
        },
    )?)
}

/// Writes an event for one endpoint only, whatever it subscribed to (`webhook.test`); returns
/// the delivery's id.
pub fn publish_to(
    conn: &mut DbConnection,
    hook: &Webhook,
    event: &Event,
    now: DateTime<Utc>,
) -> ServiceResult<i64> {
    let payload = webhook::payload(event.kind, now, event.data.clone());
    enqueue(conn, hook, &event_id(), event, &payload, now)
}
