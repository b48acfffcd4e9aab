//! The rate-limit and quota flags of `keys create` and `keys update`, and how a key's limits
//! read in the CLI's output. The flags only check the form of their values: they become the
//! JSON of the API's `rate_limits` and `quota`, so ranges, names and their uniqueness are
//! checked once, by `domain::limits`, and refused naming the field as the API does.

use clap::Args;
use serde_json::{Value, json};

use crate::domain::limits::{Interval, Quota, RateLimit, Refill};

/// The form `--rate-limit` takes, in its help and in its errors.
const RATE_LIMIT_FORM: &str = "[NAME=]LIMIT/WINDOW";
/// The forms `--refill` takes, in its help and in its errors.
const REFILL_FORMS: &str = "AMOUNT/daily, AMOUNT/monthly or AMOUNT/monthly@DAY";

/// The limits of a new key.
#[derive(Debug, Args)]
pub struct NewLimits {
    /// A rate limit, [NAME=]LIMIT/WINDOW, e.g. default=100/60s or 1000/1h: WINDOW in s, m, h
    /// or d (a bare number is seconds), NAME `default` when left out (repeat for several).
    #[arg(long = "rate-limit", value_name = RATE_LIMIT_FORM, value_parser = rate_limit_arg)]
    rate_limits: Vec<RateLimitArg>,
    /// A usage quota: the credits to start with, spent by tokens issued and checks.
    #[arg(long, value_name = "CREDITS")]
    quota: Option<u64>,
    /// How the quota refills: AMOUNT/daily, AMOUNT/monthly or AMOUNT/monthly@DAY (DAY 1–31;
    /// default 1). None: credits come back only with `keys quota add|set`.
    #[arg(long, value_name = "AMOUNT/INTERVAL", value_parser = refill_arg, requires = "quota")]
    refill: Option<RefillArg>,
}

impl NewLimits {
    /// `rate_limits` of the create body.
    pub fn rate_limits(&self) -> Option<Value> {
        (!self.rate_limits.is_empty()).then(|| rate_limits_json(&self.rate_limits))
    }

    /// `quota` of the create body.
    pub fn quota(&self) -> Option<Value> {
        self.quota
            .map(|credits| json!({"remaining": credits, "refill": refill_json(self.refill)}))
    }
}

/// Changes to the limits of a key.
#[derive(Debug, Args)]
pub struct LimitChanges {
    /// Replaces every rate limit, [NAME=]LIMIT/WINDOW as on create (repeat for several).
    #[arg(long = "rate-limit", value_name = RATE_LIMIT_FORM, value_parser = rate_limit_arg,
          conflicts_with = "no_rate_limits")]
    rate_limits: Vec<RateLimitArg>,
    /// Remove every rate limit.
    #[arg(long)]
    no_rate_limits: bool,
    /// Replaces the quota with one of CREDITS left; say how it refills with --refill or
    /// --no-refill (to change only the credits: `keys quota set`).
    #[arg(long, value_name = "CREDITS", requires = "refill_choice")]
    quota: Option<u64>,
    /// A new refill, AMOUNT/daily, AMOUNT/monthly or AMOUNT/monthly@DAY; without --quota the
    /// credits left are kept.
    #[arg(long, value_name = "AMOUNT/INTERVAL", value_parser = refill_arg, group = "refill_choice")]
    refill: Option<RefillArg>,
    /// Stop refilling the quota; without --quota the credits left are kept.
    #[arg(long, group = "refill_choice")]
    no_refill: bool,
    /// Remove the quota (the key's use is no longer counted against credits).
    #[arg(long, conflicts_with_all = ["quota", "refill", "no_refill"])]
    no_quota: bool,
}

impl LimitChanges {
    /// `rate_limits` of the PATCH body: `Some(None)` removes them.
    pub fn rate_limits(&self) -> Option<Option<Value>> {
        if self.no_rate_limits {
            Some(None)
        } else {
            (!self.rate_limits.is_empty()).then(|| Some(rate_limits_json(&self.rate_limits)))
        }
    }

    /// `quota` of the PATCH body: `Some(None)` removes it; a quota without `remaining` keeps
    /// the credits and changes only the refill.
    pub fn quota(&self) -> Option<Option<Value>> {
        if self.no_quota {
            return Some(None);
        }
        let refill = refill_json(self.refill);
        match (self.quota, self.refill.is_some() || self.no_refill) {
            (Some(credits), _) => Some(Some(json!({"remaining": credits, "refill": refill}))),
            (None, true) => Some(Some(json!({ "refill": refill }))),
            (None, false) => None,
        }
    }
}

