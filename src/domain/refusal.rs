//! Why a credential was refused: one typed reason, mapped here, once each, to what every
//! consumer needs: the usage-metering reason, the RFC 6749 §5.2 error, the RFC 6750 / RFC 9457
//! answer of the admin API, the `/v1/check` reason, and whether it counts as a guess for the
//! failed-authentication throttle.

use serde::Serialize;
use utoipa::ToSchema;

use super::limits::LimitState;
use super::oauth::{OAuthError, OAuthErrorCode};
use super::usage::DenyReason;

/// A refused credential. The first group can be told to anyone; the second only to a holder of
/// a valid credential (SPEC: the description says why only once the secret is valid), which is
/// why a wrong secret for a revoked key is `BadSecret`, never `KeyRevoked`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No credential where one is required.
    Missing,
    /// Not a secret or a token at all: wrong format, bad checksum, not a JWS. Costs no lookup.
    Malformed,
    /// A well-formed secret that no key has.
    BadSecret,
    /// Client authentication (RFC 6749 §2.3.1: a client id and its secret) failed: an unknown,
    /// malformed or another client's secret. Told apart from nothing else.
    BadClient,
    /// A JWT that does not verify: signature, `alg`, `typ`, `kid`, `iss`, org binding.
    BadToken,
    /// A client assertion (RFC 7523) whose signature does not verify with a key of the client
    /// it names, or a client that holds no public key: which check failed, for the client.
    BadAssertion(String),
    /// Too many failed authentications from this address or for this key id; retry after the
    /// given seconds. Refused before any database work.
    Throttled(u64),
    /// The keys to verify a client assertion with (a client's `jwks_uri`, a federated issuer's
    /// keys) could not be fetched. The client may be fine; the answer is a `503`. Why is logged,
    /// never told: the caller has proven nothing yet, and the configured URLs and what they
    /// resolve to are the key's admins' business.
    KeysUnavailable,

    /// A valid token past its `exp`.
    TokenExpired,
    /// A valid token revoked through RFC 7009.
    TokenRevoked,
    /// A valid token minted with a secret that has since been rolled away and stopped working.
    TokenSuperseded,
    KeyRevoked,
    KeyExpired,
    IpNotAllowed,
    /// A client assertion signed by the client's key but refused for its claims (expired,
    /// audience, lifetime, a `jti` used before): which check failed.
    AssertionRefused(String),
    /// The credential is valid but no scope of it allows what was asked (`/v1/check`), or the
    /// requested scope is not covered (token endpoint: `invalid_scope`, with the detail).
    ScopeNotAllowed(String),
    /// Over one of the key's rate limits: where that limit stands (for the rate-limit headers).
    RateLimited(LimitState),
    /// The key's quota has no credit left; `retry_after` when a refill is coming, and the most
    /// restrictive rate limit for the headers.
    QuotaExhausted {
        retry_after: Option<u64>,
        ratelimit: Option<LimitState>,
    },
}

impl Refusal {
    /// Whether the presented credential itself was invalid: what the throttle counts. A valid
    /// secret of a revoked key, or an expired token, is not a guess.
    pub fn is_guess(&self) -> bool {
        matches!(
            self,
            Refusal::Malformed
                | Refusal::BadSecret
                | Refusal::BadClient
                | Refusal::BadToken
                | Refusal::BadAssertion(_)
        )
    }

