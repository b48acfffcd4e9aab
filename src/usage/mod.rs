//! Usage metering off the hot path: requests add to in-memory counters (sharded by key) and a
//! background thread flushes them to the database in one batched upsert per interval, and once
//! more on shutdown. A failed flush puts the counts back, so an unavailable database delays
//! them but does not lose them.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::usage::{Batch, UsageEvent};
use crate::store::{self, Pool};

const SHARDS: usize = 16;

/// The in-memory counters: one [`Batch`] per shard, so concurrent requests for different keys
/// rarely wait on the same lock.
pub struct UsageRecorder {
    shards: [Mutex<Batch>; SHARDS],
    /// Off only to measure what metering costs (`--usage-metering off`).
    enabled: bool,
}

impl Default for UsageRecorder {
    fn default() -> Self {
        Self {
            shards: Default::default(),
            enabled: true,
        }
    }
}

impl UsageRecorder {
    fn shard(&self, key_id: &str) -> std::sync::MutexGuard<'_, Batch> {
        // FNV-1a: cheap, and spreads key ids well enough across the shards.
        let mut h: u32 = 0x811c_9dc5;
        for b in key_id.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        self.shards[h as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A recorder that counts nothing.
    pub fn disabled() -> Self {
        Self {
            shards: Default::default(),
            enabled: false,
        }
    }

    /// Counts one event. A use (token, request) also moves `last_used`; a denial does not.
    pub fn record(&self, key_id: &str, event: UsageEvent, at: DateTime<Utc>, ip: Option<IpAddr>) {
        if !self.enabled {
            return;
        }
        self.shard(key_id).record(key_id, event, at, ip);
    }

    /// Everything counted so far; the recorder starts afresh.
    pub fn take(&self) -> Batch {
        let mut all = Batch::default();
        for shard in &self.shards {
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(|p| p.into_inner()));
            all.merge(taken);
        }
        all
    }

    /// Puts back a batch that could not be written.
    pub fn restore(&self, batch: Batch) {
        if !batch.is_empty() {
            self.shards[0]
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .merge(batch);
        }
    }

    /// Writes what was counted. On failure the counts are kept for the next attempt.
    pub fn flush(&self, pool: &Pool) -> Result<usize, store::StoreError> {
        let batch = self.take();
        if batch.is_empty() {
            return Ok(0);
        }
        let n = batch.counts.len();
        let result = pool
            .get()
            .map_err(store::StoreError::from)
            .and_then(|mut conn| store::usage::flush(&mut conn, &batch));
        match result {
            Ok(()) => Ok(n),
            Err(e) => {
                self.restore(batch);
                Err(e)
            }
        }
    }
}

/// Flushes every `interval` while the recorder is alive.
pub fn spawn_flusher(recorder: &Arc<UsageRecorder>, pool: Pool, interval: Duration) {
    let weak = Arc::downgrade(recorder);
    let spawned = std::thread::Builder::new()
        .name("usage-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                let Some(recorder) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = recorder.flush(&pool) {
                    tracing::warn!(error = %e, "usage not flushed yet; will retry");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the usage flusher");
    }
}

/// Once an hour (and shortly after start): roll hourly rows past `hourly` into daily rows, and
/// delete daily rows past `daily`. Off the request path; serialised across nodes by the store.
pub fn spawn_retention(
    recorder: &Arc<UsageRecorder>,
    pool: Pool,
    hourly: Duration,
    daily: Duration,
) {
    let weak = Arc::downgrade(recorder);
    let spawned = std::thread::Builder::new()
        .name("usage-retention".into())
        .spawn(move || {
            let mut wait = Duration::from_secs(60);
            loop {
                std::thread::sleep(wait);
                wait = Duration::from_secs(3600);
                if weak.upgrade().is_none() {
                    return;
                }
                let now = store::now();
                let cutoff = |d: Duration| {
                    now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
                };
                let result = pool
                    .get()
                    .map_err(store::StoreError::from)
                    .and_then(|mut conn| {
                        store::usage::roll_up(&mut conn, cutoff(hourly), cutoff(daily))
                    });
                match result {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "hourly usage rolled up into days"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "usage retention did not run; will retry"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the usage retention job");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::usage::DenyReason;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn events_are_counted_per_key_and_hour_and_taken_once() {
        let r = UsageRecorder::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        r.record(
            "key_a",
            UsageEvent::TokenIssued,
            t("2026-01-01T10:59:59Z"),
            Some(ip),
        );
        r.record(
            "key_a",
            UsageEvent::TokenIssued,
            t("2026-01-01T11:00:00Z"),
            None,
        );
        r.record(
            "key_a",
            UsageEvent::Denied(DenyReason::Revoked),
            t("2026-01-01T11:30:00Z"),
            None,
        );
        r.record(
            "key_b",
            UsageEvent::Request,
            t("2026-01-01T11:00:01Z"),
            Some(ip),
        );
        let b = r.take();
        assert_eq!(b.counts.len(), 3);
        assert_eq!(
            b.counts[&("key_a".to_owned(), t("2026-01-01T10:00:00Z"))].tokens_issued,
            1
        );
        assert_eq!(
            b.counts[&("key_a".to_owned(), t("2026-01-01T11:00:00Z"))].denied_total(),
            1
        );
        assert_eq!(
            b.last_used["key_a"],
            (t("2026-01-01T11:00:00Z"), None),
            "denials are not uses"
        );
        assert_eq!(b.last_used["key_b"].1, Some(ip));
        assert!(r.take().is_empty());
        r.restore(b.clone());
        assert_eq!(r.take(), b, "a failed flush loses nothing");
    }

    #[test]
    fn concurrent_recording_is_exact() {
        let r = Arc::new(UsageRecorder::default());
        let now = t("2026-01-01T00:00:00Z");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for j in 0..500 {
                        r.record(
                            &format!("key_{}", (i + j) % 7),
                            UsageEvent::TokenIssued,
                            now,
                            None,
                        );
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let total: u64 = r.take().counts.values().map(|c| c.tokens_issued).sum();
        assert_eq!(total, 4000);
    }
}
