//! Rate limits and quotas on one node: what a use of a key costs, answered from memory.
//!
//! Rules (the design, with its bounds, is in `docs/architecture.md`, "Limits across nodes"):
//! - A node spends only what the database handed it: units of a rate limit's window
//!   (`store::limits::reserve_window`, never more than the limit in all) and credits of a quota
//!   (`store::limits::lease_credits`, taken out of the pool in the same transaction). So on any
//!   number of nodes a window admits at most its limit and a quota is never overspent, whatever
//!   crashes or outages happen: a node that cannot reach the database spends only what it holds.
//! - A use either spends its cost from every limit and the quota, or nothing (a refusal, or a
//!   first run that stopped for want of the database, spends nothing).
//! - The request path touches the database only when the node holds too little and the pool may
//!   have more: a node's first use of a window, or a lease running out before the background
//!   sync (`Budget::sync`) topped it up. Units are handed out in shares sized by the number of
//!   live nodes (one node takes the whole window at once) and credits in leases sized by recent
//!   use, so in steady state the sync does the writing.
//! - Refusals are remembered: an exhausted window refuses without the database until it ends;
//!   a quota whose pool was seen empty, for a second.
//! - `quota.low` and `quota.exhausted` are raised where the database learns how many credits
//!   are left, a lease or a report (`Budget::alert`, `service::keys::quota_alerts`), never on a
//!   use decided from memory.
//! - Credits held from before a refill or a set are void: a refill the node sees is due voids
//!   them at once; a set, at the node's next report (at most a second).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};

use crate::background::{self, Job};
use crate::domain::key::Key;
use crate::domain::limits::{LimitState, Quota, QuotaAlert, RateLimit};
use crate::domain::refusal::Refusal;
use crate::domain::secret::random_id;
use crate::service::ServiceResult;
use crate::service::keys::quota_alerts;
use crate::store::{self, Conn, DbConnection};

/// Most credits a lease hands a node beyond twice what the key spent on it in the last second.
pub const LEASE_FLOOR: u64 = 100;
/// A quota's lease is at most this share of the pool per live node (a quarter).
const LEASE_SHARE: u64 = 4;
/// How long a pool seen empty refuses without asking the database again.
const EMPTY_FOR_MS: i64 = 1_000;
/// A key unused this long gives back its credits and is forgotten.
const IDLE_SECS: i64 = 10;

/// What a use spent, for the answer: the most restrictive rate limit after it, and the quota's
/// credits left (on several nodes, as this node knows them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spent {
    pub ratelimit: Option<LimitState>,
    pub quota_remaining: Option<u64>,
}

pub struct Budget {
    node_id: String,
    keys: RwLock<HashMap<String, Arc<Mutex<Held>>>>,
    /// Live nodes sharing the database (1 until the first heartbeat says otherwise).
    nodes: AtomicU32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            node_id: random_id("node_", 16),
            keys: RwLock::default(),
            nodes: AtomicU32::new(1),
        }
    }
}

/// What this node holds for one key.
#[derive(Default)]
struct Held {
    /// The key's org (for the events its quota produces).
    org_id: String,
    windows: Vec<Window>,
    /// The key's quota as of its last use here (the sync tops up by it).
    quota: Option<Quota>,
    credits: Option<Credits>,
    /// Unix seconds of the last attempt, spent or refused (an entry untouched for
    /// [`IDLE_SECS`] is forgotten).
    touched: i64,
    /// Unix seconds of the last use, and units spent in that second and the one before.
    last_use: i64,
    spent_now: u64,
    spent_before: u64,
}

/// This node's share of one window of one limit.
struct Window {
    limit: RateLimit,
    start: i64,
    /// Handed to this node and not spent.
    held: u64,
    /// Handed to all nodes as of this node's last reservation.
    total: u64,
    /// Size of this node's last reservation (topped up when `held` falls under half of it).
    last_grant: u64,
}

impl Window {
    fn state(&self, now: DateTime<Utc>) -> LimitState {
        LimitState {
            name: self.limit.name.clone(),
            limit: self.limit.limit,
            window_seconds: self.limit.window_seconds,
            remaining: self.held + u64::from(self.limit.limit).saturating_sub(self.total),
            reset_seconds: self.limit.reset_seconds(now),
        }
    }

