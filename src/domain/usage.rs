//! Usage counting rules: what is counted, the UTC hour/day buckets, adding counts up, and the
//! [`Batch`] of counts and last uses that the recorder (`crate::usage`) fills and the store
//! writes. The batch is plain data and lives here, below both, so that the store can take it
//! without depending on the recorder (dependencies point one way: domain ← store ← usage).

use std::collections::HashMap;
use std::net::IpAddr;

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
    /// Over one of the key's rate limits.
    RateLimited,
    /// The key's quota has no credit left.
    QuotaExhausted,
}

impl DenyReason {
    pub const ALL: [DenyReason; 7] = [
        DenyReason::BadSecret,
        DenyReason::Revoked,
        DenyReason::Expired,
        DenyReason::IpNotAllowed,
        DenyReason::ScopeNotAllowed,
        DenyReason::RateLimited,
        DenyReason::QuotaExhausted,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DenyReason::BadSecret => "bad_secret",
            DenyReason::Revoked => "revoked",
            DenyReason::Expired => "expired",
            DenyReason::IpNotAllowed => "ip_not_allowed",
            DenyReason::ScopeNotAllowed => "scope_not_allowed",
            DenyReason::RateLimited => "rate_limited",
            DenyReason::QuotaExhausted => "quota_exhausted",
        }
    }

    fn index(&self) -> usize {
        *self as usize
    }
}

/// How the client authenticated for a token (`totals.tokens_by_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAuth {
    /// Its secret (HTTP Basic or the body).
    ClientSecret,
    /// An RFC 7523 assertion signed with its own key (`public_keys` or `jwks_uri`).
    PrivateKeyJwt,
    /// A federated workload's token (`federated_credentials`).
    Federated,
}

impl TokenAuth {
    pub const ALL: [TokenAuth; 3] = [
        TokenAuth::ClientSecret,
        TokenAuth::PrivateKeyJwt,
        TokenAuth::Federated,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            TokenAuth::ClientSecret => "client_secret",
            TokenAuth::PrivateKeyJwt => "private_key_jwt",
            TokenAuth::Federated => "federated",
        }
    }
}

/// One counted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageEvent {
    TokenIssued(TokenAuth),
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
    /// Indexed in [`DenyReason::ALL`] order.
    pub denied: [u64; DenyReason::ALL.len()],
    /// Of `tokens_issued`, those whose client authenticated with its own key's assertion.
    pub tokens_private_key_jwt: u64,
    /// Of `tokens_issued`, those whose client was a federated workload.
    pub tokens_federated: u64,
}

impl Counts {
    /// How many counters there are: tokens issued, requests, one per [`DenyReason`], then the
    /// tokens of the two assertion methods (a secret's are the rest of `tokens_issued`).
    pub const LEN: usize = 2 + DenyReason::ALL.len() + 2;

    /// The counters in their one fixed order: tokens issued, requests, then the denials in
    /// [`DenyReason::ALL`] order, then the tokens by `private_key_jwt` and by federation. The
    /// store names its columns in this order, so code that
    /// moves counts to or from storage walks this array instead of naming each field.
    pub fn to_array(&self) -> [u64; Counts::LEN] {
        let mut all = [0; Counts::LEN];
        all[0] = self.tokens_issued;
        all[1] = self.requests;
        all[2..Counts::LEN - 2].copy_from_slice(&self.denied);
        all[Counts::LEN - 2] = self.tokens_private_key_jwt;
        all[Counts::LEN - 1] = self.tokens_federated;
        all
    }

    /// The inverse of [`Counts::to_array`].
    pub fn from_array(all: [u64; Counts::LEN]) -> Self {
        let [
            tokens_issued,
            requests,
            denied @ ..,
            tokens_private_key_jwt,
            tokens_federated,
        ] = all;
        Counts {
            tokens_issued,
            requests,
            denied,
            tokens_private_key_jwt,
            tokens_federated,
        }
    }

