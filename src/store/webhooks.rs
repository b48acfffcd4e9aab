//! Webhooks, their outbox of deliveries, and the expiry warnings already produced (see the
//! migration `…_webhooks`). The outbox is written by the change's own transaction; a node claims
//! due deliveries for a while (`claim`), sends them, and records each attempt (`finish`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};

use super::schema::{expiry_warnings, webhook_deliveries, webhooks};
use super::{Bound, DbConnection, StoreError, StoreResult, insert_ignore};
use crate::domain::webhook::EventType;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
struct WebhookRow {
    id: String,
    org_id: String,
    url: String,
    description: String,
    events: String,
    secret_sealed: Vec<u8>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    failing_since: Option<NaiveDateTime>,
    disabled_at: Option<NaiveDateTime>,
    disabled_reason: Option<String>,
}

/// A stored webhook. `Debug` leaves out the sealed secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub org_id: String,
    pub url: String,
    pub description: String,
    pub events: Vec<EventType>,
    /// The signing secret sealed with the master key, bound to the webhook's id.
    pub secret_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub failing_since: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("disabled_at", &self.disabled_at)
            .finish_non_exhaustive()
    }
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(r: WebhookRow) -> StoreResult<Webhook> {
        let names: Vec<String> = serde_json::from_str(&r.events)
            .map_err(|e| StoreError::Corrupt(format!("webhook {}: events: {e}", r.id)))?;
        let events = names
            .iter()
            .map(|n| {
                EventType::parse(n).ok_or_else(|| {
                    StoreError::Corrupt(format!("webhook {}: unknown event type {n:?}", r.id))
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Webhook {
            id: r.id,
            org_id: r.org_id,
            url: r.url,
            description: r.description,
            events,
            secret_sealed: r.secret_sealed,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
            failing_since: r.failing_since.map(|t| t.and_utc()),
            disabled_at: r.disabled_at.map(|t| t.and_utc()),
            disabled_reason: r.disabled_reason,
        })
    }
}

fn events_text(events: &[EventType]) -> String {
    serde_json::Value::from(events.iter().map(EventType::as_str).collect::<Vec<_>>()).to_string()
}

pub fn insert(conn: &mut DbConnection, w: &Webhook) -> StoreResult<()> {
    diesel::insert_into(webhooks::table)
        .values((
            webhooks::id.eq(&w.id),
            webhooks::org_id.eq(&w.org_id),
            webhooks::url.eq(&w.url),
            webhooks::description.eq(&w.description),
            webhooks::events.eq(events_text(&w.events)),
            webhooks::secret_sealed.eq(&w.secret_sealed),
            webhooks::created_at.eq(w.created_at.naive_utc()),
            webhooks::updated_at.eq(w.updated_at.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes what may change of a webhook: its URL, events, description and state.
pub fn update(conn: &mut DbConnection, w: &Webhook) -> StoreResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::org_id.eq(&w.org_id))
            .filter(webhooks::id.eq(&w.id)),
    )
    .set((
        webhooks::url.eq(&w.url),
        webhooks::description.eq(&w.description),
        webhooks::events.eq(events_text(&w.events)),
        webhooks::updated_at.eq(w.updated_at.naive_utc()),
        webhooks::failing_since.eq(w.failing_since.map(|t| t.naive_utc())),
        webhooks::disabled_at.eq(w.disabled_at.map(|t| t.naive_utc())),
        webhooks::disabled_reason.eq(&w.disabled_reason),
    ))
    .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, org_id: &str, id: &str) -> StoreResult<Option<Webhook>> {
    webhooks::table
        .filter(webhooks::org_id.eq(org_id))
        .filter(webhooks::id.eq(id))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?
        .map(Webhook::try_from)
        .transpose()
}

/// The org's webhooks, oldest first (an org has at most a few dozen).
pub fn list(conn: &mut DbConnection, org_id: &str) -> StoreResult<Vec<Webhook>> {
    webhooks::table
        .filter(webhooks::org_id.eq(org_id))
        .order((webhooks::created_at.asc(), webhooks::id.asc()))
        .select(WebhookRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Webhook::try_from)
        .collect()
}

pub fn count(conn: &mut DbConnection, org_id: &str) -> StoreResult<i64> {
    Ok(webhooks::table
        .filter(webhooks::org_id.eq(org_id))
        .count()
        .get_result(conn)?)
}

/// Deletes a webhook and its deliveries; false when there was none.
pub fn delete(conn: &mut DbConnection, org_id: &str, id: &str) -> StoreResult<bool> {
    let Some(found) = find(conn, org_id, id)? else {
        return Ok(false);
    };
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(&found.id)))
        .execute(conn)?;
    diesel::delete(webhooks::table.filter(webhooks::id.eq(&found.id))).execute(conn)?;
    Ok(true)
}

/// A delivery to write to the outbox.
pub struct NewDelivery<'a> {
    pub webhook_id: &'a str,
    pub event_id: &'a str,
    pub event_type: EventType,
    pub ordering_key: &'a str,
    pub payload: &'a str,
    pub now: DateTime<Utc>,
}

