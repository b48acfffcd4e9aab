//! Delivering the outbox: each node's sender claims the deliveries that are due
//! (`store::webhooks::claim`: one node per delivery, in order per endpoint and key), POSTs them
//! signed per Standard Webhooks with the SSRF-safe outbound client, and records each attempt:
//! delivered, retried later on the backoff schedule, or given up after the retry period. An
//! endpoint that has failed every delivery for five days is disabled and the change audited.
//!
//! At least once: a delivery is marked delivered only after its 2xx answer, so a node that dies
//! mid-send leaves it claimed until its claim runs out, and another node sends it again with the
//! same `webhook-id` (receivers deduplicate by it).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use rand::RngExt;
use serde_json::json;

use super::WebhookSettings;
use crate::crypto::MasterKey;
use crate::domain::webhook::{DISABLE_AFTER, RetrySchedule, SigningSecret};
use crate::outbound::{FetchError, Outbound, Posted};
use crate::service::clock::Clock;
use crate::service::{ServiceError, ServiceResult, audit};
use crate::store::webhooks::{self as store, Attempt, Claimed, Next};
use crate::store::{self as db, Pool};

/// Deliveries claimed at once (and sent concurrently).
const BATCH: i64 = 32;
/// Most attempts one run makes before letting the next run (and its schedule) come.
const MAX_PER_RUN: usize = 1024;
/// Response bytes read at most: the status is the answer.
const MAX_RESPONSE_BYTES: usize = 1024;

pub struct Sender {
    pool: Pool,
    master: MasterKey,
    outbound: Arc<Outbound>,
    retry: RetrySchedule,
    clock: Clock,
    /// How long a claim holds a delivery: longer than an attempt can take.
    lease: TimeDelta,
}

