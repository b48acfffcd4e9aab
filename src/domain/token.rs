//! Access-token claims (RFC 9068 §2.2) and the lifetime rule.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::audience::Audience;

/// RFC 9068 §2.1: the `typ` header of a JWT access token.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of an access token. For client credentials `sub` is the client (the key id).
/// Verified tokens decode into owned strings; the token endpoint signs `AccessClaims<&str>`,
/// borrowing its settings and the key instead of copying them for every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims<S = String> {
    pub iss: S,
    pub sub: S,
    pub client_id: S,
    pub org_id: S,
    /// One audience as a string, several (RFC 8707 resources) as an array.
    pub aud: Audience<S>,
    pub iat: i64,
    pub exp: i64,
    pub jti: S,
    pub scope: S,
}

/// Builds a `jti`: random characters, then `.` and the generation of the secret that obtained
/// the token. The generation lets a token die with that secret (`Principal::token_is_live`);
/// the jti stays opaque to everyone else (RFC 7519 §4.1.7 only asks it to be unique).
pub fn jti(random: &str, generation: u32) -> String {
    format!("{random}.{generation}")
}

/// The secret generation a `jti` carries; tokens minted before generations existed (no suffix)
/// are of generation 0, which every key had then.
pub fn jti_generation(jti: &str) -> Option<u32> {
    match jti.rsplit_once('.') {
        Some((_, generation)) => generation.parse().ok(),
        None => Some(0),
    }
}

/// `exp` = min(now + TTL, `limit`): a token never outlives the key that obtained it, nor the
/// secret (a rolled-away one in its grace period) that did.
pub fn expiry(now: DateTime<Utc>, ttl_secs: u64, limit: Option<DateTime<Utc>>) -> i64 {
    let by_ttl = now
        .timestamp()
        .saturating_add(i64::try_from(ttl_secs).unwrap_or(i64::MAX));
    match limit {
        // Floor to whole seconds: rounding up would let the token live past the key.
        Some(k) => by_ttl.min(k.timestamp()),
        None => by_ttl,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn tokens_never_outlive_their_key() {
        let now = t("2026-01-01T00:00:00Z");
        assert_eq!(expiry(now, 600, None), now.timestamp() + 600);
        assert_eq!(
            expiry(now, 600, Some(t("2026-01-01T00:00:02.900Z"))),
            now.timestamp() + 2
        );
        assert_eq!(
            expiry(now, 600, Some(t("2027-01-01T00:00:00Z"))),
            now.timestamp() + 600
        );
        assert_eq!(expiry(now, u64::MAX, None), i64::MAX);
    }

    #[test]
    fn a_jti_carries_its_secret_generation() {
        assert_eq!(jti_generation(&jti("abc", 7)), Some(7));
        assert_eq!(jti_generation("legacyjti"), Some(0));
        assert_eq!(jti_generation("abc.x"), None);
        assert_eq!(jti_generation(&jti("a.b", u32::MAX)), Some(u32::MAX));
    }
}
