//! When a cached key set (a JWKS) may be used and when it must be fetched again: one policy for
//! every cache of public keys fetched from a URL, the server's (clients' `jwks_uri`, federated
//! issuers) and a resource server's (Latchkey's own JWKS).
//!
//! - A fetched set is fresh for its `Cache-Control: max-age` (a default when the answer has
//!   none), clamped between [`CachePolicy::min_ttl`] and [`CachePolicy::max_ttl`]: `no-cache`
//!   or `max-age=0` would otherwise mean a fetch per token, and an hour's cap bounds how long
//!   a key the publisher withdrew keeps verifying.
//! - An unknown `kid` is a reason to fetch again (a rotation published a key), but at most once
//!   per [`CachePolicy::refetch_after`]: a flood of tokens with random kids costs the publisher
//!   one fetch a second, whatever the flood's size.
//! - When a fetch fails, the last good set stays in use for [`CachePolicy::stale_for`] past its
//!   freshness (stale-if-error, bounded); after that the answer is [`Decision::Unavailable`].
//!
//! The caller owns the clock: every method takes `now`, so tests replay any timeline.

use std::time::{Duration, Instant};

/// The bounds of a key-set cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Freshness of a set fetched without `Cache-Control: max-age`.
    pub default_ttl: Duration,
    /// Least freshness, whatever the publisher says.
    pub min_ttl: Duration,
    /// Most freshness, whatever the publisher says.
    pub max_ttl: Duration,
    /// Least time between two fetches of one set, answered or not.
    pub refetch_after: Duration,
    /// How long past its freshness the last good set serves while fetches fail.
    pub stale_for: Duration,
}

impl Default for CachePolicy {
    /// Five minutes without a header, 30 s to 1 h with one, one fetch a second at most, and
    /// an hour of stale keys while the publisher is down.
    ///
    /// ```
    /// use std::time::Duration;
    /// use latchkey_rules::jwks_cache::CachePolicy;
    ///
    /// let policy = CachePolicy::default();
    /// assert_eq!(policy.refetch_after, Duration::from_secs(1));
    /// ```
    fn default() -> Self {
        CachePolicy {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            refetch_after: Duration::from_secs(1),
            stale_for: Duration::from_secs(3600),
        }
    }
}

impl CachePolicy {
    /// How long a set fetched with this `Cache-Control` header stays fresh.
    ///
    /// ```
    /// use std::time::Duration;
    /// use latchkey_rules::jwks_cache::CachePolicy;
    ///
    /// let policy = CachePolicy::default();
    /// assert_eq!(policy.ttl(Some("public, max-age=600")), Duration::from_secs(600));
    /// assert_eq!(policy.ttl(Some("no-cache")), policy.min_ttl);
    /// assert_eq!(policy.ttl(None), policy.default_ttl);
    /// ```
    pub fn ttl(&self, cache_control: Option<&str>) -> Duration {
        let asked = match cache_control.map(directives) {
            None => self.default_ttl,
            Some(d) if d.no_cache || d.no_store => Duration::ZERO,
            Some(d) => d.max_age.map_or(self.default_ttl, Duration::from_secs),
        };
        asked.clamp(self.min_ttl, self.max_ttl)
    }
}

/// The `Cache-Control` directives this policy reads (RFC 9111 §5.2.2).
#[derive(Debug, Default)]
struct Directives {
    max_age: Option<u64>,
    no_cache: bool,
    no_store: bool,
}

fn directives(header: &str) -> Directives {
    let mut found = Directives::default();
    for directive in header.split(',') {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        match name.to_ascii_lowercase().as_str() {
            // RFC 9111 §1.2.2: a delta-seconds too large to hold is "a very long time".
            "max-age" => {
                found.max_age = value.and_then(|v| {
                    v.bytes()
                        .all(|b| b.is_ascii_digit())
                        .then(|| v.parse().unwrap_or(u64::MAX))
                })
            }
            "no-cache" => found.no_cache = true,
            "no-store" => found.no_store = true,
            _ => {}
        }
    }
    found
}

/// What to do with a cached set for one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Verify with the cached set (the token's `kid` may still be missing from it: the set was
    /// fetched too recently to ask again, so the token names a key that does not exist).
    Use,
    /// Fetch the set first.
    Fetch,
    /// No set to verify with: never fetched successfully, or stale past the bound, and the last
    /// fetch, too recent to repeat, failed.
    Unavailable,
}