/// What one attempt got.
type Sent = Result<Posted, FetchError>;
/// A delivery's request: its headers and body.
type Request = (Vec<(&'static str, String)>, String);

impl Sender {
    pub fn new(pool: Pool, master: MasterKey, settings: &WebhookSettings) -> anyhow::Result<Self> {
        Ok(Sender {
            pool,
            master,
            outbound: Arc::new(Outbound::new(settings.reach, settings.timeout)?),
            retry: settings.retry,
            clock: settings.clock.clone(),
            lease: TimeDelta::from_std(settings.timeout + Duration::from_secs(20))
                .unwrap_or(TimeDelta::minutes(1)),
        })
    }

    /// A runtime for `run`'s sends: owned by the thread that runs the sender, and dropped
    /// there (a tokio runtime may not be dropped on an async worker, where the server's state
    /// is dropped at shutdown).
    pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }

    /// Sends what is due now on `runtime`; returns how many attempts were made.
    pub fn run(&self, runtime: &tokio::runtime::Runtime) -> ServiceResult<usize> {
        let mut made = 0;
        while made < MAX_PER_RUN {
            let now = self.clock.now();
            let claimed = {
                let mut conn = self.pool.get().map_err(db::StoreError::from)?;
                db::write_tx(&mut conn, |c| {
                    store::claim(c, now, now + self.lease, BATCH).map_err(ServiceError::from)
                })?
            };
            if claimed.is_empty() {
                break;
            }
            let sent = runtime.block_on(self.send_all(&claimed));
            for (claim, sent) in claimed.iter().zip(sent) {
                self.record(claim, sent)?;
            }
            made += claimed.len();
        }
        Ok(made)
    }

    async fn send_all(&self, claimed: &[Claimed]) -> Vec<Sent> {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, claim) in claimed.iter().enumerate() {
            let request = self.request(claim);
            let outbound = self.outbound.clone();
            let url = claim.url.clone();
            tasks.spawn(async move {
                let sent = match request {
                    Ok((headers, body)) => {
                        outbound
                            .post(&url, &headers, body, MAX_RESPONSE_BYTES)
                            .await
                    }
                    Err(e) => Err(e),
                };
                (i, sent)
            });
        }
        let mut sent: Vec<Sent> = claimed
            .iter()
            .map(|_| Err(FetchError::Unreachable("not sent".into())))
            .collect();
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, result)) = done {
                sent[i] = result;
            }
        }
        sent
    }

    /// The signed request of a delivery: Standard Webhooks headers over the stored body. The
    /// timestamp is this attempt's, on the wall clock receivers compare it with.
    fn request(&self, claim: &Claimed) -> Result<Request, FetchError> {
        let secret = self
            .master
            .open(&claim.secret_sealed, claim.delivery.webhook_id.as_bytes())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| SigningSecret::parse(&text))
            .ok_or_else(|| {
                tracing::error!(
                    webhook_id = %claim.delivery.webhook_id,
                    "a webhook's signing secret could not be opened: wrong master key?"
                );
                FetchError::Refused("the signing secret could not be opened".into())
            })?;
        let id = claim.delivery.event_id.clone();
        let timestamp = Utc::now().timestamp();
        let body = claim.delivery.payload.clone();
        let signature = secret.sign(&id, timestamp, body.as_bytes());
        Ok((
            vec![
                ("webhook-id", id),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
            body,
        ))
    }

    /// Records an attempt, and what it means for its endpoint.
    fn record(&self, claim: &Claimed, sent: Sent) -> ServiceResult<()> {
        let now = self.clock.now();
        let delivery = &claim.delivery;
        let (status, error) = match &sent {
            Ok(p) if (200..300).contains(&p.status) => (Some(p.status), None),
            Ok(p) => (Some(p.status), Some(format!("answered HTTP {}", p.status))),
            Err(e) => (None, Some(e.to_string())),
        };
        let next = if error.is_none() {
            Next::Delivered
        } else {
            let elapsed = (now - delivery.created_at).to_std().unwrap_or_default();
            let jitter = rand::rng().random::<f64>();
            match self.retry.next(delivery.attempts + 1, elapsed, jitter) {
                // At the precision both databases keep, so the time read back is the time
                // written (SQLite compares the text).
                Some(wait) => Next::RetryAt(
                    (now + TimeDelta::from_std(wait).unwrap_or_default()).trunc_subsecs(6),
                ),
                None => Next::GiveUp,
            }
        };
        match (&next, &error) {
            (Next::Delivered, _) => {}
            (_, Some(why)) => tracing::info!(
                webhook_id = %delivery.webhook_id,
                event_id = %delivery.event_id,
                attempt = delivery.attempts + 1,
                error = %why,
                gave_up = next == Next::GiveUp,
                "webhook delivery failed"
            ),
            _ => {}
        }
        let attempt = Attempt {
            at: now,
            status,
            error,
            next,
        };
        let mut conn = self.pool.get().map_err(db::StoreError::from)?;
        db::write_tx(&mut conn, |conn| {
            store::finish(conn, delivery.id, &attempt)?;
            if attempt.next == Next::Delivered {
                store::note_success(conn, &delivery.webhook_id)?;
                return Ok(());
            }
            let since = store::note_failure(conn, &delivery.webhook_id, now)?;
            if now - since >= DISABLE_AFTER {
                disable(conn, claim, since, now)?;
            }
            Ok::<_, ServiceError>(())
        })
    }
}

fn disable(
    conn: &mut db::DbConnection,
    claim: &Claimed,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    let reason = format!(
        "every delivery failed for {} days",
        DISABLE_AFTER.num_days()
    );
    if store::disable(conn, &claim.delivery.webhook_id, &reason, now)? {
        tracing::warn!(webhook_id = %claim.delivery.webhook_id, "webhook disabled: {reason}");
        audit::record_as(
            conn,
            &claim.org_id,
            audit::SYSTEM_ACTOR,
            audit::action::WEBHOOK_DISABLED,
            &claim.delivery.webhook_id,
            json!({"reason": reason, "failing_since": since}),
            now,
        )?;
    }
    Ok(())
}
