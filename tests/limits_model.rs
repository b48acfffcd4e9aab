//! Model-based test of rate limits and quotas (`service::authority::budget` over
//! `store::limits`): random sequences of checks of random cost on up to three nodes sharing one
//! database, clock steps across windows, background syncs, credit top-ups, graceful stops and
//! crashes (a node dropped without giving anything back). Every answer is checked against a
//! plain model:
//! - on any number of nodes, the cost admitted in a window never exceeds its limit, and the
//!   credits spent never exceed the credits granted (the safety the design promises);
//! - on one node that never crashed, every answer is exactly the model's (allowed iff every
//!   limit and the quota have room, and the reason names the first that has none).
//!
//! A quota's refill at a month's end, with a fixed clock, is its own test below.
//!
//! Runs on SQLite in `cargo test` (`LATCHKEY_LIMITS_CASES`, default 96) and on PostgreSQL when
//! it is installed (`LATCHKEY_LIMITS_PG_CASES`, default 16).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use cases::{cases, config};
use serde_json::json;

use latchkey::domain::refusal::CheckReason;
use latchkey::service::ServiceResult;
use latchkey::service::actor::Actor;
use latchkey::service::authority::{Authority, CheckRequest, Decision};
use latchkey::service::keys::{self, CreditChange};
use latchkey::store::{self, Conn};

#[path = "support/cases.rs"]
mod cases;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/authority.rs"]
mod support;

use support::{Database, THROTTLE_OFF};

#[derive(Debug, Clone)]
enum Op {
    Check { node: usize, cost: u64 },
    Advance { ms: i64 },
    Sync { node: usize, housekeeping: bool },
    Add { node: usize, credits: u64 },
    Stop { node: usize },
    Crash { node: usize },
}

fn op(nodes: usize) -> impl Strategy<Value = Op> {
    let node = 0..nodes;
    prop_oneof![
        8 => (node.clone(), prop_oneof![3 => Just(1u64), 1 => 0..4u64]).prop_map(|(node, cost)| Op::Check { node, cost }),
        3 => (0..2_500i64).prop_map(|ms| Op::Advance { ms }),
        2 => (node.clone(), any::<bool>()).prop_map(|(node, housekeeping)| Op::Sync { node, housekeeping }),
        1 => (node.clone(), 0..6u64).prop_map(|(node, credits)| Op::Add { node, credits }),
        1 => node.clone().prop_map(|node| Op::Stop { node }),
        1 => node.prop_map(|node| Op::Crash { node }),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    nodes: usize,
    limits: Vec<(u32, u32)>,
    credits: u64,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        1..=3usize,
        proptest::collection::vec((1..12u32, prop_oneof![Just(1u32), Just(2), Just(5)]), 0..=2),
        0..30u64,
    )
        .prop_map(|(nodes, limits, credits)| Setup {
            nodes,
            limits,
            credits,
        })
}

struct Sys {
    db: Database,
    nodes: Vec<Authority>,
    key_id: String,
    secret: String,
    now: DateTime<Utc>,
}

