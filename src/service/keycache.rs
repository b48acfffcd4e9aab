//! Keys cached in memory by secret digest and by id, so the hot path (token issuance, key and
//! token authentication) does not read the database.
//!
//! Correctness rules, in order of importance:
//! - A change on this node invalidates at once; a change on any node reaches every cache within
//!   a second through the `change_log` feed, polled every 250 ms.
//! - A lookup that raced an invalidation never repopulates the cache with what it read: every
//!   invalidation bumps a generation, and a read is cached only if the generation it started
//!   under is still current.
//! - Fail closed: when the feed has not been read for longer than `MAX_STALENESS` (database
//!   unreachable), the cache is not trusted and every lookup goes to the database, which fails
//!   with 503 while it is away — a cached key could hide a revocation.
//! - Only keys found by their *current* secret are cached; a rolled key's previous secret (during
//!   its grace period) and unknown secrets always go to the database.
//!
//! The same feed keeps a full mirror of the access-token denylist (RFC 7009 revocations, by
//! `jti`, until the token expires), so verifying a token reads no table either. It is loaded
//! whole at start and again after a feed gap, and trusted under the same freshness rule.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::auth::KeyPrincipal;
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

#[derive(Default)]
struct Maps {
    by_digest: HashMap<[u8; 32], Arc<KeyPrincipal>>,
    by_id: HashMap<String, (Option<[u8; 32]>, Arc<KeyPrincipal>)>,
}

/// Revoked tokens' `jti` → expiry (Unix seconds).
type Denylist = HashMap<String, i64>;

pub struct KeyCache {
    maps: RwLock<Maps>,
    revoked: RwLock<Denylist>,
    generation: AtomicU64,
    /// Last change-feed sequence applied.
    seq: AtomicI64,
    /// Milliseconds since `epoch` of the last successful poll.
    fresh_at: AtomicU64,
    epoch: Instant,
}