    fn exhausted(&self) -> bool {
        self.total >= u64::from(self.limit.limit)
    }

    /// The same counter in the database as `limit`'s (name and window length): only the
    /// limit's number changed.
    fn counts_as(&self, limit: &RateLimit) -> bool {
        self.limit.name == limit.name && self.limit.window_seconds == limit.window_seconds
    }

    /// This share under `limit`, its number changed within the window. The units handed out
    /// so far stay counted (the database row is the same), so raising a limit adds only the
    /// difference and this node keeps its share; lowering it keeps only what fits under the
    /// new number once every unit handed out elsewhere or spent here is counted as spent.
    fn relimited(self, limit: &RateLimit) -> Window {
        let elsewhere = self.total.saturating_sub(self.held);
        Window {
            limit: limit.clone(),
            held: self
                .held
                .min(u64::from(limit.limit).saturating_sub(elsewhere)),
            ..self
        }
    }
}

/// This node's credits of a key's quota.
#[derive(Clone)]
struct Credits {
    generation: i64,
    held: u64,
    /// The pool after this node's last lease, and when (ms) it was seen.
    pool: u64,
    seen_ms: i64,
    refilled_at: DateTime<Utc>,
    /// `held` as last reported to the database.
    reported: u64,
    last_grant: u64,
    /// The credits changed on this node since `pool` was seen: the next use asks again.
    stale: bool,
    /// Leases taken so far (tells a lease taken after the sync read the live leases).
    leases: u64,
    /// The quota events known to be produced (here or elsewhere), with the period's credits
    /// they were produced for: a top-up raises those and re-arms them.
    alerted: Vec<(u64, QuotaAlert)>,
}

/// What must be fetched before a use can be decided.
enum Need {
    Window(usize, u64),
    Credits(u64),
}

enum Step {
    Decided(Result<Spent, Refusal>),
    Fetch(Vec<Need>),
}

impl Budget {
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    fn live_nodes(&self) -> u64 {
        u64::from(self.nodes.load(Ordering::Relaxed).max(1))
    }

    fn entry(&self, key_id: &str) -> Arc<Mutex<Held>> {
        if let Some(e) = read(&self.keys).get(key_id) {
            return e.clone();
        }
        write(&self.keys)
            .entry(key_id.to_owned())
            .or_default()
            .clone()
    }

    /// Forgets what this node learnt of a key's credits being used up: the key changed here
    /// (credits added, limits edited), so the next use that lacks credits asks the database.
    /// What the node holds stays: it is still the node's to spend (or to give back).
    pub fn forget(&self, key_id: &str) {
        self.with_credits(key_id, |c| c.stale = true);
    }

    /// Drops the credits this node holds of a key whose credits were just set (or whose quota
    /// was replaced or removed) here: they are void (a set starts a new generation). Other
    /// nodes drop theirs at their next report.
    pub fn void_credits(&self, key_id: &str) {
        self.with_credits(key_id, |c| {
            c.held = 0;
            c.generation = -1;
            c.stale = true;
        });
    }

    fn with_credits(&self, key_id: &str, f: impl FnOnce(&mut Credits)) {
        let entry = read(&self.keys).get(key_id).cloned();
        if let Some(entry) = entry
            && let Some(c) = lock(&entry).credits.as_mut()
        {
            f(c);
        }
    }

