//! [`Verifier`]: a Latchkey access token verified locally against the cached JWKS, and
//! [`VerifierBuilder`], its settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use latchkey_rules::jwks_cache::CachePolicy;
use latchkey_rules::scope::Action;

use crate::authorize::{AuthzError, Online, OnlineCheck};
use crate::claims::Claims;
use crate::error::{BuildError, FetchError, VerifyError};
use crate::fetch;
use crate::jwks::{JwksCache, Source, Step};
use crate::keys::{Expect, KeySet, is_access_token};
use crate::seen::{self, Seen};

/// Verifies Latchkey access tokens (RFC 9068 JWTs) for one issuer. Cheap to clone: clones
/// share the key cache.
///
/// ```
/// use latchkey_verify::{Verifier, doc_example};
/// use latchkey_verify::scope::Action;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let verifier = Verifier::builder(doc_example::ISSUER)
///     .static_jwks(doc_example::JWKS)
///     .build()?;
/// let claims = verifier.verify(doc_example::TOKEN).await?;
/// assert_eq!(claims.sub, "key_demo");
/// assert!(claims.allows(Action::Read, "projects/7"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    cache: JwksCache,
    online: Option<Online>,
    /// Tokens verified before (`seen.rs`).
    seen: Seen,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.cache.expect().issuer)
            .field("audiences", &self.inner.cache.expect().audiences)
            .field("online", &self.inner.online.is_some())
            .finish_non_exhaustive()
    }
}

/// The settings of a [`Verifier`]; [`Verifier::builder`] makes one.
///
/// ```
/// use std::time::Duration;
/// use latchkey_verify::Verifier;
///
/// let verifier = Verifier::builder("https://auth.example.com")
///     .audience("https://api.example.com")
///     .leeway(Duration::from_secs(10))
///     .build()?;
/// # Ok::<(), latchkey_verify::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct VerifierBuilder {
    issuer: String,
    jwks_url: Option<String>,
    static_jwks: Option<String>,
    audiences: Vec<String>,
    leeway: Duration,
    timeout: Duration,
    policy: CachePolicy,
    online: Option<OnlineCheck>,
}