/// Taken before a database read; the read may be cached only if no invalidation happened since.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl KeyCache {
    /// A cache following the feed from its current head, with the denylist as of then.
    pub fn load(conn: &mut crate::store::DbConnection) -> Result<Self, store::StoreError> {
        // Head first: a revocation landing between the two reads is applied again by the feed.
        let cache = KeyCache::new(store::change_log::head(conn)?);
        cache.reload_denylist(conn)?;
        Ok(cache)
    }

    /// An empty cache following the feed from `seq`.
    pub fn new(seq: i64) -> Self {
        let cache = KeyCache {
            maps: RwLock::default(),
            revoked: RwLock::default(),
            generation: AtomicU64::new(0),
            seq: AtomicI64::new(seq),
            fresh_at: AtomicU64::new(0),
            epoch: Instant::now(),
        };
        cache.mark_fresh();
        cache
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn mark_fresh(&self) {
        self.mark_fresh_as_of(self.now_ms());
    }

    /// The cache reflects every change committed before `at_ms` (on the `now_ms` clock).
    fn mark_fresh_as_of(&self, at_ms: u64) {
        self.fresh_at.store(at_ms, Ordering::Release);
    }

    /// Whether the cache may be used now.
    pub fn trusted(&self) -> bool {
        let age = self
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

    pub fn by_digest(&self, digest: &[u8; 32]) -> Option<Arc<KeyPrincipal>> {
        if !self.trusted() {
            return None;
        }
        self.read().by_digest.get(digest).cloned()
    }

    pub fn by_id(&self, key_id: &str) -> Option<Arc<KeyPrincipal>> {
        if !self.trusted() {
            return None;
        }
        self.read().by_id.get(key_id).map(|(_, k)| k.clone())
    }

    /// Caches what a read under `ticket` found (by its current digest, when the read was by
    /// secret), unless something was invalidated meanwhile.
    pub fn insert(&self, ticket: Ticket, digest: Option<[u8; 32]>, key: KeyPrincipal) {
        let mut maps = self.write();
        // Checked under the write lock, which every invalidation also takes.
        if self.generation.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        if maps.by_id.len() >= MAX_KEYS && !maps.by_id.contains_key(&key.key_id) {
            return;
        }
        let key = Arc::new(key);
        // Keep a digest learned earlier when this read was by id.
        let digest = digest.or_else(|| maps.by_id.get(&key.key_id).and_then(|(d, _)| *d));
        if let Some(d) = digest {
            maps.by_digest.insert(d, key.clone());
        }
        maps.by_id.insert(key.key_id.clone(), (digest, key));
    }

    /// Forgets a key (edited, revoked or rolled).
    pub fn invalidate(&self, key_id: &str) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some((Some(digest), _)) = maps.by_id.remove(key_id) {
            maps.by_digest.remove(&digest);
        }
    }

    fn clear(&self) {
        let mut maps = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
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
        let read_at = self.now_ms();
        let from = self.seq.load(Ordering::Acquire);
        let changes = store::change_log::since(conn, from)?;
        // A gap (purged entries we never saw) means changes may have been missed: start over.
        if from > 0 && changes.first().is_some_and(|(seq, _, _)| *seq > from + 1) {
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
        let now = crate::service::now().timestamp();
        let mut list = self.denylist();
        if !list.is_empty() {
            list.retain(|_, exp| *exp > now);
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

/// Polls the change feed every `POLL_INTERVAL` while the cache is alive.
pub fn spawn_follower(cache: &Arc<KeyCache>, pool: Pool) {
    let weak = Arc::downgrade(cache);
    let spawned = std::thread::Builder::new().name("keycache-follow".into()).spawn(move || {
        for round in 1u64.. {
            std::thread::sleep(POLL_INTERVAL);
            let Some(cache) = weak.upgrade() else { return };
            let result = pool.get().map_err(store::StoreError::from).and_then(|mut c| {
                // Now and then, drop feed entries every node has long applied.
                if round % PURGE_EVERY == 0 {
                    store::change_log::purge(&mut c, crate::service::now() - FEED_RETENTION)?;
                }
                cache.poll(&mut c)
            });
            if let Err(e) = result {
                tracing::warn!(error = %e, "key cache cannot follow changes; bypassing it until it can");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the key cache follower");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::ip_rules::IpRules;
    use crate::domain::key::KeyStatus;

    fn key(id: &str) -> KeyPrincipal {
        KeyPrincipal {
            key_id: id.into(),
            org_id: "org_a".into(),
            scopes: vec![],
            ip_rules: IpRules::default(),
            status: KeyStatus::Active,
            expires_at: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_cached() {
        let cache = KeyCache::new(0);
        let ticket = cache.ticket();
        cache.invalidate("key_a");
        cache.insert(ticket, Some([1; 32]), key("key_a"));
        assert!(cache.by_digest(&[1; 32]).is_none());
        let ticket = cache.ticket();
        cache.insert(ticket, Some([1; 32]), key("key_a"));
        assert_eq!(cache.by_id("key_a").unwrap().key_id, "key_a");
        cache.invalidate("key_a");
        assert!(cache.by_digest(&[1; 32]).is_none() && cache.by_id("key_a").is_none());
    }

    #[test]
    fn the_cache_stops_growing_at_its_bound() {
        let cache = KeyCache::new(0);
        let t = cache.ticket();
        for i in 0..MAX_KEYS + 10 {
            cache.insert(t, None, key(&format!("key_{i}")));
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
        let cache = KeyCache::new(0);
        assert_eq!(cache.token_revoked("jti_a"), Some(false));
        cache.revoke_token("jti_a", i64::MAX);
        assert_eq!(cache.token_revoked("jti_a"), Some(true));
        cache.fresh_at.store(0, Ordering::Release);
        std::thread::sleep(MAX_STALENESS + Duration::from_millis(20));
        assert_eq!(
            cache.token_revoked("jti_a"),
            None,
            "fail closed: ask the database"
        );
    }

    #[test]
    fn a_stale_cache_is_not_trusted() {
        let cache = KeyCache::new(0);
        let t = cache.ticket();
        cache.insert(t, Some([2; 32]), key("key_b"));
        assert!(cache.by_digest(&[2; 32]).is_some());
        cache.fresh_at.store(0, Ordering::Release);
        std::thread::sleep(MAX_STALENESS + Duration::from_millis(20));
        assert!(!cache.trusted());
        assert!(
            cache.by_digest(&[2; 32]).is_none(),
            "fail closed: go to the database"
        );
    }
}
