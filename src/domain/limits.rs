//! Rate limits and usage quotas of a key: their shapes and validation, the fixed windows a
//! limit counts in, the calendar a quota refills on, and the IETF rate-limit header values.
//! Pure rules; counting across nodes is the authority's (see `docs/architecture.md`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;

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
    #[schema(example = "default", pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    #[schema(minimum = 1, maximum = 1000000000, example = 100)]
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
    #[schema(minimum = 1, maximum = 1000000000000000_u64, example = 1000)]
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

/// Largest credit count a quota may hold (fits both databases' BIGINT with room to add).
pub const MAX_CREDITS: u64 = 1_000_000_000_000_000;
/// Largest `limit` of a rate limit.
pub const MAX_LIMIT: u32 = 1_000_000_000;
/// Largest `cost` of one `/v1/check`.
pub const MAX_COST: u32 = 10_000;

/// A key's usage quota: credits that tokens issued and checks spend, refilled on a calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Quota {
    /// Credits left. The credits are counted apart from the key (`store::limits`, across
    /// nodes): this is `None` in the key's stored attributes and in the key cache, and set in
    /// requests (the credits to start with) and in views (as counted now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = u64, minimum = 0, maximum = 1000000000000000_u64, example = 1000)]
    pub remaining: Option<u64>,
    /// `null`: credits come back only when added or set (`POST /v1/keys/{id}/quota`).
    #[serde(default)]
    pub refill: Option<Refill>,
}

impl Quota {
    /// The refill due at or before `now` since the last one at `refilled_at`: the latest such
    /// instant, if any.
    pub fn refill_due(
        &self,
        refilled_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let refill = self.refill.as_ref()?;
        let mut due = refill.next_after(refilled_at);
        if due > now {
            return None;
        }
        loop {
            let next = refill.next_after(due);
            if next > now {
                return Some(due);
            }
            due = next;
        }
    }

    /// Whole seconds until the next refill after `refilled_at` (at least 1), if it refills.
    pub fn seconds_to_refill(&self, refilled_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<u64> {
        let next = self.refill.as_ref()?.next_after(refilled_at);
        let ms = (next - now).num_milliseconds().max(0);
        Some(u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1))
    }
}

/// Where one rate limit stands for a caller, as `/v1/check` and the headers tell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LimitState {
    #[schema(example = "default")]
    pub name: String,
    pub limit: u32,
    #[serde(skip)]
    pub window_seconds: u32,
    /// Units left in the current window (on several nodes, as this node knows it).
    pub remaining: u64,
    /// Seconds until the current window ends.
    pub reset_seconds: u32,
}

impl LimitState {
    /// The most restrictive of several: least remaining, then the later reset.
    pub fn most_restrictive(states: impl IntoIterator<Item = LimitState>) -> Option<LimitState> {
        states.into_iter().min_by(|a, b| {
            a.remaining
                .cmp(&b.remaining)
                .then(b.reset_seconds.cmp(&a.reset_seconds))
        })
    }

    /// `RateLimit-Policy` and `RateLimit` for this state.
    pub fn headers(&self) -> (String, String) {
        let limit = RateLimit {
            name: self.name.clone(),
            limit: self.limit,
            window_seconds: self.window_seconds,
        };
        ratelimit_headers(
            &limit,
            u32::try_from(self.remaining).unwrap_or(u32::MAX),
            self.reset_seconds,
        )
    }
}

