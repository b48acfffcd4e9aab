//! Decrypted signing keys cached in memory: the token endpoint never reads a signing key from the
//! database per request. Reloaded when a kid or org is unknown (at most once a second, so junk
//! kids cannot hammer the database), every `--key-refresh` (rotations made by other nodes) and at
//! once after a rotation made here.
//!
//! Which key signs, and which are published, follow the stored times and the clock
//! (`domain::signing_key`), without waiting for a reload: a staged key starts signing at its
//! `activates_at` and the key it replaces stops then, to the instant, on every node that has
//! loaded the staged rotation (within `--key-refresh` of it, long before it activates); a retired
//! key leaves the ring at its `unpublish_at`, and from then on is neither in the JWKS nor
//! accepted for verification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{ServiceError, ServiceResult};
use crate::background::{self, Job};
use crate::crypto::MasterKey;
use crate::crypto::jws::{Signer, Verifier};
use crate::crypto::signing::SigningAlg;
use crate::domain::signing_key::{self, KeyTimes, SigningKeyStatus};
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection, Pool, StoreError};

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// `(kid, times)`: what decides how a key is used.
type KeyState = (String, KeyTimes);

/// A key in the JWKS: its public JWK, the verifier built from it, and, while it signs or may
/// sign later, its opened private key.
#[derive(Clone)]
struct Published {
    org_id: String,
    times: KeyTimes,
    jwk: serde_json::Value,
    verifier: Arc<Verifier>,
    signer: Option<Arc<Signer>>,
}

#[derive(Default)]
struct Snapshot {
    /// What the snapshot was built from; a refresh that reads the same rows rebuilds nothing.
    fingerprint: Vec<KeyState>,
    /// Published keys in JWKS order (by org, newest first).
    published: Vec<Published>,
    /// Per org: the key that signs (at the instant the snapshot was made for).
    signers: HashMap<String, Arc<Signer>>,
    verifiers: HashMap<String, Arc<Verifier>>,
    /// `{"keys":[…]}`, rendered once per change.
    jwks: Arc<String>,
    /// The first instant a published key's status changes (it activates, retires or leaves the
    /// JWKS): when this snapshot goes stale.
    stale_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// The keys as they are at `now`: those still published, and per org the one that signs.
    fn new(fingerprint: Vec<KeyState>, keys: Vec<Published>, now: DateTime<Utc>) -> Self {
        let live = |t: &KeyTimes| t.status(now) != SigningKeyStatus::Unpublished;
        let published: Vec<Published> = keys.into_iter().filter(|p| live(&p.times)).collect();
        let fingerprint = fingerprint.into_iter().filter(|(_, t)| live(t)).collect();
        let mut by_org: HashMap<&str, Vec<(&KeyTimes, &Arc<Signer>)>> = HashMap::new();
        for p in &published {
            if let Some(signer) = &p.signer {
                by_org
                    .entry(&p.org_id)
                    .or_default()
                    .push((&p.times, signer));
            }
        }
        let signers = by_org
            .into_iter()
            .filter_map(|(org, keys)| {
                let signer = signing_key::signer_at(keys, now)?;
                Some((org.to_owned(), signer.clone()))
            })
            .collect();
        let verifiers = published
            .iter()
            .map(|p| (p.verifier.kid.clone(), p.verifier.clone()))
            .collect();
        let jwks =
            serde_json::json!({ "keys": published.iter().map(|p| &p.jwk).collect::<Vec<_>>() });
        Snapshot {
            stale_at: published
                .iter()
                .filter_map(|p| p.times.next_change(now))
                .min(),
            fingerprint,
            signers,
            verifiers,
            jwks: Arc::new(jwks.to_string()),
            published,
        }
    }
}

pub struct KeyRing {
    master: MasterKey,
    snapshot: RwLock<Arc<Snapshot>>,
    last_reload: Mutex<Option<Instant>>,
    /// Held from the database read to the swap, so a reload that read older rows (the
    /// refresher's, racing a rotation) can never replace a newer snapshot.
    reloading: Mutex<()>,
}

impl KeyRing {
    pub fn load(conn: &mut DbConnection, master: MasterKey) -> ServiceResult<Self> {
        let ring = KeyRing {
            master,
            snapshot: RwLock::new(Arc::default()),
            last_reload: Mutex::new(None),
            reloading: Mutex::new(()),
        };
        ring.reload(conn, super::now())?;
        Ok(ring)
    }

    /// The key that seals new signing keys (rotation).
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    fn current(&self) -> Arc<Snapshot> {
        let snapshot = match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        match snapshot.stale_at {
            Some(t) if t <= Utc::now() => self.advance(),
            _ => snapshot,
        }
    }

    /// Rebuilds a stale snapshot from the keys it holds, for the clock's now.
    fn advance(&self) -> Arc<Snapshot> {
        let now = Utc::now();
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if guard.stale_at.is_some_and(|t| t <= now) {
            *guard = Arc::new(Snapshot::new(
                guard.fingerprint.clone(),
                guard.published.clone(),
                now,
            ));
        }
        guard.clone()
    }

