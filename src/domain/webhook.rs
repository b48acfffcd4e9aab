//! Lifecycle webhooks, the pure rules (issue 19): the event types, the Standard Webhooks
//! signing scheme (<https://www.standardwebhooks.com>, version 1.0.0) and the retry schedule.
//! No I/O: the outbox, the delivery and its SSRF rules live elsewhere.
//!
//! Standard Webhooks, as receivers' libraries (`standardwebhooks` on PyPI and npm) check it:
//! - the secret is `whsec_` + base64 of 24–64 random bytes; the HMAC key is those bytes;
//! - a delivery carries `webhook-id` (the same on every retry: receivers deduplicate by it),
//!   `webhook-timestamp` (Unix seconds, of this attempt) and `webhook-signature`:
//!   `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), several space-separated
//!   while a secret is being rotated.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;

/// Prefix of a webhook signing secret (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes of a new secret (the spec asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// An event a webhook may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    KeyCreated,
    KeyUpdated,
    KeyRolled,
    KeyRevoked,
    /// Before `expires_at`, at each configured threshold (30, 7 and 1 days by default).
    KeyExpiring,
    KeyExpired,
    /// A secret of the key was reported leaked (and the key revoked or flagged).
    KeyLeaked,
    SigningKeyRotated,
    /// A key's quota fell to its warning threshold.
    QuotaLow,
    QuotaExhausted,
    /// Sent by `POST /v1/webhooks/{id}/test` only; never subscribed to.
    Test,
}

impl EventType {
    /// Every type a webhook may subscribe to (not [`EventType::Test`]).
    pub const SUBSCRIBABLE: [EventType; 10] = [
        EventType::KeyCreated,
        EventType::KeyUpdated,
        EventType::KeyRolled,
        EventType::KeyRevoked,
        EventType::KeyExpiring,
        EventType::KeyExpired,
        EventType::KeyLeaked,
        EventType::SigningKeyRotated,
        EventType::QuotaLow,
        EventType::QuotaExhausted,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::KeyCreated => "key.created",
            EventType::KeyUpdated => "key.updated",
            EventType::KeyRolled => "key.rolled",
            EventType::KeyRevoked => "key.revoked",
            EventType::KeyExpiring => "key.expiring",
            EventType::KeyExpired => "key.expired",
            EventType::KeyLeaked => "key.leaked",
            EventType::SigningKeyRotated => "signing_key.rotated",
            EventType::QuotaLow => "quota.low",
            EventType::QuotaExhausted => "quota.exhausted",
            EventType::Test => "webhook.test",
        }
    }

    /// A subscribable type by its name.
    pub fn parse(name: &str) -> Option<EventType> {
        Self::SUBSCRIBABLE.into_iter().find(|t| t.as_str() == name)
    }
}

/// A webhook's signing secret. `Debug` shows only its prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

impl SigningSecret {
    /// A new secret from the thread-local CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill(&mut bytes[..]);
        SigningSecret(bytes)
    }

    /// `whsec_…` as given to the webhook's owner (once) and stored sealed.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
        (24..=64)
            .contains(&bytes.len())
            .then_some(SigningSecret(bytes))
    }

    /// The secret's text, `whsec_` + base64.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `webhook-signature` of `body`, delivered as message `id` at `timestamp`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            // HMAC takes keys of any length: unreachable, and never an unsigned delivery.
            unreachable!("HMAC-SHA256 accepts every key length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// When a failed delivery is tried again: exponential backoff with full jitter, capped, for
/// up to `give_up_after` since the first attempt; then the delivery has failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay after the first failure, before jitter.
    pub first: Duration,
    /// The longest delay between two attempts.
    pub cap: Duration,
    /// Attempts stop once the next would start this long after the first one.
    pub give_up_after: Duration,
}

impl Default for RetrySchedule {
    /// 5 s, doubling up to an hour between attempts, for 24 hours.
    fn default() -> Self {
        RetrySchedule {
            first: Duration::from_secs(5),
            cap: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetrySchedule {
    /// The wait before attempt `failures + 1`, after `failures` (≥ 1) failed attempts, the
    /// first of which began `elapsed` ago; `None` when it is time to give up. `jitter` in
    /// [0, 1) spreads the wait over its upper half, so a receiver that comes back is not hit by
    /// every delivery at once.
    pub fn next(&self, failures: u32, elapsed: Duration, jitter: f64) -> Option<Duration> {
        let doubling = 2u32.saturating_pow(failures.saturating_sub(1));
        let ceiling = self.first.saturating_mul(doubling).min(self.cap);
        let jitter = jitter.clamp(0.0, 1.0);
        let wait = ceiling.mul_f64(0.5 + jitter / 2.0);
        (elapsed.saturating_add(wait) <= self.give_up_after).then_some(wait)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        // The reference libraries' own test vector (standard-webhooks, libraries/*/tests).
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_hide_in_debug() {
        let s = SigningSecret::generate();
        let text = s.expose();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningSecret::parse(&text), Some(s.clone()));
        assert_eq!(format!("{s:?}"), "SigningSecret(whsec_…)");
        assert_eq!(SigningSecret::parse("whsec_c2hvcnQ="), None, "too short");
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            None
        );
    }

    #[test]
    fn event_types_parse_by_name_and_test_is_not_subscribable() {
        for t in EventType::SUBSCRIBABLE {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("webhook.test"), None);
        assert_eq!(EventType::parse("key.*"), None);
    }

    #[test]
    fn retries_double_with_jitter_up_to_the_cap_then_give_up() {
        let s = RetrySchedule::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(
            s.next(1, Duration::ZERO, 0.0),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            s.next(1, Duration::ZERO, 0.999_999).map(|d| d.as_secs()),
            Some(4)
        );
        assert_eq!(
            s.next(3, Duration::ZERO, 1.0),
            Some(Duration::from_secs(20))
        );
        assert_eq!(s.next(30, Duration::ZERO, 1.0), Some(hour), "capped");
        assert_eq!(s.next(30, Duration::from_secs(23 * 3600), 1.0), Some(hour));
        assert_eq!(s.next(30, Duration::from_secs(23 * 3600 + 1), 1.0), None);
        // The attempts of a day that never succeeds: the waits grow, then stay at the cap.
        let (mut elapsed, mut failures, mut waits) = (Duration::ZERO, 1, Vec::new());
        while let Some(wait) = s.next(failures, elapsed, 0.5) {
            waits.push(wait);
            elapsed += wait;
            failures += 1;
        }
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert!(elapsed <= s.give_up_after);
        assert!((25..=45).contains(&waits.len()), "{} attempts", waits.len());
    }
}