impl Sys {
    /// `nodes` nodes over a fresh SQLite database holding one key made from `body` at
    /// `created_at`, the clock at `now`.
    fn start(
        nodes: usize,
        body: serde_json::Value,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Sys {
        let db = Database::start(None);
        let draft = serde_json::from_value(body).unwrap();
        let created = {
            let mut conn = db.pool.get().unwrap();
            keys::create(
                &mut conn,
                &Actor::cli(&db.org_id),
                &draft,
                false,
                &Default::default(),
                created_at,
            )
            .unwrap()
        };
        Sys {
            nodes: (0..nodes).map(|_| db.plain_node(THROTTLE_OFF)).collect(),
            key_id: created.key.id.clone(),
            secret: created.secret.unwrap().expose().to_owned(),
            now,
            db,
        }
    }

    fn cli(&self) -> Actor {
        Actor::cli(&self.db.org_id)
    }

    fn read<T>(&self, f: impl Fn(&mut Conn<'_>) -> ServiceResult<T>) -> T {
        match f(&mut Conn::Offline) {
            Err(latchkey::service::ServiceError::Store(store::StoreError::Offline)) => {
                let mut conn = self.db.pool.get().unwrap();
                f(&mut Conn::Attached(&mut conn)).unwrap()
            }
            other => other.unwrap(),
        }
    }

    fn check(&self, node: usize, cost: u64) -> Decision {
        let request = CheckRequest {
            token: Some(self.secret.clone()),
            action: Some("read".into()),
            resource: Some("projects/1".into()),
            ip: None,
            cost: Some(json!(cost)),
        };
        let caller = self.cli();
        self.read(|c| self.nodes[node].check(c, &caller, &request, self.now))
            .unwrap()
    }
}

/// The model: what was admitted in each window of each limit, and the credits.
#[derive(Default)]
struct Model {
    windows: HashMap<(usize, i64), u64>,
    granted: u64,
    spent: u64,
}

fn window_of(now: DateTime<Utc>, window: u32) -> i64 {
    now.timestamp().div_euclid(i64::from(window))
}

fn run(url: Option<String>, setup: &Setup, ops: &[Op]) -> Result<(), TestCaseError> {
    let db = Database::start(url);
    let start = DateTime::parse_from_rfc3339("2027-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let rate_limits: Vec<_> = setup
        .limits
        .iter()
        .enumerate()
        .map(|(i, (limit, window))| json!({"name": format!("l{i}"), "limit": limit, "window_seconds": window}))
        .collect();
    let draft = serde_json::from_value(json!({
        "name": "metered", "scopes": ["read:projects/**"],
        "rate_limits": rate_limits, "quota": {"remaining": setup.credits},
    }))
    .unwrap();
    let created = {
        let mut conn = db.pool.get().unwrap();
        keys::create(
            &mut conn,
            &Actor::cli(&db.org_id),
            &draft,
            false,
            &Default::default(),
            start,
        )
        .unwrap()
    };
    let mut sys = Sys {
        nodes: (0..setup.nodes)
            .map(|_| db.plain_node(THROTTLE_OFF))
            .collect(),
        key_id: created.key.id.clone(),
        secret: created.secret.unwrap().expose().to_owned(),
        now: start,
        db,
    };
    let mut model = Model {
        granted: setup.credits,
        ..Model::default()
    };
    // Exact answers are promised on one node that never crashed.
    let mut exact = setup.nodes == 1;
    for (step, op) in ops.iter().enumerate() {
        let at = format!("step {step} {op:?}");
        match *op {
            Op::Check { node, cost } => {
                let d = sys.check(node, cost);
                let full = setup
                    .limits
                    .iter()
                    .enumerate()
                    .position(|(i, (limit, window))| {
                        model
                            .windows
                            .get(&(i, window_of(sys.now, *window)))
                            .copied()
                            .unwrap_or(0)
                            + cost
                            > u64::from(*limit)
                    });
                let expected = match full {
                    Some(_) => CheckReason::RateLimited,
                    None if model.spent + cost > model.granted => CheckReason::QuotaExhausted,
                    None => CheckReason::Allowed,
                };
                if exact {
                    prop_assert_eq!(d.reason, expected, "{}: {:?}", at, d);
                } else {
                    prop_assert!(
                        d.reason == expected || d.reason != CheckReason::Allowed,
                        "{}: allowed beyond a limit or the quota: {:?}",
                        at,
                        d
                    );
                }
                if d.allowed {
                    for (i, (_, window)) in setup.limits.iter().enumerate() {
                        *model
                            .windows
                            .entry((i, window_of(sys.now, *window)))
                            .or_default() += cost;
                    }
                    model.spent += cost;
                    prop_assert!(d.quota_remaining.is_some(), "{}: {:?}", at, d);
                    if exact {
                        prop_assert_eq!(
                            d.quota_remaining,
                            Some(model.granted - model.spent),
                            "{}",
                            at
                        );
                    }
                }
                // The safety every node count keeps.
                for ((i, _), admitted) in &model.windows {
                    prop_assert!(
                        *admitted <= u64::from(setup.limits[*i].0),
                        "{}: window over its limit",
                        at
                    );
                }
                prop_assert!(model.spent <= model.granted, "{}: quota overspent", at);
            }
            Op::Advance { ms } => sys.now += Duration::milliseconds(ms),
            Op::Sync { node, housekeeping } => {
                let mut conn = sys.db.pool.get().unwrap();
                let round = if housekeeping { 11 } else { 2 };
                sys.nodes[node]
                    .budget()
                    .sync(&mut conn, round, sys.now)
                    .unwrap();
            }
            Op::Add { node, credits } => {
                let mut conn = sys.db.pool.get().unwrap();
                sys.nodes[node]
                    .budget()
                    .report_all(&mut conn, sys.now)
                    .unwrap();
                let left = keys::change_credits(
                    &mut conn,
                    &sys.cli(),
                    &sys.key_id,
                    CreditChange::Add(credits),
                    sys.now,
                )
                .unwrap();
                sys.nodes[node].forget(&sys.key_id);
                model.granted += credits;
                if exact {
                    prop_assert_eq!(left, model.granted - model.spent, "{}", at);
                }
            }
            Op::Stop { node } => {
                let mut conn = sys.db.pool.get().unwrap();
                sys.nodes[node].budget().stop(&mut conn).unwrap();
                drop(conn);
                sys.nodes[node] = sys.db.plain_node(THROTTLE_OFF);
            }
            Op::Crash { node } => {
                // What it held is lost: only the safety bounds hold from here.
                sys.nodes[node] = sys.db.plain_node(THROTTLE_OFF);
                exact = false;
            }
        }
    }
    Ok(())
}

fn scenario() -> impl Strategy<Value = (Setup, Vec<Op>)> {
    setup().prop_flat_map(|s| {
        let n = s.nodes;
        (Just(s), proptest::collection::vec(op(n), 1..80))
    })
}

#[test]
fn limits_and_quotas_hold_on_any_number_of_nodes_sqlite() {
    proptest!(config(cases("LATCHKEY_LIMITS_CASES", 96)), |((setup, ops) in scenario())| {
        run(None, &setup, &ops)?;
    });
}

#[test]
fn limits_and_quotas_hold_on_any_number_of_nodes_postgres() {
    if postgres::server().is_none() {
        return;
    }
    proptest!(config(cases("LATCHKEY_LIMITS_PG_CASES", 16)), |((setup, ops) in scenario())| {
        run(Some(postgres::fresh_database_url().unwrap()), &setup, &ops)?;
    });
}

/// A monthly refill on the 31st, with a fixed clock: credits come back at UTC midnight of
/// January 31st and of February's last day, not a second before; credits left from the period
/// that ended do not carry over.
#[test]
fn a_monthly_refill_comes_at_the_months_last_day_when_it_lacks_the_day() {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut sys = Sys::start(
        1,
        json!({
            "name": "monthly", "scopes": ["read:projects/**"],
            "quota": {"remaining": 3, "refill": {"amount": 5, "interval": "monthly", "day_of_month": 31}},
        }),
        t("2027-01-15T08:00:00Z"),
        t("2027-01-20T00:00:00Z"),
    );
    let spend = |sys: &Sys, cost: u64| sys.check(0, cost);
    assert_eq!(spend(&sys, 3).quota_remaining, Some(0));
    sys.now = t("2027-01-30T23:59:59Z");
    let d = spend(&sys, 1);
    assert_eq!(d.reason, CheckReason::QuotaExhausted, "{d:?}");
    let view = |sys: &Sys| {
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[0]
            .budget()
            .report_all(&mut conn, sys.now)
            .unwrap();
        keys::get(&mut conn, &sys.db.org_id, &sys.key_id, sys.now)
            .unwrap()
            .attributes
            .quota
            .unwrap()
            .remaining
    };
    assert_eq!(view(&sys), Some(0));

    sys.now = t("2027-01-31T00:00:00Z");
    assert_eq!(
        view(&sys),
        Some(5),
        "a due refill shows before anything spends it"
    );
    let d = spend(&sys, 2);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(3)), "{d:?}");

    // February has no 31st: its last day. Three credits left do not carry over.
    sys.now = t("2027-02-27T23:59:59Z");
    assert_eq!(spend(&sys, 3).quota_remaining, Some(0));
    let d = spend(&sys, 1);
    assert_eq!(d.reason, CheckReason::QuotaExhausted, "{d:?}");
    sys.now = t("2027-02-28T00:00:00Z");
    let d = spend(&sys, 1);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(4)), "{d:?}");
    sys.now = t("2027-03-30T23:59:00Z");
    let d = spend(&sys, 1);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(3)), "{d:?}");
    sys.now = t("2027-03-31T00:00:00Z");
    let d = spend(&sys, 0);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(5)), "{d:?}");
}

