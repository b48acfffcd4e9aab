//! Tokens verified before. A client reuses its access token for every call of its ~10-minute
//! life, so most requests present a token this verifier has already checked: a repeat costs a
//! SHA-256 of the token instead of a signature verification (an Ed25519 one is ~70 µs on a small
//! cloud core, all of a verification's budget).
//!
//! Correct by construction: an entry is only ever the outcome of a full verification, keyed by
//! the SHA-256 of the whole token (a different byte is a different token), and each hit checks
//! again what that outcome depended on and can change: the clock (`exp`, with the leeway) and
//! the key set (the key that verified the token must still be in the current JWKS, usable by
//! the cache policy; `Verifier::verify` asks the key cache before answering from here). The
//! claims themselves are signed and never change.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::claims::Claims;

/// Shards, so that threads verifying different tokens rarely wait for one another.
const SHARDS: usize = 16;
/// Tokens remembered per shard (16,384 in all, a few MiB).
const PER_SHARD: usize = 1024;

/// The SHA-256 of a token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

struct Entry {
    claims: Claims,
    kid: String,
}

pub(crate) struct Seen {
    shards: Vec<Mutex<HashMap<TokenDigest, Entry>>>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl Seen {
    fn shard(&self, digest: &TokenDigest) -> &Mutex<HashMap<TokenDigest, Entry>> {
        &self.shards[usize::from(digest[0]) % SHARDS]
    }

    /// The claims of a token verified before and not expired at `now` (Unix seconds, with
    /// `leeway`), with the `kid` of the key that verified it.
    pub(crate) fn get(
        &self,
        digest: &TokenDigest,
        now: i64,
        leeway: i64,
    ) -> Option<(Claims, String)> {
        let mut shard = self
            .shard(digest)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(digest)?;
        if entry.claims.exp < now.saturating_sub(leeway) {
            shard.remove(digest);
            return None;
        }
        Some((entry.claims.clone(), entry.kid.clone()))
    }

    /// Remembers a token that verified in full with key `kid`.
    pub(crate) fn insert(&self, digest: TokenDigest, claims: &Claims, kid: &str, now: i64) {
        let mut shard = self
            .shard(&digest)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            shard.retain(|_, e| e.claims.exp >= now);
            if shard.len() >= PER_SHARD {
                // All live: start over rather than track recency on every hit.
                shard.clear();
            }
        }
        shard.insert(
            digest,
            Entry {
                claims: claims.clone(),
                kid: kid.to_owned(),
            },
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn claims(jti: u8, exp: i64) -> Claims {
        Claims {
            iss: "https://auth.example.com".into(),
            sub: "key_a".into(),
            client_id: "key_a".into(),
            org_id: "org_a".into(),
            aud: vec!["https://auth.example.com".into()],
            iat: 0,
            exp,
            jti: format!("t{jti}"),
            scope: Vec::new(),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// A token verified in full, with its `exp`.
        Verified(u8, i64),
        Lookup(u8),
        /// The clock moves on.
        Tick(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), 0i64..200).prop_map(|(t, exp)| Op::Verified(t, exp)),
            any::<u8>().prop_map(Op::Lookup),
            (0i64..40).prop_map(Op::Tick),
        ]
    }

    proptest! {
        /// Against a model that remembers every token verified: a hit is always a token that
        /// was verified, with its claims, and never past its `exp` plus the leeway.
        #[test]
        fn a_hit_is_a_verified_unexpired_token(ops in proptest::collection::vec(op(), 1..300)) {
            let seen = Seen::default();
            let mut model: HashMap<u8, (Claims, String)> = HashMap::new();
            let (mut now, leeway) = (0i64, 5i64);
            for op in ops {
                match op {
                    Op::Verified(t, exp) => {
                        let token = format!("token-{t}");
                        let c = claims(t, exp);
                        seen.insert(digest(&token), &c, "kid", now);
                        model.insert(t, (c, "kid".into()));
                    }
                    Op::Lookup(t) => {
                        let got = seen.get(&digest(&format!("token-{t}")), now, leeway);
                        if let Some((c, kid)) = got {
                            let (expected, expected_kid) = model.get(&t).unwrap();
                            prop_assert_eq!(&c, expected);
                            prop_assert_eq!(&kid, expected_kid);
                            prop_assert!(c.exp >= now - leeway);
                        }
                    }
                    Op::Tick(d) => now += d,
                }
            }
        }
    }

    #[test]
    fn memory_is_bounded() {
        let seen = Seen::default();
        for i in 0..(SHARDS * PER_SHARD * 3) {
            seen.insert(digest(&i.to_string()), &claims(0, i64::MAX), "kid", 0);
        }
        let held: usize = seen.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= SHARDS * PER_SHARD, "{held}");
    }
}
