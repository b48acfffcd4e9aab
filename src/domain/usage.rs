//! Usage counting rules: what is counted, the UTC hour/day buckets, and adding counts up.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::Serialize;

/// Why a request was refused (`totals.denied_by_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    BadSecret,
    Revoked,
    Expired,
    IpNotAllowed,
    ScopeNotAllowed,
}

impl DenyReason {
    pub const ALL: [DenyReason; 5] = [
        DenyReason::BadSecret,
        DenyReason::Revoked,
        DenyReason::Expired,
        DenyReason::IpNotAllowed,
        DenyReason::ScopeNotAllowed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DenyReason::BadSecret => "bad_secret",
            DenyReason::Revoked => "revoked",
            DenyReason::Expired => "expired",
            DenyReason::IpNotAllowed => "ip_not_allowed",
            DenyReason::ScopeNotAllowed => "scope_not_allowed",
        }
    }

    fn index(&self) -> usize {
        *self as usize
    }
}

/// One counted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageEvent {
    TokenIssued,
    /// A direct authentication with the key's secret or one of its tokens (admin API,
    /// introspection, `/v1/check`).
    Request,
    Denied(DenyReason),
}

/// Counts of one key in one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tokens_issued: u64,
    pub requests: u64,
    pub denied: [u64; 5],
}

impl Counts {
    pub fn add_event(&mut self, e: UsageEvent) {
        match e {
            UsageEvent::TokenIssued => self.tokens_issued += 1,
            UsageEvent::Request => self.requests += 1,
            UsageEvent::Denied(r) => self.denied[r.index()] += 1,
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.tokens_issued += other.tokens_issued;
        self.requests += other.requests;
        for (a, b) in self.denied.iter_mut().zip(other.denied) {
            *a += b;
        }
    }

    pub fn denied_total(&self) -> u64 {
        self.denied.iter().sum()
    }

    pub fn denied_of(&self, r: DenyReason) -> u64 {
        self.denied[r.index()]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
}

impl Granularity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Granularity::Hour),
            "day" => Some(Granularity::Day),
            _ => None,
        }
    }

    pub fn step(&self) -> Duration {
        match self {
            Granularity::Hour => Duration::hours(1),
            Granularity::Day => Duration::days(1),
        }
    }

    /// Start of the UTC bucket holding `t`.
    pub fn start_of(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.duration_trunc(self.step()).unwrap_or(t)
    }
}

/// Start of the UTC hour holding `t`: the unit counts are kept and flushed in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    Granularity::Hour.start_of(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn buckets_are_utc_hours_and_days() {
        assert_eq!(
            hour_of(t("2026-03-01T23:59:59.9Z")),
            t("2026-03-01T23:00:00Z")
        );
        assert_eq!(
            Granularity::Day.start_of(t("2026-03-01T23:59:59Z")),
            t("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            Granularity::Day.start_of(t("2026-03-02T00:00:00Z")),
            t("2026-03-02T00:00:00Z")
        );
        assert_eq!(
            Granularity::Day.start_of(t("2026-03-02T01:30:00+02:00")),
            t("2026-03-01T00:00:00Z")
        );
    }

    #[test]
    fn counts_add_up_by_event_and_reason() {
        let mut c = Counts::default();
        for e in [
            UsageEvent::TokenIssued,
            UsageEvent::Request,
            UsageEvent::Denied(DenyReason::Expired),
            UsageEvent::Denied(DenyReason::Expired),
        ] {
            c.add_event(e);
        }
        let mut total = Counts::default();
        total.add(&c);
        total.add(&c);
        assert_eq!(
            (total.tokens_issued, total.requests, total.denied_total()),
            (2, 2, 4)
        );
        assert_eq!(total.denied_of(DenyReason::Expired), 4);
    }
}