/// Windows that ended and nodes that stopped beating are purged by the nodes themselves.
#[test]
fn ended_windows_and_dead_nodes_are_purged() {
    use diesel::prelude::*;
    use latchkey::store::schema::{nodes, rate_windows};
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let mut sys = Sys::start(
        2,
        json!({
            "name": "windows", "scopes": ["read:projects/**"],
            "rate_limits": [{"name": "second", "limit": 5, "window_seconds": 1}, {"name": "day", "limit": 50, "window_seconds": 86400}],
        }),
        t("2027-01-15T08:00:00Z"),
        t("2027-01-15T12:00:00Z"),
    );
    for s in 0..3 {
        sys.now = t("2027-01-15T12:00:00Z") + Duration::seconds(s);
        assert!(sys.check(0, 1).allowed);
    }
    let count = |sys: &Sys| -> (i64, i64) {
        let mut conn = sys.db.pool.get().unwrap();
        (
            rate_windows::table.count().get_result(&mut conn).unwrap(),
            nodes::table.count().get_result(&mut conn).unwrap(),
        )
    };
    {
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[1].budget().sync(&mut conn, 1, sys.now).unwrap();
    }
    assert_eq!(
        count(&sys),
        (4, 1),
        "three 1 s windows and the day's; one node beating"
    );
    // Two minutes later, another node's housekeeping: the 1 s windows go, the day's stays, and
    // the first node (which never beat) is not counted; the second beats again.
    sys.now += Duration::seconds(120);
    {
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[1].budget().sync(&mut conn, 1, sys.now).unwrap();
    }
    assert_eq!(count(&sys), (1, 1));
    // The beating node stops beating: a minute later its row is gone at the next purge.
    sys.now += Duration::seconds(60);
    {
        let mut conn = sys.db.pool.get().unwrap();
        latchkey::store::limits::reap(&mut conn, sys.now).unwrap();
    }
    assert_eq!(count(&sys).1, 0);
}

