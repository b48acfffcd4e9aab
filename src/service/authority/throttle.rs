//! Throttling of failed client authentication (SPEC: `429` + `Retry-After`), per source address,
//! per claimed key id, and per asking key, in memory on each node. The authority applies it
//! (`authority::credential`'s gate and `Authority::settle`); this module only keeps the books.
//!
//! Rules:
//! - Only failures count: a bad, unknown or malformed secret or token. A valid secret of a
//!   revoked key is not a guess.
//! - An address whose bucket is empty loses every database lookup of an unknown secret, and
//!   its further failures are answered 429 before anything about them is recorded; what
//!   verifies without the database (a cached key's secret, a valid token) is still served, so
//!   one guesser behind a NAT does not lock out everyone there. IPv6 addresses count per /64,
//!   the block one subscriber gets.
//! - Unknown secrets that an authenticated key asks about (introspection, `/v1/check`) count
//!   against that key: once its bucket is empty, such lookups are refused with 429 for it.
//! - A key id whose bucket is empty never locks its owner out. Requests for it from addresses
//!   that have failed recently are answered from the key cache alone (the owner's current secret
//!   is there once used), and what would need the database — an unknown secret — is refused with
//!   429. Requests from addresses with a clean record are served as usual: otherwise an attacker
//!   guessing once a second could keep an owner whose key is not cached (after a restart, an
//!   edit or a roll) out indefinitely. Guessing across addresses thus costs a fresh address per
//!   database lookup, and every secret has 256 random bits.
//! - Memory is bounded: each table holds at most `capacity` entries. When a table is full,
//!   entries whose buckets have refilled are swept; if it is still full, failures of untracked
//!   sources share one overflow bucket, so spraying addresses buys no more guesses than the
//!   overflow allows, and nobody else is refused before authenticating.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use crate::domain::bucket::{Bucket, Rate};

const SHARDS: usize = 16;

/// Entries per table (addresses, key ids) across all shards.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// A refusal: how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