    /// The key that signs the org's tokens now.
    pub fn signer(&self, org_id: &str) -> Option<Arc<Signer>> {
        self.current().signers.get(org_id).cloned()
    }

    /// A published key (current, next, or retired but inside its window).
    pub fn verifier(&self, kid: &str) -> Option<Arc<Verifier>> {
        self.current().verifiers.get(kid).cloned()
    }

    pub fn jwks(&self) -> Arc<String> {
        self.current().jwks.clone()
    }

    /// Whether [`KeyRing::reload_if_stale`] would read the database now: asked first, so that a
    /// miss that would not reload needs no connection.
    pub fn reload_due(&self) -> bool {
        !self
            .last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|t| t.elapsed() < MIN_RELOAD_INTERVAL)
    }

    /// Reloads unless another reload happened within the last second; for cache misses.
    pub fn reload_if_stale(&self, conn: &mut DbConnection) -> ServiceResult<bool> {
        {
            let mut last = self.last_reload.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < MIN_RELOAD_INTERVAL) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        self.reload(conn, super::now())?;
        Ok(true)
    }

    /// Reads every published key; opens each key that signs or may sign later (current and
    /// next keys). Keys already in the ring are reused, so a rotation decrypts only new keys.
    pub fn reload(&self, conn: &mut DbConnection, now: DateTime<Utc>) -> ServiceResult<()> {
        let _serialised = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let keys = store::signing_keys::list_published(conn, now)?;
        let fingerprint: Vec<KeyState> = keys.iter().map(|k| (k.kid.clone(), k.times)).collect();
        let previous = self.current();
        if previous.fingerprint == fingerprint && !fingerprint.is_empty() {
            return Ok(());
        }
        let held: HashMap<&str, &Published> = previous
            .published
            .iter()
            .map(|p| (p.verifier.kid.as_str(), p))
            .collect();
        let mut published = Vec::with_capacity(keys.len());
        for key in &keys {
            let alg = SigningAlg::parse(&key.alg).map_err(|_| {
                ServiceError::Crypto(format!(
                    "signing key {} has unsupported alg {}",
                    key.kid, key.alg
                ))
            })?;
            let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk).map_err(|e| {
                StoreError::Corrupt(format!("signing key {}: public_jwk: {e}", key.kid))
            })?;
            let before = held.get(key.kid.as_str());
            let verifier = match before {
                Some(p) => p.verifier.clone(),
                None => Arc::new(
                    Verifier::from_jwk(&key.kid, &key.org_id, alg, &jwk).ok_or_else(|| {
                        StoreError::Corrupt(format!("signing key {}: bad public key", key.kid))
                    })?,
                ),
            };
            let may_sign = matches!(
                key.times.status(now),
                SigningKeyStatus::Current | SigningKeyStatus::Next
            );
            let signer = match (may_sign, before.and_then(|p| p.signer.clone())) {
                (false, _) => None,
                (true, Some(s)) => Some(s),
                (true, None) => Some(Arc::new(self.open(key, alg)?)),
            };
            published.push(Published {
                org_id: key.org_id.clone(),
                times: key.times,
                jwk,
                verifier,
                signer,
            });
        }
        let next = Snapshot::new(fingerprint, published, now);
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(next);
        Ok(())
    }

    fn open(&self, key: &StoredSigningKey, alg: SigningAlg) -> ServiceResult<Signer> {
        let der = self
            .master
            .open(&key.private_sealed, key.kid.as_bytes())
            .map_err(|e| ServiceError::Crypto(format!("signing key {}: {e}", key.kid)))?;
        Signer::from_pkcs8(alg, &key.kid, &der)
            .map_err(|e| ServiceError::Crypto(format!("signing key {}: {e}", key.kid)))
    }
}

