//! Public keys fetched from URLs that admins configured: a client key's `jwks_uri`, and the
//! keys of a federated credential's issuer (its `jwks_uri`, or the one its OpenID discovery
//! document names). When to fetch is `latchkey_rules::jwks_cache`'s policy; this module keeps
//! the sets and does the fetching, one fetch per set at a time.
//!
//! Verification is synchronous (the authority runs on the executor or the blocking pool), and
//! fetching is not: [`KeySets::lookup`] answers from the cache or says [`Lookup::Fetch`], and
//! the HTTP layer then awaits [`KeySets::refresh`] and asks again (`AppState::read`). The
//! second lookup cannot ask to fetch again: the attempt was just made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use latchkey_rules::jwks_cache::{CachePolicy, Decision, Freshness};
use serde_json::Value;

use super::client::{FetchError, Outbound};
use crate::domain::public_jwk::PublicJwk;

/// Largest discovery document or JWKS read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// Most keys kept of one set (a set with more is still used: the first ones).
const MAX_KEYS_PER_SET: usize = 100;
/// Most sets cached: beyond, the least recently used makes room (so sets in use survive
/// another org's flood of new URLs, which it can make only by changing its keys' settings).
const MAX_SETS: usize = 4096;

/// Where a set of public keys comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A JWKS at this URL.
    Jwks(String),
    /// An OpenID issuer: `{issuer}/.well-known/openid-configuration` names the JWKS.
    Issuer(String),
}

impl Source {
    /// What the source is, for an error message.
    pub fn describe(&self) -> String {
        match self {
            Source::Jwks(url) => format!("the JWKS at {url}"),
            Source::Issuer(issuer) => format!("the keys of issuer {issuer}"),
        }
    }
}

/// A cached set's answer for one token.
#[derive(Debug, Clone)]
pub enum Lookup {
    Keys(Arc<[PublicJwk]>),
    /// Fetch the set first ([`KeySets::refresh`]), then look again.
    Fetch,
    /// No keys to verify with, and why.
    Unavailable(String),
}

#[derive(Default)]
struct Entry {
    keys: Option<Arc<[PublicJwk]>>,
    freshness: Freshness,
    /// The last fetch's failure, while it is the latest news.
    error: Option<String>,
    /// The last lookup, for eviction.
    used: Option<Instant>,
}

pub struct KeySets {
    outbound: Outbound,
    policy: CachePolicy,
    entries: Mutex<HashMap<Source, Entry>>,
    /// One fetch per source at a time: the others wait for it and use its answer.
    fetching: Mutex<HashMap<Source, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeySets {
    pub fn new(outbound: Outbound) -> Self {
        KeySets {
            outbound,
            policy: CachePolicy::default(),
            entries: Mutex::default(),
            fetching: Mutex::default(),
        }
    }

    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// The keys of `source` for a token naming `kid` (or none).
    pub fn lookup(&self, source: &Source, kid: Option<&str>, now: Instant) -> Lookup {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = entries.get_mut(source) else {
            return Lookup::Fetch;
        };
        entry.used = Some(now);
        let kid_known = entry.keys.as_ref().is_some_and(|keys| match kid {
            Some(kid) => keys.iter().any(|k| k.kid == kid),
            None => !keys.is_empty(),
        });
        match (
            entry.freshness.decide(&self.policy, now, kid_known),
            &entry.keys,
        ) {
            (Decision::Fetch, _) => Lookup::Fetch,
            (Decision::Use, Some(keys)) => Lookup::Keys(keys.clone()),
            (Decision::Use | Decision::Unavailable, _) => Lookup::Unavailable(format!(
                "{} could not be fetched: {}",
                source.describe(),
                entry.error.as_deref().unwrap_or("no answer yet")
            )),
        }
    }

    /// Fetches `source` unless a fetch of it was made too recently to repeat (by this call's
    /// wait for another one, typically). Never fails: a failure is kept for [`Self::lookup`].
    pub async fn refresh(&self, source: &Source) {
        let gate = self
            .fetching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(source.clone())
            .or_default()
            .clone();
        {
            let _one_at_a_time = gate.lock().await;
            if self.due(source, Instant::now()) {
                let outcome = self.fetch(source).await;
                self.keep(source, outcome);
            }
        }
        // The gate goes once nobody waits on it (the map's and this call's references are the
        // last): the gates are those of fetches in flight, never one per URL ever seen.
        let mut gates = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
        if Arc::strong_count(&gate) <= 2 {
            gates.remove(source);
        }
    }

    /// Stores what a fetch of `source` gave.
    fn keep(&self, source: &Source, outcome: Result<(Vec<PublicJwk>, Option<String>), String>) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(source) && entries.len() >= MAX_SETS {
            evict_oldest(&mut entries);
        }
        let entry = entries.entry(source.clone()).or_default();
        match outcome {
            Ok((keys, cache_control)) => {
                entry
                    .freshness
                    .fetched(&self.policy, now, cache_control.as_deref());
                entry.keys = Some(keys.into());
                entry.error = None;
            }
            Err(why) => {
                tracing::warn!(source = %source.describe(), error = %why, "fetching public keys failed");
                entry.freshness.failed(now);
                entry.error = Some(why);
            }
        }
    }