/// A set or an add made after a refill came due (but before anything spent it, so before the
/// database applied it) counts from the refill: the set is what is left, and the add comes on
/// top of the refill, rather than the late refill overwriting both.
#[test]
fn a_set_or_add_after_a_due_refill_is_not_overwritten_by_it() {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    let db = Database::start(None);
    let create = |name: &str| {
        let draft = serde_json::from_value(json!({
            "name": name, "scopes": ["read:projects/**"],
            "quota": {"remaining": 1000, "refill": {"amount": 1000, "interval": "daily"}},
        }))
        .unwrap();
        let mut conn = db.pool.get().unwrap();
        keys::create(
            &mut conn,
            &Actor::cli(&db.org_id),
            &draft,
            false,
            &Default::default(),
            t("2027-01-10T08:00:00Z"),
        )
        .unwrap()
    };
    let (set, add) = (create("set"), create("add"));
    // Unused since: the refill of January 12th is due, not yet applied.
    let now = t("2027-01-12T09:00:00Z");
    let change = |id: &str, change: CreditChange| {
        let mut conn = db.pool.get().unwrap();
        keys::change_credits(&mut conn, &Actor::cli(&db.org_id), id, change, now).unwrap()
    };
    assert_eq!(change(&set.key.id, CreditChange::Set(5)), 5);
    assert_eq!(change(&add.key.id, CreditChange::Add(10)), 1010);
    let mut sys = Sys {
        nodes: vec![db.plain_node(THROTTLE_OFF)],
        key_id: set.key.id.clone(),
        secret: set.secret.unwrap().expose().to_owned(),
        now,
        db,
    };
    let d = sys.check(0, 1);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(4)), "{d:?}");
    sys.key_id = add.key.id.clone();
    sys.secret = add.secret.unwrap().expose().to_owned();
    let d = sys.check(0, 1);
    assert_eq!((d.allowed, d.quota_remaining), (true, Some(1009)), "{d:?}");
}

