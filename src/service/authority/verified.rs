//! Access tokens whose signature this node has already checked, so that a token presented again
//! (a resource server introspects or checks the same bearer token on every call it receives)
//! costs a hash instead of an Ed25519, ECDSA or RSA verification: 40 % of an introspection.
//!
//! Correct by construction: an entry holds only what depends on the token's bytes alone (the
//! verified claims, found by the SHA-256 of the whole token, so another token cannot hit it)
//! and on the key that verified it. A hit is served only while that very key is still
//! published in the keyring (a retired key's unpublication, or any reload that drops it, ends
//! every entry it verified). Everything that changes over time — `exp`, the denylist, the
//! key's status, scopes and secret generation — is checked on every request by the caller, hit
//! or miss, exactly as for a token seen the first time.
//!
//! Only tokens that verified completely (signature, `alg`, `typ`, `iss`, not expired, org
//! binding) are entered, so the memory is bounded by what this server signed, and by
//! `CAPACITY`: when full, expired entries are dropped, and if none are, everything is.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::crypto::jws::Verifier;
use crate::domain::scope::Scope;
use crate::domain::token::AccessClaims;
use crate::service::keyring::KeyRing;

/// Most tokens remembered: about 500 bytes each.
pub const CAPACITY: usize = 16_384;

/// A token that verified, with what was parsed from it once.
#[derive(Debug)]
pub struct Verified {
    pub claims: AccessClaims,
    /// The token's own scopes, parsed.
    pub scopes: Vec<Scope>,
    /// The generation of the secret that obtained it (from its `jti`).
    pub generation: u32,
    /// The key that verified it: the entry lives only while this key is published.
    verifier: Arc<Verifier>,
}

impl Verified {
    pub fn new(
        claims: AccessClaims,
        scopes: Vec<Scope>,
        generation: u32,
        verifier: Arc<Verifier>,
    ) -> Self {
        Verified {
            claims,
            scopes,
            generation,
            verifier,
        }
    }
}

type TokenDigest = [u8; 32];

#[derive(Default)]
pub struct VerifiedTokens {
    map: RwLock<HashMap<TokenDigest, Arc<Verified>>>,
}

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedTokens {
    /// The token's verified claims, if this node verified exactly this token with a key that
    /// is still published.
    pub fn get(&self, token: &str, ring: &KeyRing) -> Option<Arc<Verified>> {
        let found = self
            .map
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest(token))
            .cloned()?;
        let published = ring
            .verifier(&found.verifier.kid)
            .is_some_and(|current| Arc::ptr_eq(&current, &found.verifier));
        published.then_some(found)
    }

    pub fn insert(&self, token: &str, verified: Arc<Verified>, now: i64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.retain(|_, v| v.claims.exp >= now);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(digest(token), verified);
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