    pub fn add_event(&mut self, e: UsageEvent) {
        match e {
            UsageEvent::TokenIssued(how) => {
                self.tokens_issued += 1;
                match how {
                    TokenAuth::ClientSecret => {}
                    TokenAuth::PrivateKeyJwt => self.tokens_private_key_jwt += 1,
                    TokenAuth::Federated => self.tokens_federated += 1,
                }
            }
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
        self.tokens_private_key_jwt += other.tokens_private_key_jwt;
        self.tokens_federated += other.tokens_federated;
    }

    /// Tokens issued to clients that authenticated `how`.
    pub fn tokens_by(&self, how: TokenAuth) -> u64 {
        match how {
            TokenAuth::ClientSecret => self
                .tokens_issued
                .saturating_sub(self.tokens_private_key_jwt + self.tokens_federated),
            TokenAuth::PrivateKeyJwt => self.tokens_private_key_jwt,
            TokenAuth::Federated => self.tokens_federated,
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

/// When a key was last used, and from which address (`None`: not known, e.g. no peer address).
pub type LastUse = (DateTime<Utc>, Option<IpAddr>);

/// Counts and last use of keys since the previous flush: what one shard of the recorder
/// accumulates, and what the store writes in one transaction.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Per key and UTC hour ([`hour_of`]).
    pub counts: HashMap<(String, DateTime<Utc>), Counts>,
    /// Latest use per key.
    pub last_used: HashMap<String, LastUse>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.last_used.is_empty()
    }

    /// Counts one event in its key's hour. A use (token, request) also moves the key's last use
    /// forward; a denial does not: a refused attempt is not a use of the key.
    pub fn record(
        &mut self,
        key_id: &str,
        event: UsageEvent,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
    ) {
        self.counts
            .entry((key_id.to_owned(), hour_of(at)))
            .or_default()
            .add_event(event);
        if !matches!(event, UsageEvent::Denied(_)) {
            match self.last_used.get_mut(key_id) {
                Some(used) if used.0 >= at => {}
                Some(used) => *used = (at, ip),
                None => {
                    self.last_used.insert(key_id.to_owned(), (at, ip));
                }
            }
        }
    }

    /// Adds `other` in: counts are summed and the later last use of a key is kept, so batches
    /// merge to the same result in any order (shards taken one by one, a failed flush put back).
    pub fn merge(&mut self, other: Batch) {
        for (k, c) in other.counts {
            self.counts.entry(k).or_default().add(&c);
        }
        for (k, used) in other.last_used {
            match self.last_used.get(&k) {
                Some(existing) if existing.0 >= used.0 => {}
                _ => {
                    self.last_used.insert(k, used);
                }
            }
        }
    }
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
            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
            UsageEvent::TokenIssued(TokenAuth::Federated),
            UsageEvent::TokenIssued(TokenAuth::PrivateKeyJwt),
            UsageEvent::TokenIssued(TokenAuth::Federated),
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
            (8, 2, 4)
        );
        assert_eq!(total.denied_of(DenyReason::Expired), 4);
        let by: Vec<u64> = TokenAuth::ALL.iter().map(|h| total.tokens_by(*h)).collect();
        assert_eq!(by, [2, 2, 4]);
    }

    #[test]
    fn counts_round_trip_through_their_array_in_column_order() {
        let mut c = Counts {
            tokens_issued: 1,
            requests: 2,
            tokens_private_key_jwt: 3,
            tokens_federated: 4,
            ..Counts::default()
        };
        for (i, r) in DenyReason::ALL.iter().enumerate() {
            c.denied[r.index()] = 10 + i as u64;
        }
        assert_eq!(c.to_array(), [1, 2, 10, 11, 12, 13, 14, 15, 16, 3, 4]);
        assert_eq!(Counts::from_array(c.to_array()), c);
    }

    #[test]
    fn a_last_use_never_moves_back_whatever_the_merge_order() {
        let (early, late) = (t("2026-03-01T10:00:00Z"), t("2026-03-01T10:05:00Z"));
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        let mut a = Batch::default();
        a.record(
            "key_a",
            UsageEvent::TokenIssued(TokenAuth::ClientSecret),
            late,
            ip,
        );
        let mut b = Batch::default();
        b.record("key_a", UsageEvent::Request, early, None);
        b.record("key_a", UsageEvent::Denied(DenyReason::Revoked), late, None);

        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b;
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.last_used["key_a"], (late, ip));
        assert_eq!(
            ab.counts[&("key_a".to_owned(), hour_of(late))].to_array(),
            [1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
