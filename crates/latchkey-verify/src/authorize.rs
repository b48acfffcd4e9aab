//! Authorisation of one request ([`AuthzError`]) and the optional online check: Latchkey's
//! `POST /v1/check` asked per request, for APIs that must see a revocation at once.
//!
//! Positive answers are remembered for a short TTL (default 1 s) per token, action, resource
//! and address: a burst of requests costs one check, and a revocation shows within the TTL.
//! Refusals are never remembered. When the check cannot be asked, [`FailMode`] decides, and it
//! has no default: whether an outage of Latchkey stops the API or lets verified tokens through
//! is the API owner's choice, written where the verifier is built.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_rules::scope::Action;
use serde::{Deserialize, Serialize};

use crate::claims::Claims;
use crate::error::{FetchError, VerifyError};
use crate::fetch;

/// Why a request was not allowed.
///
/// ```
/// use latchkey_verify::{AuthzError, VerifyError};
///
/// let e = AuthzError::InsufficientScope { scope: "read:projects/42".into() };
/// assert_eq!(e.to_string(), "the token lacks scope read:projects/42");
/// assert!(matches!(AuthzError::Token(VerifyError::Expired), AuthzError::Token(_)));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthzError {
    /// The token itself was refused (RFC 6750 `invalid_token`, `401`), Latchkey's online check
    /// included (`revoked`, `expired`, `invalid_token`), or could not be verified
    /// ([`VerifyError::Unavailable`], `503`).
    #[error(transparent)]
    Token(VerifyError),
    /// The token's scopes do not allow the request (RFC 6750 `insufficient_scope`, `403`);
    /// `scope` is the one needed, `ACTION:RESOURCE`.
    #[error("the token lacks scope {scope}")]
    InsufficientScope {
        /// The scope the request needs.
        scope: String,
    },
    /// Latchkey's online check refused the request for another reason than the token
    /// (`ip_not_allowed`, `rate_limited`, `quota_exhausted`, `scope_not_allowed`): a `403`.
    #[error("refused by Latchkey: {reason}")]
    Forbidden {
        /// The `/v1/check` reason.
        reason: String,
    },
}

/// What the online mode does when Latchkey cannot be asked (unreachable, timeout, an answer
/// other than `200`). No default: choose.
///
/// ```
/// use latchkey_verify::FailMode;
/// assert_ne!(FailMode::Closed, FailMode::Open);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailMode {
    /// Refuse the request (`503`): no request passes that Latchkey did not allow.
    Closed,
    /// Allow it on the local verification alone (a revoked token passes until its `exp`
    /// while Latchkey is down), and log a warning.
    Open,
}

/// The online mode's settings: the API's own Latchkey secret (any active key of the token's
/// org may ask), the fail mode, and how long an allowed answer is reused.
///
/// ```
/// use std::time::Duration;
/// use latchkey_verify::{FailMode, OnlineCheck};
///
/// let check = OnlineCheck::new("lk_…", FailMode::Open).positive_ttl(Duration::from_millis(250));
/// assert!(!format!("{check:?}").contains("lk_"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct OnlineCheck {
    secret: String,
    fail: FailMode,
    ttl: Duration,
    endpoint: Option<String>,
}

impl std::fmt::Debug for OnlineCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnlineCheck")
            .field("fail", &self.fail)
            .field("ttl", &self.ttl)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OnlineCheck {
    /// Ask with `api_key_secret` (sent as `Authorization: Bearer`); `fail` says what an
    /// unanswered check means.
    ///
    /// ```
    /// use latchkey_verify::{FailMode, OnlineCheck};
    /// let check = OnlineCheck::new(std::env::var("LATCHKEY_SECRET").unwrap_or_default(), FailMode::Closed);
    /// ```
    pub fn new(api_key_secret: impl Into<String>, fail: FailMode) -> Self {
        OnlineCheck {
            secret: api_key_secret.into(),
            fail,
            ttl: Duration::from_secs(1),
            endpoint: None,
        }
    }

    /// How long an allowed answer is reused (default 1 s; zero asks every time).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use latchkey_verify::{FailMode, OnlineCheck};
    /// let check = OnlineCheck::new("lk_…", FailMode::Closed).positive_ttl(Duration::ZERO);
    /// ```
    pub fn positive_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The check endpoint, when not `{issuer}/v1/check`.
    ///
    /// ```
    /// # use latchkey_verify::{FailMode, OnlineCheck};
    /// let check = OnlineCheck::new("lk_…", FailMode::Closed)
    ///     .endpoint("http://latchkey.internal:8080/v1/check");
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }
}

