//! A key as authentication sees it, and the rules that admit it: status, address, and whether
//! a token it obtained is still backed by a live secret.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ip_rules::IpRules;
use super::refusal::Refusal;
use super::scope::Scope;

/// Which of a key's secrets was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSlot {
    Current,
    /// The rolled-away secret, within its grace period.
    Previous,
}

/// The key's secrets, without their digests: how many rolls it has had, and until when the
/// previous secret still works (after a roll with a grace period).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What authenticating a key needs to know about it; never a secret or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub ip_rules: IpRules,
    pub revoked: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub secrets: Secrets,
}

impl Principal {
    /// Active (not revoked, not expired at `now`) and, when an address is given, used from an
    /// allowed one. Revocation wins over expiry, as in the key's status.
    pub fn admit(&self, ip: Option<IpAddr>, now: DateTime<Utc>) -> Result<(), Refusal> {
        if self.revoked {
            return Err(Refusal::KeyRevoked);
        }
        if self.expires_at.is_some_and(|e| e <= now) {
            return Err(Refusal::KeyExpired);
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
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn principal() -> Principal {
        Principal {
            key_id: "key_a".into(),
            org_id: "org_a".into(),
            scopes: vec![],
            ip_rules: IpRules::from_canonical(&["10.0.0.0/8".into()]).unwrap(),
            revoked: false,
            expires_at: None,
            created_at: now(),
            secrets: Secrets {
                generation: 0,
                previous_until: None,
            },
        }
    }

    #[test]
    fn revocation_wins_over_expiry_and_expiry_over_address() {
        let mut p = principal();
        let outside = Some("192.0.2.1".parse().unwrap());
        assert_eq!(p.admit(outside, now()), Err(Refusal::IpNotAllowed));
        assert_eq!(p.admit(None, now()), Ok(()));
        p.expires_at = Some(now());
        assert_eq!(p.admit(outside, now()), Err(Refusal::KeyExpired));
        p.revoked = true;
        assert_eq!(p.admit(outside, now()), Err(Refusal::KeyRevoked));
    }

    #[test]
    fn a_token_of_the_previous_secret_ends_with_it() {
        let mut p = principal();
        p.secrets = Secrets {
            generation: 3,
            previous_until: Some(now() + Duration::seconds(30)),
        };
        assert_eq!(p.secrets.generation_of(SecretSlot::Previous), 2);
        assert_eq!(p.token_limit(SecretSlot::Current), None);
        assert_eq!(
            p.token_limit(SecretSlot::Previous),
            Some(now() + Duration::seconds(30))
        );
        p.expires_at = Some(now() + Duration::seconds(10));
        assert_eq!(
            p.token_limit(SecretSlot::Previous),
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
