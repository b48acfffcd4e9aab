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
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngExt;
use serde::Deserialize;
use sha2::Sha256;
use utoipa::ToSchema;

use super::FieldError;

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

/// Longest webhook URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 1024;
/// Most webhooks an org may have: every event is written once per endpoint, in the change's
/// transaction.
pub const MAX_WEBHOOKS_PER_ORG: i64 = 20;
/// An endpoint whose deliveries have all failed for this long is disabled.
pub const DISABLE_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(5);

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookCreate)]
pub struct WebhookDraft {
    /// Where events are POSTed: an https URL of a public address.
    #[schema(
        example = "https://hooks.example.com/latchkey",
        max_length = 2048,
        pattern = "^https://([A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
    )]
    pub url: String,
    /// The event types to receive, e.g. `["key.revoked", "key.expiring"]`.
    #[schema(value_type = Vec<EventName>, min_items = 1, max_items = 10, example = json!(["key.created", "key.revoked"]))]
    pub events: Vec<String>,
    /// Free text for people, up to 1024 characters, no control characters but tab and newline.
    #[serde(default)]
    #[schema(
        max_length = 1024,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
}

/// The body of `PATCH /v1/webhooks/{id}`: what is absent stays.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookUpdate)]
pub struct WebhookPatch {
    #[schema(
        max_length = 2048,
        pattern = "^https://([A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*(:[0-9]{1,4})?([/?]([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
    )]
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<EventName>>, min_items = 1, max_items = 10)]
    pub events: Option<Vec<String>>,
    #[schema(
        max_length = 1024,
        pattern = "^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$"
    )]
    pub description: Option<String>,
    /// `true` turns a disabled endpoint back on (its failure streak forgotten); `false`
    /// disables it (events made meanwhile are not kept for it).
    pub enabled: Option<bool>,
}

/// A validated create or patch; the URL's reachability rules are the outbound client's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidWebhook {
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

impl WebhookDraft {
    pub fn validate(&self) -> Result<ValidWebhook, Vec<FieldError>> {
        let mut errors = Vec::new();
        let valid = ValidWebhook {
            url: check_url_text(&self.url, &mut errors),
            events: check_events(&self.events, &mut errors),
            description: Some(check_description(
                self.description.as_deref().unwrap_or(""),
                &mut errors,
            )),
            enabled: None,
        };
        if errors.is_empty() {
            Ok(valid)
        } else {
            Err(errors)
        }
    }
}

impl WebhookPatch {
    pub fn validate(&self) -> Result<ValidWebhook, Vec<FieldError>> {
        let mut errors = Vec::new();
        let valid = ValidWebhook {
            url: self
                .url
                .as_deref()
                .and_then(|u| check_url_text(u, &mut errors)),
            events: self
                .events
                .as_deref()
                .and_then(|e| check_events(e, &mut errors)),
            description: self
                .description
                .as_deref()
                .map(|d| check_description(d, &mut errors)),
            enabled: self.enabled,
        };
        if errors.is_empty() {
            Ok(valid)
        } else {
            Err(errors)
        }
    }
}

fn check_url_text(url: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if url.len() > MAX_URL_LEN {
        errors.push(FieldError::new(
            "url",
            format!("must be at most {MAX_URL_LEN} characters"),
        ));
        return None;
    }
    if !uri_text(url) {
        errors.push(FieldError::new(
            "url",
            "must be a URI: only the characters RFC 3986 allows, others percent-encoded as %XX",
        ));
        return None;
    }
    Some(url.to_owned())
}

fn check_events(names: &[String], errors: &mut Vec<FieldError>) -> Option<Vec<EventType>> {
    if names.len() > EventType::SUBSCRIBABLE.len() {
        errors.push(FieldError::new(
            "events",
            format!(
                "may list at most {} event types",
                EventType::SUBSCRIBABLE.len()
            ),
        ));
        return None;
    }
    if names.is_empty() {
        errors.push(FieldError::new(
            "events",
            "must name at least one event type",
        ));
        return None;
    }
    let before = errors.len();
    let mut types = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match EventType::parse(name) {
            // A subscription is a set: a type named twice is subscribed to once.
            Some(t) if types.contains(&t) => {}
            Some(t) => types.push(t),
            None => errors.push(FieldError::new(
                format!("events[{i}]"),
                format!("{name:?} is not one of {}", subscribable_names()),
            )),
        }
    }
    (!types.is_empty() && errors.len() == before).then_some(types)
}

