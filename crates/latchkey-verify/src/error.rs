//! Why a token was refused, and why keys could not be had: typed, so that middleware maps each
//! to its RFC 6750 answer in one place ([`VerifyError::is_token_error`]).

use std::sync::Arc;

/// Why [`Verifier::verify`](crate::Verifier::verify) refused a token, or could not decide.
///
/// Every variant but [`VerifyError::Unavailable`] is the token's fault (RFC 6750 §3.1
/// `invalid_token`, a `401`); that one is the verifier's (a `503`: the API cannot decide).
///
/// ```
/// use latchkey_verify::VerifyError;
///
/// assert!(VerifyError::Expired.is_token_error());
/// assert_eq!(VerifyError::Expired.to_string(), "the token has expired");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a compact JWS, or its header or claims are not JSON of the expected shape.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// RFC 9068 §4: the `typ` header is not `at+jwt`, so this is not an access token (an ID
    /// token or a client assertion signed by the same keys must not pass).
    #[error("the token is not an access token (typ is not at+jwt)")]
    NotAnAccessToken,
    /// The header names no `kid`, or one the JWKS lacks even after fetching it again.
    #[error("the token's signing key is unknown")]
    UnknownKey,
    /// The header's `alg` differs from the algorithm of the key its `kid` names: the key
    /// decides, never the token (`none` and HMAC are never accepted).
    #[error("the token's algorithm does not match its key")]
    WrongAlgorithm,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the token is not valid yet")]
    NotYetValid,
    /// `iss` is not the configured issuer.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// `aud` names none of the expected audiences.
    #[error("the token is for another audience")]
    WrongAudience,
    /// A required claim is missing or malformed (an unparsable `scope` included).
    #[error("the token's claims are invalid: {0}")]
    BadClaims(String),
    /// The online check (`/v1/check`) said no, with this reason (`revoked`, `expired`, …).
    #[error("the token was refused by Latchkey: {0}")]
    Refused(String),
    /// No key set to verify with: the JWKS (or discovery) could not be fetched and no cached
    /// set is usable (never fetched, or stale past the stale-if-error bound). Also the online
    /// check failing with [`FailMode::Closed`](crate::FailMode::Closed).
    #[error("the signing keys are unavailable: {0}")]
    Unavailable(Arc<FetchError>),
}

impl VerifyError {
    /// `true` when the token is at fault (answer `401 invalid_token`), `false` when the
    /// verifier could not decide (answer `503`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use latchkey_verify::{FetchError, VerifyError};
    ///
    /// let down = VerifyError::Unavailable(Arc::new(FetchError::Status(502)));
    /// assert!(!down.is_token_error());
    /// ```
    pub fn is_token_error(&self) -> bool {
        !matches!(self, VerifyError::Unavailable(_))
    }
}

/// Why a fetch (discovery, the JWKS, or the online check) gave nothing usable.
///
/// ```
/// use latchkey_verify::FetchError;
///
/// assert_eq!(FetchError::Status(503).to_string(), "answered HTTP 503");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No answer: resolution, connection, TLS or timeout.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// An answer other than `200`.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// A body larger than the limit (1 MiB).
    #[error("answered more than {0} bytes")]
    TooLarge(usize),
    /// A body that is not the expected JSON document.
    #[error("answered an invalid document: {0}")]
    Invalid(String),
    /// RFC 8414 §3.3: the metadata's `issuer` differs from the configured one.
    #[error("discovery names issuer {found:?}, not {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// What the metadata says.
        found: String,
    },
    /// No fetch has been tried yet, or the last one is too recent to repeat.
    #[error("no key set fetched yet")]
    NotFetched,
}

/// A [`VerifierBuilder`](crate::VerifierBuilder) setting that cannot work.
///
/// ```
/// use latchkey_verify::Verifier;
///
/// let err = Verifier::builder("not a url").build().unwrap_err();
/// assert!(err.to_string().contains("issuer"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The issuer is not an absolute http(s) URL.
    #[error("the issuer {0:?} is not an absolute http(s) URL")]
    Issuer(String),
    /// The JWKS URL is not an absolute http(s) URL.
    #[error("the JWKS URL {0:?} is not an absolute http(s) URL")]
    JwksUrl(String),
    /// A static JWKS that is not a key set, or holds no usable key.
    #[error("the static JWKS is unusable: {0}")]
    StaticJwks(String),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}