    /// The usage-metering reason (`totals.denied_by_reason`), counted against the key the
    /// credential named.
    pub fn deny_reason(&self) -> Option<DenyReason> {
        match self {
            Refusal::Missing | Refusal::Throttled(_) | Refusal::KeysUnavailable => None,
            Refusal::Malformed
            | Refusal::BadSecret
            | Refusal::BadClient
            | Refusal::BadToken
            | Refusal::BadAssertion(_)
            | Refusal::AssertionRefused(_) => Some(DenyReason::BadSecret),
            Refusal::TokenRevoked | Refusal::TokenSuperseded | Refusal::KeyRevoked => {
                Some(DenyReason::Revoked)
            }
            Refusal::TokenExpired | Refusal::KeyExpired => Some(DenyReason::Expired),
            Refusal::IpNotAllowed => Some(DenyReason::IpNotAllowed),
            Refusal::ScopeNotAllowed(_) => Some(DenyReason::ScopeNotAllowed),
            Refusal::RateLimited(_) => Some(DenyReason::RateLimited),
            Refusal::QuotaExhausted { .. } => Some(DenyReason::QuotaExhausted),
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`), when it is known.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Refusal::Throttled(wait) => Some(*wait),
            Refusal::RateLimited(state) => Some(u64::from(state.reset_seconds)),
            Refusal::QuotaExhausted { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The rate limit the answer's `RateLimit` headers describe, for a refusal by a limit.
    pub fn ratelimit(&self) -> Option<&LimitState> {
        match self {
            Refusal::RateLimited(state) => Some(state),
            Refusal::QuotaExhausted { ratelimit, .. } => ratelimit.as_ref(),
            _ => None,
        }
    }

    /// One sentence for the client.
    pub fn describe(&self) -> String {
        match self {
            Refusal::Missing => {
                "send `Authorization: Bearer <API key secret or access token>`".into()
            }
            Refusal::Malformed | Refusal::BadSecret => "the API key secret is not valid".into(),
            Refusal::BadClient => "client authentication failed".into(),
            Refusal::BadToken => "the access token is not valid".into(),
            Refusal::BadAssertion(why) | Refusal::AssertionRefused(why) => why.clone(),
            Refusal::KeysUnavailable => {
                "the keys to verify the client assertion with cannot be fetched now; retry shortly (the server's log says why)".into()
            }
            Refusal::Throttled(wait) => {
                format!("too many failed authentications; retry after {wait} s")
            }
            Refusal::TokenExpired => "the access token has expired".into(),
            Refusal::TokenRevoked => "the access token has been revoked".into(),
            Refusal::TokenSuperseded => {
                "the access token was issued with a secret that has been rolled".into()
            }
            Refusal::KeyRevoked => "the API key has been revoked".into(),
            Refusal::KeyExpired => "the API key has expired".into(),
            Refusal::IpNotAllowed => "the API key may not be used from this IP address".into(),
            Refusal::ScopeNotAllowed(detail) => detail.clone(),
            Refusal::RateLimited(state) => format!(
                "rate limit `{}` of this key ({} per {} s) is used up; retry after {} s",
                state.name, state.limit, state.window_seconds, state.reset_seconds
            ),
            Refusal::QuotaExhausted {
                retry_after: Some(wait),
                ..
            } => format!("the quota of this key has no credit left; it refills in {wait} s"),
            Refusal::QuotaExhausted { .. } => "the quota of this key has no credit left".into(),
        }
    }

    /// RFC 6749 §5.2 (and §4.4's `invalid_scope`) at the OAuth endpoints.
    pub fn oauth_error(&self) -> OAuthError {
        let code = match self {
            Refusal::Throttled(_) => OAuthErrorCode::TooManyRequests,
            Refusal::KeysUnavailable => OAuthErrorCode::TemporarilyUnavailable,
            Refusal::ScopeNotAllowed(_) => OAuthErrorCode::InvalidScope,
            Refusal::RateLimited(_) => OAuthErrorCode::RateLimited,
            Refusal::QuotaExhausted { .. } => OAuthErrorCode::QuotaExhausted,
            _ => OAuthErrorCode::InvalidClient,
        };
        OAuthError::new(code, self.describe())
    }

    /// The `reason` of a `/v1/check` denial.
    pub fn check_reason(&self) -> CheckReason {
        match self {
            Refusal::Missing
            | Refusal::Malformed
            | Refusal::BadSecret
            | Refusal::BadClient
            | Refusal::BadToken
            | Refusal::BadAssertion(_)
            | Refusal::AssertionRefused(_)
            | Refusal::KeysUnavailable
            | Refusal::Throttled(_) => CheckReason::InvalidToken,
            Refusal::TokenExpired | Refusal::KeyExpired => CheckReason::Expired,
            Refusal::TokenRevoked | Refusal::TokenSuperseded | Refusal::KeyRevoked => {
                CheckReason::Revoked
            }
            Refusal::IpNotAllowed => CheckReason::IpNotAllowed,
            Refusal::ScopeNotAllowed(_) => CheckReason::ScopeNotAllowed,
            Refusal::RateLimited(_) => CheckReason::RateLimited,
            Refusal::QuotaExhausted { .. } => CheckReason::QuotaExhausted,
        }
    }

    /// The label of `latchkey_token_denials_total{reason}`: the metering reason, or `throttled`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Refusal::Throttled(_) => "throttled",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::Missing => "invalid_request",
            other => other
                .deny_reason()
                .map_or("bad_secret", |reason| reason.as_str()),
        }
    }
}

/// The `reason` of a `/v1/check` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckReason {
    Allowed,
    InvalidToken,
    Revoked,
    Expired,
    IpNotAllowed,
    ScopeNotAllowed,
    RateLimited,
    QuotaExhausted,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> [Refusal; 13] {
        [
            Refusal::Missing,
            Refusal::Malformed,
            Refusal::BadSecret,
            Refusal::BadClient,
            Refusal::BadToken,
            Refusal::Throttled(3),
            Refusal::TokenExpired,
            Refusal::TokenRevoked,
            Refusal::TokenSuperseded,
            Refusal::KeyRevoked,
            Refusal::KeyExpired,
            Refusal::IpNotAllowed,
            Refusal::ScopeNotAllowed(String::new()),
        ]
    }

    #[test]
    fn only_invalid_credentials_count_as_guesses() {
        let all = all();
        let guesses: Vec<_> = all.iter().filter(|r| r.is_guess()).collect();
        assert_eq!(
            guesses,
            [
                &Refusal::Malformed,
                &Refusal::BadSecret,
                &Refusal::BadClient,
                &Refusal::BadToken
            ]
        );
    }

    #[test]
    fn a_guess_is_never_told_why_beyond_failure() {
        for r in all().iter().filter(|r| r.is_guess()) {
            assert!(!r.describe().contains("revoked") && !r.describe().contains("expired"));
        }
        assert_eq!(
            Refusal::Malformed.describe(),
            Refusal::BadSecret.describe(),
            "a malformed and an unknown secret are told apart by nobody"
        );
        assert_eq!(
            Refusal::BadClient.describe(),
            "client authentication failed"
        );
    }

    #[test]
    fn oauth_codes_and_check_reasons() {
        assert_eq!(
            Refusal::KeyRevoked.oauth_error().code,
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(
            Refusal::Throttled(1).oauth_error().code,
            OAuthErrorCode::TooManyRequests
        );
        assert_eq!(
            Refusal::ScopeNotAllowed("x".into()).oauth_error(),
            OAuthError::new(OAuthErrorCode::InvalidScope, "x")
        );
        assert_eq!(
            Refusal::TokenSuperseded.check_reason(),
            CheckReason::Revoked
        );
        assert_eq!(Refusal::BadToken.check_reason(), CheckReason::InvalidToken);
        assert_eq!(
            serde_json::to_value(CheckReason::IpNotAllowed).ok(),
            Some(serde_json::json!("ip_not_allowed"))
        );
    }
}
