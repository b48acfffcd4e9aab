//! Usage reports: buckets, totals by denial reason, last use, and the busiest keys of an org.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ServiceError, ServiceResult};
use crate::domain::FieldError;
use crate::domain::usage::{Counts, DenyReason, Granularity, TokenAuth};
use crate::store::{self, DbConnection};

/// Longest report per granularity: keeps a dense series (and the rows read) bounded.
pub const MAX_HOURLY_RANGE_DAYS: i64 = 31;
pub const MAX_DAILY_RANGE_DAYS: i64 = 400;
const TOP_KEYS: usize = 10;

/// The query of both usage reports, as received (text); the OpenAPI document describes the
/// accepted values.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// RFC 3339 start; default: `to` minus 24 hours (hourly) or 30 days (daily).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339 end; default: now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// `hour` (the default; at most 31 days) or `day` (at most 400 days).
    #[param(value_type = Option<Granularity>)]
    pub granularity: Option<String>,
}

/// The org-wide report's ranking option, as received (text).
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankingParams {
    /// `true`: rank web-console session keys among the busiest keys too. By default they are
    /// left out of `top_keys` (their traffic is still in every total).
    #[param(value_type = Option<bool>)]
    pub include_sessions: Option<String>,
}

impl RankingParams {
    fn include_sessions(&self) -> ServiceResult<bool> {
        match self.include_sessions.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ServiceError::Validation(vec![FieldError::new(
                "include_sessions",
                "must be true or false",
            )])),
        }
    }
}

/// The counts of one hour or day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = UsageBucket)]
pub struct Bucket {
    pub start: DateTime<Utc>,
    pub tokens_issued: u64,
    pub requests: u64,
    pub denied: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = UsageTotals)]
pub struct Totals {
    pub tokens_issued: u64,
    pub requests: u64,
    pub denied: u64,
    /// `bad_secret`, `revoked`, `expired`, `ip_not_allowed`, `scope_not_allowed`: each present.
    pub denied_by_reason: BTreeMap<&'static str, u64>,
    /// The tokens issued by how the client authenticated: `client_secret`, `private_key_jwt`,
    /// `federated`, each present.
    pub tokens_by_auth_method: BTreeMap<&'static str, u64>,
}

