//! Periodic background jobs: the key cache's feed follower, the usage flush and retention, the
//! signing-key refresh. Each is one named thread that runs its job on a fixed schedule for as
//! long as the job's owner lives, and this is the one place that knows how.
//!
//! Rules every job gets from here, so no job has to get them right by hand:
//! 1. **A job never keeps its owner alive.** The thread holds only a `Weak`; it upgrades it for
//!    one run and lets go before sleeping. When the last `Arc` elsewhere is dropped (a test's
//!    server, an `Application`), the thread ends at its next wake-up, without a stop call.
//! 2. **A failed run is logged at `warn` with the job's name and retried on schedule**: these
//!    jobs keep a cache fresh or move counts to the database, and a database that is away now
//!    is usually back later. What a failure means for the service is the job's `on_failure`.
//! 3. **Runs never overlap**: one thread runs the job, sleeping between runs (so the period is
//!    from the end of one run to the start of the next, and a slow run delays the next).

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

/// A periodic job: its thread's name, when it runs, and what a failed run means.
#[derive(Debug, Clone, Copy)]
pub struct Job {
    /// The thread's name, and the `job` field of its log lines.
    pub name: &'static str,
    /// Wait before the first run.
    pub first: Duration,
    /// Wait between the end of one run and the start of the next.
    pub every: Duration,
    /// Logged with a failed run's error: what the failure means for the service.
    pub on_failure: &'static str,
}

impl Job {
    /// A job that first runs one `every` after it starts, then every `every`.
    pub fn every(name: &'static str, every: Duration, on_failure: &'static str) -> Self {
        Job {
            name,
            first: every,
            every,
            on_failure,
        }
    }

    /// The same job with a different wait before its first run.
    pub fn first_after(self, first: Duration) -> Self {
        Job { first, ..self }
    }
}

/// Runs `run(owner, round)` on its own thread on `job`'s schedule until `owner` is dropped
/// (rule 1). `round` counts runs from 1, for work done only every so many runs. A failed run is
/// logged and the next one happens on schedule (rule 2). If the thread cannot be started, that
/// is logged at `error` and the service runs without the job.
pub fn spawn<O, E, F>(job: Job, owner: &Arc<O>, mut run: F)
where
    O: Send + Sync + 'static,
    E: Display,
    F: FnMut(&O, u64) -> Result<(), E> + Send + 'static,
{
    let owner = Arc::downgrade(owner);
    let spawned = std::thread::Builder::new()
        .name(job.name.into())
        .spawn(move || {
            let mut wait = job.first;
            for round in 1u64.. {
                std::thread::sleep(wait);
                wait = job.every;
                // Held for this run only: never across the sleep (rule 1).
                let Some(owner) = owner.upgrade() else {
                    return;
                };
                if let Err(e) = run(&owner, round) {
                    tracing::warn!(job = job.name, error = %e, "{}", job.on_failure);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(job = job.name, error = %e, "cannot start a background job");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    const TICK: Duration = Duration::from_millis(5);

    #[test]
    fn a_job_runs_in_rounds_until_its_owner_is_dropped() {
        let owner = Arc::new(());
        let (rounds, received) = mpsc::channel();
        spawn(
            Job::every("test-rounds", TICK, "test"),
            &owner,
            move |_, round| rounds.send(round).map_err(|e| e.to_string()),
        );
        let seen: Vec<u64> = received.iter().take(3).collect();
        assert_eq!(seen, [1, 2, 3]);

        drop(owner);
        // The thread ends, dropping the job and with it the sender: the channel disconnects.
        let timeout = Duration::from_secs(5);
        loop {
            match received.recv_timeout(timeout) {
                Ok(_) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("the job outlived its owner"),
            }
        }
    }

    #[test]
    fn a_failed_run_is_retried_on_schedule() {
        let owner = Arc::new(());
        let (rounds, received) = mpsc::channel();
        spawn(
            Job::every("test-retry", TICK, "test"),
            &owner,
            move |_, round| {
                rounds.send(round).map_err(|e| e.to_string())?;
                if round == 1 {
                    Err("the database is away".to_owned())
                } else {
                    Ok(())
                }
            },
        );
        let seen: Vec<u64> = received.iter().take(2).collect();
        assert_eq!(seen, [1, 2]);
    }

    #[test]
    fn the_first_run_waits_its_own_delay() {
        let owner = Arc::new(());
        let (rounds, received) = mpsc::channel();
        let job = Job::every("test-first", Duration::from_secs(3600), "test").first_after(TICK);
        spawn(job, &owner, move |_, round| {
            rounds.send(round).map_err(|e| e.to_string())
        });
        assert_eq!(received.recv_timeout(Duration::from_secs(5)).unwrap(), 1);
        assert!(received.recv_timeout(Duration::from_millis(50)).is_err());
    }
}
