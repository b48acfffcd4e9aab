//! The recorder's jobs: the periodic flush and the retention roll-up, run by
//! [`crate::background`] for as long as the recorder lives, and the last flush at shutdown.

use std::sync::Arc;
use std::time::Duration;

use super::UsageRecorder;
use crate::background::{self, Job};
use crate::store::{self, Pool, StoreError};

/// Retention first runs shortly after start, so a node restarted more often than hourly still
/// rolls up, but not in the middle of starting.
const RETENTION_FIRST_RUN: Duration = Duration::from_secs(60);
/// Then hourly: rows are hourly, so running more often would find nothing new to roll up.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Flushes every `interval` while the recorder is alive.
pub fn spawn_flusher(recorder: &Arc<UsageRecorder>, pool: Pool, interval: Duration) {
    let job = Job::every("usage-flush", interval, "usage not flushed yet; will retry");
    background::spawn(job, recorder, move |recorder, _| {
        recorder.flush(&pool).map(drop)
    });
}

/// Once an hour (and shortly after start): roll hourly rows past `hourly` into daily rows, and
/// delete daily rows past `daily`. Off the request path; serialised across nodes by the store
/// (`store::usage::roll_up`), so every node may run it.
pub fn spawn_retention(
    recorder: &Arc<UsageRecorder>,
    pool: Pool,
    hourly: Duration,
    daily: Duration,
) {
    let job = Job::every(
        "usage-retention",
        RETENTION_INTERVAL,
        "usage retention did not run; will retry",
    )
    .first_after(RETENTION_FIRST_RUN);
    // The recorder is only the job's owner: the job ends with it, but reads the database alone.
    background::spawn(job, recorder, move |_, _| -> Result<(), StoreError> {
        let now = store::now();
        let cutoff =
            |d: Duration| now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let mut conn = pool.get()?;
        let n = store::usage::roll_up(&mut conn, cutoff(hourly), cutoff(daily))?;
        if n > 0 {
            tracing::info!(rows = n, "hourly usage rolled up into days");
        }
        Ok(())
    });
}

/// The last flush, once the server has stopped taking requests, so a graceful stop loses no
/// counts. Blocking (diesel): call it from the blocking pool.
pub fn flush_at_shutdown(recorder: &UsageRecorder, pool: &Pool) {
    if let Err(e) = recorder.flush(pool) {
        tracing::error!(error = %e, "usage counts could not be flushed at shutdown");
    }
}