/// `rate_limits` of a create or PATCH body: at most [`MAX_RATE_LIMITS`] objects
/// `{name?, limit, window_seconds}` with unique names; `null` means none.
pub fn check_rate_limits(
    value: &serde_json::Value,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<RateLimit>> {
    use serde_json::Value;
    let items = match value {
        Value::Null => return Some(Vec::new()),
        Value::Array(items) => items,
        _ => {
            errors.push(FieldError::new(
                "rate_limits",
                "must be a list of {name, limit, window_seconds}, e.g. [{\"limit\": 100, \"window_seconds\": 60}]",
            ));
            return None;
        }
    };
    if items.len() > MAX_RATE_LIMITS {
        errors.push(FieldError::new(
            "rate_limits",
            format!(
                "has {} limits; a key may have at most {MAX_RATE_LIMITS}",
                items.len()
            ),
        ));
        return None;
    }
    let before = errors.len();
    let mut limits: Vec<RateLimit> = Vec::with_capacity(items.len());
    // Every name seen, also of limits refused for another field: a duplicate is reported anyway.
    let mut names = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("rate_limits[{i}].{field}");
        let Value::Object(map) = item else {
            errors.push(FieldError::new(
                format!("rate_limits[{i}]"),
                "must be an object {name, limit, window_seconds}",
            ));
            continue;
        };
        for unknown in map
            .keys()
            .filter(|k| !["name", "limit", "window_seconds"].contains(&k.as_str()))
        {
            errors.push(FieldError::new(
                at(unknown),
                "is not a field of a rate limit (name, limit, window_seconds)",
            ));
        }
        let name = match map.get("name") {
            None | Some(Value::Null) => Some(DEFAULT_LIMIT_NAME.to_owned()),
            Some(Value::String(n)) if is_limit_name(n) => Some(n.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    at("name"),
                    "must be 1–64 characters of A–Z, a–z, 0–9, '.', '_' or '-'",
                ));
                None
            }
        };
        let limit = whole(map.get("limit"), 1, u64::from(MAX_LIMIT))
            .map_err(|m| errors.push(FieldError::new(at("limit"), m)))
            .ok();
        let window = whole(map.get("window_seconds"), 1, u64::from(MAX_WINDOW_SECONDS))
            .map_err(|m| errors.push(FieldError::new(at("window_seconds"), m)))
            .ok();
        if let Some(name) = &name
            && !names.insert(name.clone())
        {
            errors.push(FieldError::new(
                at("name"),
                format!("`{name}` is the name of another limit of this key; names must be unique"),
            ));
            continue;
        }
        if let (Some(name), Some(limit), Some(window_seconds)) = (name, limit, window) {
            limits.push(RateLimit {
                name,
                limit: u32::try_from(limit).unwrap_or(MAX_LIMIT),
                window_seconds: u32::try_from(window_seconds).unwrap_or(MAX_WINDOW_SECONDS),
            });
        }
    }
    (errors.len() == before).then_some(limits)
}

/// A quota runs low when the credits left are at most this share (in percent) of what its
/// period started with (`quota.low`).
pub const QUOTA_LOW_PERCENT: u64 = 10;

/// The events a quota's credits produce, each at most once per period (a refill, a set or a
/// top-up starts again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaAlert {
    /// The credits left fell to [`QUOTA_LOW_PERCENT`] of the period's.
    Low,
    /// Nothing is left: every credit of the period was spent.
    Exhausted,
}

impl QuotaAlert {
    pub fn as_str(&self) -> &'static str {
        match self {
            QuotaAlert::Low => "low",
            QuotaAlert::Exhausted => "exhausted",
        }
    }

    /// What a lease's outcome calls for: `left` credits (in the pool and held by every node)
    /// of a period that started with `period`, and whether the lease fell short of what a use
    /// needed (`refused`). Exhausted when nothing is left (a period that started empty, only
    /// once a use is refused: it may be a key deliberately held at zero); else low at or under
    /// the share. A use refused because its cost exceeds what is left, while some is, is
    /// neither: the credits have not run out.
    pub fn due(left: u64, period: u64, refused: bool) -> Option<QuotaAlert> {
        if left == 0 && (refused || period > 0) {
            return Some(QuotaAlert::Exhausted);
        }
        let low = period > 0
            && u128::from(left) * 100 <= u128::from(period) * u128::from(QUOTA_LOW_PERCENT);
        low.then_some(QuotaAlert::Low)
    }
}

