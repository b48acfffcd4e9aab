//! The API key: the one domain type every layer uses (the store parses rows into it, the
//! authority caches it, the API views it), its status, and the rules that admit it.
//!
//! `spec` holds what callers set on a key (request bodies, their validation with field paths,
//! the typed patch); `standing` holds who may grant or change what (no escalation); `session`
//! holds what bounds a console session key by the key that started it.

pub mod session;
mod spec;
mod standing;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use utoipa::ToSchema;

use super::ip_rules::IpRules;
use super::refusal::Refusal;
use super::scope::Scope;

pub use spec::{
    KeyAttributes, KeyDraft, KeyPatch, ValidKey, ValidPatch, no_credential_error, validate_create,
    validate_patch,
};
pub use standing::{
    Changes, OWN_RESOURCES, escalation_errors, key_management_warning, patch_standing_errors,
    standing_errors,
};

/// Longest key name, in characters after trimming.
pub const NAME_MAX_CHARS: usize = 200;
/// Most scopes one key may hold; keeps a key's scope check and its token's `scope` claim small.
pub const MAX_SCOPES: usize = 50;

/// Derived, never stored: revocation wins over expiry, and expiry is a moment, not a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked_at.is_some() {
            KeyStatus::Revoked
        } else if expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// What a key is for. A `console_session` key is started by the web console for the key that
/// signed in, its parent (`Key::parent_key_id`), and is bounded by it (`session`): never more
/// scopes, addresses or time than the parent, and it ends when the parent is revoked, rolled or
/// re-scoped. Stored as the `kind` column, with `parent_key_id` set exactly for sessions (the
/// store refuses a row where the two disagree).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    /// A key made with `POST /v1/keys` (or the CLI, or at bootstrap).
    #[default]
    Standard,
    /// A web-console session's key (`POST /v1/console/sessions`).
    ConsoleSession,
}

impl KeyKind {
    /// NEVER rename: the stored and wire form, which clients filter on.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyKind::Standard => "standard",
            KeyKind::ConsoleSession => "console_session",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "standard" => Some(KeyKind::Standard),
            "console_session" => Some(KeyKind::ConsoleSession),
            _ => None,
        }
    }
}

/// Which of a key's secrets was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSlot {
    Current,
    /// The rolled-away secret, within its grace period.
    Previous,
}

/// The key's secrets, without their digests: how many rolls it has had, and until when the
/// previous secret still works (after a roll with a grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Secrets {
    /// Counts rolls; the current secret is of this generation, the previous one of the one
    /// before.
    pub generation: u32,
    pub previous_until: Option<DateTime<Utc>>,
}

impl Secrets {
    pub fn previous_live(&self, now: DateTime<Utc>) -> bool {
        self.previous_until.is_some_and(|until| until > now)
    }

    /// The generation of the secret in `slot`.
    pub fn generation_of(&self, slot: SecretSlot) -> u32 {
        match slot {
            SecretSlot::Current => self.generation,
            SecretSlot::Previous => self.generation.saturating_sub(1),
        }
    }

    /// When the secret in `slot` stops working (`None`: not by itself).
    pub fn end_of(&self, slot: SecretSlot) -> Option<DateTime<Utc>> {
        match slot {
            SecretSlot::Current => None,
            SecretSlot::Previous => self.previous_until,
        }
    }

    /// Tokens die with the secret that minted them: a token of the current generation lives,
    /// one of the previous generation only while the previous secret does, any other never
    /// (its secret was rolled away, or the token claims a generation the key never had).
    pub fn minted_by_live_secret(&self, token_generation: u32, now: DateTime<Utc>) -> bool {
        token_generation == self.generation
            || (token_generation.checked_add(1) == Some(self.generation) && self.previous_live(now))
    }
}

/// An API key. Never its secret or a digest of it: those stay in the store (and the key
/// cache's entries), so nothing built from a `Key` can leak them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Public id, also the OAuth `client_id`.
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub ip_rules: IpRules,
    pub expires_at: Option<DateTime<Utc>>,
    /// Everything else callers may set (see `spec`).
    pub attributes: KeyAttributes,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// When a secret of the key was last reported leaked, if its org only flags leaked keys
    /// (`leak_policy: notify`); a revoked leaked key says so in the audit trail.
    pub leaked_at: Option<DateTime<Utc>>,
    /// The secret's prefix and last characters, to recognise it (`lk_…9fQx`).
    pub secret_hint: String,
    pub secrets: Secrets,
    pub kind: KeyKind,
    /// The key a console session was started for; `None` exactly for standard keys.
    pub parent_key_id: Option<String>,
}