impl Verifier {
    /// Settings for tokens of `issuer`, exactly as the server's `--issuer` (the `iss` claim;
    /// a trailing `/` matters). The JWKS is found by RFC 8414 discovery unless
    /// [`VerifierBuilder::jwks_url`] names it.
    ///
    /// ```
    /// use latchkey_verify::Verifier;
    ///
    /// let verifier = Verifier::builder("https://auth.example.com").build()?;
    /// assert_eq!(verifier.issuer(), "https://auth.example.com");
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder {
            issuer: issuer.into(),
            jwks_url: None,
            static_jwks: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            policy: CachePolicy::default(),
            online: None,
        }
    }

    /// The configured issuer.
    ///
    /// ```
    /// # use latchkey_verify::Verifier;
    /// let verifier = Verifier::builder("https://auth.example.com/").build()?;
    /// assert_eq!(verifier.issuer(), "https://auth.example.com/");
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn issuer(&self) -> &str {
        &self.inner.cache.expect().issuer
    }

    /// The claims of `token` once its header (`typ: at+jwt`, a known `kid`, that key's
    /// algorithm), signature, `iss`, `aud`, `exp`, `nbf` and `iat` check out.
    ///
    /// With a warm cache this completes without awaiting anything (no lock, no I/O); it
    /// fetches the JWKS when the cache is cold or stale, or when the `kid` is unknown (at
    /// most once a second).
    ///
    /// ```
    /// use latchkey_verify::{Verifier, VerifyError, doc_example};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = Verifier::builder(doc_example::ISSUER)
    ///     .audience("https://billing.example.com")
    ///     .static_jwks(doc_example::JWKS)
    ///     .build()?;
    /// let refused = verifier.verify(doc_example::TOKEN).await.unwrap_err();
    /// assert!(matches!(refused, VerifyError::WrongAudience));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let digest = seen::digest(token);
        let cache = &self.inner.cache;
        let now = unix_now();
        let leeway = i64::try_from(cache.expect().leeway_secs).unwrap_or(i64::MAX);
        if let Some((claims, kid)) = self.inner.seen.get(&digest, now, leeway)
            && matches!(
                cache.with_key(&kid, Instant::now(), |_| Ok(())),
                Step::Done(Ok(()))
            )
        {
            return Ok(claims);
        }
        let verified = self.verify_in_full(token).await;
        if let Ok((claims, kid)) = &verified {
            self.inner.seen.insert(digest, claims, kid, now);
        }
        verified.map(|(claims, _)| claims)
    }

    /// Header, key, signature and claims; with the `kid` of the key that verified the token.
    async fn verify_in_full(&self, token: &str) -> Result<(Claims, String), VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Malformed(e.to_string()))?;
        if !is_access_token(&header) {
            return Err(VerifyError::NotAnAccessToken);
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let cache = &self.inner.cache;
        let alg = header.alg;
        let with_kid = |claims| (claims, kid.clone());
        if let Step::Done(r) = cache.with_key(&kid, Instant::now(), |key| key.verify(alg, token)) {
            return r.map(with_kid);
        }
        cache.refresh(Some(&kid)).await;
        match cache.with_key(&kid, Instant::now(), |key| key.verify(alg, token)) {
            Step::Done(r) => r.map(with_kid),
            // The policy never asks for a second fetch right after one.
            Step::Fetch => Err(VerifyError::Unavailable(Arc::new(FetchError::NotFetched))),
        }
    }

    /// [`verify`](Self::verify), then whether the token allows `action` on `resource`: its
    /// scopes first (no request when they do not), then, in online mode, Latchkey's
    /// `POST /v1/check` (revocations apply at once). `ip`: the caller's address, for the key's
    /// allowed CIDRs (online mode only).
    ///
    /// ```
    /// use latchkey_verify::{AuthzError, Verifier, doc_example};
    /// use latchkey_verify::scope::Action;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
    /// let claims = verifier.authorize(doc_example::TOKEN, Action::Write, "projects/42", None).await?;
    /// assert_eq!(claims.client_id, "key_demo");
    /// let refused = verifier.authorize(doc_example::TOKEN, Action::Write, "projects/7", None).await;
    /// assert!(matches!(refused, Err(AuthzError::InsufficientScope { scope }) if scope == "write:projects/7"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn authorize(
        &self,
        token: &str,
        action: Action,
        resource: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Claims, AuthzError> {
        let claims = self.verify(token).await.map_err(AuthzError::Token)?;
        self.check(&claims, token, action, resource, ip).await?;
        Ok(claims)
    }

    /// The second half of [`authorize`](Self::authorize), for claims already verified from
    /// `token` (the middleware verifies once per request, then checks each route's need).
    ///
    /// ```
    /// use latchkey_verify::{Verifier, doc_example};
    /// use latchkey_verify::scope::Action;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
    /// let claims = verifier.verify(doc_example::TOKEN).await?;
    /// verifier.check(&claims, doc_example::TOKEN, Action::Read, "projects/1", None).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn check(
        &self,
        claims: &Claims,
        token: &str,
        action: Action,
        resource: &str,
        ip: Option<std::net::IpAddr>,
    ) -> Result<(), AuthzError> {
        if !claims.allows(action, resource) {
            return Err(AuthzError::InsufficientScope {
                scope: format!("{action}:{resource}"),
            });
        }
        match &self.inner.online {
            Some(online) => online.check(claims, token, action, resource, ip).await,
            None => Ok(()),
        }
    }

    /// Fetches the key set now if the cache policy allows a fetch (it is cold, stale, or was
    /// last fetched over a second ago), e.g. at startup so that the first request does not
    /// wait; the error says why no key set is usable.
    ///
    /// ```
    /// use latchkey_verify::{Verifier, doc_example};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
    /// verifier.refresh().await?; // a static set is always ready
    /// # Ok(())
    /// # }
    /// ```
    pub async fn refresh(&self) -> Result<(), VerifyError> {
        let cache = &self.inner.cache;
        cache.refresh(None).await;
        match cache.with_key("", Instant::now(), |_| Ok(())) {
            Step::Done(Err(VerifyError::UnknownKey)) | Step::Done(Ok(())) | Step::Fetch => Ok(()),
            Step::Done(Err(e)) => Err(e),
        }
    }

    /// How many JWKS documents this verifier (and its clones) fetched: for metrics and tests.
    ///
    /// ```
    /// use latchkey_verify::{Verifier, doc_example};
    ///
    /// let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
    /// assert_eq!(verifier.jwks_fetches(), 0);
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.cache.fetches()
    }
}