impl From<&Counts> for Totals {
    fn from(c: &Counts) -> Self {
        Totals {
            tokens_issued: c.tokens_issued,
            requests: c.requests,
            denied: c.denied_total(),
            denied_by_reason: DenyReason::ALL
                .iter()
                .map(|r| (r.as_str(), c.denied_of(*r)))
                .collect(),
            tokens_by_auth_method: TokenAuth::ALL
                .iter()
                .map(|how| (how.as_str(), c.tokens_by(*how)))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TopKey {
    pub key_id: String,
    pub name: String,
    pub tokens_issued: u64,
    pub requests: u64,
    pub denied: u64,
}

/// A usage report: one bucket per hour or day of the range (empty ones included), and totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UsageReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub granularity: Granularity,
    pub buckets: Vec<Bucket>,
    pub totals: Totals,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// Org-wide reports only: the busiest keys of the range, web-console sessions left out
    /// unless `include_sessions=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_keys: Option<Vec<TopKey>>,
}

struct Range {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    granularity: Granularity,
}

fn parse_params(p: &UsageParams, now: DateTime<Utc>) -> ServiceResult<Range> {
    let mut errors = Vec::new();
    let granularity = match p.granularity.as_deref() {
        None => Granularity::Hour,
        Some(g) => Granularity::parse(g).unwrap_or_else(|| {
            errors.push(FieldError::new("granularity", "must be hour or day"));
            Granularity::Hour
        }),
    };
    let mut time = |field: &str, v: &Option<String>| -> Option<DateTime<Utc>> {
        let text = v.as_deref()?;
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                errors.push(FieldError::new(
                    field,
                    "must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z",
                ));
                None
            }
        }
    };
    let to = time("to", &p.to).unwrap_or(now);
    let default_span = match granularity {
        Granularity::Hour => Duration::hours(24),
        Granularity::Day => Duration::days(30),
    };
    let from = time("from", &p.from).unwrap_or(to - default_span);
    let (from, to) = (
        granularity.start_of(from),
        granularity.start_of(to) + granularity.step(),
    );
    let max = match granularity {
        Granularity::Hour => Duration::days(MAX_HOURLY_RANGE_DAYS),
        Granularity::Day => Duration::days(MAX_DAILY_RANGE_DAYS),
    };
    if errors.is_empty() {
        if from >= to {
            errors.push(FieldError::new("from", "must be before `to`"));
        } else if to - from > max + granularity.step() {
            errors.push(FieldError::new(
                "from",
                format!(
                    "the range is longer than {} days; use granularity=day or a shorter range",
                    max.num_days()
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Range {
            from,
            to,
            granularity,
        })
    } else {
        Err(ServiceError::Validation(errors))
    }
}

/// Dense series: one bucket per step from `from` to `to`, zeros included, so charts need no
/// gap filling.
fn report(rows: &[store::usage::UsageRow], range: &Range) -> (Vec<Bucket>, Counts) {
    let mut by_bucket: HashMap<DateTime<Utc>, Counts> = HashMap::new();
    let mut total = Counts::default();
    for (_, at, counts) in rows {
        by_bucket
            .entry(range.granularity.start_of(*at))
            .or_default()
            .add(counts);
        total.add(counts);
    }
    let mut buckets = Vec::new();
    let mut t = range.from;
    while t < range.to {
        let c = by_bucket.get(&t).copied().unwrap_or_default();
        buckets.push(Bucket {
            start: t,
            tokens_issued: c.tokens_issued,
            requests: c.requests,
            denied: c.denied_total(),
        });
        t += range.granularity.step();
    }
    (buckets, total)
}

pub fn key_usage(
    conn: &mut DbConnection,
    org_id: &str,
    key_id: &str,
    params: &UsageParams,
    now: DateTime<Utc>,
) -> ServiceResult<UsageReport> {
    let range = parse_params(params, now)?;
    // Counters first, then the key: a flush writes both in one transaction, so a report that
    // shows a flush's counts also shows the last use it recorded (read the other way round, a
    // flush committing in between gave new counts next to the old last use).
    let rows = store::usage::rows(conn, org_id, Some(key_id), range.from, range.to)?;
    let key = store::keys::find(conn, org_id, key_id)?
        .ok_or_else(|| ServiceError::KeyNotFound(key_id.to_owned()))?;
    let (buckets, total) = report(&rows, &range);
    Ok(UsageReport {
        from: range.from,
        to: range.to,
        granularity: range.granularity,
        buckets,
        totals: Totals::from(&total),
        last_used_at: key.last_used_at,
        last_used_ip: key.last_used_ip,
        top_keys: None,
    })
}

/// The org's report: every key's traffic in the buckets and totals; the busiest keys ranked
/// without console sessions unless `ranking` includes them (a console in use would otherwise
/// fill the ranking with its own sessions).
pub fn org_usage(
    conn: &mut DbConnection,
    org_id: &str,
    params: &UsageParams,
    ranking: &RankingParams,
    now: DateTime<Utc>,
) -> ServiceResult<UsageReport> {
    let range = parse_params(params, now);
    let include_sessions = ranking.include_sessions();
    let (range, include_sessions) = match (range, include_sessions) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(ServiceError::Validation(mut a)), Err(ServiceError::Validation(b))) => {
            a.extend(b);
            return Err(ServiceError::Validation(a));
        }
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let rows = store::usage::rows(conn, org_id, None, range.from, range.to)?;
    let (buckets, total) = report(&rows, &range);
    let mut per_key: HashMap<&str, Counts> = HashMap::new();
    for (key, _, counts) in &rows {
        per_key.entry(key.as_str()).or_default().add(counts);
    }
    let mut ranked: Vec<(&str, Counts)> = per_key.into_iter().collect();
    ranked.sort_by(|a, b| {
        (b.1.tokens_issued + b.1.requests, b.1.denied_total(), a.0).cmp(&(
            a.1.tokens_issued + a.1.requests,
            a.1.denied_total(),
            b.0,
        ))
    });
    let ids: Vec<String> = ranked.iter().map(|(k, _)| (*k).to_owned()).collect();
    let labels = store::keys::labels(conn, org_id, &ids)?;
    let is_session = |k: &str| {
        labels
            .get(k)
            .is_some_and(|l| l.kind == crate::domain::key::KeyKind::ConsoleSession)
    };
    ranked.retain(|(k, _)| include_sessions || !is_session(k));
    ranked.truncate(TOP_KEYS);
    let top_keys = ranked
        .into_iter()
        .map(|(k, c)| TopKey {
            name: labels.get(k).map(|l| l.name.clone()).unwrap_or_default(),
            key_id: k.to_owned(),
            tokens_issued: c.tokens_issued,
            requests: c.requests,
            denied: c.denied_total(),
        })
        .collect();
    let last = store::keys::last_used_in_org(conn, org_id)?;
    Ok(UsageReport {
        from: range.from,
        to: range.to,
        granularity: range.granularity,
        buckets,
        totals: Totals::from(&total),
        last_used_at: last.as_ref().map(|l| l.at),
        last_used_ip: last.and_then(|l| l.ip),
        top_keys: Some(top_keys),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn params(from: &str, to: &str, g: &str) -> UsageParams {
        UsageParams {
            from: Some(from.into()),
            to: Some(to.into()),
            granularity: Some(g.into()),
        }
    }

    #[test]
    fn day_buckets_split_at_utc_midnight() {
        let range = parse_params(
            &params("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "day"),
            t("2026-03-05T00:00:00Z"),
        )
        .unwrap();
        let before = Counts {
            tokens_issued: 3,
            ..Counts::default()
        };
        let after = Counts {
            tokens_issued: 5,
            ..Counts::default()
        };
        let rows = vec![
            ("key_a".to_owned(), t("2026-03-01T23:00:00Z"), before),
            ("key_a".to_owned(), t("2026-03-02T00:00:00Z"), after),
        ];
        let (buckets, total) = report(&rows, &range);
        assert_eq!(
            buckets
                .iter()
                .map(|b| (b.start, b.tokens_issued))
                .collect::<Vec<_>>(),
            vec![
                (t("2026-03-01T00:00:00Z"), 3),
                (t("2026-03-02T00:00:00Z"), 5)
            ]
        );
        assert_eq!(total.tokens_issued, 8);
    }

    #[test]
    fn hourly_series_are_dense_and_ranges_validated() {
        let now = t("2026-03-05T10:30:00Z");
        let range = parse_params(&UsageParams::default(), now).unwrap();
        let (buckets, _) = report(&[], &range);
        assert_eq!(buckets.len(), 25, "the last 24 hours and the current one");
        assert_eq!(buckets.last().unwrap().start, t("2026-03-05T10:00:00Z"));
        for (p, field) in [
            (
                params("2026-03-05T00:00:00Z", "2026-03-01T00:00:00Z", "hour"),
                "from",
            ),
            (
                params("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "hour"),
                "from",
            ),
            (params("yesterday", "2026-03-01T00:00:00Z", "hour"), "from"),
            (
                params("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "week"),
                "granularity",
            ),
        ] {
            match parse_params(&p, now) {
                Err(ServiceError::Validation(e)) => assert_eq!(e[0].field, field),
                _ => panic!("expected a validation error for {p:?}"),
            }
        }
    }
}
