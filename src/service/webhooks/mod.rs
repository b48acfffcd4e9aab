//! Lifecycle webhooks: an org's endpoints (create with the signing secret shown once, list,
//! get, update, delete), their delivery log, a manual retry and a test event. Each change is
//! one transaction with its audit record. How events get to the outbox is `events`; how
//! deliveries leave it is `sender` (run by `service::lifecycle`).

pub mod events;
pub mod sender;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::actor::Actor;
use super::{ServiceError, ServiceResult, audit};
use crate::crypto::MasterKey;
use crate::domain::FieldError;
use crate::domain::secret::random_id;
use crate::domain::webhook::{
    self, EventType, MAX_WEBHOOKS_PER_ORG, SigningSecret, ValidWebhook, WebhookDraft, WebhookPatch,
};
use crate::outbound::{Reach, check_resolved};
use crate::store::webhooks::{self as store, Delivery, State, Webhook};
use crate::store::{self as db, DbConnection};
pub use events::{Event, publish};

/// How this node delivers webhooks and produces expiry warnings (`serve`'s `--webhook-*` and
/// `--expiry-warnings`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// What endpoints may be beyond public https (`--webhook-allow-http`,
    /// `--webhook-allow-private`).
    pub reach: Reach,
    /// The whole of one attempt: connect, send, answer.
    pub timeout: std::time::Duration,
    pub retry: webhook::RetrySchedule,
    /// How often the sender looks for due deliveries.
    pub poll: std::time::Duration,
    pub expiry_warnings: webhook::ExpiryWarnings,
    /// How often the expiry warnings are looked for.
    pub expiry_scan: std::time::Duration,
    /// The time retries and warnings are due by (a test's clock, or the system's).
    pub clock: super::clock::Clock,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            reach: Reach::default(),
            timeout: std::time::Duration::from_secs(10),
            retry: webhook::RetrySchedule::default(),
            poll: std::time::Duration::from_secs(1),
            expiry_warnings: webhook::ExpiryWarnings::default(),
            expiry_scan: std::time::Duration::from_secs(60),
            clock: super::clock::Clock::System,
        }
    }
}