/// `quota` of a create or PATCH body: `null` (none) or `{remaining, refill}`. `remaining` is
/// required unless `keep_remaining` (a PATCH of a key that has a quota may change only its
/// refill). `Some(None)` means no quota.
pub fn check_quota(
    value: &serde_json::Value,
    keep_remaining: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Option<Quota>> {
    use serde_json::Value;
    let map = match value {
        Value::Null => return Some(None),
        Value::Object(map) => map,
        _ => {
            errors.push(FieldError::new(
                "quota",
                "must be null or {remaining, refill}, e.g. {\"remaining\": 1000, \"refill\": {\"amount\": 1000, \"interval\": \"monthly\"}}",
            ));
            return None;
        }
    };
    let before = errors.len();
    for unknown in map
        .keys()
        .filter(|k| !["remaining", "refill"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(
            format!("quota.{unknown}"),
            "is not a field of a quota (remaining, refill)",
        ));
    }
    let remaining = match map.get("remaining") {
        None | Some(Value::Null) if keep_remaining => None,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(
                "quota.remaining",
                "is required: the credits to start with",
            ));
            None
        }
        v => whole(v, 0, MAX_CREDITS)
            .map_err(|m| errors.push(FieldError::new("quota.remaining", m)))
            .ok(),
    };
    let refill = match map.get("refill") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => check_refill(r, errors),
        Some(_) => {
            errors.push(FieldError::new(
                "quota.refill",
                "must be null or {amount, interval: \"daily\"|\"monthly\", day_of_month?}",
            ));
            None
        }
    };
    (errors.len() == before).then_some(Some(Quota { remaining, refill }))
}

fn check_refill(
    map: &serde_json::Map<String, serde_json::Value>,
    errors: &mut Vec<FieldError>,
) -> Option<Refill> {
    use serde_json::Value;
    let before = errors.len();
    for unknown in map
        .keys()
        .filter(|k| !["amount", "interval", "day_of_month"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(
            format!("quota.refill.{unknown}"),
            "is not a field of a refill (amount, interval, day_of_month)",
        ));
    }
    let amount = whole(map.get("amount"), 1, MAX_CREDITS)
        .map_err(|m| errors.push(FieldError::new("quota.refill.amount", m)))
        .ok();
    let interval = match map.get("interval") {
        Some(Value::String(s)) if s == "daily" => Some(Interval::Daily),
        Some(Value::String(s)) if s == "monthly" => Some(Interval::Monthly),
        None => {
            errors.push(FieldError::new(
                "quota.refill.interval",
                "is required: \"daily\" or \"monthly\"",
            ));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                "quota.refill.interval",
                "must be \"daily\" or \"monthly\"",
            ));
            None
        }
    };
    let day_of_month = match map.get("day_of_month") {
        None | Some(Value::Null) => None,
        v if interval == Some(Interval::Daily) => {
            let _ = v;
            errors.push(FieldError::new(
                "quota.refill.day_of_month",
                "applies only to a monthly refill",
            ));
            None
        }
        v => whole(v, 1, 31)
            .map_err(|m| errors.push(FieldError::new("quota.refill.day_of_month", m)))
            .ok()
            .and_then(|d| u8::try_from(d).ok()),
    };
    match (amount, interval) {
        (Some(amount), Some(interval)) if errors.len() == before => Some(Refill {
            amount,
            interval,
            day_of_month,
        }),
        _ => None,
    }
}

/// A limit's name: 1–64 characters of `[A-Za-z0-9._-]` (it is echoed in HTTP header values).
fn is_limit_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A whole number in `min..=max`, or why not.
fn whole(value: Option<&serde_json::Value>, min: u64, max: u64) -> Result<u64, String> {
    match value {
        None | Some(serde_json::Value::Null) => Err("is required".into()),
        Some(v) => whole_number(v)
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| format!("must be a whole number from {min} to {max}")),
    }
}

