//! How many signing keys one org may have in the JWKS at once, when a rotation refused for it
//! may be tried again, and which retired keys an immediate (compromise) rotation, which is never
//! refused, takes out early to stay within the bound.

use chrono::{DateTime, Utc};

/// At most this many signing keys of one org are published at once: its current key, its next
/// key and the retired ones still inside their publish window.
///
/// The JWKS is one document for every org, served to every verifier and re-read by every node
/// each second, so without a bound one org rotating in a loop bloats it for all (300 rotations
/// in 1.5 s took it from 936 B to 48 KB). Ten leaves room for eight promotions within one
/// publish window (token TTL + leeway, 11 minutes by default), more than a planned rotation or a
/// series of emergency ones needs, while one org's share stays under about 5 KB (an RSA-2048
/// JWK is the largest, ~450 B).
pub const MAX_PUBLISHED_SIGNING_KEYS: usize = 10;

/// A rotation refused because the org would have more than [`MAX_PUBLISHED_SIGNING_KEYS`]
/// published keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPublished {
    /// How many of the org's keys are published now.
    pub published: usize,
    /// Whole seconds (at least 1) until enough retired keys have left the JWKS for the
    /// rotation to fit: the `Retry-After` value.
    pub retry_after_secs: u64,
}

/// Whether `adding` more published keys fit beside the org's published ones, given when each
/// of those leaves the JWKS (`None`: not scheduled to, the current key).
///
/// When they do not, the wait is until the retired key whose unpublishing makes room leaves:
/// the oldest one when the org is exactly full, rounded up to whole seconds so that a retry at
/// that time fits (a key is unpublished at its `unpublish_at`, inclusive).
pub fn room_for(
    unpublish_at: &[Option<DateTime<Utc>>],
    adding: usize,
    now: DateTime<Utc>,
) -> Result<(), TooManyPublished> {
    let published = unpublish_at.len();
    let excess = (published + adding).saturating_sub(MAX_PUBLISHED_SIGNING_KEYS);
    if excess == 0 {
        return Ok(());
    }
    let mut leaving: Vec<DateTime<Utc>> = unpublish_at.iter().flatten().copied().collect();
    leaving.sort_unstable();
    // Room comes when the `excess`-th of them leaves; were there fewer retired keys than that
    // (not with one current key and a bound above 1), the last of them is the best estimate.
    let retry_after_secs = leaving
        .get(excess - 1)
        .or(leaving.last())
        .map_or(1, |at| seconds_until(*at, now));
    Err(TooManyPublished {
        published,
        retry_after_secs,
    })
}

/// The retired keys to take out of the JWKS now so that `adding` more keys fit beside the
/// `published` ones: those leaving first, as many as the bound is exceeded by. `retired` holds
/// each retired, still published key with its `unpublish_at`.
///
/// Only an immediate rotation does this: it replaces a key believed compromised and is never
/// refused, so the tokens of the oldest retired key (which would have left first anyway) stop
/// verifying before they expire. The rotation says so in its warnings.
pub fn unpublish_early<K: Clone>(
    retired: &[(K, DateTime<Utc>)],
    published: usize,
    adding: usize,
) -> Vec<K> {
    let excess = (published + adding).saturating_sub(MAX_PUBLISHED_SIGNING_KEYS);
    let mut leaving: Vec<&(K, DateTime<Utc>)> = retired.iter().collect();
    leaving.sort_by_key(|(_, at)| *at);
    leaving
        .into_iter()
        .take(excess)
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whole seconds from `now` until `at`, rounded up, at least 1.
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let micros = (at - now).num_microseconds().unwrap_or(i64::MAX);
    let secs = micros.saturating_add(999_999) / 1_000_000;
    u64::try_from(secs).unwrap_or(0).max(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T12:00:00Z".parse().unwrap()
    }

    /// The current key and `retired` retired ones, leaving 100 s, 200 s, … from now.
    fn keys(retired: i64) -> Vec<Option<DateTime<Utc>>> {
        let mut keys = vec![None];
        keys.extend((1..=retired).map(|i| Some(now() + TimeDelta::seconds(100 * i))));
        keys
    }

    #[test]
    fn rotations_fit_until_the_org_has_the_most_published_keys() {
        for retired in 0..9 {
            assert_eq!(room_for(&keys(retired), 1, now()), Ok(()), "{retired}");
        }
        let full = keys(9);
        assert_eq!(full.len(), MAX_PUBLISHED_SIGNING_KEYS);
        assert_eq!(
            room_for(&full, 1, now()),
            Err(TooManyPublished {
                published: 10,
                retry_after_secs: 100
            }),
            "the wait is until the oldest retired key leaves"
        );
        assert_eq!(room_for(&full, 0, now()), Ok(()));
    }

    #[test]
    fn the_wait_is_whole_seconds_rounded_up_and_at_least_one() {
        let mut full = keys(9);
        full[5] = Some(now() + TimeDelta::milliseconds(1_500));
        assert_eq!(room_for(&full, 1, now()).unwrap_err().retry_after_secs, 2);
        full[5] = Some(now() + TimeDelta::microseconds(1));
        assert_eq!(room_for(&full, 1, now()).unwrap_err().retry_after_secs, 1);
        // Leaving this very instant (the caller's clock read before it took the lock).
        full[5] = Some(now());
        assert_eq!(room_for(&full, 1, now()).unwrap_err().retry_after_secs, 1);
        full[5] = Some(now() - TimeDelta::seconds(3));
        assert_eq!(room_for(&full, 1, now()).unwrap_err().retry_after_secs, 1);
    }

    #[test]
    fn an_immediate_rotation_takes_out_the_retired_keys_leaving_first_and_only_as_many_as_needed() {
        let retired: Vec<(&str, DateTime<Utc>)> = vec![
            ("c", now() + TimeDelta::seconds(300)),
            ("a", now() + TimeDelta::seconds(100)),
            ("b", now() + TimeDelta::seconds(200)),
        ];
        assert!(unpublish_early(&retired, 9, 1).is_empty(), "it fits");
        assert_eq!(unpublish_early(&retired, 10, 1), ["a"]);
        assert_eq!(unpublish_early(&retired, 10, 2), ["a", "b"]);
        // Over the bound from before there was one: only as many as there are.
        assert_eq!(unpublish_early(&retired, 20, 2), ["a", "b", "c"]);
        assert!(unpublish_early::<&str>(&[], 10, 1).is_empty());
    }

    #[test]
    fn an_org_over_the_bound_waits_until_enough_keys_have_left() {
        // Keys published before there was a bound: room for one more comes when 13 of the 22
        // have left, i.e. when the 13th retired key (1300 s) does.
        let over = keys(21);
        assert_eq!(
            room_for(&over, 1, now()),
            Err(TooManyPublished {
                published: 22,
                retry_after_secs: 1300
            })
        );
        // No retired key at all to wait for (a bound of 1 would do that): one second.
        assert_eq!(
            room_for(&[None; MAX_PUBLISHED_SIGNING_KEYS], 1, now())
                .unwrap_err()
                .retry_after_secs,
            1
        );
    }
}
