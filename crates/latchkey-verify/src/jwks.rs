//! The JWKS cache: one snapshot of decoded keys that the warm path reads without a lock, and
//! single-flight fetching under `latchkey_rules::jwks_cache`'s policy (the server's too).
//!
//! The rules, in order (tests named after them in `tests/jwks_cache.rs`):
//! 1. A token whose `kid` the fresh set has is verified from the snapshot: an `ArcSwap` load,
//!    no lock, no fetch.
//! 2. An unknown `kid` fetches the set again, at most once per `refetch_after` (1 s): a rotation
//!    is picked up at once, a flood of invented kids costs the server one fetch a second.
//! 3. One fetch at a time (a `tokio` mutex): concurrent callers that need a fetch wait for it and
//!    then decide again on its result instead of fetching too.
//! 4. A failed fetch keeps the last good set for `stale_for` past its freshness; then tokens are
//!    refused with [`VerifyError::Unavailable`] naming the last failure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwap;
use latchkey_rules::jwks_cache::{CachePolicy, Decision, Freshness};
use serde::Deserialize;

use crate::error::{FetchError, VerifyError};
use crate::fetch;
use crate::keys::{Expect, KeySet, VerifyKey};

/// Where the key set comes from.
pub(crate) enum Source {
    /// RFC 8414 discovery at this URL, then its `jwks_uri`.
    Discovery { metadata_url: String },
    /// This JWKS URL.
    Jwks(String),
    /// A set given once, never fetched (tests, doctests, air-gapped deployments).
    Static,
}

/// What the warm path reads: the keys, and when they were fetched.
struct Snapshot {
    keys: Arc<KeySet>,
    freshness: Freshness,
    last_error: Option<Arc<FetchError>>,
}

pub(crate) struct JwksCache {
    source: Source,
    policy: CachePolicy,
    expect: Expect,
    client: reqwest::Client,
    current: ArcSwap<Snapshot>,
    /// Held while fetching: single flight.
    fetching: tokio::sync::Mutex<()>,
    /// The discovered `jwks_uri`, kept for the life of the cache.
    jwks_uri: OnceLock<String>,
    fetches: AtomicU64,
}

/// What the snapshot says for one token.
pub(crate) enum Step<R> {
    Done(Result<R, VerifyError>),
    Fetch,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

impl JwksCache {
    pub(crate) fn new(
        source: Source,
        policy: CachePolicy,
        expect: Expect,
        client: reqwest::Client,
        initial: Option<KeySet>,
    ) -> Self {
        JwksCache {
            source,
            policy,
            expect,
            client,
            current: ArcSwap::from_pointee(Snapshot {
                keys: Arc::new(initial.unwrap_or_default()),
                freshness: Freshness::default(),
                last_error: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            jwks_uri: OnceLock::new(),
            fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn expect(&self) -> &Expect {
        &self.expect
    }

    /// JWKS documents fetched so far (discovery not counted).
    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Runs `f` with the key `kid` names when the snapshot may be used now; else says to fetch.
    pub(crate) fn with_key<R>(
        &self,
        kid: &str,
        now: Instant,
        f: impl FnOnce(&VerifyKey) -> Result<R, VerifyError>,
    ) -> Step<R> {
        let snap = self.current.load();
        let decision = match self.source {
            Source::Static => Decision::Use,
            _ => snap
                .freshness
                .decide(&self.policy, now, snap.keys.contains(kid)),
        };
        match decision {
            Decision::Use => Step::Done(snap.keys.get(kid).map_or(Err(VerifyError::UnknownKey), f)),
            Decision::Fetch => Step::Fetch,
            Decision::Unavailable => Step::Done(Err(VerifyError::Unavailable(
                snap.last_error
                    .clone()
                    .unwrap_or_else(|| Arc::new(FetchError::NotFetched)),
            ))),
        }
    }

    /// Fetches the set if the policy still says so once this caller's turn comes (single
    /// flight: whoever waited behind a fetch decides again on its result). `kid`: the key the
    /// caller looks for, `None` to fetch whenever the policy allows one.
    pub(crate) async fn refresh(&self, kid: Option<&str>) {
        if matches!(self.source, Source::Static) {
            return;
        }
        let _turn = self.fetching.lock().await;
        let snap = self.current.load_full();
        let known = kid.is_some_and(|k| snap.keys.contains(k));
        if snap.freshness.decide(&self.policy, Instant::now(), known) != Decision::Fetch {
            return;
        }
        let result = self.fetch().await;
        let now = Instant::now();
        let mut freshness = snap.freshness;
        let next = match result {
            Ok((keys, cache_control)) => {
                freshness.fetched(&self.policy, now, cache_control.as_deref());
                tracing::debug!(keys = keys.len(), "JWKS fetched");
                Snapshot {
                    keys: Arc::new(keys),
                    freshness,
                    last_error: None,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "JWKS fetch failed");
                freshness.failed(now);
                Snapshot {
                    keys: snap.keys.clone(),
                    freshness,
                    last_error: Some(Arc::new(e)),
                }
            }
        };
        self.current.store(Arc::new(next));
    }

    async fn fetch(&self) -> Result<(KeySet, Option<String>), FetchError> {
        let url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery { metadata_url } => match self.jwks_uri.get() {
                Some(url) => url.clone(),
                None => {
                    let url = self.discover(metadata_url).await?;
                    self.jwks_uri.get_or_init(|| url).clone()
                }
            },
            Source::Static => return Err(FetchError::NotFetched),
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = fetch::get(&self.client, &url).await?;
        let keys = KeySet::parse(&fetched.body, &self.expect).map_err(FetchError::Invalid)?;
        Ok((keys, fetched.cache_control))
    }

    /// RFC 8414: the metadata's `jwks_uri`, once its `issuer` is the one configured (§3.3).
    async fn discover(&self, metadata_url: &str) -> Result<String, FetchError> {
        let fetched = fetch::get(&self.client, metadata_url).await?;
        let metadata: Metadata = serde_json::from_slice(&fetched.body)
            .map_err(|e| FetchError::Invalid(e.to_string()))?;
        if metadata.issuer != self.expect.issuer {
            return Err(FetchError::IssuerMismatch {
                expected: self.expect.issuer.clone(),
                found: metadata.issuer,
            });
        }
        Ok(metadata.jwks_uri)
    }
}
