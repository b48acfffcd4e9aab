//! Keys cached in memory by secret digest and by id, so the hot path (token issuance, key and
//! token authentication) does not read the database.
//!
//! Correctness rules, in order of importance:
//! 1. **An entry checks itself.** An entry is one key row as read, with the digests of the
//!    secrets that row holds. A lookup by digest serves the entry only if that digest is, at
//!    that moment, the entry's current digest or its previous digest with the grace period
//!    unexpired, and the entry is still the key's entry (not replaced or forgotten). So no
//!    secret is ever served that the row it was read with did not accept at that moment; a
//!    stale pointer left behind anywhere cannot bring back a rolled-away secret.
//! 2. **Invalidation removes every digest of the key** (rule 1 makes that hygiene, not
//!    safety). A change on this node invalidates at once; a change on any node reaches every
//!    cache within a second through the `change_log` feed, polled every 250 ms.
//! 3. **A read that raced an invalidation is not cached**: every invalidation bumps a
//!    generation, and a read is cached only if the generation it started under is current.
//! 4. **Fail closed**: when the feed has not been read for longer than `MAX_STALENESS`
//!    (database unreachable), the cache is not trusted and every lookup goes to the database,
//!    which fails with 503 while it is away: a cached key could hide a revocation.
//!
//! Hence the bound the model-based test (`tests/keycache_model.rs`) checks after every step:
//! a node answers as the database does now, or as it did at some moment since the node's last
//! poll, never older; once a poll has run after a change, only the database's answer.
//!
//! The same feed keeps a full mirror of the access-token denylist (RFC 7009 revocations, by
//! `jti`, until the token expires), so verifying a token reads no table either. It is loaded
//! whole at start and again after a feed gap, and trusted under the same freshness rule.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::background::{self, Job};
use crate::domain::key::{Key, SecretSlot};
use crate::store::keys::StoredDigests;
use crate::store::{self, Pool};

/// Longest the cache may go without hearing from the change feed before it is bypassed.
pub const MAX_STALENESS: Duration = Duration::from_millis(1000);
/// How often the change feed is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Feed entries older than this are purged (a node that far behind clears its cache).
const FEED_RETENTION: chrono::Duration = chrono::Duration::hours(1);
/// Purge once every this many polls (about every four minutes).
const PURGE_EVERY: u64 = 1000;
/// Most keys held (a few hundred bytes each): a bound on memory, not an eviction policy. Keys
/// beyond it are simply read from the database; restarts and feed gaps start over.
pub const MAX_KEYS: usize = 262_144;

type Digest = [u8; 32];

/// One key row as read, and the digests of its secrets.
pub struct CachedKey {
    key: Key,
    current: Option<Digest>,
    previous: Option<Digest>,
    /// Set (under the write lock) once this entry is no longer the key's entry.
    retired: AtomicBool,
}

impl Deref for CachedKey {
    type Target = Key;

    fn deref(&self) -> &Key {
        &self.key
    }
}

impl CachedKey {
    /// The entry for a row; digests that are not 32 bytes (never written so) match nothing.
    pub fn new(key: Key, digests: &StoredDigests) -> Self {
        CachedKey {
            key,
            current: Digest::try_from(digests.current.as_slice()).ok(),
            previous: digests
                .previous
                .as_deref()
                .and_then(|d| Digest::try_from(d).ok()),
            retired: AtomicBool::new(false),
        }
    }

    /// Rule 1: which live secret of this row `digest` is, if any, at `now`.
    pub fn slot_of(&self, digest: &Digest, now: DateTime<Utc>) -> Option<SecretSlot> {
        if self.current.as_ref() == Some(digest) {
            Some(SecretSlot::Current)
        } else if self.previous.as_ref() == Some(digest) && self.secrets.previous_live(now) {
            Some(SecretSlot::Previous)
        } else {
            None
        }
    }

    fn digests(&self) -> impl Iterator<Item = &Digest> {
        self.current.iter().chain(self.previous.iter())
    }
}

#[derive(Default)]
struct Maps {
    by_digest: HashMap<Digest, Arc<CachedKey>>,
    by_id: HashMap<String, Arc<CachedKey>>,
}

impl Maps {
    /// Takes `old` out of service: flagged first (what lookups check), then its digests are
    /// unlinked wherever they still point at it.
    fn retire(&mut self, old: &Arc<CachedKey>) {
        old.retired.store(true, Ordering::Release);
        for digest in old.digests() {
            if self
                .by_digest
                .get(digest)
                .is_some_and(|e| Arc::ptr_eq(e, old))
            {
                self.by_digest.remove(digest);
            }
        }
    }
}