pub fn enqueue(conn: &mut DbConnection, d: &NewDelivery<'_>) -> StoreResult<i64> {
    let now = d.now.naive_utc();
    Ok(diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::webhook_id.eq(d.webhook_id),
            webhook_deliveries::event_id.eq(d.event_id),
            webhook_deliveries::event_type.eq(d.event_type.as_str()),
            webhook_deliveries::ordering_key.eq(d.ordering_key),
            webhook_deliveries::payload.eq(d.payload),
            webhook_deliveries::state.eq(State::Pending.as_str()),
            webhook_deliveries::next_attempt_at.eq(now),
            webhook_deliveries::created_at.eq(now),
        ))
        .returning(webhook_deliveries::id)
        .get_result(conn)?)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not yet delivered, and still tried.
    Pending,
    Delivered,
    /// Given up on after the retry period.
    Failed,
}

impl State {
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }

    fn parse(text: &str) -> StoreResult<State> {
        match text {
            "pending" => Ok(State::Pending),
            "delivered" => Ok(State::Delivered),
            "failed" => Ok(State::Failed),
            other => Err(StoreError::Corrupt(format!(
                "webhook delivery state {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: i64,
    webhook_id: String,
    event_id: String,
    event_type: String,
    payload: String,
    state: String,
    attempts: i32,
    last_status: Option<i32>,
    last_error: Option<String>,
    last_attempt_at: Option<NaiveDateTime>,
    next_attempt_at: NaiveDateTime,
    delivered_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub state: State,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> StoreResult<Delivery> {
        Ok(Delivery {
            id: r.id,
            webhook_id: r.webhook_id,
            event_id: r.event_id,
            event_type: r.event_type,
            payload: r.payload,
            state: State::parse(&r.state)?,
            attempts: u32::try_from(r.attempts).unwrap_or(0),
            last_status: r.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: r.last_error,
            last_attempt_at: r.last_attempt_at.map(|t| t.and_utc()),
            next_attempt_at: r.next_attempt_at.and_utc(),
            delivered_at: r.delivered_at.map(|t| t.and_utc()),
            created_at: r.created_at.and_utc(),
        })
    }
}

/// A webhook's deliveries, newest first, below `before_id` when given.
pub fn deliveries(
    conn: &mut DbConnection,
    webhook_id: &str,
    before_id: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Delivery>> {
    let mut q = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before_id {
        q = q.filter(webhook_deliveries::id.lt(before));
    }
    q.load(conn)?.into_iter().map(Delivery::try_from).collect()
}

pub fn find_delivery(
    conn: &mut DbConnection,
    webhook_id: &str,
    id: i64,
) -> StoreResult<Option<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::id.eq(id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .map(Delivery::try_from)
        .transpose()
}

/// Every delivery of an event (tests and the CLI look deliveries up by `webhook-id`).
pub fn deliveries_of_event(conn: &mut DbConnection, event_id: &str) -> StoreResult<Vec<Delivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::event_id.eq(event_id))
        .select(DeliveryRow::as_select())
        .order(webhook_deliveries::id.asc())
        .load(conn)?
        .into_iter()
        .map(Delivery::try_from)
        .collect()
}

/// Makes a delivery due now again, whatever its state (a manual retry or redelivery).
pub fn make_due(
    conn: &mut DbConnection,
    webhook_id: &str,
    id: i64,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::id.eq(id)),
    )
    .set((
        webhook_deliveries::state.eq(State::Pending.as_str()),
        webhook_deliveries::next_attempt_at.eq(now.naive_utc()),
        webhook_deliveries::claimed_until.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A delivery a node has claimed, with what it needs to send it.
#[derive(Clone)]
pub struct Claimed {
    pub delivery: Delivery,
    pub org_id: String,
    pub url: String,
    pub secret_sealed: Vec<u8>,
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The due deliveries a node may send now, at most `limit`, each held by this node until
/// `until`: the oldest pending delivery of each endpoint and ordering key (a later one waits
/// for it: events about one key arrive in order), of enabled endpoints, not held by another
/// node. On PostgreSQL the rows are read `FOR UPDATE SKIP LOCKED`, so nodes claiming at once
/// take different deliveries without waiting on each other; SQLite's writers run one at a time.
/// Call in a write transaction.
pub fn claim(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Vec<Claimed>> {
    const DUE: &str = "FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
        WHERE d.state = 'pending' AND d.next_attempt_at <= {now} \
        AND (d.claimed_until IS NULL OR d.claimed_until <= {now}) AND w.disabled_at IS NULL \
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
        AND e.ordering_key = d.ordering_key AND e.state = 'pending' AND e.id < d.id) \
        ORDER BY d.id LIMIT {limit}";
    let ids: Vec<i64> = match conn {
        DbConnection::Postgresql(c) => {
            let sql = format!(
                "SELECT d.id {} FOR UPDATE OF d SKIP LOCKED",
                DUE.replace("{now}", "$1").replace("{limit}", "$2")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now.naive_utc())
                .bind::<BigInt, _>(limit)
                .load::<IdRow>(c)?
        }
        DbConnection::Sqlite(c) => {
            let sql = format!(
                "SELECT d.id {}",
                DUE.replace("{now}", "?").replace("{limit}", "?")
            );
            diesel::sql_query(sql)
                .bind::<Timestamp, _>(now.naive_utc())
                .bind::<Timestamp, _>(now.naive_utc())
                .bind::<BigInt, _>(limit)
                .load::<IdRow>(c)?
        }
    }
    .into_iter()
    .map(|r| r.id)
    .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
        .set(webhook_deliveries::claimed_until.eq(until.naive_utc()))
        .execute(conn)?;
    let rows: Vec<(DeliveryRow, String, String, Vec<u8>)> = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::id.eq_any(&ids))
        .order(webhook_deliveries::id.asc())
        .select((
            DeliveryRow::as_select(),
            webhooks::org_id,
            webhooks::url,
            webhooks::secret_sealed,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(row, org_id, url, secret_sealed)| {
            Ok(Claimed {
                delivery: Delivery::try_from(row)?,
                org_id,
                url,
                secret_sealed,
            })
        })
        .collect()
}

/// What became of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The answer's status, if there was an answer.
    pub status: Option<u16>,
    /// Why it failed, for people (never a response body: those are the receiver's).
    pub error: Option<String>,
    pub next: Next,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Records an attempt of a claimed delivery and lets go of it.
pub fn finish(conn: &mut DbConnection, id: i64, attempt: &Attempt) -> StoreResult<()> {
    let at = attempt.at.naive_utc();
    let (state, next_at, delivered_at) = match attempt.next {
        Next::Delivered => (State::Delivered, at, Some(at)),
        Next::RetryAt(t) => (State::Pending, t.naive_utc(), None),
        Next::GiveUp => (State::Failed, at, None),
    };
    diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq(id)))
        .set((
            webhook_deliveries::state.eq(state.as_str()),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::last_status.eq(attempt.status.map(i32::from)),
            webhook_deliveries::last_error.eq(&attempt.error),
            webhook_deliveries::last_attempt_at.eq(Some(at)),
            webhook_deliveries::next_attempt_at.eq(next_at),
            webhook_deliveries::delivered_at.eq(delivered_at),
            webhook_deliveries::claimed_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Notes a failed attempt on its endpoint; returns since when the endpoint has been failing.
pub fn note_failure(
    conn: &mut DbConnection,
    webhook_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<DateTime<Utc>> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::failing_since.is_null()),
    )
    .set(webhooks::failing_since.eq(Some(now.naive_utc())))
    .execute(conn)?;
    let since: Option<NaiveDateTime> = webhooks::table
        .find(webhook_id)
        .select(webhooks::failing_since)
        .first(conn)?;
    Ok(since.map(|t| t.and_utc()).unwrap_or(now))
}

/// Notes a successful attempt: the endpoint is no longer failing.
pub fn note_success(conn: &mut DbConnection, webhook_id: &str) -> StoreResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::failing_since.is_not_null()),
    )
    .set(webhooks::failing_since.eq(None::<NaiveDateTime>))
    .execute(conn)?;
    Ok(())
}

/// Disables an enabled endpoint; false when it already was.
pub fn disable(
    conn: &mut DbConnection,
    webhook_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(webhook_id))
            .filter(webhooks::disabled_at.is_null()),
    )
    .set((
        webhooks::disabled_at.eq(Some(now.naive_utc())),
        webhooks::disabled_reason.eq(Some(reason)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The thresholds (seconds) already produced for a key's expiry.
pub fn warnings_produced(
    conn: &mut DbConnection,
    key_id: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<Vec<i64>> {
    Ok(expiry_warnings::table
        .filter(expiry_warnings::key_id.eq(key_id))
        .filter(expiry_warnings::expires_at.eq(expires_at.naive_utc()))
        .select(expiry_warnings::threshold_seconds)
        .load(conn)?)
}

/// Records a threshold as produced; false when another node already did (so this one must
/// not produce it).
pub fn record_warning(
    conn: &mut DbConnection,
    key_id: &str,
    expires_at: DateTime<Utc>,
    threshold_seconds: i64,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = insert_ignore(
        conn,
        "INSERT INTO expiry_warnings (key_id, expires_at, threshold_seconds, produced_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        vec![
            Bound::Text(key_id.to_owned()),
            Bound::Time(expires_at.naive_utc()),
            Bound::Big(threshold_seconds),
            Bound::Time(now.naive_utc()),
        ],
    )?;
    Ok(n == 1)
}