/// A webhook as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Webhook)]
pub struct WebhookView {
    #[schema(example = "wh_3kTz0pQm8vXn2LbR9cYd")]
    pub id: String,
    pub url: String,
    #[schema(example = json!(["key.created", "key.revoked"]))]
    pub events: Vec<&'static str>,
    pub description: String,
    /// `enabled`, or `disabled` (by a caller, or after five days of failed deliveries).
    #[schema(example = "enabled")]
    pub status: &'static str,
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Since when every delivery to it has failed (null while it answers).
    pub failing_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl WebhookView {
    pub fn of(w: &Webhook) -> WebhookView {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.events.iter().map(EventType::as_str).collect(),
            description: w.description.clone(),
            status: if w.disabled_at.is_some() {
                "disabled"
            } else {
                "enabled"
            },
            disabled_at: w.disabled_at,
            disabled_reason: w.disabled_reason.clone(),
            failing_since: w.failing_since,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }

    fn audited(&self) -> Value {
        json!({"url": self.url, "events": self.events, "description": self.description, "status": self.status})
    }
}

/// A delivery of an event to an endpoint, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryView {
    #[schema(example = "dlv_42")]
    pub id: String,
    /// The event's id: the `webhook-id` header of every attempt.
    #[schema(example = "msg_2hQf9ZcPq0LmXv7TnR4sWbYk")]
    pub event_id: String,
    #[schema(example = "key.revoked")]
    pub event: String,
    /// `pending` (not yet delivered, still tried), `delivered`, or `failed` (given up).
    #[schema(example = "delivered")]
    pub state: &'static str,
    pub attempts: u32,
    /// The status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// When it is tried next (pending deliveries only).
    pub next_retry_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl DeliveryView {
    pub fn of(d: &Delivery) -> DeliveryView {
        DeliveryView {
            id: format!("dlv_{}", d.id),
            event_id: d.event_id.clone(),
            event: d.event_type.clone(),
            state: d.state.as_str(),
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at,
            next_retry_at: (d.state == State::Pending).then_some(d.next_attempt_at),
            delivered_at: d.delivered_at,
            created_at: d.created_at,
        }
    }
}

/// A delivery id as the API writes it (`dlv_42`); anything else is no delivery.
pub fn parse_delivery_id(text: &str) -> Option<i64> {
    text.strip_prefix("dlv_")?
        .parse()
        .ok()
        .filter(|n: &i64| *n > 0)
}

/// A new webhook and its signing secret, shown this once.
#[derive(Debug)]
pub struct Created {
    pub webhook: WebhookView,
    pub secret: SigningSecret,
}

/// The URL as the webhook sender will reach it, or why not (at `url`).
fn check_destination(url: &str, reach: Reach) -> ServiceResult<()> {
    check_resolved(url, reach)
        .map(|_| ())
        .map_err(|e| ServiceError::Validation(vec![FieldError::new("url", e.to_string())]))
}

pub fn create(
    conn: &mut DbConnection,
    master: &MasterKey,
    reach: Reach,
    actor: &Actor,
    draft: &WebhookDraft,
    now: DateTime<Utc>,
) -> ServiceResult<Created> {
    let valid = draft.validate().map_err(ServiceError::Validation)?;
    let ValidWebhook {
        url: Some(url),
        events: Some(events),
        description,
        ..
    } = valid
    else {
        unreachable!("a validated draft has a URL and events")
    };
    check_destination(&url, reach)?;
    let secret = SigningSecret::generate();
    let id = random_id("wh_", 22);
    let hook = Webhook {
        secret_sealed: master.seal(secret.expose().as_bytes(), id.as_bytes()),
        id,
        org_id: actor.org_id.clone(),
        url,
        description: description.unwrap_or_default(),
        events,
        created_at: now,
        updated_at: now,
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
    };
    db::write_tx(conn, |conn| {
        if store::count(conn, &actor.org_id)? >= MAX_WEBHOOKS_PER_ORG {
            return Err(ServiceError::TooManyWebhooks(MAX_WEBHOOKS_PER_ORG));
        }
        store::insert(conn, &hook)?;
        let view = WebhookView::of(&hook);
        audit::record(
            conn,
            actor,
            audit::action::WEBHOOK_CREATED,
            &hook.id,
            view.audited(),
            now,
        )?;
        Ok(Created {
            webhook: view,
            secret,
        })
    })
}

pub fn list(conn: &mut DbConnection, org_id: &str) -> ServiceResult<Vec<WebhookView>> {
    Ok(store::list(conn, org_id)?
        .iter()
        .map(WebhookView::of)
        .collect())
}

fn find(conn: &mut DbConnection, org_id: &str, id: &str) -> ServiceResult<Webhook> {
    store::find(conn, org_id, id)?.ok_or_else(|| ServiceError::WebhookNotFound(id.to_owned()))
}

pub fn get(conn: &mut DbConnection, org_id: &str, id: &str) -> ServiceResult<WebhookView> {
    Ok(WebhookView::of(&find(conn, org_id, id)?))
}

/// Applies a PATCH; `enabled: true` also forgets the failure streak, so a repaired endpoint
/// gets its five days again.
pub fn update(
    conn: &mut DbConnection,
    reach: Reach,
    actor: &Actor,
    id: &str,
    patch: &WebhookPatch,
    now: DateTime<Utc>,
) -> ServiceResult<WebhookView> {
    let valid = patch.validate().map_err(ServiceError::Validation)?;
    if let Some(url) = &valid.url {
        check_destination(url, reach)?;
    }
    db::write_tx(conn, |conn| {
        let current = find(conn, &actor.org_id, id)?;
        let mut next = current.clone();
        if let Some(url) = valid.url.clone() {
            next.url = url;
        }
        if let Some(events) = valid.events.clone() {
            next.events = events;
        }
        if let Some(description) = valid.description.clone() {
            next.description = description;
        }
        match valid.enabled {
            Some(true) if next.disabled_at.is_some() => {
                next.disabled_at = None;
                next.disabled_reason = None;
                next.failing_since = None;
            }
            Some(false) if next.disabled_at.is_none() => {
                next.disabled_at = Some(now);
                next.disabled_reason = Some(format!(
                    "disabled by {}",
                    actor.key_id.as_deref().unwrap_or(audit::CLI_ACTOR)
                ));
            }
            _ => {}
        }
        if next == current {
            return Ok(WebhookView::of(&current));
        }
        next.updated_at = now;
        store::update(conn, &next)?;
        let (before, after) = (WebhookView::of(&current), WebhookView::of(&next));
        audit::record(
            conn,
            actor,
            audit::action::WEBHOOK_UPDATED,
            id,
            changed(&before.audited(), &after.audited()),
            now,
        )?;
        Ok(after)
    })
}

/// `before` and `after` of the members that differ.
fn changed(before: &Value, after: &Value) -> Value {
    let (mut old, mut new) = (serde_json::Map::new(), serde_json::Map::new());
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (name, value) in b {
            if a.get(name) != Some(value) {
                old.insert(name.clone(), value.clone());
                new.insert(name.clone(), a.get(name).cloned().unwrap_or(Value::Null));
            }
        }
    }
    json!({"before": old, "after": new})
}