/// Revoked tokens' `jti` → expiry (Unix seconds).
type Denylist = HashMap<String, i64>;

/// Milliseconds on a monotonic clock: the process's own, or one a test moves by hand (the
/// model-based test steps it to age the cache deterministically).
#[derive(Clone)]
pub enum Clock {
    Real(Instant),
    Manual(Arc<AtomicU64>),
}

impl Clock {
    fn now_ms(&self) -> u64 {
        match self {
            Clock::Real(epoch) => u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            Clock::Manual(ms) => ms.load(Ordering::Acquire),
        }
    }
}

pub struct KeyCache {
    maps: RwLock<Maps>,
    revoked: RwLock<Denylist>,
    generation: AtomicU64,
    /// Last change-feed sequence applied.
    seq: AtomicI64,
    /// `clock` milliseconds of the last successful poll.
    fresh_at: AtomicU64,
    clock: Clock,
}

/// Taken before a database read; the read may be cached only if no invalidation happened since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl KeyCache {
    /// A cache following the feed from its current head, with the denylist as of then.
    pub fn load(
        conn: &mut crate::store::DbConnection,
        clock: Clock,
    ) -> Result<Self, store::StoreError> {
        // Head first: a revocation landing between the two reads is applied again by the feed.
        let cache = KeyCache::new(store::change_log::head(conn)?, clock);
        cache.reload_denylist(conn)?;
        Ok(cache)
    }

    /// An empty cache following the feed from `seq`.
    pub fn new(seq: i64, clock: Clock) -> Self {
        let cache = KeyCache {
            maps: RwLock::default(),
            revoked: RwLock::default(),
            generation: AtomicU64::new(0),
            seq: AtomicI64::new(seq),
            fresh_at: AtomicU64::new(0),
            clock,
        };
        cache.mark_fresh_as_of(cache.clock.now_ms());
        cache
    }

    /// The cache reflects every change committed before `at_ms` (on `clock`).
    fn mark_fresh_as_of(&self, at_ms: u64) {
        self.fresh_at.store(at_ms, Ordering::Release);
    }

    /// Whether the cache may be used now (rule 4).
    pub fn trusted(&self) -> bool {
        let age = self
            .clock
            .now_ms()
            .saturating_sub(self.fresh_at.load(Ordering::Acquire));
        u128::from(age) <= MAX_STALENESS.as_millis()
    }

    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key whose live secret has this digest, and which of its secrets it is (rule 1).
    pub fn by_digest(
        &self,
        digest: &Digest,
        now: DateTime<Utc>,
    ) -> Option<(Arc<CachedKey>, SecretSlot)> {
        if !self.trusted() {
            return None;
        }
        let maps = self.read();
        let entry = maps.by_digest.get(digest)?;
        // `retired` is only set under the write lock, which this read lock excludes.
        if entry.retired.load(Ordering::Acquire) {
            return None;
        }
        let slot = entry.slot_of(digest, now)?;
        Some((entry.clone(), slot))
    }

    pub fn by_id(&self, key_id: &str) -> Option<Arc<CachedKey>> {
        if !self.trusted() {
            return None;
        }
        self.read().by_id.get(key_id).cloned()
    }

    /// Caches a row read under `ticket`, with every digest it holds, unless something was
    /// invalidated meanwhile. It replaces (and retires) the key's previous entry.
    pub fn insert(&self, ticket: Ticket, entry: Arc<CachedKey>) {
        let mut maps = self.write();
        // Checked under the write lock, which every invalidation also takes.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        let id = &entry.key.id;
        if maps.by_id.len() >= MAX_KEYS && !maps.by_id.contains_key(id) {
            return;
        }
        if let Some(old) = maps.by_id.insert(id.clone(), entry.clone()) {
            maps.retire(&old);
        }
        for digest in entry.digests() {
            if let Some(other) = maps.by_digest.insert(*digest, entry.clone())
                && !Arc::ptr_eq(&other, &entry)
                && other.key.id != entry.key.id
            {
                // Two rows with one digest cannot be told apart: serve neither from memory.
                maps.by_digest.remove(digest);
            }
        }
    }

    /// Forgets a key (edited, revoked or rolled), with every digest it was cached by.
    pub fn invalidate(&self, key_id: &str) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(old) = maps.by_id.remove(key_id) {
            maps.retire(&old);
        }
    }

    fn clear(&self) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for entry in maps.by_id.values() {
            entry.retired.store(true, Ordering::Release);
        }
        *maps = Maps::default();
    }
    fn denylist(&self) -> std::sync::RwLockWriteGuard<'_, Denylist> {
        self.revoked.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a token is revoked, or `None` when the mirror cannot be trusted now.
    pub fn token_revoked(&self, jti: &str) -> Option<bool> {
        if !self.trusted() {
            return None;
        }
        let list = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        Some(list.contains_key(jti))
    }

    /// Records a revocation made on this node (the feed brings it to the others).
    pub fn revoke_token(&self, jti: &str, exp: i64) {
        self.denylist().insert(jti.to_owned(), exp);
    }

    fn reload_denylist(
        &self,
        conn: &mut crate::store::DbConnection,
    ) -> Result<(), store::StoreError> {
        let live = store::revoked_tokens::live(conn, crate::service::now())?;
        *self.denylist() = live.into_iter().collect();
        Ok(())
    }

    /// Applies the change feed once. On failure the cache simply ages into distrust.
    pub fn poll(&self, conn: &mut crate::store::DbConnection) -> Result<usize, store::StoreError> {
        // Fresh as of when the feed was read, not when this poll ends: a change committed
        // during a slow poll must still be seen within MAX_STALENESS.
        let read_at = self.clock.now_ms();
        let from = self.seq.load(Ordering::Acquire);
        let changes = store::change_log::since(conn, from)?;
        // A gap (purged entries we never saw) means changes may have been missed: start over.
        // The purge deletes a prefix of the feed and never its newest entry
        // (`change_log::purge`), so a missed entry always shows as a gap before the first one
        // returned, from any position, 0 included. (A sequence number lost to a rolled-back
        // transaction looks the same: clearing then costs reloads, never correctness.)
        if changes.first().is_some_and(|(seq, _, _)| *seq > from + 1) {
            if !self.is_empty() {
                self.clear();
            }
            self.reload_denylist(conn)?;
        }
        for (seq, kind, subject) in &changes {
            if kind == store::change_log::KIND_KEY {
                self.invalidate(subject);
            } else if kind == store::change_log::KIND_TOKEN {
                // Gone from the table means expired: nothing left to deny.
                if let Some(exp) = store::revoked_tokens::expiry(conn, subject)? {
                    self.revoke_token(subject, exp);
                }
            }
            self.seq.store(*seq, Ordering::Release);
        }
        // A token is accepted during the whole second `exp`: keep its entry through it.
        let now = crate::service::now().timestamp();
        let mut list = self.denylist();
        if !list.is_empty() {
            list.retain(|_, exp| *exp >= now);
        }
        drop(list);
        // A full batch may have left entries behind: fresh only once the feed is drained.
        if changes.len() < store::change_log::BATCH {
            self.mark_fresh_as_of(read_at);
        } else {
            return Ok(changes.len() + self.poll(conn)?);
        }
        Ok(changes.len())
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Polls the change feed every `POLL_INTERVAL` while the cache is alive, and now and then
/// purges the feed. A failed poll leaves the cache to age into distrust (rule 4).
pub fn spawn_follower(cache: &Arc<KeyCache>, pool: Pool) {
    let job = Job::every(
        "keycache-follow",
        POLL_INTERVAL,
        "key cache cannot follow changes; bypassing it until it can",
    );
    background::spawn(job, cache, move |cache, round| {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        // Now and then, drop feed entries every node has long applied.
        if round % PURGE_EVERY == 0 {
            let now = crate::service::now();
            store::change_log::purge(&mut conn, now - FEED_RETENTION)?;
            // Client assertions' jtis are kept until the assertions expire (a minute more for
            // clock skew); every node purges, which is idempotent.
            store::assertions::purge(&mut conn, now - chrono::Duration::seconds(60))?;
        }
        cache.poll(&mut conn).map(drop)
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::key::Secrets;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn manual() -> (KeyCache, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(1_000));
        (KeyCache::new(0, Clock::Manual(ms.clone())), ms)
    }

    /// Key `id` as a row with current secret `current` and, until `previous_until`, `previous`.
    fn row(id: &str, current: u8, previous: Option<(u8, DateTime<Utc>)>) -> Arc<CachedKey> {
        let key = Key {
            name: "cached".into(),
            secret_hint: String::new(),
            secrets: Secrets {
                generation: 0,
                previous_until: previous.map(|(_, until)| until),
            },
            ..Key::fixture(id, now())
        };
        let digests = StoredDigests {
            current: vec![current; 32],
            previous: previous.map(|(d, _)| vec![d; 32]),
        };
        Arc::new(CachedKey::new(key, &digests))
    }

    fn found(cache: &KeyCache, digest: u8, at: DateTime<Utc>) -> Option<(String, SecretSlot)> {
        cache
            .by_digest(&[digest; 32], at)
            .map(|(k, slot)| (k.id.clone(), slot))
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let (cache, _) = manual();
        let ticket = cache.ticket();
        cache.invalidate("key_a");
        cache.insert(ticket, row("key_a", 1, None));
        assert!(found(&cache, 1, now()).is_none());
        cache.insert(cache.ticket(), row("key_a", 1, None));
        assert_eq!(cache.by_id("key_a").unwrap().id, "key_a");
        cache.invalidate("key_a");
        assert!(found(&cache, 1, now()).is_none() && cache.by_id("key_a").is_none());
    }

    /// The first finding of the authentication-core issue, at the unit level: the new secret
    /// reached the cache before the roll's feed entry, and the old digest stayed servable.
    #[test]
    fn a_newer_row_retires_every_digest_of_the_older_one() {
        let (cache, _) = manual();
        cache.insert(cache.ticket(), row("key_a", 1, None));
        assert_eq!(
            found(&cache, 1, now()),
            Some(("key_a".into(), SecretSlot::Current))
        );
        // Rolled elsewhere (no grace), then read here by the new secret.
        cache.insert(cache.ticket(), row("key_a", 2, None));
        assert_eq!(
            found(&cache, 2, now()),
            Some(("key_a".into(), SecretSlot::Current))
        );
        assert_eq!(found(&cache, 1, now()), None, "the rolled-away secret");
        // The feed's invalidation later names the key: nothing of it is left.
        cache.invalidate("key_a");
        assert_eq!(found(&cache, 1, now()), None);
        assert_eq!(found(&cache, 2, now()), None);
    }

    #[test]
    fn a_previous_secret_is_served_only_until_its_grace_ends() {
        let (cache, _) = manual();
        let until = now() + chrono::Duration::seconds(10);
        cache.insert(cache.ticket(), row("key_a", 2, Some((1, until))));
        assert_eq!(
            found(&cache, 1, now()),
            Some(("key_a".into(), SecretSlot::Previous))
        );
        assert_eq!(found(&cache, 1, until), None, "not at the end");
        assert_eq!(
            found(&cache, 2, until),
            Some(("key_a".into(), SecretSlot::Current))
        );
    }

    #[test]
    fn an_entry_checks_the_digest_it_is_found_by() {
        let (cache, _) = manual();
        let entry = row("key_a", 1, None);
        cache.insert(cache.ticket(), entry.clone());
        // A pointer that should not exist (whatever put it there) serves nothing.
        cache.write().by_digest.insert([9; 32], entry.clone());
        assert_eq!(found(&cache, 9, now()), None);
        // Nor does a retired entry, even by its own digest.
        entry.retired.store(true, Ordering::Release);
        assert_eq!(found(&cache, 1, now()), None);
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let (cache, _) = manual();
        let t = cache.ticket();
        for i in 0..MAX_KEYS + 10 {
            cache.insert(t, row(&format!("key_{i}"), 0, None));
        }
        assert_eq!(cache.len(), MAX_KEYS);
        assert!(cache.by_id("key_0").is_some());
        assert!(
            cache.by_id(&format!("key_{}", MAX_KEYS + 5)).is_none(),
            "read from the database"
        );
    }

    #[test]
    fn the_denylist_answers_only_while_fresh() {
        let (cache, ms) = manual();
        assert_eq!(cache.token_revoked("jti_a"), Some(false));
        cache.revoke_token("jti_a", i64::MAX);
        assert_eq!(cache.token_revoked("jti_a"), Some(true));
        ms.fetch_add(MAX_STALENESS.as_millis() as u64 + 1, Ordering::AcqRel);
        assert_eq!(
            cache.token_revoked("jti_a"),
            None,
            "fail closed: ask the database"
        );
    }

    #[test]
    fn a_stale_cache_is_not_trusted() {
        let (cache, ms) = manual();
        cache.insert(cache.ticket(), row("key_b", 2, None));
        assert!(found(&cache, 2, now()).is_some());
        ms.fetch_add(MAX_STALENESS.as_millis() as u64, Ordering::AcqRel);
        assert!(cache.trusted(), "exactly at the bound");
        ms.fetch_add(1, Ordering::AcqRel);
        assert!(!cache.trusted());
        assert!(
            found(&cache, 2, now()).is_none(),
            "fail closed: go to the database"
        );
        assert!(cache.by_id("key_b").is_none());
    }
}
