//! The in-memory counters the hot path adds to, and their flush to the database.

use std::net::IpAddr;
use std::sync::Mutex;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use crate::domain::usage::TokenAuth;

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
            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
            t("2026-01-01T10:59:59Z"),
            Some(ip),
        );
        r.record(
            "key_a",
            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
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
                            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
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