    fn due(&self, source: &Source, now: Instant) -> bool {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.get(source).is_none_or(|e| {
            // With an unknown kid, a set is due exactly when the policy lets it be fetched.
            e.freshness.decide(&self.policy, now, false) == Decision::Fetch
        })
    }

    async fn fetch(&self, source: &Source) -> Result<(Vec<PublicJwk>, Option<String>), String> {
        let jwks_uri = match source {
            Source::Jwks(url) => url.clone(),
            Source::Issuer(issuer) => self.discover(issuer).await?,
        };
        let fetched = self
            .outbound
            .get(&jwks_uri, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| describe(&jwks_uri, &e))?;
        let keys = parse_jwks(&fetched.body).map_err(|why| format!("{jwks_uri}: {why}"))?;
        Ok((keys, fetched.cache_control))
    }

    /// OpenID Connect Discovery 1.0 §4: the issuer's configuration names its `jwks_uri`, and
    /// must name the issuer itself exactly (§4.3), or the document is someone else's.
    async fn discover(&self, issuer: &str) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let fetched = self
            .outbound
            .get(&url, MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| describe(&url, &e))?;
        let document: Value = serde_json::from_slice(&fetched.body)
            .map_err(|_| format!("{url}: the discovery document is not JSON"))?;
        if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(format!(
                "{url}: the discovery document names another issuer than {issuer}"
            ));
        }
        document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{url}: the discovery document has no jwks_uri"))
    }
}

fn describe(url: &str, error: &FetchError) -> String {
    format!("{url}: {error}")
}

/// The usable signing keys of a JWKS document: the keys a client key could hold
/// (`domain::public_jwk`), others (encryption keys, other curves, private keys) left out.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<PublicJwk>, String> {
    let document: Value = serde_json::from_slice(body).map_err(|_| "the JWKS is not JSON")?;
    let Some(keys) = document.get("keys").and_then(Value::as_array) else {
        return Err("the JWKS has no `keys` list".into());
    };
    let usable: Vec<PublicJwk> = keys
        .iter()
        .filter_map(|k| k.as_object().cloned())
        .filter_map(|k| PublicJwk::try_from(k).ok())
        .take(MAX_KEYS_PER_SET)
        .collect();
    if usable.is_empty() {
        return Err(
            "the JWKS has no usable signing key (Ed25519, P-256 or RSA ≥ 2048 bits with a kid)"
                .into(),
        );
    }
    Ok(usable)
}

/// Drops the set used (or fetched) least recently.
fn evict_oldest(entries: &mut HashMap<Source, Entry>) {
    let oldest = entries
        .iter()
        .min_by_key(|(_, e)| e.used.max(e.freshness.last_fetched()))
        .map(|(s, _)| s.clone());
    if let Some(source) = oldest {
        entries.remove(&source);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_jwks_keeps_only_usable_signing_keys() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let body = json!({"keys": [
            ed,
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "OKP", "crv": "X25519", "kid": "x", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "use": "enc"},
            "not a key",
        ]});
        let keys = parse_jwks(body.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid, "a");
        assert!(parse_jwks(b"{\"keys\": []}").is_err());
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"\0").is_err());
    }
}

/// Review 17: the bounds of the key-set cache.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod review_tests {
    use super::*;
    use crate::outbound::Reach;
    use std::time::Duration;

    /// Finding: `entries` is bounded by `MAX_SETS`, but `fetching` (one gate per source ever
    /// refreshed) never forgets a source. Every distinct URL a request made the server fetch
    /// stays in memory for the life of the process: a key admin who keeps PATCHing a key's
    /// `jwks_uri` (or its credentials) to new URLs and sends one assertion after each grows
    /// the map without bound; the URLs need not even be fetchable (here each is refused at
    /// once, without the network).
    /// Expected: `fetching` holds at most the sources in flight (or at most `MAX_SETS`).
    #[tokio::test]
    async fn the_per_source_fetch_gates_are_bounded_like_the_sets() {
        let sets = KeySets::new(Outbound::new(Reach::default(), Duration::from_secs(1)).unwrap());
        for i in 0..MAX_SETS + 200 {
            sets.refresh(&Source::Jwks(format!("https://127.0.0.1/{i}")))
                .await;
        }
        let entries = sets.entries.lock().unwrap().len();
        assert!(entries <= MAX_SETS, "{entries} sets cached");
        let gates = sets.fetching.lock().unwrap().len();
        assert!(
            gates <= MAX_SETS,
            "{gates} fetch gates kept for {} sources fetched, none in flight",
            MAX_SETS + 200
        );
    }
}
