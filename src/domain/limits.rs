//! Rate limits and usage quotas of a key: their shapes and validation, the fixed windows a
//! limit counts in, the calendar a quota refills on, and the IETF rate-limit header values.
//! Pure rules; counting across nodes is the authority's (see `docs/architecture.md`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most rate limits one key may carry.
pub const MAX_RATE_LIMITS: usize = 5;
/// Longest window of a rate limit: a day.
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// The name of a limit given without one.
pub const DEFAULT_LIMIT_NAME: &str = "default";

/// At most `limit` units (tokens issued, or the `cost` of checks) per fixed window of
/// `window_seconds`, windows aligned on multiples of it since the Unix epoch (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimit {
    /// Unique per key; `default` when not given.
    #[schema(example = "default")]
    pub name: String,
    #[schema(minimum = 1, example = 100)]
    pub limit: u32,
    #[schema(minimum = 1, maximum = 86400, example = 60)]
    pub window_seconds: u32,
}

impl RateLimit {
    /// Start of the window `at` falls in.
    pub fn window_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let w = i64::from(self.window_seconds.max(1));
        let start = at.timestamp().div_euclid(w) * w;
        Utc.timestamp_opt(start, 0).single().unwrap_or(at)
    }

    /// Whole seconds until the window `at` falls in ends (at least 1).
    pub fn reset_seconds(&self, at: DateTime<Utc>) -> u32 {
        let end = self.window_start(at) + Duration::seconds(i64::from(self.window_seconds));
        let left = (end - at).num_milliseconds();
        u32::try_from((left + 999) / 1000).unwrap_or(1).max(1)
    }
}

/// How a quota's credits come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    /// At every UTC midnight.
    Daily,
    /// At UTC midnight of `day_of_month` (clamped to the month's last day), default the 1st.
    Monthly,
}

/// A quota's refill: its remaining credits are set back to `amount` on each refill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Refill {
    #[schema(example = 1000)]
    pub amount: u64,
    pub interval: Interval,
    /// For `monthly`: 1–31; a day the month lacks means its last day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 31)]
    pub day_of_month: Option<u8>,
}

impl Refill {
    /// The first refill strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
        match self.interval {
            Interval::Daily => midnight(after.date_naive() + Duration::days(1)),
            Interval::Monthly => {
                let day = u32::from(self.day_of_month.unwrap_or(1).clamp(1, 31));
                let (mut year, mut month) = (after.year(), after.month());
                loop {
                    let at = midnight(clamped_date(year, month, day));
                    if at > after {
                        return at;
                    }
                    (year, month) = if month == 12 {
                        (year + 1, 1)
                    } else {
                        (year, month + 1)
                    };
                }
            }
        }
    }
}

/// `day` of the month, or its last day when it has fewer.
fn clamped_date(year: i32, month: u32, day: u32) -> NaiveDate {
    (1..=day)
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))
        .unwrap_or(NaiveDate::MIN)
}

/// The IETF rate-limit header fields (draft-ietf-httpapi-ratelimit-headers) for one limit:
/// `RateLimit-Policy: "name";q=limit;w=window` and `RateLimit: "name";r=remaining;t=reset`.
pub fn ratelimit_headers(
    limit: &RateLimit,
    remaining: u32,
    reset_seconds: u32,
) -> (String, String) {
    let name = sf_string(&limit.name);
    (
        format!("{name};q={};w={}", limit.limit, limit.window_seconds),
        format!("{name};r={remaining};t={reset_seconds}"),
    )
}

/// An RFC 8941 sf-string: printable ASCII, `"` and `\` escaped; anything else dropped.
fn sf_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| (' '..='~').contains(c)) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn monthly(day: Option<u8>) -> Refill {
        Refill {
            amount: 10,
            interval: Interval::Monthly,
            day_of_month: day,
        }
    }

    #[test]
    fn a_monthly_refill_on_a_day_the_month_lacks_is_its_last_day() {
        let r = monthly(Some(31));
        assert_eq!(
            r.next_after(t("2027-01-31T00:00:00Z")),
            t("2027-02-28T00:00:00Z")
        );
        assert_eq!(
            r.next_after(t("2028-02-01T00:00:00Z")),
            t("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            r.next_after(t("2027-02-28T00:00:00Z")),
            t("2027-03-31T00:00:00Z")
        );
        assert_eq!(
            r.next_after(t("2027-12-31T23:59:59Z")),
            t("2028-01-31T00:00:00Z")
        );
        assert_eq!(
            monthly(None).next_after(t("2027-12-31T12:00:00Z")),
            t("2028-01-01T00:00:00Z")
        );
        let daily = Refill {
            interval: Interval::Daily,
            ..monthly(None)
        };
        assert_eq!(
            daily.next_after(t("2027-03-01T00:00:00Z")),
            t("2027-03-02T00:00:00Z")
        );
    }

    #[test]
    fn windows_are_aligned_and_reset_counts_whole_seconds() {
        let l = RateLimit {
            name: "default".into(),
            limit: 100,
            window_seconds: 60,
        };
        assert_eq!(
            l.window_start(t("2027-01-01T00:01:59.5Z")),
            t("2027-01-01T00:01:00Z")
        );
        assert_eq!(l.reset_seconds(t("2027-01-01T00:01:59.5Z")), 1);
        assert_eq!(l.reset_seconds(t("2027-01-01T00:01:00Z")), 60);
        let (policy, state) = ratelimit_headers(&l, 42, 17);
        assert_eq!(policy, "\"default\";q=100;w=60");
        assert_eq!(state, "\"default\";r=42;t=17");
        assert_eq!(sf_string("a\"b\\c\u{7}é"), "\"a\\\"b\\\\c\"");
    }

    proptest! {
        /// The next refill is after the given instant, at UTC midnight, on the day asked (or the
        /// month's last), and no refill day lies strictly between the two.
        #[test]
        fn the_next_monthly_refill_is_the_first_one_after(
            secs in 1_700_000_000i64..2_100_000_000,
            day in 1u8..=31,
        ) {
            let after = Utc.timestamp_opt(secs, 0).unwrap();
            let next = monthly(Some(day)).next_after(after);
            prop_assert!(next > after);
            prop_assert_eq!(next.time(), chrono::NaiveTime::MIN);
            let last_of_month = clamped_date(next.year(), next.month(), 31).day();
            prop_assert_eq!(next.day(), u32::from(day).min(last_of_month));
            // Brute force: no day between `after` and `next` is a refill day.
            let mut d = after.date_naive() + Duration::days(1);
            while Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN)) < next {
                let last = clamped_date(d.year(), d.month(), 31).day();
                prop_assert_ne!(d.day(), u32::from(day).min(last));
                d += Duration::days(1);
            }
        }

        #[test]
        fn every_instant_lies_in_its_window(secs in 0i64..4_000_000_000, w in 1u32..=86_400) {
            let l = RateLimit { name: "x".into(), limit: 1, window_seconds: w };
            let at = Utc.timestamp_opt(secs, 0).unwrap();
            let start = l.window_start(at);
            prop_assert!(start <= at && at < start + Duration::seconds(i64::from(w)));
            prop_assert!(l.reset_seconds(at) >= 1 && l.reset_seconds(at) <= w);
        }
    }
}