/// Deletes the webhook and its delivery log; pending deliveries are dropped.
pub fn delete(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    db::write_tx(conn, |conn| {
        let current = find(conn, &actor.org_id, id)?;
        store::delete(conn, &actor.org_id, id)?;
        audit::record(
            conn,
            actor,
            audit::action::WEBHOOK_DELETED,
            id,
            json!({"url": current.url}),
            now,
        )?;
        Ok(())
    })
}

/// `GET /v1/webhooks/{id}/deliveries` parameters as received (text).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Page size: 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of a webhook's deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = WebhookDeliveryPage)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(id: i64) -> String {
    super::encode_cursor("dlv", id)
}

fn decode_cursor(text: &str) -> Option<i64> {
    super::decode_cursor("dlv", text)
}

pub fn deliveries(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
    params: &DeliveryParams,
) -> ServiceResult<DeliveryPage> {
    let mut errors = Vec::new();
    let limit = super::page_limit(params.limit.as_deref(), &mut errors);
    let before = match params.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => decode_cursor(c).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor returned by this API",
            ));
            None
        }),
    };
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    let hook = find(conn, org_id, id)?;
    let mut rows = store::deliveries(conn, &hook.id, before, limit + 1)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok(DeliveryPage {
        next_cursor: if more {
            rows.last().map(|d| encode_cursor(d.id))
        } else {
            None
        },
        deliveries: rows.iter().map(DeliveryView::of).collect(),
    })
}

/// Sends a delivery again now, whatever became of it (failed, or delivered and wanted again);
/// its `webhook-id` stays the same, so receivers can tell a redelivery.
pub fn retry(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<DeliveryView> {
    db::write_tx(conn, |conn| {
        let hook = find(conn, &actor.org_id, id)?;
        let not_found = || ServiceError::DeliveryNotFound(delivery_id.to_owned());
        let number = parse_delivery_id(delivery_id).ok_or_else(not_found)?;
        if !store::make_due(conn, &hook.id, number, now)? {
            return Err(not_found());
        }
        let delivery = store::find_delivery(conn, &hook.id, number)?.ok_or_else(not_found)?;
        audit::record(
            conn,
            actor,
            audit::action::WEBHOOK_DELIVERY_RETRIED,
            id,
            json!({"delivery": delivery_id, "event_id": delivery.event_id}),
            now,
        )?;
        Ok(DeliveryView::of(&delivery))
    })
}

/// Queues a `webhook.test` event for this endpoint alone, enabled or not subscribed.
pub fn test(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<DeliveryView> {
    db::write_tx(conn, |conn| {
        let hook = find(conn, &actor.org_id, id)?;
        let event = Event {
            kind: EventType::Test,
            ordering_key: format!("test:{}", random_id("", 16)),
            data: json!({"webhook_id": hook.id, "message": "a test event from Latchkey"}),
        };
        let number = events::publish_to(conn, &hook, &event, now)?;
        let delivery = store::find_delivery(conn, &hook.id, number)?
            .ok_or_else(|| ServiceError::DeliveryNotFound(format!("dlv_{number}")))?;
        Ok(DeliveryView::of(&delivery))
    })
}

/// Every event type a webhook may subscribe to, for the API document and the CLI.
pub fn subscribable() -> Vec<&'static str> {
    EventType::SUBSCRIBABLE
        .iter()
        .map(EventType::as_str)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_and_cursors_round_trip() {
        assert_eq!(parse_delivery_id("dlv_42"), Some(42));
        for bad in ["42", "dlv_", "dlv_-1", "dlv_0", "dlv_x", "dlv_42\u{0}"] {
            assert_eq!(parse_delivery_id(bad), None, "{bad}");
        }
        assert_eq!(decode_cursor(&encode_cursor(7)), Some(7));
        assert_eq!(decode_cursor("junk"), None);
    }

    #[test]
    fn only_changed_members_are_audited() {
        let before = json!({"url": "https://a", "events": ["key.created"], "status": "enabled"});
        let after = json!({"url": "https://b", "events": ["key.created"], "status": "enabled"});
        assert_eq!(
            changed(&before, &after),
            json!({"before": {"url": "https://a"}, "after": {"url": "https://b"}})
        );
    }
}
