//! The time the background work that waits for time runs on: webhook retries and expiry
//! warnings. The system clock in service; a clock a test moves by hand, so that "retried after
//! a minute" or "warned 7 days before" is tested without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

#[derive(Clone, Default)]
pub enum Clock {
    /// `store::now()`: the wall clock at the precision the database keeps.
    #[default]
    System,
    /// Microseconds since the epoch, moved only by `set` and `advance`.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock standing at `start` until moved.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(start.timestamp_micros())))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => crate::store::now(),
            Clock::Manual(micros) => {
                DateTime::from_timestamp_micros(micros.load(Ordering::SeqCst)).unwrap_or_default()
            }
        }
    }

    /// Moves a manual clock on (a system clock moves by itself).
    pub fn advance(&self, by: TimeDelta) {
        if let Clock::Manual(micros) = self {
            micros.fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Clock::System => f.write_str("System"),
            Clock::Manual(_) => write!(f, "Manual({})", self.now()),
        }
    }
}

impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (self, other) {
            (Clock::System, Clock::System) => true,
            (Clock::Manual(a), Clock::Manual(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::days(7));
        assert_eq!(clock.now(), start + TimeDelta::days(7));
        assert_eq!(clock.clone(), clock);
        assert_ne!(Clock::manual(start), clock);
    }
}
