//! A token bucket with the clock passed in: `burst` tokens at most, refilled at `per_sec`.

/// How many failures may come at once, and how fast the allowance comes back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_sec: f64,
}

impl Rate {
    /// A burst of 0 turns throttling off.
    pub fn is_off(&self) -> bool {
        self.burst == 0 || self.per_sec <= 0.0
    }
}

/// Tokens left as of `at_ms` (milliseconds on the caller's monotonic clock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl Bucket {
    pub fn full(rate: Rate, now_ms: u64) -> Self {
        Bucket {
            tokens: f64::from(rate.burst),
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, rate: Rate, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate.per_sec).min(f64::from(rate.burst));
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Whether a token is available now (without taking it).
    pub fn has_token(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        self.tokens >= 1.0
    }

    /// Takes a token if there is one.
    pub fn take(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Back to its burst: as good as never having been used, so it can be forgotten.
    pub fn is_full(&mut self, rate: Rate, now_ms: u64) -> bool {
        self.refill(rate, now_ms);
        self.tokens >= f64::from(rate.burst)
    }

    /// Whole seconds until a token is available (at least 1): the `Retry-After` value.
    pub fn retry_after(&mut self, rate: Rate, now_ms: u64) -> u64 {
        self.refill(rate, now_ms);
        let missing = (1.0 - self.tokens).max(0.0);
        ((missing / rate.per_sec).ceil() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3,
        per_sec: 0.5,
    };

    #[test]
    fn a_burst_is_allowed_then_the_rate() {
        let mut b = Bucket::full(RATE, 0);
        assert!(b.take(RATE, 0) && b.take(RATE, 0) && b.take(RATE, 0));
        assert!(!b.take(RATE, 0));
        assert!(!b.has_token(RATE, 0));
        assert_eq!(b.retry_after(RATE, 0), 2);
        assert_eq!(b.retry_after(RATE, 1500), 1);
        assert!(!b.take(RATE, 1999));
        assert!(b.take(RATE, 2000));
        assert!(!b.is_full(RATE, 2000));
        assert!(b.is_full(RATE, 8000), "refilled to the burst, never beyond");
        assert!(b.take(RATE, 8000) && b.take(RATE, 8000) && b.take(RATE, 8000));
        assert!(!b.take(RATE, 8000));
    }

    #[test]
    fn a_clock_going_backwards_refills_nothing() {
        let mut b = Bucket::full(RATE, 10_000);
        assert!(b.take(RATE, 10_000) && b.take(RATE, 10_000) && b.take(RATE, 10_000));
        assert!(!b.take(RATE, 5_000));
        assert!(!b.take(RATE, 10_000));
    }

    #[test]
    fn zero_burst_or_rate_is_off() {
        assert!(
            Rate {
                burst: 0,
                per_sec: 1.0
            }
            .is_off()
        );
        assert!(
            Rate {
                burst: 5,
                per_sec: 0.0
            }
            .is_off()
        );
        assert!(!RATE.is_off());
    }
}