impl VerifierBuilder {
    /// Fetch the JWKS from this URL instead of discovering it.
    ///
    /// ```
    /// # use latchkey_verify::Verifier;
    /// let verifier = Verifier::builder("https://auth.example.com")
    ///     .jwks_url("https://auth.example.com/.well-known/jwks.json")
    ///     .build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Verify with this key set only, never fetched (tests, doctests, closed networks).
    ///
    /// ```
    /// # use latchkey_verify::{Verifier, doc_example};
    /// let verifier = Verifier::builder(doc_example::ISSUER).static_jwks(doc_example::JWKS).build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn static_jwks(mut self, jwks: impl Into<String>) -> Self {
        self.static_jwks = Some(jwks.into());
        self
    }

    /// An audience a token may be for (call again for several; a token naming any of them
    /// passes). Without one, the issuer: the server's default audience.
    ///
    /// ```
    /// # use latchkey_verify::Verifier;
    /// let verifier = Verifier::builder("https://auth.example.com")
    ///     .audience("https://api.example.com")
    ///     .audience("https://auth.example.com")
    ///     .build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s), whole seconds.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use latchkey_verify::Verifier;
    /// let verifier = Verifier::builder("https://auth.example.com")
    ///     .leeway(Duration::ZERO)
    ///     .build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Timeout of each request to Latchkey (discovery, JWKS, online check); default 5 s.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use latchkey_verify::Verifier;
    /// let verifier = Verifier::builder("https://auth.example.com")
    ///     .timeout(Duration::from_secs(2))
    ///     .build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The JWKS cache's bounds (default: `CachePolicy::default()`, the server's own).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use latchkey_verify::{CachePolicy, Verifier};
    /// let policy = CachePolicy { stale_for: Duration::from_secs(600), ..CachePolicy::default() };
    /// let verifier = Verifier::builder("https://auth.example.com").cache_policy(policy).build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Online mode: also ask Latchkey's `POST /v1/check` in
    /// [`Verifier::authorize`]/[`Verifier::check`] and the middleware.
    ///
    /// ```
    /// use latchkey_verify::{FailMode, OnlineCheck, Verifier};
    /// let verifier = Verifier::builder("https://auth.example.com")
    ///     .online(OnlineCheck::new("lk_the_apis_own_secret", FailMode::Closed))
    ///     .build()?;
    /// # Ok::<(), latchkey_verify::BuildError>(())
    /// ```
    pub fn online(mut self, check: OnlineCheck) -> Self {
        self.online = Some(check);
        self
    }

    /// The verifier. Nothing is fetched yet: the first token (or [`Verifier::refresh`]) does.
    ///
    /// ```
    /// # use latchkey_verify::Verifier;
    /// assert!(Verifier::builder("ftp://auth.example.com").build().is_err());
    /// ```
    pub fn build(self) -> Result<Verifier, BuildError> {
        let issuer_url = http_url(&self.issuer).ok_or(BuildError::Issuer(self.issuer.clone()))?;
        let audiences = if self.audiences.is_empty() {
            vec![self.issuer.clone()]
        } else {
            self.audiences
        };
        let expect = Expect {
            issuer: self.issuer.clone(),
            audiences,
            leeway_secs: self.leeway.as_secs(),
        };
        let (source, initial) = match (self.static_jwks, self.jwks_url) {
            (Some(jwks), _) => {
                let keys =
                    KeySet::parse(jwks.as_bytes(), &expect).map_err(BuildError::StaticJwks)?;
                if keys.len() == 0 {
                    return Err(BuildError::StaticJwks("no usable key".into()));
                }
                (Source::Static, Some(keys))
            }
            (None, Some(url)) => {
                http_url(&url).ok_or(BuildError::JwksUrl(url.clone()))?;
                (Source::Jwks(url), None)
            }
            (None, None) => (
                Source::Discovery {
                    metadata_url: fetch::metadata_url(&issuer_url),
                },
                None,
            ),
        };
        let client = fetch::client(self.timeout)?;
        let online = self
            .online
            .map(|check| Online::new(check, &self.issuer, client.clone()));
        Ok(Verifier {
            inner: Arc::new(Inner {
                cache: JwksCache::new(source, self.policy, expect, client, initial),
                online,
                seen: Seen::default(),
            }),
        })
    }
}

/// Seconds since the Unix epoch.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn http_url(s: &str) -> Option<url::Url> {
    url::Url::parse(s)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}