/// A JSON number that is a whole non-negative number: `60` and `60.0` alike (JSON Schema's
/// `integer` is any number with a zero fraction, and clients that compute a value may send it as a
/// float); `None` for anything else, fractions and numbers beyond `u64` included.
pub fn whole_number(value: &serde_json::Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 18_446_744_073_709_551_616.0)
            .map(|f| f as u64)
    })
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
    #[test]
    fn quota_alerts_follow_the_share_of_the_period() {
        assert_eq!(QuotaAlert::due(101, 1000, false), None);
        assert_eq!(QuotaAlert::due(100, 1000, false), Some(QuotaAlert::Low));
        assert_eq!(QuotaAlert::due(1, 1000, true), Some(QuotaAlert::Low));
        assert_eq!(QuotaAlert::due(0, 1000, false), Some(QuotaAlert::Exhausted));
        assert_eq!(QuotaAlert::due(0, 1000, true), Some(QuotaAlert::Exhausted));
        // A use too costly for what is left has not exhausted the credits.
        assert_eq!(QuotaAlert::due(500, 1000, true), None);
        // A period that started empty: exhausted only once a use is refused.
        assert_eq!(QuotaAlert::due(0, 0, false), None);
        assert_eq!(QuotaAlert::due(0, 0, true), Some(QuotaAlert::Exhausted));
        // No overflow at the largest quota.
        assert_eq!(
            QuotaAlert::due(MAX_CREDITS / 10, MAX_CREDITS, false),
            Some(QuotaAlert::Low)
        );
        assert_eq!(QuotaAlert::due(u64::MAX, u64::MAX, false), None);
    }

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

    #[test]
    fn a_due_refill_is_the_latest_one_not_after_now() {
        let quota = Quota {
            remaining: None,
            refill: Some(Refill {
                amount: 5,
                interval: Interval::Daily,
                day_of_month: None,
            }),
        };
        let last = t("2027-01-10T08:00:00Z");
        assert_eq!(quota.refill_due(last, t("2027-01-10T23:59:59Z")), None);
        assert_eq!(
            quota.refill_due(last, t("2027-01-11T00:00:00Z")),
            Some(t("2027-01-11T00:00:00Z"))
        );
        // Several missed: the last of them (the credits are set, not added up).
        assert_eq!(
            quota.refill_due(last, t("2027-01-14T09:00:00Z")),
            Some(t("2027-01-14T00:00:00Z"))
        );
        assert_eq!(
            quota.seconds_to_refill(last, t("2027-01-10T23:59:58.5Z")),
            Some(2)
        );
        let never = Quota {
            remaining: None,
            refill: None,
        };
        assert_eq!(never.refill_due(last, t("2030-01-01T00:00:00Z")), None);
        assert_eq!(never.seconds_to_refill(last, last), None);
    }

    #[test]
    fn the_most_restrictive_limit_has_least_left_then_the_latest_reset() {
        let state = |name: &str, remaining: u64, reset_seconds: u32| LimitState {
            name: name.into(),
            limit: 10,
            window_seconds: 60,
            remaining,
            reset_seconds,
        };
        let pick =
            LimitState::most_restrictive([state("a", 5, 10), state("b", 2, 50), state("c", 2, 59)]);
        assert_eq!(pick.map(|s| s.name), Some("c".to_owned()));
        assert_eq!(LimitState::most_restrictive([]), None);
    }

    #[test]
    fn limits_and_quotas_are_checked_field_by_field() {
        let fields = |errors: &[FieldError]| -> Vec<String> {
            errors.iter().map(|e| e.field.clone()).collect()
        };
        let mut errors = Vec::new();
        let limits = check_rate_limits(
            &serde_json::json!([{"limit": 5, "window_seconds": 60}, {"name": "b", "limit": 1, "window_seconds": 1}]),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(limits.unwrap()[0].name, DEFAULT_LIMIT_NAME);
        let limits = check_rate_limits(
            &serde_json::json!([{"name": "x", "limit": 0, "window_seconds": 0}, {"name": "x", "limit": 1, "window_seconds": 1}]),
            &mut errors,
        );
        assert_eq!(limits, None);
        assert_eq!(
            fields(&errors),
            [
                "rate_limits[0].limit",
                "rate_limits[0].window_seconds",
                "rate_limits[1].name"
            ]
        );

        let mut errors = Vec::new();
        assert_eq!(
            check_quota(&serde_json::Value::Null, false, &mut errors),
            Some(None)
        );
        let kept = check_quota(
            &serde_json::json!({"refill": {"amount": 3, "interval": "monthly", "day_of_month": 31}}),
            true,
            &mut errors,
        );
        assert_eq!(
            kept.flatten()
                .map(|q| (q.remaining, q.refill.and_then(|r| r.day_of_month))),
            Some((None, Some(31)))
        );
        assert!(errors.is_empty());
        assert_eq!(
            check_quota(&serde_json::json!({"refill": null}), false, &mut errors),
            None
        );
        assert_eq!(fields(&errors), ["quota.remaining"]);
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