/// A quota removed and given again is a new one: credits another node held of the removed
/// quota are void, even if that node asks for more before it reports (its lease must not be
/// taken for one of the new quota's, which would let it spend the old credits too).
#[test]
fn credits_of_a_removed_quota_do_not_count_in_the_next_one() {
    let start = DateTime::parse_from_rfc3339("2027-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut sys = Sys::start(
        2,
        json!({
            "name": "requota", "scopes": ["read:projects/**"], "quota": {"remaining": 100},
        }),
        start,
        start,
    );
    // Node 1 leases a share of the first quota.
    assert!(sys.check(1, 1).allowed);
    // Node 0 removes the quota, then gives the key a new one of 10 credits.
    for quota in [json!(null), json!({"remaining": 10})] {
        let patch = serde_json::from_value(json!({ "quota": quota })).unwrap();
        let mut conn = sys.db.pool.get().unwrap();
        keys::update(&mut conn, &sys.cli(), &sys.key_id, &patch, false, sys.now).unwrap();
        sys.nodes[0].forget(&sys.key_id);
        sys.nodes[0].budget().void_credits(&sys.key_id);
        // The change feed reaches node 1.
        sys.nodes[1].forget(&sys.key_id);
    }
    sys.now += Duration::milliseconds(100);
    let mut allowed = 0;
    for _ in 0..40 {
        if sys.check(1, 1).allowed {
            allowed += 1;
        }
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[1].budget().sync(&mut conn, 11, sys.now).unwrap();
    }
    assert!(allowed <= 10, "{allowed} allowed of a new quota of 10");
}

/// A set voids the credits other nodes hold at their next report (within a second), also on a
/// node that spent nothing since its last report: it must not spend the void credits later.
#[test]
fn a_set_voids_what_an_idle_node_holds_at_its_next_report() {
    let start = DateTime::parse_from_rfc3339("2027-03-10T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut sys = Sys::start(
        2,
        json!({
            "name": "reset", "scopes": ["read:projects/**"], "quota": {"remaining": 100},
        }),
        start,
        start,
    );
    let housekeeping = |sys: &Sys, node: usize| {
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[node]
            .budget()
            .sync(&mut conn, 11, sys.now)
            .unwrap();
    };
    // Node 1 holds a lease, and has reported what it holds.
    assert!(sys.check(1, 1).allowed);
    housekeeping(&sys, 1);
    // Node 0 sets the credits to none.
    {
        let mut conn = sys.db.pool.get().unwrap();
        sys.nodes[0]
            .budget()
            .report_all(&mut conn, sys.now)
            .unwrap();
        let left = keys::change_credits(
            &mut conn,
            &sys.cli(),
            &sys.key_id,
            CreditChange::Set(0),
            sys.now,
        )
        .unwrap();
        assert_eq!(left, 0);
        sys.nodes[0].forget(&sys.key_id);
        sys.nodes[0].budget().void_credits(&sys.key_id);
    }
    // Node 1's next report comes; from then on it holds nothing.
    sys.now += Duration::seconds(1);
    housekeeping(&sys, 1);
    sys.now += Duration::seconds(1);
    let d = sys.check(1, 1);
    assert_eq!(d.reason, CheckReason::QuotaExhausted, "{d:?}");
}
