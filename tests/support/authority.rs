//! Authorities over a real database, with a monotonic clock the test moves by hand: what the
//! service-level tests of the key cache and the authority start from (`tests/keycache_model.rs`,
//! `tests/authority_attacks.rs`).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use latchkey::crypto::MasterKey;
use latchkey::domain::audience::Audiences;
use latchkey::domain::bucket::Rate;
use latchkey::domain::issuer::Issuer;
use latchkey::outbound::key_sets::KeySets;
use latchkey::outbound::{Outbound, Reach};
use latchkey::service::authority::keycache::{Clock, KeyCache};
use latchkey::service::authority::throttle::Throttle;
use latchkey::service::authority::{Authority, TokenSettings};
use latchkey::service::keyring::KeyRing;
use latchkey::store::{self, Pool, PoolOptions};
use latchkey::usage::UsageRecorder;

/// The throttle off: refusals never turn into 429s (the throttle has tests of its own).
pub const THROTTLE_OFF: Rate = Rate {
    burst: 0,
    per_sec: 1.0,
};

/// A migrated database (`url`, or a SQLite file in `dir`) with one bootstrapped org, its
/// signing keys loaded, and the clock every authority built on it reads.
pub struct Database {
    pub pool: Pool,
    pub ring: Arc<KeyRing>,
    pub org_id: String,
    /// Milliseconds of the caches' monotonic clock (`Clock::Manual`).
    pub ms: Arc<AtomicU64>,
    /// Holds the SQLite file and the master key; removed when the database is dropped.
    _dir: tempfile::TempDir,
}

impl Database {
    pub fn start(url: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("t.db").display()));
        let pool = store::connect(
            &url,
            &PoolOptions {
                max_size: 2,
                ..Default::default()
            },
        )
        .unwrap();
        store::migrate(&pool).unwrap();
        let master = MasterKey::resolve(None, &dir.path().join("keys")).unwrap();
        let now = latchkey::service::now();
        let mut conn = pool.get().unwrap();
        let org = latchkey::service::orgs::create(&mut conn, "t", now).unwrap();
        latchkey::service::orgs::bootstrap(&mut conn, &master, "t", &Default::default(), now)
            .unwrap();
        let ring = Arc::new(KeyRing::load(&mut conn, master).unwrap());
        drop(conn);
        Database {
            pool,
            ring,
            org_id: org.id,
            ms: Arc::new(AtomicU64::new(1_000_000)),
            _dir: dir,
        }
    }

    /// One node: an authority with its own key cache following this database's feed.
    pub fn node(
        &self,
        rate: Rate,
        throttle_capacity: usize,
        usage: Arc<UsageRecorder>,
    ) -> Authority {
        let mut conn = self.pool.get().unwrap();
        Authority::new(
            KeyCache::load(&mut conn, Clock::Manual(self.ms.clone())).unwrap(),
            self.ring.clone(),
            Throttle::new(rate, throttle_capacity),
            usage,
            TokenSettings {
                issuer: Issuer::parse("http://latchkey.test").unwrap(),
                audiences: Audiences::parse(vec!["http://latchkey.test".into()]).unwrap(),
                ttl: std::time::Duration::from_secs(600),
            },
            Arc::new(KeySets::new(
                Outbound::new(Reach::default(), std::time::Duration::from_secs(5)).unwrap(),
            )),
        )
    }

    /// A node without metering.
    pub fn plain_node(&self, rate: Rate) -> Authority {
        self.node(rate, 1024, Arc::new(UsageRecorder::disabled()))
    }
}