    /// Spends `cost` from every rate limit and the quota of `key`, or nothing. Needs the
    /// database (`Conn::get`) only when this node holds too little (see the rules above).
    pub fn take(
        &self,
        conn: &mut Conn<'_>,
        key: &Key,
        cost: u64,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Spent, Refusal>> {
        let limits = &key.attributes.rate_limits;
        let quota = key.attributes.quota.as_ref();
        if limits.is_empty() && quota.is_none() {
            return Ok(Ok(Spent::default()));
        }
        let entry = self.entry(&key.id);
        for may_fetch in [true, false] {
            let needs = {
                let mut held = lock(&entry);
                held.align(limits, quota, now);
                if held.org_id.is_empty() {
                    held.org_id.clone_from(&key.org_id);
                }
                match held.try_spend(quota, cost, now, may_fetch, self.live_nodes()) {
                    Step::Decided(outcome) => return Ok(outcome),
                    Step::Fetch(needs) => needs,
                }
            };
            let db = conn.get()?;
            self.fetch(db, &entry, &key.id, quota, needs, now)?;
        }
        // The second round never fetches: it decides.
        Ok(Err(Refusal::QuotaExhausted {
            retry_after: None,
            ratelimit: None,
        }))
    }

    /// Gets what `needs` asks for from the database and adds it to what the node holds.
    fn fetch(
        &self,
        db: &mut DbConnection,
        entry: &Mutex<Held>,
        key_id: &str,
        quota: Option<&Quota>,
        needs: Vec<Need>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        for need in needs {
            match need {
                Need::Window(i, want) => {
                    let (limit, start) = {
                        let held = lock(entry);
                        match held.windows.get(i) {
                            Some(w) => (w.limit.clone(), w.start),
                            None => continue,
                        }
                    };
                    let got = store::limits::reserve_window(db, key_id, &limit, start, want)?;
                    let mut held = lock(entry);
                    if let Some(w) = held
                        .windows
                        .get_mut(i)
                        .filter(|w| w.start == start && w.limit == limit)
                    {
                        w.held += got.granted;
                        w.total = w.total.max(got.total);
                        w.last_grant = got.granted;
                    }
                }
                Need::Credits(need) => {
                    if let Some(quota) = quota {
                        self.lease(db, entry, key_id, quota, need, now)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Leases credits: at least `need`, else a quarter of the pool per live node, at most
    /// [`LEASE_FLOOR`] or twice the last second's use, whichever is more.
    fn lease(
        &self,
        db: &mut DbConnection,
        entry: &Mutex<Held>,
        key_id: &str,
        quota: &Quota,
        need: u64,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let (held_now, pace) = {
            let held = lock(entry);
            let c = held.credits.as_ref();
            (
                c.map_or((-1, 0), |c| (c.generation, c.held)),
                2 * held.spent_now.max(held.spent_before),
            )
        };
        let nodes = self.live_nodes();
        let size = |pool: u64| {
            let share = pool.div_ceil(LEASE_SHARE * nodes);
            share.min(LEASE_FLOOR.max(pace)).max(need).max(1)
        };
        let leased =
            store::limits::lease_credits(db, key_id, &self.node_id, quota, held_now, size, now)?;
        let mut held = lock(entry);
        let now_ms = now.timestamp_millis();
        match leased {
            None => {
                held.credits = Some(Credits {
                    generation: -1,
                    held: 0,
                    pool: 0,
                    seen_ms: now_ms,
                    refilled_at: now,
                    reported: 0,
                    last_grant: 0,
                    stale: false,
                    leases: 0,
                    alerted: Vec::new(),
                });
            }
            Some(l) => {
                let c = held.credits.get_or_insert(Credits {
                    generation: l.after.generation,
                    held: 0,
                    pool: 0,
                    seen_ms: now_ms,
                    refilled_at: l.after.refilled_at,
                    reported: 0,
                    last_grant: 0,
                    stale: false,
                    leases: 0,
                    alerted: Vec::new(),
                });
                if c.generation != l.after.generation {
                    c.held = 0;
                    c.generation = l.after.generation;
                    c.alerted.clear();
                }
                c.held += l.granted;
                c.reported = c.held;
                c.pool = l.after.pool;
                c.seen_ms = now_ms;
                c.refilled_at = l.after.refilled_at;
                c.last_grant = l.granted;
                c.stale = false;
                c.leases += 1;
            }
        }
        drop(held);
        if let Some(l) = leased {
            self.alert(db, entry, key_id, &l.after, l.left, l.granted < need, now);
        }
        Ok(())
    }

    /// Produces the quota event that `left` credits of the period `credits` call for (`refused`:
    /// a use wanted more than it got), once per generation as far as this node knows (the
    /// database makes it once in all). A failure is logged, not returned: the use was decided
    /// already; the next lease or report tries again.
    #[allow(clippy::too_many_arguments)]
    fn alert(
        &self,
        db: &mut DbConnection,
        entry: &Mutex<Held>,
        key_id: &str,
        credits: &store::limits::Credits,
        left: u64,
        refused: bool,
        now: DateTime<Utc>,
    ) {
        let Some(alert) = QuotaAlert::due(left, credits.period, refused) else {
            return;
        };
        let org_id = {
            let held = lock(entry);
            let known = held.credits.as_ref().is_none_or(|c| {
                c.generation != credits.generation || c.alerted.contains(&(credits.period, alert))
            });
            if known || held.org_id.is_empty() {
                return;
            }
            held.org_id.clone()
        };
        match quota_alerts::raise(db, &org_id, key_id, alert, credits, left, now) {
            Ok(_) => {
                if let Some(c) = lock(entry)
                    .credits
                    .as_mut()
                    .filter(|c| c.generation == credits.generation)
                {
                    c.alerted.push((credits.period, alert));
                }
            }
            Err(e) => tracing::warn!(key_id, error = %e, "could not produce a quota event"),
        }
    }

    /// The background work of limits, run every `SYNC_EVERY` (`round` counts runs): tops up
    /// leases and shares running low, and every 10th round sends a heartbeat, reports what the
    /// node holds (dropping void leases), gives back credits of idle keys and reaps what dead
    /// nodes left.
    pub fn sync(&self, db: &mut DbConnection, round: u64, now: DateTime<Utc>) -> ServiceResult<()> {
        let entries: Vec<(String, Arc<Mutex<Held>>)> = read(&self.keys)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let housekeeping = round % 10 == 1;
        let mut leased = HashMap::new();
        let mut live_leases = HashMap::new();
        if housekeeping {
            let live = store::limits::heartbeat(db, &self.node_id, now)?;
            self.nodes.store(live, Ordering::Relaxed);
            // Which leases were taken before the live ones are read: only those can be judged.
            leased = entries
                .iter()
                .filter_map(|(k, e)| lock(e).credits.as_ref().map(|c| (k.clone(), c.leases)))
                .collect();
            if !leased.is_empty() {
                live_leases = store::limits::leases_of(db, &self.node_id)?;
            }
        }
        for (key_id, entry) in entries {
            let idle = now.timestamp() - lock(&entry).touched > IDLE_SECS;
            if !idle {
                self.top_up(db, &entry, &key_id, now)?;
                if housekeeping {
                    self.report(db, &key_id, &entry, now)?;
                    if let Some(&leases) = leased.get(&key_id) {
                        drop_if_void(&entry, leases, live_leases.get(&key_id).copied());
                    }
                }
            } else if housekeeping {
                write(&self.keys).remove(&key_id);
                self.give_back(db, &key_id, &entry)?;
            }
        }
        if housekeeping && round % 100 == 1 {
            store::limits::reap(db, now)?;
        }
        Ok(())
    }

    /// Asks early for more of a window share or a lease running under half of its last size.
    fn top_up(
        &self,
        db: &mut DbConnection,
        entry: &Mutex<Held>,
        key_id: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let (needs, quota): (Vec<Need>, Option<Quota>) = {
            let mut held = lock(entry);
            let limits: Vec<RateLimit> = held.windows.iter().map(|w| w.limit.clone()).collect();
            let (quota, touched) = (held.quota.clone(), held.touched);
            held.align(&limits, quota.as_ref(), now);
            held.touched = touched;
            let nodes = self.live_nodes();
            let mut needs: Vec<Need> = held
                .windows
                .iter()
                .enumerate()
                .filter(|(_, w)| w.last_grant > 0 && w.held < w.last_grant / 2 && !w.exhausted())
                .map(|(i, w)| {
                    let left = u64::from(w.limit.limit).saturating_sub(w.total);
                    Need::Window(i, left.div_ceil(nodes).max(1))
                })
                .collect();
            if let Some(c) = &held.credits
                && c.generation >= 0
                && c.held < c.last_grant / 2
                && c.pool > 0
            {
                needs.push(Need::Credits(0));
            }
            (needs, held.quota.clone())
        };
        if needs.is_empty() {
            return Ok(());
        }
        self.fetch(db, entry, key_id, quota.as_ref(), needs, now)
    }

    /// Records what the node holds of its lease; drops credits of a void one.
    fn report(
        &self,
        db: &mut DbConnection,
        key_id: &str,
        entry: &Mutex<Held>,
        now: DateTime<Utc>,
    ) -> ServiceResult<()> {
        let Some(c) = lock(entry).credits.clone().filter(|c| c.generation >= 0) else {
            return Ok(());
        };
        if c.held == c.reported {
            // Unchanged; a void lease is found at the next use or change.
            return Ok(());
        }
        let live = store::limits::report_lease(db, key_id, &self.node_id, c.generation, c.held)?;
        let mut held = lock(entry);
        if let Some(mine) = held
            .credits
            .as_mut()
            .filter(|n| n.generation == c.generation)
        {
            if live {
                mine.reported = c.held;
            } else {
                mine.held = 0;
                mine.generation = -1;
            }
        }
        drop(held);
        // What this node spent may have brought the credits low (or to nothing), with no lease
        // to notice: the report is where the database learns of it.
        if live
            && let Some((credits, left)) = store::limits::standing(db, key_id)?
            && credits.generation == c.generation
        {
            self.alert(db, entry, key_id, &credits, left, false, now);
        }
        Ok(())
    }

    /// Returns the credits and window units a forgotten entry held.
    fn give_back(
        &self,
        db: &mut DbConnection,
        key_id: &str,
        entry: &Mutex<Held>,
    ) -> ServiceResult<()> {
        let (credits, windows) = {
            let mut held = lock(entry);
            (held.credits.take(), std::mem::take(&mut held.windows))
        };
        if let Some(c) = credits.filter(|c| c.generation >= 0) {
            store::limits::return_lease(db, key_id, &self.node_id, c.generation, c.held)?;
        }
        for w in windows.into_iter().filter(|w| w.held > 0) {
            store::limits::return_window(db, key_id, &w.limit, w.start, w.held)?;
        }
        Ok(())
    }

    /// Reports at once what this node holds of every lease that changed since the last report,
    /// so that the credits a view counts next are exact for this node's part (the admin API
    /// does this before it shows keys; other nodes' parts are as of their last report).
    pub fn report_all(&self, db: &mut DbConnection, now: DateTime<Utc>) -> ServiceResult<()> {
        let entries: Vec<(String, Arc<Mutex<Held>>)> = read(&self.keys)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key_id, entry) in entries {
            self.report(db, &key_id, &entry, now)?;
        }
        Ok(())
    }

    /// A graceful stop: every credit held goes back, and the node leaves.
    pub fn stop(&self, db: &mut DbConnection) -> ServiceResult<()> {
        let entries: Vec<(String, Arc<Mutex<Held>>)> = write(&self.keys).drain().collect();
        for (key_id, entry) in entries {
            self.give_back(db, &key_id, &entry)?;
        }
        store::limits::leave(db, &self.node_id)?;
        Ok(())
    }
}

/// Drops the credits of a lease the database no longer has (a set or a refill on another node,
/// or this node taken for dead) although this node spent none of them since its last report
/// (so `report` did not ask): else it would spend them at its next use, however late.
/// `leases` is the entry's lease count before `live` (the generation of this node's lease of
/// the key, if any) was read: a lease taken since is newer than what was read, and kept.
fn drop_if_void(entry: &Mutex<Held>, leases: u64, live: Option<i64>) {
    let mut held = lock(entry);
    if let Some(c) = held
        .credits
        .as_mut()
        .filter(|c| c.generation >= 0 && c.leases == leases && live != Some(c.generation))
    {
        c.held = 0;
        c.generation = -1;
    }
}

impl Held {
    /// Follows the key's limits as they are now, and the windows into the current ones.
    fn align(&mut self, limits: &[RateLimit], quota: Option<&Quota>, now: DateTime<Utc>) {
        let mut windows = Vec::with_capacity(limits.len());
        for limit in limits {
            let start = limit.window_start(now).timestamp();
            let kept = self
                .windows
                .iter()
                .position(|w| w.limit == *limit && w.start == start)
                .or_else(|| {
                    self.windows
                        .iter()
                        .position(|w| w.counts_as(limit) && w.start == start)
                })
                .map(|i| self.windows.swap_remove(i).relimited(limit));
            windows.push(kept.unwrap_or(Window {
                limit: limit.clone(),
                start,
                held: 0,
                total: 0,
                last_grant: 0,
            }));
        }
        self.windows = windows;
        self.quota = quota.cloned();
        if quota.is_none() {
            self.credits = None;
        }
        self.touched = now.timestamp();
        let second = now.timestamp();
        if second != self.last_use {
            self.spent_before = if second == self.last_use + 1 {
                self.spent_now
            } else {
                0
            };
            self.spent_now = 0;
        }
    }

    fn try_spend(
        &mut self,
        quota: Option<&Quota>,
        cost: u64,
        now: DateTime<Utc>,
        may_fetch: bool,
        nodes: u64,
    ) -> Step {
        let mut needs = Vec::new();
        for (i, w) in self.windows.iter().enumerate() {
            if w.held >= cost {
                continue;
            }
            if w.exhausted() || !may_fetch {
                return Step::Decided(Err(Refusal::RateLimited(w.state(now))));
            }
            let left = u64::from(w.limit.limit).saturating_sub(w.total);
            needs.push(Need::Window(i, (cost - w.held).max(left.div_ceil(nodes))));
        }
        if let Some(quota) = quota {
            // Credits of a period that ended are void here and now.
            let due = self
                .credits
                .as_ref()
                .is_some_and(|c| quota.refill_due(c.refilled_at, now).is_some());
            let stale = self.credits.as_ref().is_some_and(|c| c.stale);
            if let Some(c) = self.credits.as_mut().filter(|_| due) {
                c.held = 0;
            }
            let held = self.credits.as_ref().map_or(0, |c| c.held);
            // Also when nothing is known yet, or a refill is due: even a use of cost 0 answers
            // with the credits left.
            if held < cost || due || stale || self.credits.is_none() {
                let seen_empty = self.credits.as_ref().is_some_and(|c| {
                    !due && !stale
                        && c.held + c.pool < cost
                        && now.timestamp_millis().saturating_sub(c.seen_ms) < EMPTY_FOR_MS
                });
                if seen_empty || !may_fetch {
                    return Step::Decided(Err(self.quota_refusal(quota, now)));
                }
                needs.push(Need::Credits(cost.saturating_sub(held)));
            }
        }
        if !needs.is_empty() {
            return Step::Fetch(needs);
        }
        for w in &mut self.windows {
            w.held -= cost;
        }
        if let Some(c) = self.credits.as_mut() {
            c.held -= cost;
        }
        self.last_use = now.timestamp();
        self.spent_now += cost;
        Step::Decided(Ok(Spent {
            ratelimit: self.most_restrictive(now),
            quota_remaining: self.credits.as_ref().map(|c| c.held + c.pool),
        }))
    }

    fn most_restrictive(&self, now: DateTime<Utc>) -> Option<LimitState> {
        LimitState::most_restrictive(self.windows.iter().map(|w| w.state(now)))
    }

    fn quota_refusal(&self, quota: &Quota, now: DateTime<Utc>) -> Refusal {
        let refilled_at = self.credits.as_ref().map_or(now, |c| c.refilled_at);
        Refusal::QuotaExhausted {
            retry_after: quota.seconds_to_refill(refilled_at, now),
            ratelimit: self.most_restrictive(now),
        }
    }
}

/// How often the sync runs (tops up; every 10th run also reports and beats the heart).
pub const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs [`Budget::sync`] in the background while the budget lives.
pub fn spawn_sync(budget: &Arc<Budget>, pool: store::Pool) {
    let job = Job::every(
        "limits-sync",
        SYNC_EVERY,
        "rate limits and quotas cannot sync; keys are served from what this node holds",
    )
    .first_after(std::time::Duration::ZERO);
    background::spawn(job, budget, move |budget, round| {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        budget.sync(&mut conn, round, crate::service::now())
    });
}

fn lock(m: &Mutex<Held>) -> MutexGuard<'_, Held> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