/// One `--rate-limit` as given; its numbers are checked by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitArg {
    name: Option<String>,
    limit: u64,
    window_seconds: u64,
}

/// One `--refill` as given; its numbers are checked by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefillArg {
    amount: u64,
    interval: Interval,
    day_of_month: Option<u64>,
}

/// `--rate-limit [NAME=]LIMIT/WINDOW`, WINDOW a number of seconds or with a unit s, m, h or d.
fn rate_limit_arg(text: &str) -> Result<RateLimitArg, String> {
    let malformed = || {
        format!("{text:?} is not {RATE_LIMIT_FORM}, e.g. default=100/60s (WINDOW in s, m, h or d)")
    };
    let (name, rest) = match text.split_once('=') {
        Some((name, rest)) => (Some(name.to_owned()), rest),
        None => (None, text),
    };
    let (limit, window) = rest.split_once('/').ok_or_else(malformed)?;
    Ok(RateLimitArg {
        name,
        limit: whole_number(limit).ok_or_else(malformed)?,
        window_seconds: window_seconds(window).ok_or_else(malformed)?,
    })
}

/// A window such as `60`, `60s`, `1m`, `1h` or `1d`, in seconds; saturates as [`whole_number`].
fn window_seconds(text: &str) -> Option<u64> {
    let (number, unit) = match text.char_indices().last()? {
        (at, 's') => (&text[..at], 1),
        (at, 'm') => (&text[..at], 60),
        (at, 'h') => (&text[..at], 3_600),
        (at, 'd') => (&text[..at], 86_400),
        _ => (text, 1),
    };
    whole_number(number).map(|n| n.saturating_mul(unit))
}

/// `--refill AMOUNT/daily`, `AMOUNT/monthly` or `AMOUNT/monthly@DAY`.
fn refill_arg(text: &str) -> Result<RefillArg, String> {
    let malformed = || format!("{text:?} is not {REFILL_FORMS}, e.g. 1000/monthly@1");
    let (amount, interval) = text.split_once('/').ok_or_else(malformed)?;
    let amount = whole_number(amount).ok_or_else(malformed)?;
    let (interval, day_of_month) = match interval.split_once('@') {
        None if interval == "daily" => (Interval::Daily, None),
        None if interval == "monthly" => (Interval::Monthly, None),
        Some(("monthly", day)) => (Interval::Monthly, Some(day)),
        _ => return Err(malformed()),
    };
    let day_of_month = match day_of_month {
        Some(day) => Some(whole_number(day).ok_or_else(malformed)?),
        None => None,
    };
    Ok(RefillArg {
        amount,
        interval,
        day_of_month,
    })
}

/// Decimal digits only (`u64::from_str` would also take a sign). Too many of them saturate:
/// the number is well formed, and the server's range check says what it may be.
fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse().unwrap_or(u64::MAX))
}

/// A limit without a name is left without one: the server names it `default`.
fn rate_limits_json(limits: &[RateLimitArg]) -> Value {
    let items = limits.iter().map(|l| {
        let mut item = json!({"limit": l.limit, "window_seconds": l.window_seconds});
        if let Some(name) = &l.name {
            item["name"] = json!(name);
        }
        item
    });
    Value::Array(items.collect())
}

fn refill_json(refill: Option<RefillArg>) -> Value {
    match refill {
        None => Value::Null,
        Some(r) => {
            let mut value = json!({"amount": r.amount, "interval": r.interval});
            if let Some(day) = r.day_of_month {
                value["day_of_month"] = json!(day);
            }
            value
        }
    }
}

/// `default 100/60s, burst 10/1s`, or `none`: windows in seconds, as `--rate-limit` takes them.
pub fn rate_limits_text(limits: &[RateLimit]) -> String {
    if limits.is_empty() {
        return "none".to_owned();
    }
    let each = limits
        .iter()
        .map(|l| format!("{} {}/{}s", l.name, l.limit, l.window_seconds));
    each.collect::<Vec<_>>().join(", ")
}

/// `940 left, refills 1000 monthly on day 1`, `5 left, no refill`, or `unlimited`.
pub fn quota_text(quota: Option<&Quota>) -> String {
    let Some(quota) = quota else {
        return "unlimited".to_owned();
    };
    let refill = match quota.refill {
        None => "no refill".to_owned(),
        Some(r) => refill_text(&r),
    };
    format!("{}, {refill}", credits_text(quota))
}

/// `940 left`: the credits of a quota as views count them (a view always has them).
pub fn credits_text(quota: &Quota) -> String {
    match quota.remaining {
        Some(n) => format!("{n} left"),
        None => "? left".to_owned(),
    }
}