/// One cached set's history: when it was last fetched and for how long that answer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Freshness {
    /// The last successful fetch, and its freshness.
    fetched: Option<(Instant, Duration)>,
    /// The last fetch, answered or not.
    attempted: Option<Instant>,
}

impl Freshness {
    /// What to do for a token whose `kid` the cached set has (`kid_known`) or lacks.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use latchkey_rules::jwks_cache::{CachePolicy, Decision, Freshness};
    ///
    /// let policy = CachePolicy::default();
    /// let t0 = Instant::now();
    /// let mut set = Freshness::default();
    /// assert_eq!(set.decide(&policy, t0, false), Decision::Fetch);
    /// set.fetched(&policy, t0, Some("max-age=60"));
    /// assert_eq!(set.decide(&policy, t0, true), Decision::Use);
    /// // An unknown kid within the second: no second fetch.
    /// assert_eq!(set.decide(&policy, t0 + Duration::from_millis(500), false), Decision::Use);
    /// assert_eq!(set.decide(&policy, t0 + Duration::from_secs(1), false), Decision::Fetch);
    /// ```
    pub fn decide(&self, policy: &CachePolicy, now: Instant, kid_known: bool) -> Decision {
        let may_fetch = self
            .attempted
            .is_none_or(|at| now.saturating_duration_since(at) >= policy.refetch_after);
        match self.fetched {
            Some((at, ttl)) if now.saturating_duration_since(at) < ttl => {
                if kid_known || !may_fetch {
                    Decision::Use
                } else {
                    Decision::Fetch
                }
            }
            _ if may_fetch => Decision::Fetch,
            Some((at, ttl)) if now.saturating_duration_since(at) < ttl + policy.stale_for => {
                Decision::Use
            }
            _ => Decision::Unavailable,
        }
    }

    /// A fetch answered with a set, and this `Cache-Control` header.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use latchkey_rules::jwks_cache::{CachePolicy, Decision, Freshness};
    ///
    /// let policy = CachePolicy::default();
    /// let t0 = Instant::now();
    /// let mut set = Freshness::default();
    /// set.fetched(&policy, t0, Some("max-age=120"));
    /// assert_eq!(set.decide(&policy, t0 + Duration::from_secs(119), true), Decision::Use);
    /// assert_eq!(set.decide(&policy, t0 + Duration::from_secs(120), true), Decision::Fetch);
    /// ```
    pub fn fetched(&mut self, policy: &CachePolicy, now: Instant, cache_control: Option<&str>) {
        self.fetched = Some((now, policy.ttl(cache_control)));
        self.attempted = Some(now);
    }

    /// A fetch failed: the last good set (if any) keeps serving within the stale bound.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use latchkey_rules::jwks_cache::{CachePolicy, Decision, Freshness};
    ///
    /// let policy = CachePolicy::default();
    /// let t0 = Instant::now();
    /// let mut set = Freshness::default();
    /// set.failed(t0);
    /// assert_eq!(set.decide(&policy, t0, true), Decision::Unavailable);
    /// ```
    pub fn failed(&mut self, now: Instant) {
        self.attempted = Some(now);
    }

    /// When the last good set was fetched, if ever.
    ///
    /// ```
    /// use std::time::Instant;
    /// use latchkey_rules::jwks_cache::{CachePolicy, Freshness};
    ///
    /// let t0 = Instant::now();
    /// let mut set = Freshness::default();
    /// assert_eq!(set.last_fetched(), None);
    /// set.fetched(&CachePolicy::default(), t0, None);
    /// assert_eq!(set.last_fetched(), Some(t0));
    /// ```
    pub fn last_fetched(&self) -> Option<Instant> {
        self.fetched.map(|(at, _)| at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn cache_control_is_read_and_clamped() {
        let p = CachePolicy::default();
        assert_eq!(p.ttl(Some("max-age=600")), secs(600));
        assert_eq!(p.ttl(Some("public,MAX-AGE=\"90\"")), secs(90));
        assert_eq!(p.ttl(Some("max-age=0")), p.min_ttl);
        assert_eq!(p.ttl(Some("max-age=5, no-store")), p.min_ttl);
        assert_eq!(p.ttl(Some("max-age=99999999999999999999999")), p.max_ttl);
        assert_eq!(p.ttl(Some("max-age=-3")), p.default_ttl);
        assert_eq!(p.ttl(Some("max-age")), p.default_ttl);
        assert_eq!(p.ttl(Some("private")), p.default_ttl);
        assert_eq!(p.ttl(Some("")), p.default_ttl);
    }

    #[test]
    fn a_flood_of_unknown_kids_fetches_once_a_second() {
        let p = CachePolicy::default();
        let t0 = Instant::now();
        let mut set = Freshness::default();
        set.fetched(&p, t0, Some("max-age=3600"));
        let mut fetches = 0;
        // 1,000 unknown kids over 10 seconds, a fetch done at once each time one is asked for.
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i * 10);
            if set.decide(&p, now, false) == Decision::Fetch {
                fetches += 1;
                set.fetched(&p, now, Some("max-age=3600"));
            }
        }
        assert_eq!(fetches, 9, "one fetch per elapsed second");
    }

