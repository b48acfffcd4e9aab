//! An org's signing keys over time: when each one signs and when it is published
//! ([`KeyTimes`], [`SigningKeyStatus`]), what a rotation does ([`rotation`]), and how many may be
//! published at once ([`limit`]).
//!
//! Rules, in order:
//! 1. A key is in the JWKS before it signs. Every org has a *next* key, published but not
//!    signing, so a verifier whose JWKS copy is younger than that key knows the kid of the
//!    first token it signs after a promotion.
//! 2. Which key signs is a function of the stored times and the clock alone: the key whose
//!    `activates_at` has passed and whose `retired_at` has not. A staged rotation writes both
//!    times once, ahead (the new key's `activates_at`, and the same instant as the current
//!    key's `retired_at`), so every node switches at that instant with no write then, and the
//!    retired key's `unpublish_at` is reckoned from the instant it really stops signing.
//! 3. A key stays published until every token it signed has expired: `unpublish_at` = the
//!    time it stops signing + token TTL + leeway.

pub mod limit;
pub mod rotation;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub use limit::{MAX_PUBLISHED_SIGNING_KEYS, TooManyPublished, room_for};

/// Where a signing key is in its life, at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyStatus {
    /// Published ahead of signing: awaiting promotion (`activates_at` null), or staged to sign
    /// from `activates_at`.
    Next,
    /// Signs the org's new tokens.
    Current,
    /// No longer signs; still in the JWKS until `unpublish_at`.
    Retired,
    /// Past `unpublish_at`: neither published nor accepted.
    Unpublished,
}

impl SigningKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningKeyStatus::Next => "next",
            SigningKeyStatus::Current => "current",
            SigningKeyStatus::Retired => "retired",
            SigningKeyStatus::Unpublished => "unpublished",
        }
    }
}

/// The three stored instants that decide a key's status (rule 2 of the module).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyTimes {
    /// When it starts signing; `None` for a next key awaiting promotion (it never signed).
    pub activates_at: Option<DateTime<Utc>>,
    /// When it stops signing; in the future while a staged rotation is pending.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it leaves the JWKS (inclusive).
    pub unpublish_at: Option<DateTime<Utc>>,
}

/// A key that signs from `activates_at` on, with no retirement scheduled.
impl From<DateTime<Utc>> for KeyTimes {
    fn from(activates_at: DateTime<Utc>) -> Self {
        KeyTimes {
            activates_at: Some(activates_at),
            ..KeyTimes::default()
        }
    }
}

impl KeyTimes {
    /// The status at `now`. Each boundary is inclusive: a key activates at its `activates_at`,
    /// stops signing at its `retired_at` and leaves the JWKS at its `unpublish_at`.
    pub fn status(&self, now: DateTime<Utc>) -> SigningKeyStatus {
        let passed = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t <= now);
        if passed(self.unpublish_at) {
            SigningKeyStatus::Unpublished
        } else if passed(self.retired_at) {
            SigningKeyStatus::Retired
        } else if passed(self.activates_at) {
            SigningKeyStatus::Current
        } else {
            SigningKeyStatus::Next
        }
    }

    /// The first instant after `now` at which [`KeyTimes::status`] changes, if one is stored.
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [self.activates_at, self.retired_at, self.unpublish_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// Of an org's keys, the one that signs at `now`: current at `now`, and of several (not after a
/// consistent write, but cheap to decide) the one activated last.
pub fn signer_at<'a, K>(
    keys: impl IntoIterator<Item = (&'a KeyTimes, K)>,
    now: DateTime<Utc>,
) -> Option<K> {
    keys.into_iter()
        .filter(|(t, _)| t.status(now) == SigningKeyStatus::Current)
        .max_by_key(|(t, _)| t.activates_at)
        .map(|(_, k)| k)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use SigningKeyStatus::*;

    fn at(secs: i64) -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::seconds(secs)
    }

    fn times(activates: Option<i64>, retired: Option<i64>, unpublish: Option<i64>) -> KeyTimes {
        KeyTimes {
            activates_at: activates.map(at),
            retired_at: retired.map(at),
            unpublish_at: unpublish.map(at),
        }
    }

    #[test]
    fn a_key_is_next_then_current_then_retired_then_unpublished_each_from_its_instant() {
        let staged = times(Some(10), Some(20), Some(30));
        let seen: Vec<_> = [0, 9, 10, 19, 20, 29, 30, 99]
            .iter()
            .map(|s| staged.status(at(*s)))
            .collect();
        assert_eq!(
            seen,
            [
                Next,
                Next,
                Current,
                Current,
                Retired,
                Retired,
                Unpublished,
                Unpublished
            ]
        );
        assert_eq!(times(None, None, None).status(at(0)), Next);
        assert_eq!(times(Some(0), None, None).status(at(99)), Current);
        // A next key replaced before it signed: unpublished, never retired.
        assert_eq!(times(None, None, Some(5)).status(at(5)), Unpublished);
    }

    #[test]
    fn the_next_change_is_the_first_stored_instant_after_now() {
        let staged = times(Some(10), Some(20), Some(30));
        assert_eq!(staged.next_change(at(0)), Some(at(10)));
        assert_eq!(staged.next_change(at(10)), Some(at(20)));
        assert_eq!(staged.next_change(at(25)), Some(at(30)));
        assert_eq!(staged.next_change(at(30)), None);
        assert_eq!(times(None, None, None).next_change(at(0)), None);
    }

    #[test]
    fn a_staged_rotation_switches_signers_at_one_instant_without_a_write() {
        // Current key A; B staged at 100: A retires at 100 and stays published 60 s more.
        let a = times(Some(0), Some(100), Some(160));
        let b = times(Some(100), None, None);
        let signer = |now| signer_at([(&a, "A"), (&b, "B")], at(now));
        assert_eq!(signer(99), Some("A"));
        assert_eq!(signer(100), Some("B"));
        assert_eq!(signer(500), Some("B"));
        // Never two signers and never none in between, at any instant.
        for s in 0..200 {
            let n = [&a, &b]
                .iter()
                .filter(|t| t.status(at(s)) == Current)
                .count();
            assert_eq!(n, 1, "at {s}");
        }
    }

    #[test]
    fn of_several_current_keys_the_one_activated_last_signs() {
        let old = times(Some(0), None, None);
        let new = times(Some(5), None, None);
        let pending = times(None, None, None);
        assert_eq!(
            signer_at([(&new, 2), (&old, 1), (&pending, 3)], at(6)),
            Some(2)
        );
        assert_eq!(signer_at([(&pending, 3)], at(6)), None);
    }
}