impl Key {
    /// The parent, when this key is a console session.
    pub fn session_parent(&self) -> Option<&str> {
        match self.kind {
            KeyKind::ConsoleSession => self.parent_key_id.as_deref(),
            KeyKind::Standard => None,
        }
    }

    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        KeyStatus::of(self.revoked_at, self.expires_at, now)
    }

    /// Active (not revoked, not expired at `now`) and, when an address is given, used from an
    /// allowed one. Revocation wins over expiry, as in the key's status.
    pub fn admit(&self, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Refusal> {
        match self.status(now) {
            KeyStatus::Revoked => return Err(Refusal::KeyRevoked),
            KeyStatus::Expired => return Err(Refusal::KeyExpired),
            KeyStatus::Active => {}
        }
        match ip {
            Some(ip) if !self.ip_rules.allows(ip) => Err(Refusal::IpNotAllowed),
            _ => Ok(()),
        }
    }

    /// When a token obtained with the secret in `slot` must end: the key's expiry, or the
    /// previous secret's end, whichever comes first.
    pub fn token_limit(&self, slot: SecretSlot) -> Option<DateTime<Utc>> {
        match (self.expires_at, self.secrets.end_of(slot)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
impl Key {
    /// A standard, active key of `org_a` made at `created_at`, with no scopes, no address rules
    /// and nothing else set: what unit tests start from and change what they test.
    pub(crate) fn fixture(id: &str, created_at: DateTime<Utc>) -> Key {
        Key {
            id: id.into(),
            org_id: "org_a".into(),
            name: id.into(),
            scopes: vec![],
            ip_rules: IpRules::default(),
            expires_at: None,
            attributes: KeyAttributes::default(),
            created_at,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
            leaked_at: None,
            secret_hint: "lk_…abcd".into(),
            secrets: Secrets::default(),
            kind: KeyKind::Standard,
            parent_key_id: None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn key() -> Key {
        Key {
            name: "a".into(),
            ip_rules: IpRules::from_canonical(&["10.0.0.0/8".into()]).unwrap(),
            ..Key::fixture("key_a", now())
        }
    }
    #[test]
    fn kinds_round_trip_their_stored_names() {
        for kind in [KeyKind::Standard, KeyKind::ConsoleSession] {
            assert_eq!(KeyKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(kind.as_str())
            );
        }
        assert_eq!(KeyKind::parse("Standard"), None);
    }

    #[test]
    fn only_a_console_session_has_a_parent_to_answer_to() {
        let mut k = key();
        k.parent_key_id = Some("key_p".into());
        assert_eq!(k.session_parent(), None, "a standard key answers to no one");
        k.kind = KeyKind::ConsoleSession;
        assert_eq!(k.session_parent(), Some("key_p"));
    }

    #[test]
    fn status_prefers_revoked_over_expired() {
        let past = Some(now() - chrono::Duration::seconds(1));
        assert_eq!(KeyStatus::of(None, None, now()), KeyStatus::Active);
        assert_eq!(KeyStatus::of(None, past, now()), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(None, Some(now()), now()), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(Some(now()), past, now()), KeyStatus::Revoked);
    }

    #[test]
    fn revocation_wins_over_expiry_and_expiry_over_address() {
        let mut k = key();
        let outside = Some("192.0.2.1".parse().unwrap());
        assert_eq!(k.admit(outside, now()), Err(Refusal::IpNotAllowed));
        assert_eq!(k.admit(None, now()), Ok(()));
        k.expires_at = Some(now());
        assert_eq!(k.admit(outside, now()), Err(Refusal::KeyExpired));
        k.revoked_at = Some(now());
        assert_eq!(k.admit(outside, now()), Err(Refusal::KeyRevoked));
    }

    #[test]
    fn a_token_of_the_previous_secret_ends_with_it() {
        let mut k = key();
        k.secrets = Secrets {
            generation: 3,
            previous_until: Some(now() + Duration::seconds(30)),
        };
        assert_eq!(k.secrets.generation_of(SecretSlot::Previous), 2);
        assert_eq!(k.token_limit(SecretSlot::Current), None);
        assert_eq!(
            k.token_limit(SecretSlot::Previous),
            Some(now() + Duration::seconds(30))
        );
        k.expires_at = Some(now() + Duration::seconds(10));
        assert_eq!(
            k.token_limit(SecretSlot::Previous),
            Some(now() + Duration::seconds(10))
        );
    }

    proptest! {
        /// Against the plain statement: a token lives iff the secret that minted it still works.
        #[test]
        fn a_token_lives_exactly_while_its_secret_does(
            generation in 0u32..6,
            token_generation in 0u32..8,
            grace in proptest::option::of(-5i64..5),
        ) {
            let secrets = Secrets {
                generation,
                previous_until: grace.map(|g| now() + Duration::seconds(g)),
            };
            let secret_works = if token_generation == generation {
                true
            } else if generation > 0 && token_generation == generation - 1 {
                grace.is_some_and(|g| g > 0)
            } else {
                false
            };
            prop_assert_eq!(secrets.minted_by_live_secret(token_generation, now()), secret_works);
        }
    }
}
