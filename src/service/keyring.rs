//! Decrypted signing keys cached in memory: the token endpoint never reads a signing key from the
//! database per request. Reloaded when a kid or org is unknown (at most once a second, so junk
//! kids cannot hammer the database), every `--key-refresh` (rotations made by other nodes) and at
//! once after a rotation made here.
//!
//! A retired key leaves the ring at its `unpublish_at` to the instant, without waiting for a
//! reload: from then on it is neither in the JWKS nor accepted for verification.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{ServiceError, ServiceResult};
use crate::background::{self, Job};
use crate::crypto::MasterKey;
use crate::crypto::jws::{Signer, Verifier};
use crate::crypto::signing::SigningAlg;
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection, Pool, StoreError};

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// `(kid, retired_at, unpublish_at)`: what decides how a key is used.
type KeyState = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A key in the JWKS: its public JWK and the verifier built from it.
struct Published {
    unpublish_at: Option<DateTime<Utc>>,
    jwk: serde_json::Value,
    verifier: Arc<Verifier>,
}

#[derive(Default)]
struct Snapshot {
    /// What the snapshot was built from; a refresh that reads the same rows rebuilds nothing.
    fingerprint: Vec<KeyState>,
    /// Per org: its current (unretired) key.
    signers: HashMap<String, Arc<Signer>>,
    /// Published keys in JWKS order (by org, newest first).
    published: Vec<Published>,
    verifiers: HashMap<String, Arc<Verifier>>,
    /// `{"keys":[…]}`, rendered once per change.
    jwks: Arc<String>,
    /// The earliest `unpublish_at` of a published key: when this snapshot goes stale.
    prune_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    fn new(
        fingerprint: Vec<KeyState>,
        signers: HashMap<String, Arc<Signer>>,
        published: Vec<Published>,
    ) -> Self {
        let verifiers = published
            .iter()
            .map(|p| (p.verifier.kid.clone(), p.verifier.clone()))
            .collect();
        let jwks =
            serde_json::json!({ "keys": published.iter().map(|p| &p.jwk).collect::<Vec<_>>() });
        Snapshot {
            prune_at: published.iter().filter_map(|p| p.unpublish_at).min(),
            fingerprint,
            signers,
            published,
            verifiers,
            jwks: Arc::new(jwks.to_string()),
        }
    }

    /// The same keys minus those whose publish window has closed by `now`.
    fn pruned(&self, now: DateTime<Utc>) -> Self {
        let live = |t: &Option<DateTime<Utc>>| t.is_none_or(|t| t > now);
        let published = self
            .published
            .iter()
            .filter(|p| live(&p.unpublish_at))
            .map(|p| Published {
                unpublish_at: p.unpublish_at,
                jwk: p.jwk.clone(),
                verifier: p.verifier.clone(),
            })
            .collect();
        let fingerprint = self
            .fingerprint
            .iter()
            .filter(|(_, _, unpublish_at)| live(unpublish_at))
            .cloned()
            .collect();
        Snapshot::new(fingerprint, self.signers.clone(), published)
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
        match snapshot.prune_at {
            Some(t) if t <= Utc::now() => self.prune(),
            _ => snapshot,
        }
    }

    fn prune(&self) -> Arc<Snapshot> {
        let now = Utc::now();
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        if guard.prune_at.is_some_and(|t| t <= now) {
            *guard = Arc::new(guard.pruned(now));
        }
        guard.clone()
    }

    /// The org's current signing key.
    pub fn signer(&self, org_id: &str) -> Option<Arc<Signer>> {
        self.current().signers.get(org_id).cloned()
    }

    /// A published key (current, or retired but inside its window).
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

    /// Reads every published key; opens each org's unretired key for signing. Keys already in
    /// the ring are reused, so a rotation decrypts only the new key.
    pub fn reload(&self, conn: &mut DbConnection, now: DateTime<Utc>) -> ServiceResult<()> {
        let _serialised = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let keys = store::signing_keys::list_published(conn, now)?;
        let fingerprint: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.clone(), k.retired_at, k.unpublish_at))
            .collect();
        let previous = self.current();
        if previous.fingerprint == fingerprint && !fingerprint.is_empty() {
            return Ok(());
        }
        let mut signers = HashMap::new();
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
            let verifier = match previous.verifiers.get(&key.kid) {
                Some(v) => v.clone(),
                None => Arc::new(
                    Verifier::from_jwk(&key.kid, &key.org_id, alg, &jwk).ok_or_else(|| {
                        StoreError::Corrupt(format!("signing key {}: bad public key", key.kid))
                    })?,
                ),
            };
            // At most one unretired key per org (rotation retires the old one in the same
            // transaction); should there be more, the newest signs.
            if key.retired_at.is_none() && !signers.contains_key(&key.org_id) {
                let signer = match previous.signers.get(&key.org_id) {
                    Some(s) if s.kid() == key.kid => s.clone(),
                    _ => Arc::new(self.open(key, alg)?),
                };
                signers.insert(key.org_id.clone(), signer);
            }
            published.push(Published {
                unpublish_at: key.unpublish_at,
                jwk,
                verifier,
            });
        }
        let next = Snapshot::new(fingerprint, signers, published);
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

    #[test]
    fn a_rotation_switches_the_signer_and_the_old_key_leaves_at_its_unpublish_time() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = store::connect_one(&url).unwrap();
        store::migrate_conn(&mut conn).unwrap();
        let master = MasterKey::generate();
        orgs::create(&mut conn, "acme", now()).unwrap();
        let org = orgs::bootstrap(&mut conn, &master, "acme", now())
            .unwrap()
            .org
            .id;
        let ring = KeyRing::load(&mut conn, master.clone()).unwrap();
        let old = ring.signer(&org).unwrap();
        let old_token = old.sign(&claims(&org)).unwrap();

        let window = Duration::from_millis(300);
        let r = signing_keys::rotate(
            &mut conn,
            &master,
            &crate::service::actor::Actor::cli(&org),
            Some("ES256"),
            window,
            now(),
        )
        .unwrap();
        ring.reload(&mut conn, now()).unwrap();
        let new = ring.signer(&org).unwrap();
        assert_eq!(new.kid(), r.signing_key.kid);
        assert_eq!(new.alg(), SigningAlg::Es256);
        let new_token = new.sign(&claims(&org)).unwrap();
        for (token, kid) in [(&old_token, old.kid()), (&new_token, new.kid())] {
            let v = ring.verifier(kid).unwrap();
            v.verify::<AccessClaims>(token, "http://issuer", chrono::Utc::now().timestamp())
                .unwrap();
            assert!(ring.jwks().contains(kid));
        }

        // No reload: the ring drops the retired key by itself at its unpublish time.
        std::thread::sleep(window + Duration::from_millis(50));
        assert!(ring.verifier(old.kid()).is_none());
        assert!(!ring.jwks().contains(old.kid()));
        assert!(ring.verifier(new.kid()).is_some());
        assert_eq!(ring.signer(&org).unwrap().kid(), new.kid());
        // And a reload reading the same rows keeps it that way.
        ring.reload(&mut conn, now()).unwrap();
        assert!(ring.verifier(old.kid()).is_none());
    }
}