fn refill_text(refill: &Refill) -> String {
    match refill.interval {
        Interval::Daily => format!("refills {} daily", refill.amount),
        // A monthly refill without a day refills on the 1st (`Refill::next_after`).
        Interval::Monthly => format!(
            "refills {} monthly on day {}",
            refill.amount,
            refill.day_of_month.unwrap_or(1)
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limit(name: Option<&str>, limit: u64, window_seconds: u64) -> RateLimitArg {
        let name = name.map(str::to_owned);
        RateLimitArg {
            name,
            limit,
            window_seconds,
        }
    }

    #[test]
    fn a_rate_limit_takes_an_optional_name_and_a_window_with_a_unit() {
        for (text, expected) in [
            ("default=100/60s", limit(Some("default"), 100, 60)),
            ("100/60", limit(None, 100, 60)),
            ("burst=10/1s", limit(Some("burst"), 10, 1)),
            ("a=5/2m", limit(Some("a"), 5, 120)),
            ("5/1h", limit(None, 5, 3_600)),
            ("5/1d", limit(None, 5, 86_400)),
            // Out of range, but well formed: the server says which field and why.
            ("a=0/60s", limit(Some("a"), 0, 60)),
            ("=1/1s", limit(Some(""), 1, 1)),
            ("1/99999999999999999999", limit(None, 1, u64::MAX)),
            ("1/9999999999999999999d", limit(None, 1, u64::MAX)),
        ] {
            assert_eq!(rate_limit_arg(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn a_malformed_rate_limit_is_one_sentence_naming_the_form() {
        for text in [
            "x=abc", "10", "10/", "/60s", "10/60w", "10/s", "-1/60s", "1/+5s", "",
        ] {
            let error = rate_limit_arg(text).unwrap_err();
            assert!(error.contains("[NAME=]LIMIT/WINDOW"), "{text}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn a_refill_is_daily_or_monthly_on_an_optional_day() {
        let refill = |amount, interval, day_of_month| RefillArg {
            amount,
            interval,
            day_of_month,
        };
        for (text, expected) in [
            ("1000/daily", refill(1000, Interval::Daily, None)),
            ("5/monthly", refill(5, Interval::Monthly, None)),
            ("5/monthly@31", refill(5, Interval::Monthly, Some(31))),
            ("5/monthly@32", refill(5, Interval::Monthly, Some(32))),
        ] {
            assert_eq!(refill_arg(text), Ok(expected), "{text}");
        }
        for text in [
            "5/weekly",
            "daily",
            "5/daily@1",
            "5/monthly@",
            "x/daily",
            "5/Monthly",
        ] {
            let error = refill_arg(text).unwrap_err();
            assert!(error.contains("AMOUNT/monthly@DAY"), "{text}: {error}");
        }
    }

    #[test]
    fn the_flags_become_the_json_of_the_api() {
        let limits = [limit(None, 100, 60), limit(Some("burst"), 10, 1)];
        let expected = json!([
            {"limit": 100, "window_seconds": 60},
            {"name": "burst", "limit": 10, "window_seconds": 1},
        ]);
        assert_eq!(rate_limits_json(&limits), expected);
        let monthly = refill_arg("7/monthly@3").ok();
        let expected = json!({"amount": 7, "interval": "monthly", "day_of_month": 3});
        assert_eq!(refill_json(monthly), expected);
        let daily = refill_arg("7/daily").ok();
        assert_eq!(
            refill_json(daily),
            json!({"amount": 7, "interval": "daily"})
        );
    }

    #[test]
    fn limits_read_as_the_flags_write_them() {
        let limits = [
            RateLimit {
                name: "default".into(),
                limit: 100,
                window_seconds: 60,
            },
            RateLimit {
                name: "burst".into(),
                limit: 10,
                window_seconds: 1,
            },
        ];
        assert_eq!(rate_limits_text(&limits), "default 100/60s, burst 10/1s");
        assert_eq!(rate_limits_text(&[]), "none");
        let monthly = Quota {
            remaining: Some(940),
            refill: Some(Refill {
                amount: 1000,
                interval: Interval::Monthly,
                day_of_month: None,
            }),
        };
        let text = quota_text(Some(&monthly));
        assert_eq!(text, "940 left, refills 1000 monthly on day 1");
        let never = Quota {
            remaining: Some(5),
            refill: None,
        };
        assert_eq!(quota_text(Some(&never)), "5 left, no refill");
        assert_eq!(quota_text(None), "unlimited");
    }
}