/// Most remembered answers; past it, expired ones are dropped (all, if none has expired).
const MAX_REMEMBERED: usize = 10_000;

type AnswerKey = (String, Action, String, Option<IpAddr>);

pub(crate) struct Online {
    check: OnlineCheck,
    url: String,
    client: reqwest::Client,
    /// Allowed answers until their expiry. A plain mutex: the online path costs a request to
    /// Latchkey anyway, and the critical section is one map lookup.
    allowed: Mutex<HashMap<AnswerKey, Instant>>,
}

#[derive(Serialize)]
struct CheckRequest<'a> {
    token: &'a str,
    action: &'static str,
    resource: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
}

#[derive(Deserialize)]
struct CheckAnswer {
    allowed: bool,
    reason: String,
}

impl Online {
    pub(crate) fn new(check: OnlineCheck, issuer: &str, client: reqwest::Client) -> Self {
        let url = check
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/v1/check", issuer.trim_end_matches('/')));
        Online {
            check,
            url,
            client,
            allowed: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn check(
        &self,
        claims: &Claims,
        token: &str,
        action: Action,
        resource: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), AuthzError> {
        // The jti names the verified token: a shorter key than the token itself.
        let key = (claims.jti.clone(), action, resource.to_owned(), ip);
        if self.remembered(&key) {
            return Ok(());
        }
        match self.ask(token, action, resource, ip).await {
            Ok(answer) if answer.allowed => {
                self.remember(key);
                Ok(())
            }
            Ok(answer) => Err(match answer.reason.as_str() {
                "invalid_token" | "revoked" | "expired" => {
                    AuthzError::Token(VerifyError::Refused(answer.reason))
                }
                _ => AuthzError::Forbidden {
                    reason: answer.reason,
                },
            }),
            Err(e) => match self.check.fail {
                FailMode::Closed => Err(AuthzError::Token(VerifyError::Unavailable(Arc::new(e)))),
                FailMode::Open => {
                    tracing::warn!(error = %e, "online check failed; allowed on local verification (FailMode::Open)");
                    Ok(())
                }
            },
        }
    }

    async fn ask(
        &self,
        token: &str,
        action: Action,
        resource: &str,
        ip: Option<IpAddr>,
    ) -> Result<CheckAnswer, FetchError> {
        let body = CheckRequest {
            token,
            action: action.as_str(),
            resource,
            ip: ip.map(|ip| ip.to_string()),
        };
        let body = serde_json::to_vec(&body).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.check.secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| FetchError::Unreachable(e.to_string()))?;
        let fetched = fetch::read_ok(response).await?;
        serde_json::from_slice(&fetched.body).map_err(|e| FetchError::Invalid(e.to_string()))
    }

    fn remembered(&self, key: &AnswerKey) -> bool {
        let Ok(allowed) = self.allowed.lock() else {
            return false;
        };
        allowed
            .get(key)
            .is_some_and(|until| Instant::now() < *until)
    }

    fn remember(&self, key: AnswerKey) {
        if self.check.ttl.is_zero() {
            return;
        }
        let Ok(mut allowed) = self.allowed.lock() else {
            return;
        };
        let now = Instant::now();
        if allowed.len() >= MAX_REMEMBERED {
            allowed.retain(|_, until| now < *until);
            if allowed.len() >= MAX_REMEMBERED {
                allowed.clear();
            }
        }
        allowed.insert(key, now + self.check.ttl);
    }
}