/// Re-reads the signing keys every `interval` while the ring is alive, so a rotation made on
/// another node is signed with and verified here within that interval. A failed read keeps the
/// keys already held.
pub fn spawn_refresher(ring: &Arc<KeyRing>, pool: Pool, interval: Duration) {
    let job = Job::every(
        "keyring-refresh",
        interval,
        "signing keys not refreshed; keeping the cached ones",
    );
    background::spawn(job, ring, move |ring, _| -> ServiceResult<()> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        ring.reload(&mut conn, super::now())
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::token::AccessClaims;
    use crate::service::signing_keys::{RotateOutcome, RotateRequest, RotationWindows};
    use crate::service::{now, orgs, signing_keys};

    fn claims(org_id: &str) -> AccessClaims {
        AccessClaims {
            iss: "http://issuer".into(),
            sub: "key_a".into(),
            client_id: "key_a".into(),
            org_id: org_id.into(),
            aud: "http://issuer".into(),
            iat: Utc::now().timestamp(),
            exp: Utc::now().timestamp() + 60,
            jti: "j".into(),
            scope: "read:*".into(),
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        conn: DbConnection,
        master: MasterKey,
        org: String,
        ring: KeyRing,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = store::connect_one(&url).unwrap();
        store::migrate_conn(&mut conn).unwrap();
        let master = MasterKey::generate();
        orgs::create(&mut conn, "acme", now()).unwrap();
        let org = orgs::bootstrap(&mut conn, &master, "acme", &Default::default(), now())
            .unwrap()
            .org
            .id;
        let ring = KeyRing::load(&mut conn, master.clone()).unwrap();
        Fixture {
            _dir: dir,
            conn,
            master,
            org,
            ring,
        }
    }

    impl Fixture {
        fn rotate(&mut self, alg: Option<&str>, windows: RotationWindows) -> RotateOutcome {
            let request = RotateRequest {
                alg: alg.map(str::to_owned),
                immediate: false,
            };
            let actor = crate::service::actor::Actor::cli(&self.org);
            signing_keys::rotate(
                &mut self.conn,
                &self.master,
                &actor,
                &request,
                windows,
                &now,
            )
            .unwrap()
        }

        fn verifies(&self, token: &str, kid: &str) -> bool {
            self.ring.verifier(kid).is_some_and(|v| {
                v.verify::<AccessClaims>(token, "http://issuer", Utc::now().timestamp())
                    .is_ok()
            })
        }
    }

    fn windows(retire_ms: u64, prepublish_ms: u64) -> RotationWindows {
        RotationWindows {
            retire: Duration::from_millis(retire_ms),
            prepublish: Duration::from_millis(prepublish_ms),
            jwks_max_age: Duration::from_millis(prepublish_ms),
        }
    }

    #[test]
    fn a_promotion_switches_the_signer_and_the_old_key_leaves_at_its_unpublish_time() {
        let mut f = fixture();
        let old = f.ring.signer(&f.org).unwrap();
        let old_token = old.sign(&claims(&f.org)).unwrap();

        let window = Duration::from_millis(300);
        let RotateOutcome::Rotated(r) = f.rotate(None, windows(300, 300)) else {
            panic!("not promoted")
        };
        // Before the reload, this node signs with the old key and already verifies the new one:
        // the next key was in the ring (and the JWKS) since bootstrap.
        assert_eq!(f.ring.signer(&f.org).unwrap().kid(), old.kid());
        assert!(f.ring.jwks().contains(&r.signing_key.kid));
        f.ring.reload(&mut f.conn, now()).unwrap();
        let new = f.ring.signer(&f.org).unwrap();
        assert_eq!(new.kid(), r.signing_key.kid);
        let new_token = new.sign(&claims(&f.org)).unwrap();
        for (token, kid) in [(&old_token, old.kid()), (&new_token, new.kid())] {
            assert!(f.verifies(token, kid));
            assert!(f.ring.jwks().contains(kid));
        }
        assert!(f.ring.jwks().contains(&r.next.kid));

        // No reload: the ring drops the retired key by itself at its unpublish time.
        std::thread::sleep(window + Duration::from_millis(50));
        assert!(f.ring.verifier(old.kid()).is_none());
        assert!(!f.ring.jwks().contains(old.kid()));
        assert!(f.ring.verifier(new.kid()).is_some());
        assert_eq!(f.ring.signer(&f.org).unwrap().kid(), new.kid());
        // And a reload reading the same rows keeps it that way.
        f.ring.reload(&mut f.conn, now()).unwrap();
        assert!(f.ring.verifier(old.kid()).is_none());
    }

    #[test]
    fn a_staged_key_signs_from_its_activation_time_without_a_reload() {
        let mut f = fixture();
        let old = f.ring.signer(&f.org).unwrap();
        let RotateOutcome::Staged(s) = f.rotate(Some("ES256"), windows(300, 400)) else {
            panic!("not staged")
        };
        let activates_at = s.next.activates_at.unwrap();
        f.ring.reload(&mut f.conn, now()).unwrap();
        assert!(f.ring.jwks().contains(&s.next.kid), "published at once");
        assert_eq!(f.ring.signer(&f.org).unwrap().kid(), old.kid(), "not yet");

        // From here on the ring reads nothing: the switch follows the clock.
        let left = (activates_at - Utc::now()).to_std().unwrap_or_default();
        std::thread::sleep(left + Duration::from_millis(20));
        let new = f.ring.signer(&f.org).unwrap();
        assert_eq!(
            (new.kid(), new.alg()),
            (s.next.kid.as_str(), SigningAlg::Es256)
        );
        let token = new.sign(&claims(&f.org)).unwrap();
        assert!(f.verifies(&token, new.kid()));
        assert!(
            f.ring.jwks().contains(old.kid()),
            "the old key stays for its window"
        );
        // Which ends token TTL + leeway (here 300 ms) after the switch, not after the staging.
        std::thread::sleep(Duration::from_millis(200));
        assert!(f.ring.verifier(old.kid()).is_some());
        std::thread::sleep(Duration::from_millis(150));
        assert!(f.ring.verifier(old.kid()).is_none());
        assert_eq!(f.ring.signer(&f.org).unwrap().kid(), new.kid());
    }
}
