//! RFC 6750 for the middleware, framework-neutral: reading `Authorization: Bearer`, and the
//! refusal each error becomes (status, `WWW-Authenticate` challenge, a small JSON body).

use crate::authorize::AuthzError;
use crate::error::VerifyError;

/// A refused request, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// §3.1: no credentials at all: `401` with a bare `Bearer` challenge, no error code.
    Missing,
    /// `401 invalid_token`.
    InvalidToken(String),
    /// `403 insufficient_scope` with the needed scope.
    InsufficientScope(String),
    /// `403`: Latchkey's online check refused for another reason than the token.
    Forbidden(String),
    /// `429`: Latchkey's online check says the key is over a rate limit or its quota.
    TooManyRequests(String),
    /// `503`: no key set (or online answer) to decide with.
    Unavailable,
    /// `500`: a route requires a scope but no verify layer ran before it.
    Misconfigured,
}

impl Refusal {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Refusal::Missing | Refusal::InvalidToken(_) => 401,
            Refusal::InsufficientScope(_) | Refusal::Forbidden(_) => 403,
            Refusal::TooManyRequests(_) => 429,
            Refusal::Unavailable => 503,
            Refusal::Misconfigured => 500,
        }
    }

    /// The `WWW-Authenticate` value (RFC 6750 §3), when the refusal is about the token.
    pub(crate) fn challenge(&self) -> Option<String> {
        match self {
            Refusal::Missing => Some("Bearer".to_owned()),
            Refusal::InvalidToken(why) => Some(format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\"",
                quotable(why)
            )),
            Refusal::InsufficientScope(scope) => Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the token lacks scope {s}\", scope=\"{s}\"",
                s = quotable(scope)
            )),
            Refusal::Forbidden(reason) => Some(format!(
                "Bearer error=\"insufficient_scope\", error_description=\"{}\"",
                quotable(reason)
            )),
            _ => None,
        }
    }

    /// A JSON body in RFC 6749 §5.2's shape, which clients of OAuth servers already read.
    pub(crate) fn body(&self) -> String {
        let (error, description) = match self {
            Refusal::Missing => (
                "invalid_request",
                "a Bearer access token is required".to_owned(),
            ),
            Refusal::InvalidToken(why) => ("invalid_token", why.clone()),
            Refusal::InsufficientScope(scope) => (
                "insufficient_scope",
                format!("the token lacks scope {scope}"),
            ),
            Refusal::Forbidden(reason) => ("access_denied", reason.clone()),
            Refusal::TooManyRequests(reason) => ("too_many_requests", reason.clone()),
            Refusal::Unavailable => (
                "temporarily_unavailable",
                "the token cannot be verified now".to_owned(),
            ),
            Refusal::Misconfigured => ("server_error", "authentication is not set up".to_owned()),
        };
        serde_json::json!({"error": error, "error_description": description}).to_string()
    }
}

impl From<VerifyError> for Refusal {
    fn from(e: VerifyError) -> Self {
        if e.is_token_error() {
            Refusal::InvalidToken(e.to_string())
        } else {
            // The cause is for the logs, not for the caller.
            tracing::error!(error = %e, "cannot verify tokens");
            Refusal::Unavailable
        }
    }
}

impl From<AuthzError> for Refusal {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Token(e) => e.into(),
            AuthzError::InsufficientScope { scope } => Refusal::InsufficientScope(scope),
            AuthzError::Forbidden { reason }
                if reason == "rate_limited" || reason == "quota_exhausted" =>
            {
                Refusal::TooManyRequests(reason)
            }
            AuthzError::Forbidden { reason } => Refusal::Forbidden(reason),
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1; the scheme is
/// case-insensitive). No header, or another scheme: `Missing`.
pub(crate) fn token(authorization: Option<&[u8]>) -> Result<&str, Refusal> {
    let value = authorization
        .and_then(|v| std::str::from_utf8(v).ok())
        .ok_or(Refusal::Missing)?;
    let (scheme, token) = value.split_once(' ').ok_or(Refusal::Missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Missing);
    }
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(Refusal::InvalidToken("malformed Bearer credentials".into()));
    }
    Ok(token)
}

/// RFC 6750 §3: `error_description` and `scope` are quoted strings without `"` or `\`.
fn quotable(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_others_count_as_missing() {
        assert_eq!(token(Some(b"Bearer abc")), Ok("abc"));
        assert_eq!(token(Some(b"bearer abc")), Ok("abc"));
        assert_eq!(token(Some(b"Basic abc")), Err(Refusal::Missing));
        assert_eq!(token(None), Err(Refusal::Missing));
        assert!(matches!(
            token(Some(b"Bearer a b")),
            Err(Refusal::InvalidToken(_))
        ));
    }

    #[test]
    fn challenges_are_rfc_6750s() {
        assert_eq!(Refusal::Missing.challenge().unwrap(), "Bearer");
        assert_eq!(
            Refusal::InsufficientScope("read:projects/42".into())
                .challenge()
                .unwrap(),
            "Bearer error=\"insufficient_scope\", error_description=\"the token lacks scope read:projects/42\", scope=\"read:projects/42\""
        );
        assert_eq!(
            Refusal::InvalidToken("bad \"x\"".into())
                .challenge()
                .unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"bad 'x'\""
        );
        assert_eq!(Refusal::Unavailable.challenge(), None);
    }
}