    #[test]
    fn stale_keys_serve_while_the_publisher_is_down_then_stop() {
        let p = CachePolicy::default();
        let t0 = Instant::now();
        let mut set = Freshness::default();
        set.fetched(&p, t0, Some("max-age=60"));
        let expired = t0 + secs(61);
        assert_eq!(set.decide(&p, expired, true), Decision::Fetch);
        set.failed(expired);
        assert_eq!(set.decide(&p, expired, true), Decision::Use);
        let late = t0 + secs(60) + p.stale_for;
        assert_eq!(set.decide(&p, late, true), Decision::Fetch);
        set.failed(late);
        assert_eq!(set.decide(&p, late, true), Decision::Unavailable);
        // The publisher back: fresh again.
        let back = late + secs(1);
        assert_eq!(set.decide(&p, back, true), Decision::Fetch);
        set.fetched(&p, back, None);
        assert_eq!(set.decide(&p, back, true), Decision::Use);
    }

    #[test]
    fn a_failed_first_fetch_is_not_repeated_within_the_second() {
        let p = CachePolicy::default();
        let t0 = Instant::now();
        let mut set = Freshness::default();
        set.failed(t0);
        assert_eq!(
            set.decide(&p, t0 + Duration::from_millis(999), true),
            Decision::Unavailable
        );
        assert_eq!(set.decide(&p, t0 + secs(1), true), Decision::Fetch);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Wait(u64),
        /// A fetch answered, with a `max-age` (or none).
        Fetched(Option<u64>),
        Failed,
        Decide(bool),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (0u64..4000).prop_map(Op::Wait),
            proptest::option::of(0u64..5000).prop_map(Op::Fetched),
            Just(Op::Failed),
            any::<bool>().prop_map(Op::Decide),
        ]
    }

    proptest::proptest! {
        /// Against a model that remembers every fetch (in milliseconds): never a second fetch
        /// within `refetch_after` of the last attempt; keys used only if some fetch succeeded
        /// and it is within its freshness plus the stale bound; a known kid in a fresh set is
        /// always used, and unavailable only when neither a fetch nor the stale set is allowed.
        #[test]
        fn decisions_follow_the_fetch_history(ops in proptest::collection::vec(op(), 1..200)) {
            let p = CachePolicy::default();
            let t0 = Instant::now();
            let mut set = Freshness::default();
            let (mut now, mut attempted, mut good): (u64, Option<u64>, Option<(u64, Duration)>) =
                (0, None, None);
            for op in ops {
                let at = t0 + Duration::from_millis(now);
                match op {
                    Op::Wait(ms) => now += ms,
                    Op::Fetched(max_age) => {
                        let header = max_age.map(|s| format!("max-age={s}"));
                        set.fetched(&p, at, header.as_deref());
                        good = Some((now, p.ttl(header.as_deref())));
                        attempted = Some(now);
                    }
                    Op::Failed => {
                        set.failed(at);
                        attempted = Some(now);
                    }
                    Op::Decide(kid_known) => {
                        let may_fetch = attempted.is_none_or(|a| now - a >= 1000);
                        let age = good.map(|(f, ttl)| (Duration::from_millis(now - f), ttl));
                        let fresh = age.is_some_and(|(a, ttl)| a < ttl);
                        let stale_ok = age.is_some_and(|(a, ttl)| a < ttl + p.stale_for);
                        match set.decide(&p, at, kid_known) {
                            Decision::Fetch => proptest::prop_assert!(may_fetch),
                            Decision::Use => {
                                proptest::prop_assert!(stale_ok);
                                proptest::prop_assert!(fresh || !may_fetch);
                            }
                            Decision::Unavailable => {
                                proptest::prop_assert!(!may_fetch && !stale_ok);
                            }
                        }
                        if fresh && kid_known {
                            proptest::prop_assert_eq!(set.decide(&p, at, true), Decision::Use);
                        }
                    }
                }
            }
        }
    }
}