struct Table<K> {
    shards: Vec<Mutex<HashMap<K, Bucket>>>,
    hasher: RandomState,
    per_shard: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new(capacity: usize) -> Self {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    // `Q` lets a `String` table be asked with a `&str` (same hash, by `Borrow`'s contract).
    fn shard<Q: Hash + ?Sized>(&self, key: &Q) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(wait)` when `key` has no allowance left.
    fn exhausted<Q>(&self, key: &Q, rate: Rate, now: u64) -> Option<RetryAfter>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut shard = self.shard(key);
        let bucket = shard.get_mut(key)?;
        (!bucket.has_token(rate, now)).then(|| RetryAfter(bucket.retry_after(rate, now)))
    }

    /// Whether `key` has used some of its allowance (its bucket is not full again).
    fn failed_recently(&self, key: &K, rate: Rate, now: u64) -> bool {
        self.shard(key)
            .get_mut(key)
            .is_some_and(|bucket| !bucket.is_full(rate, now))
    }

    /// Takes one failure's token. `Err(())` when `key` is new and the table is full.
    fn fail(&self, key: &K, rate: Rate, now: u64) -> Result<(), ()> {
        let mut shard = self.shard(key);
        if let Some(bucket) = shard.get_mut(key) {
            bucket.take(rate, now);
            return Ok(());
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, b| !b.is_full(rate, now));
            if shard.len() >= self.per_shard {
                return Err(());
            }
        }
        let mut bucket = Bucket::full(rate, now);
        bucket.take(rate, now);
        shard.insert(key.clone(), bucket);
        Ok(())
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// An address as throttled: IPv4 whole, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match crate::domain::client_ip::unmap(ip) {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let mut prefix = [0; 8];
                prefix.copy_from_slice(&v6.octets()[..8]);
                Source::V6(prefix)
            }
        }
    }
}

pub struct Throttle {
    rate: Rate,
    sources: Table<Source>,
    keys: Table<String>,
    /// Per calling key: unknown secrets it asked about (introspection, `/v1/check`).
    askers: Table<String>,
    /// Shared by failures nobody has room to track (see the module comment).
    overflow: Mutex<Bucket>,
    epoch: Instant,
}

impl Throttle {
    pub fn new(rate: Rate, capacity: usize) -> Self {
        Throttle {
            rate,
            sources: Table::new(capacity),
            keys: Table::new(capacity),
            askers: Table::new(capacity),
            // Room for a burst per shard before the spraying shows.
            overflow: Mutex::new(Bucket::full(rate, 0)),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Before authenticating: `Some(wait)` when this address must be refused outright.
    pub fn source_blocked(&self, ip: IpAddr) -> Option<RetryAfter> {
        if self.rate.is_off() {
            return None;
        }
        self.sources
            .exhausted(&Source::from(ip), self.rate, self.now_ms())
    }

    /// Before authenticating a client id from `ip`: `Some(wait)` when only the key cache may
    /// answer (the key id is exhausted and this address has failed recently).
    pub fn key_limited(&self, ip: IpAddr, key_id: &str) -> Option<RetryAfter> {
        if self.rate.is_off() {
            return None;
        }
        let now = self.now_ms();
        let wait = self.keys.exhausted(key_id, self.rate, now)?;
        self.sources
            .failed_recently(&Source::from(ip), self.rate, now)
            .then_some(wait)
    }

    /// Records a failed authentication. `Some(wait)` when this very failure is over the limit
    /// (only possible for sources that have no room in the tables).
    pub fn failed(&self, ip: IpAddr, key_id: Option<&str>) -> Option<RetryAfter> {
        if self.rate.is_off() {
            return None;
        }
        let now = self.now_ms();
        let mut untracked = self
            .sources
            .fail(&Source::from(ip), self.rate, now)
            .is_err();
        if let Some(key) = key_id {
            untracked |= self.keys.fail(&key.to_owned(), self.rate, now).is_err();
        }
        if !untracked {
            return None;
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
        (!overflow.take(self.rate, now)).then(|| RetryAfter(overflow.retry_after(self.rate, now)))
    }

    /// Before looking up a secret that an authenticated key asks about: `Some(wait)` when that
    /// key has used up its allowance of unknown ones. Keyed by the asking key, not its address:
    /// a resource server that forwards what its own clients send should not lose, to one of
    /// them, everything else that comes from its address.
    pub fn asker_limited(&self, asker: &str) -> Option<RetryAfter> {
        if self.rate.is_off() {
            return None;
        }
        self.askers.exhausted(asker, self.rate, self.now_ms())
    }

    /// Records an unknown secret asked about by `asker`; `Some(wait)` when its allowance is
    /// used up (or there is no room to track it: the table is bounded like the others).
    pub fn asked_unknown(&self, asker: &str) -> Option<RetryAfter> {
        if self.rate.is_off() {
            return None;
        }
        let now = self.now_ms();
        match self.askers.fail(&asker.to_owned(), self.rate, now) {
            Ok(()) => None,
            Err(()) => Some(RetryAfter(1)),
        }
    }

    /// Entries held (addresses, key ids): what the memory bound is about.
    pub fn tracked(&self) -> (usize, usize) {
        (self.sources.len(), self.keys.len() + self.askers.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        burst: 3,
        per_sec: 0.001,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_after_its_burst_of_failures_and_others_are_not() {
        let t = Throttle::new(RATE, 1024);
        for _ in 0..3 {
            assert_eq!(t.source_blocked(ip("192.0.2.1")), None);
            assert_eq!(t.failed(ip("192.0.2.1"), None), None);
        }
        assert!(t.source_blocked(ip("192.0.2.1")).is_some_and(|r| r.0 >= 1));
        assert!(t.source_blocked(ip("::ffff:192.0.2.1")).is_some());
        assert_eq!(t.source_blocked(ip("192.0.2.2")), None);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let t = Throttle::new(RATE, 1024);
        for i in 0..3 {
            t.failed(ip(&format!("2001:db8:0:1::{i}")), None);
        }
        assert!(t.source_blocked(ip("2001:db8:0:1:ffff::9")).is_some());
        assert_eq!(t.source_blocked(ip("2001:db8:0:2::1")), None);
    }

    #[test]
    fn key_ids_are_limited_independently_of_addresses() {
        let t = Throttle::new(RATE, 1024);
        for i in 0..3 {
            t.failed(ip(&format!("198.51.100.{i}")), Some("key_a"));
        }
        // The key id is exhausted for addresses that failed; not for a clean one (its owner's).
        assert!(t.key_limited(ip("198.51.100.0"), "key_a").is_some());
        assert_eq!(t.key_limited(ip("192.0.2.77"), "key_a"), None);
        assert_eq!(t.key_limited(ip("198.51.100.0"), "key_b"), None);
        assert_eq!(t.source_blocked(ip("198.51.100.0")), None);
        // A clean address that then fails is limited too.
        t.failed(ip("192.0.2.77"), Some("key_a"));
        assert!(t.key_limited(ip("192.0.2.77"), "key_a").is_some());
    }

    #[test]
    fn spraying_addresses_is_bounded_in_memory_and_in_guesses() {
        let t = Throttle::new(RATE, 64);
        let mut refused = 0;
        for i in 0..10_000u32 {
            let addr = IpAddr::from(i.to_be_bytes());
            if t.failed(addr, None).is_some() {
                refused += 1;
            }
        }
        let (sources, _) = t.tracked();
        assert!(sources <= 64, "{sources} entries");
        // Everything past the table and the overflow burst is refused.
        assert!(refused >= 10_000 - 64 - 3, "{refused} refused");
        // A fresh address that never failed is not blocked before authenticating.
        assert_eq!(t.source_blocked(ip("203.0.113.9")), None);
    }

    #[test]
    fn refilled_entries_are_swept_to_make_room() {
        let fast = Rate {
            burst: 1,
            per_sec: 1000.0,
        };
        let t = Throttle::new(fast, 16);
        // Each failure's bucket is full again 1 ms later, so a full table always has room.
        for i in 0..200u32 {
            assert_eq!(t.failed(IpAddr::from(i.to_be_bytes()), None), None);
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(t.tracked().0 <= 16);
    }

    #[test]
    fn off_means_off() {
        let t = Throttle::new(
            Rate {
                burst: 0,
                per_sec: 1.0,
            },
            16,
        );
        for _ in 0..100 {
            assert_eq!(t.failed(ip("192.0.2.1"), Some("k")), None);
        }
        assert_eq!(t.source_blocked(ip("192.0.2.1")), None);
        assert_eq!(t.key_limited(ip("192.0.2.1"), "k"), None);
    }
}