/// Only the characters RFC 3986 allows in a URI, `%` only as `%XX`: what the documented pattern
/// says (the URL parser would quietly encode the rest).
fn uri_text(url: &str) -> bool {
    let bytes = url.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                if i + 2 >= bytes.len()
                    || !bytes[i + 1].is_ascii_hexdigit()
                    || !bytes[i + 2].is_ascii_hexdigit()
                {
                    return false;
                }
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The documented names of the subscribable event types (the schema of `events` items).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the names; parsed by EventType::parse")]
enum EventName {
    #[schema(rename = "key.created")]
    KeyCreated,
    #[schema(rename = "key.updated")]
    KeyUpdated,
    #[schema(rename = "key.rolled")]
    KeyRolled,
    #[schema(rename = "key.revoked")]
    KeyRevoked,
    #[schema(rename = "key.expiring")]
    KeyExpiring,
    #[schema(rename = "key.expired")]
    KeyExpired,
    #[schema(rename = "key.leaked")]
    KeyLeaked,
    #[schema(rename = "signing_key.rotated")]
    SigningKeyRotated,
    #[schema(rename = "quota.low")]
    QuotaLow,
    #[schema(rename = "quota.exhausted")]
    QuotaExhausted,
}

/// The subscribable event types, comma-separated (error messages, CLI help).
pub fn subscribable_names() -> String {
    EventType::SUBSCRIBABLE
        .iter()
        .map(EventType::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_description(text: &str, errors: &mut Vec<FieldError>) -> String {
    if text.chars().count() > MAX_DESCRIPTION_LEN {
        errors.push(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        ));
    } else if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        errors.push(FieldError::new(
            "description",
            "must not contain control characters",
        ));
    }
    text.to_owned()
}

/// The body of every delivery, the same on each attempt: `{type, timestamp, data}` (the
/// Standard Webhooks payload structure). `timestamp` is when the event happened.
pub fn payload(kind: EventType, at: DateTime<Utc>, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": kind.as_str(),
        "timestamp": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// When keys are warned of their expiry: before `expires_at` by each threshold (30, 7 and 1
/// days by default, `--expiry-warnings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryWarnings(Vec<Duration>);

impl Default for ExpiryWarnings {
    fn default() -> Self {
        ExpiryWarnings::new([30, 7, 1].map(|d| Duration::from_secs(d * 86_400)).to_vec())
    }
}

impl ExpiryWarnings {
    /// The thresholds, longest first, without duplicates or zero (expiry itself is its own
    /// event, `key.expired`).
    pub fn new(mut thresholds: Vec<Duration>) -> Self {
        thresholds.retain(|t| !t.is_zero());
        thresholds.sort_unstable_by(|a, b| b.cmp(a));
        thresholds.dedup();
        ExpiryWarnings(thresholds)
    }

    pub fn thresholds(&self) -> &[Duration] {
        &self.0
    }

    /// The longest threshold: keys expiring further away need no look yet.
    pub fn horizon(&self) -> Duration {
        self.0.first().copied().unwrap_or_default()
    }

    /// What is due for a key expiring at `expires_at`, at `now`, given the thresholds already
    /// produced for this expiry (`done`): the thresholds crossed and not yet produced, and the
    /// one warning to send for them, the nearest (a key created 5 days before its expiry gets
    /// the 7-day warning, not the 30-day one too). `Duration::ZERO` stands for expiry itself.
    pub fn due(
        &self,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        done: &[Duration],
    ) -> Option<Due> {
        let left = (expires_at - now).to_std().unwrap_or(Duration::ZERO);
        let expired = expires_at <= now;
        let crossed: Vec<Duration> = self
            .0
            .iter()
            .copied()
            .filter(|t| left <= *t)
            .chain(expired.then_some(Duration::ZERO))
            .filter(|t| !done.contains(t))
            .collect();
        let nearest = *crossed.last()?;
        // Once a nearer threshold was produced, a farther one is history, not news.
        if done.iter().any(|d| *d < nearest) {
            return None;
        }
        Some(Due { crossed, nearest })
    }
}

/// A key's expiry warning due now (`ExpiryWarnings::due`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Every threshold passed and not yet produced: all are recorded as produced.
    pub crossed: Vec<Duration>,
    /// The one event sent: `key.expiring` for this threshold, or `key.expired` for zero.
    pub nearest: Duration,
}

/// `30d,7d,1d`-style thresholds: each a whole number of days (`d`), hours (`h`), minutes
/// (`m`) or seconds (`s`), at most 365 days; an empty list turns warnings off.
pub fn parse_expiry_warnings(text: &str) -> Result<ExpiryWarnings, String> {
    let mut thresholds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (digits, unit) = part.split_at(part.len().saturating_sub(1));
        let scale = match unit {
            "d" => 86_400,
            "h" => 3600,
            "m" => 60,
            "s" => 1,
            _ => {
                return Err(format!(
                    "{part:?}: expected a number followed by d, h, m or s"
                ));
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{part:?}: expected a number followed by d, h, m or s"))?;
        let secs = n.saturating_mul(scale);
        if secs == 0 || secs > 365 * 86_400 {
            return Err(format!(
                "{part:?}: must be more than 0 and at most 365 days"
            ));
        }
        thresholds.push(Duration::from_secs(secs));
    }
    Ok(ExpiryWarnings::new(thresholds))
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

    fn at(days: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
            + chrono::TimeDelta::milliseconds((days * 86_400_000.0) as i64)
    }

    fn days(d: &[u64]) -> Vec<Duration> {
        d.iter().map(|d| Duration::from_secs(d * 86_400)).collect()
    }

    #[test]
    fn expiry_warnings_fire_each_threshold_once_nearest_first() {
        let w = ExpiryWarnings::default();
        let expiry = at(40.0);
        assert_eq!(w.due(expiry, at(0.0), &[]), None, "40 days left");
        let due = w.due(expiry, at(10.5), &[]).unwrap();
        assert_eq!((due.crossed, due.nearest), (days(&[30]), days(&[30])[0]));
        assert_eq!(w.due(expiry, at(11.0), &days(&[30])), None, "once");
        let due = w.due(expiry, at(39.5), &days(&[30])).unwrap();
        assert_eq!(due.crossed, days(&[7, 1]), "a node away for weeks");
        assert_eq!(due.nearest, days(&[1])[0], "sends only the nearest");
        let due = w.due(expiry, at(40.0), &days(&[30, 7, 1])).unwrap();
        assert_eq!(due.nearest, Duration::ZERO, "expired");
        assert_eq!(w.due(expiry, at(41.0), &days(&[30, 7, 1, 0])), None);
        // A key created five days before its expiry: the 7-day warning, not the 30-day one.
        let due = w.due(at(5.0), at(0.0), &[]).unwrap();
        assert_eq!((due.crossed, due.nearest), (days(&[30, 7]), days(&[7])[0]));
        // Produced out of order by a racing node: nothing older is sent after.
        assert_eq!(w.due(expiry, at(39.5), &days(&[1])), None);
    }

    #[test]
    fn expiry_warnings_parse() {
        assert_eq!(
            parse_expiry_warnings("30d, 7d,1d").unwrap(),
            ExpiryWarnings::default()
        );
        assert_eq!(
            parse_expiry_warnings("1d,12h,90m,30s")
                .unwrap()
                .thresholds(),
            &[86_400, 43_200, 5_400, 30].map(Duration::from_secs)
        );
        assert!(parse_expiry_warnings("").unwrap().thresholds().is_empty());
        for bad in ["7", "0d", "400d", "-1d", "1w", "d"] {
            assert!(parse_expiry_warnings(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_bodies_are_validated_field_by_field() {
        let draft = WebhookDraft {
            url: "https://hooks.example.com/x\u{0}".into(),
            events: vec![
                "key.created".into(),
                "key.exploded".into(),
                "key.created".into(),
            ],
            description: Some("x".repeat(MAX_DESCRIPTION_LEN + 1)),
        };
        let fields: Vec<String> = draft
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["url", "events[1]", "description"]);
        let ok = WebhookDraft {
            url: "https://hooks.example.com/x".into(),
            events: vec!["key.revoked".into()],
            description: None,
        }
        .validate()
        .unwrap();
        assert_eq!(ok.events, Some(vec![EventType::KeyRevoked]));
        assert_eq!(ok.description.as_deref(), Some(""));
        let empty = WebhookPatch {
            events: Some(vec![]),
            ..Default::default()
        };
        assert_eq!(empty.validate().unwrap_err()[0].field, "events");
    }

    #[test]
    fn payloads_carry_type_timestamp_and_data() {
        let body = payload(
            EventType::KeyRevoked,
            at(0.0),
            serde_json::json!({"key": {"id": "key_x"}}),
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["type"], "key.revoked");
        assert_eq!(v["timestamp"], "2027-01-15T08:00:00.000Z");
        assert_eq!(v["data"]["key"]["id"], "key_x");
    }
}
