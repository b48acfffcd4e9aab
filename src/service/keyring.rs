//! Decrypted signing keys cached in memory: the token endpoint never reads a signing key from the
//! database per request. Reloaded when a kid or org is unknown (at most once a second, so junk
//! kids cannot hammer the database) and after every rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{ServiceError, ServiceResult};
use crate::crypto::MasterKey;
use crate::crypto::jws::{EdDsaSigner, Verifier};
use crate::crypto::signing::{ALG_EDDSA, ed25519_from_pkcs8};
use crate::store::{self, DbConnection, Pool, StoreError};

const MIN_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// `(kid, retired_at, unpublish_at)`: what decides how a key is used.
type KeyState = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

#[derive(Default)]
struct Snapshot {
    /// What the snapshot was built from; a refresh that reads the same rows rebuilds nothing.
    fingerprint: Vec<KeyState>,
    signers: HashMap<String, Arc<EdDsaSigner>>,
    verifiers: HashMap<String, Arc<Verifier>>,
    /// `{"keys":[…]}`, rendered once per load.
    jwks: Arc<String>,
}

pub struct KeyRing {
    master: MasterKey,
    snapshot: RwLock<Arc<Snapshot>>,
    last_reload: Mutex<Option<Instant>>,
}

impl KeyRing {
    pub fn load(conn: &mut DbConnection, master: MasterKey) -> ServiceResult<Self> {
        let ring = KeyRing {
            master,
            snapshot: RwLock::new(Arc::default()),
            last_reload: Mutex::new(None),
        };
        ring.reload(conn, super::now())?;
        Ok(ring)
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn signer(&self, org_id: &str) -> Option<Arc<EdDsaSigner>> {
        self.current().signers.get(org_id).cloned()
    }

    pub fn verifier(&self, kid: &str) -> Option<Arc<Verifier>> {
        self.current().verifiers.get(kid).cloned()
    }

    pub fn jwks(&self) -> Arc<String> {
        self.current().jwks.clone()
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

    /// Reads every published key; decrypts the newest unretired key of each org for signing.
    pub fn reload(&self, conn: &mut DbConnection, now: DateTime<Utc>) -> ServiceResult<()> {
        let keys = store::signing_keys::list_published(conn, now)?;
        let fingerprint: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.clone(), k.retired_at, k.unpublish_at))
            .collect();
        if self.current().fingerprint == fingerprint && !fingerprint.is_empty() {
            return Ok(());
        }
        let mut next = Snapshot {
            fingerprint,
            ..Snapshot::default()
        };
        let mut jwks = Vec::with_capacity(keys.len());
        for key in &keys {
            let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk).map_err(|e| {
                StoreError::Corrupt(format!("signing key {}: public_jwk: {e}", key.kid))
            })?;
            if key.alg != ALG_EDDSA {
                return Err(ServiceError::Crypto(format!(
                    "signing key {} has unsupported alg {}",
                    key.kid, key.alg
                )));
            }
            let x = jwk["x"].as_str().unwrap_or_default();
            let verifier = Verifier::ed25519(&key.kid, &key.org_id, x).ok_or_else(|| {
                StoreError::Corrupt(format!("signing key {}: bad public key", key.kid))
            })?;
            next.verifiers.insert(key.kid.clone(), Arc::new(verifier));
            // Keys come newest first per org, so the first unretired one wins.
            if key.retired_at.is_none() && !next.signers.contains_key(&key.org_id) {
                let der = self
                    .master
                    .open(&key.private_sealed, key.kid.as_bytes())
                    .map_err(|e| ServiceError::Crypto(format!("signing key {}: {e}", key.kid)))?;
                let signing =
                    ed25519_from_pkcs8(&der).map_err(|e| ServiceError::Crypto(e.to_string()))?;
                next.signers.insert(
                    key.org_id.clone(),
                    Arc::new(EdDsaSigner::new(&key.kid, signing)),
                );
            }
            jwks.push(jwk);
        }
        next.jwks = Arc::new(serde_json::json!({ "keys": jwks }).to_string());
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(next);
        Ok(())
    }
}

/// Re-reads the signing keys every `interval` while the ring is alive, so a rotation made on
/// another node is signed with and verified here within that interval.
pub fn spawn_refresher(ring: &Arc<KeyRing>, pool: Pool, interval: Duration) {
    let weak = Arc::downgrade(ring);
    let spawned = std::thread::Builder::new().name("keyring-refresh".into()).spawn(move || {
        loop {
            std::thread::sleep(interval);
            let Some(ring) = weak.upgrade() else { return };
            let result = pool
                .get()
                .map_err(StoreError::from)
                .map_err(ServiceError::from)
                .and_then(|mut conn| ring.reload(&mut conn, super::now()));
            if let Err(e) = result {
                tracing::warn!(error = %e, "signing keys not refreshed; keeping the cached ones");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the signing-key refresher");
    }
}
