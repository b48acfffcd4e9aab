//! What rate limits and quotas count, shared by every node (the design is in
//! `docs/architecture.md`, "Limits across nodes"):
//! - `rate_windows`: per limit and fixed window, the units handed out to nodes so far, never
//!   more than the limit. A node spends what it was handed in memory.
//! - `key_quotas`: a quota's credits not yet handed to a node; `quota_leases`: what each node
//!   holds in hand, as it last reported. Credits move from the first to the second in one
//!   transaction, so the credits spent can never exceed the credits granted.
//! - `nodes`: heartbeats, so that a node knows how many share a limit (and whose leases died).
//!
//! Every function here is one short transaction, run off the request path but for a node's
//! first use of a limit in a window (or when its lease runs out).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{key_quotas, nodes, quota_alerts, quota_leases, rate_windows};
use super::{Bound, DbConnection, StoreResult, insert_ignore, write_tx};
use crate::domain::limits::{MAX_CREDITS, Quota, RateLimit};

/// A node whose heartbeat is older than this is gone: it no longer counts as a sharer, and
/// the credits it held are lost (it may have spent them).
pub const NODE_TIMEOUT: Duration = Duration::seconds(15);

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// What a reservation of window units gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// Units handed to the asking node now.
    pub granted: u64,
    /// Units handed to all nodes in this window, this grant included.
    pub total: u64,
}

/// Hands out up to `want` more units of `limit`'s window starting at `window_start` (Unix
/// seconds): as many as are left under the limit, never more.
pub fn reserve_window(
    conn: &mut DbConnection,
    key_id: &str,
    limit: &RateLimit,
    window_start: i64,
    want: u64,
) -> StoreResult<Reserved> {
    let cap = u64::from(limit.limit);
    let total = change_window(conn, key_id, limit, window_start, |handed| {
        handed + want.min(cap.saturating_sub(handed))
    })?;
    Ok(Reserved {
        granted: total.1 - total.0,
        total: total.1,
    })
}

/// Gives back units of a window that a node holds unspent (a graceful stop, an idle key), so
/// that other nodes may hand them out. Never below zero.
pub fn return_window(
    conn: &mut DbConnection,
    key_id: &str,
    limit: &RateLimit,
    window_start: i64,
    held: u64,
) -> StoreResult<()> {
    change_window(conn, key_id, limit, window_start, |handed| {
        handed.saturating_sub(held)
    })
    .map(drop)
}

/// Sets the units handed out of a window to `next(handed)`, the row locked (created at 0 if
/// missing); returns the count before and after.
fn change_window(
    conn: &mut DbConnection,
    key_id: &str,
    limit: &RateLimit,
    window_start: i64,
    next: impl FnOnce(u64) -> u64,
) -> StoreResult<(u64, u64)> {
    let window_seconds = i64::from(limit.window_seconds);
    write_tx(conn, |conn| {
        insert_ignore(
            conn,
            "INSERT INTO rate_windows (key_id, name, window_seconds, window_start, granted) \
             VALUES (?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            vec![
                Bound::Text(key_id.to_owned()),
                Bound::Text(limit.name.clone()),
                Bound::Big(window_seconds),
                Bound::Big(window_start),
            ],
        )?;
        let row = rate_windows::table
            .filter(rate_windows::key_id.eq(key_id))
            .filter(rate_windows::name.eq(&limit.name))
            .filter(rate_windows::window_seconds.eq(window_seconds))
            .filter(rate_windows::window_start.eq(window_start));
        // Locks the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers).
        diesel::update(row)
            .set(rate_windows::granted.eq(rate_windows::granted))
            .execute(conn)?;
        let handed = to_u64(row.select(rate_windows::granted).first::<i64>(conn)?);
        let after = next(handed);
        if after != handed {
            diesel::update(row)
                .set(rate_windows::granted.eq(to_i64(after)))
                .execute(conn)?;
        }
        Ok((handed, after))
    })
}

/// A quota's credits as stored: those not yet handed to a node, and since when they count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits {
    pub pool: u64,
    pub generation: i64,
    pub refilled_at: DateTime<Utc>,
    /// What the period started with: set, refilled, or raised by a top-up.
    pub period: u64,
}

#[derive(Queryable)]
struct CreditsRow {
    key_id: String,
    remaining: i64,
    generation: i64,
    refilled_at: NaiveDateTime,
    period_credits: i64,
}

impl CreditsRow {
    fn credits(&self) -> Credits {
        Credits {
            pool: to_u64(self.remaining),
            generation: self.generation,
            refilled_at: self.refilled_at.and_utc(),
            period: to_u64(self.period_credits),
        }
    }
}

fn credits_row(conn: &mut DbConnection, key_id: &str) -> StoreResult<Option<CreditsRow>> {
    Ok(key_quotas::table
        .filter(key_quotas::key_id.eq(key_id))
        .select((
            key_quotas::key_id,
            key_quotas::remaining,
            key_quotas::generation,
            key_quotas::refilled_at,
            key_quotas::period_credits,
        ))
        .first::<CreditsRow>(conn)
        .optional()?)
}

/// Locks a key's credits row until the transaction ends (PostgreSQL; see `reserve_window`).
fn lock_credits(conn: &mut DbConnection, key_id: &str) -> StoreResult<()> {
    diesel::update(key_quotas::table.filter(key_quotas::key_id.eq(key_id)))
        .set(key_quotas::generation.eq(key_quotas::generation))
        .execute(conn)?;
    Ok(())
}

/// Sets a key's credits to `remaining` (creating its row): a new generation, so every credit a
/// node holds from before is void and every lease record goes. The set counts as the last
/// refill (`refilled_at` is now): a refill that came due before it, and was not applied yet,
/// must not overwrite it. Part of the caller's transaction.
pub fn set_credits(
    conn: &mut DbConnection,
    key_id: &str,
    remaining: u64,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let remaining = to_i64(remaining.min(MAX_CREDITS));
    lock_credits(conn, key_id)?;
    if credits_row(conn, key_id)?.is_none() {
        diesel::insert_into(key_quotas::table)
            .values((
                key_quotas::key_id.eq(key_id),
                key_quotas::remaining.eq(remaining),
                key_quotas::generation.eq(0i64),
                key_quotas::refilled_at.eq(now.naive_utc()),
                key_quotas::period_credits.eq(remaining),
            ))
            .execute(conn)?;
    } else {
        diesel::update(key_quotas::table.filter(key_quotas::key_id.eq(key_id)))
            .set((
                key_quotas::remaining.eq(remaining),
                key_quotas::generation.eq(key_quotas::generation + 1),
                key_quotas::refilled_at.eq(now.naive_utc()),
                key_quotas::period_credits.eq(remaining),
            ))
            .execute(conn)?;
    }
    diesel::delete(quota_leases::table.filter(quota_leases::key_id.eq(key_id))).execute(conn)?;
    forget_alerts(conn, key_id)
}

/// Adds `n` credits (at most up to [`MAX_CREDITS`] in the pool), on top of a refill of `quota`
/// that came due before (applied first, or it would overwrite the top-up when applied later).
/// `false` when the key has no quota. Part of the caller's transaction.
pub fn add_credits(
    conn: &mut DbConnection,
    key_id: &str,
    n: u64,
    quota: &Quota,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    lock_credits(conn, key_id)?;
    let Some(row) = credits_row(conn, key_id)? else {
        return Ok(false);
    };
    let mut c = refill_if_due(conn, key_id, row.credits(), quota, now)?;
    c.pool = c.pool.saturating_add(n).min(MAX_CREDITS);
    c.period = c.period.saturating_add(n).min(MAX_CREDITS);
    write_credits(conn, key_id, &c)?;
    // A top-up re-arms the period's events: the credits may run low (and out) again.
    forget_alerts(conn, key_id)?;
    Ok(true)
}

/// `c` after the latest refill of `quota` due at `now`, if any: the pool set to its amount, a
/// new generation, and every lease of the ended period gone. The caller writes `c` back.
fn refill_if_due(
    conn: &mut DbConnection,
    key_id: &str,
    c: Credits,
    quota: &Quota,
    now: DateTime<Utc>,
) -> StoreResult<Credits> {
    let (Some(at), Some(refill)) = (quota.refill_due(c.refilled_at, now), &quota.refill) else {
        return Ok(c);
    };
    diesel::delete(quota_leases::table.filter(quota_leases::key_id.eq(key_id))).execute(conn)?;
    forget_alerts(conn, key_id)?;
    Ok(Credits {
        pool: refill.amount,
        generation: c.generation + 1,
        refilled_at: at,
        period: refill.amount,
    })
}

fn write_credits(conn: &mut DbConnection, key_id: &str, c: &Credits) -> StoreResult<()> {
    diesel::update(key_quotas::table.filter(key_quotas::key_id.eq(key_id)))
        .set((
            key_quotas::remaining.eq(to_i64(c.pool)),
            key_quotas::generation.eq(c.generation),
            key_quotas::refilled_at.eq(c.refilled_at.naive_utc()),
            key_quotas::period_credits.eq(to_i64(c.period)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets which quota events a key's credits produced: a new period (or a top-up) may
/// produce them again.
fn forget_alerts(conn: &mut DbConnection, key_id: &str) -> StoreResult<()> {
    diesel::delete(quota_alerts::table.filter(quota_alerts::key_id.eq(key_id))).execute(conn)?;
    Ok(())
}

/// Records that the period `generation` of a key's quota produced the event `kind`; `false`
/// when it already had (another node got there first). Part of the event's transaction.
pub fn record_alert(
    conn: &mut DbConnection,
    key_id: &str,
    generation: i64,
    kind: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = insert_ignore(
        conn,
        "INSERT INTO quota_alerts (key_id, generation, kind, produced_at) \
         VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        vec![
            Bound::Text(key_id.to_owned()),
            Bound::Big(generation),
            Bound::Text(kind.to_owned()),
            Bound::Time(now.naive_utc()),
        ],
    )?;
    Ok(n == 1)
}

/// Removes a key's quota: its credits and every lease of them. The row stays, empty and of a
/// new generation, so that a quota given later continues the generations: were the row deleted,
/// a new one would start again at 0, and a node still holding credits of the removed quota's
/// generation 0 would have them taken for the new quota's at its next lease.
/// (`refilled_at` is now, so a node leasing by the removed quota's refill before it learns of the
/// removal finds no refill due.)
pub fn remove_credits(
    conn: &mut DbConnection,
    key_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    lock_credits(conn, key_id)?;
    diesel::delete(quota_leases::table.filter(quota_leases::key_id.eq(key_id))).execute(conn)?;
    diesel::update(key_quotas::table.filter(key_quotas::key_id.eq(key_id)))
        .set((
            key_quotas::remaining.eq(0i64),
            key_quotas::generation.eq(key_quotas::generation + 1),
            key_quotas::refilled_at.eq(now.naive_utc()),
            key_quotas::period_credits.eq(0i64),
        ))
        .execute(conn)?;
    forget_alerts(conn, key_id)
}

/// Credits left of each of `key_ids` that has a quota, as the API shows them: the pool plus
/// what live leases of the current generation hold (as their nodes last reported), or the
/// refill amount when a refill is due (`quota` gives each key's policy).
pub fn remaining_of(
    conn: &mut DbConnection,
    keys: &[(&str, &Quota)],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<String, u64>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<&str> = keys.iter().map(|(id, _)| *id).collect();
    let rows: Vec<CreditsRow> = key_quotas::table
        .filter(key_quotas::key_id.eq_any(&ids))
        .select((
            key_quotas::key_id,
            key_quotas::remaining,
            key_quotas::generation,
            key_quotas::refilled_at,
            key_quotas::period_credits,
        ))
        .load(conn)?;
    let leases: Vec<(String, i64, i64)> = quota_leases::table
        .filter(quota_leases::key_id.eq_any(&ids))
        .select((
            quota_leases::key_id,
            quota_leases::generation,
            quota_leases::amount,
        ))
        .load(conn)?;
    let policy: HashMap<&str, &Quota> = keys.iter().copied().collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let c = row.credits();
            let refill = policy
                .get(row.key_id.as_str())
                .and_then(|q| q.refill_due(c.refilled_at, now).and(q.refill.as_ref()));
            let left = match refill {
                Some(refill) => refill.amount,
                None => leases
                    .iter()
                    .filter(|(k, g, _)| *k == row.key_id && *g == c.generation)
                    .fold(c.pool, |sum, (_, _, amount)| {
                        sum.saturating_add(to_u64(*amount))
                    }),
            };
            (row.key_id, left)
        })
        .collect())
}

/// What a lease of credits gave a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leased {
    /// Credits handed over now.
    pub granted: u64,
    /// The credits as they stand after the lease (`generation` is the lease's; when it differs
    /// from the one the node held, its earlier credits are void).
    pub after: Credits,
    /// Credits left of the period as the lease leaves them: the pool and what every live lease
    /// holds (as its node last reported; this node's, exactly).
    pub left: u64,
}

/// Hands a node up to `size(pool)` credits of a key's quota, applying a refill that is due first
/// (a refill starts a new generation). `held` is what the node still holds of the current
/// generation, recorded with the grant in its lease. No row (the key never had a quota):
/// nothing granted.
pub fn lease_credits(
    conn: &mut DbConnection,
    key_id: &str,
    node_id: &str,
    quota: &Quota,
    held: (i64, u64),
    size: impl FnOnce(u64) -> u64,
    now: DateTime<Utc>,
) -> StoreResult<Option<Leased>> {
    write_tx(conn, |conn| {
        lock_credits(conn, key_id)?;
        let Some(row) = credits_row(conn, key_id)? else {
            return Ok(None);
        };
        let mut c = refill_if_due(conn, key_id, row.credits(), quota, now)?;
        let granted = size(c.pool).min(c.pool);
        c.pool -= granted;
        write_credits(conn, key_id, &c)?;
        let kept = if held.0 == c.generation { held.1 } else { 0 };
        write_lease(conn, key_id, node_id, c.generation, kept + granted)?;
        let left = left_of(conn, key_id, &c)?;
        Ok(Some(Leased {
            granted,
            after: c,
            left,
        }))
    })
}

fn write_lease(
    conn: &mut DbConnection,
    key_id: &str,
    node_id: &str,
    generation: i64,
    amount: u64,
) -> StoreResult<()> {
    diesel::delete(
        quota_leases::table
            .filter(quota_leases::key_id.eq(key_id))
            .filter(quota_leases::node_id.eq(node_id)),
    )
    .execute(conn)?;
    diesel::insert_into(quota_leases::table)
        .values((
            quota_leases::key_id.eq(key_id),
            quota_leases::node_id.eq(node_id),
            quota_leases::generation.eq(generation),
            quota_leases::amount.eq(to_i64(amount)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records what a node still holds of a lease. `false` when the lease is void (the credits were
/// set or refilled, or the node was taken for dead): the node must drop what it holds.
pub fn report_lease(
    conn: &mut DbConnection,
    key_id: &str,
    node_id: &str,
    generation: i64,
    held: u64,
) -> StoreResult<bool> {
    let updated = diesel::update(
        quota_leases::table
            .filter(quota_leases::key_id.eq(key_id))
            .filter(quota_leases::node_id.eq(node_id))
            .filter(quota_leases::generation.eq(generation)),
    )
    .set(quota_leases::amount.eq(to_i64(held)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Credits left of the period `c` (a key's row as read): the pool and what every live lease
/// of its generation holds, as its node last reported.
fn left_of(conn: &mut DbConnection, key_id: &str, c: &Credits) -> StoreResult<u64> {
    // One row per node: summed here (SUM of a BIGINT is NUMERIC on PostgreSQL).
    let leased: Vec<i64> = quota_leases::table
        .filter(quota_leases::key_id.eq(key_id))
        .filter(quota_leases::generation.eq(c.generation))
        .select(quota_leases::amount)
        .load(conn)?;
    Ok(leased
        .into_iter()
        .fold(c.pool, |sum, amount| sum.saturating_add(to_u64(amount))))
}

/// A key's credits as they stand (no refill applied: a refill due is applied by the next
/// lease), and how many are left in all; `None` without a quota row.
pub fn standing(conn: &mut DbConnection, key_id: &str) -> StoreResult<Option<(Credits, u64)>> {
    let Some(row) = credits_row(conn, key_id)? else {
        return Ok(None);
    };
    let c = row.credits();
    let left = left_of(conn, key_id, &c)?;
    Ok(Some((c, left)))
}

/// The generation of each lease `node_id` holds, by key: a lease missing here is void.
pub fn leases_of(conn: &mut DbConnection, node_id: &str) -> StoreResult<HashMap<String, i64>> {
    Ok(quota_leases::table
        .filter(quota_leases::node_id.eq(node_id))
        .select((quota_leases::key_id, quota_leases::generation))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// Gives back what a node holds of a lease (an idle key, a graceful stop): the credits return
/// to the pool if the lease is still live, and the lease ends either way.
pub fn return_lease(
    conn: &mut DbConnection,
    key_id: &str,
    node_id: &str,
    generation: i64,
    held: u64,
) -> StoreResult<()> {
    write_tx(conn, |conn| {
        lock_credits(conn, key_id)?;
        let lease = quota_leases::table
            .filter(quota_leases::key_id.eq(key_id))
            .filter(quota_leases::node_id.eq(node_id))
            .filter(quota_leases::generation.eq(generation));
        let live = diesel::delete(lease).execute(conn)? == 1;
        if live && held > 0 {
            diesel::update(
                key_quotas::table
                    .filter(key_quotas::key_id.eq(key_id))
                    .filter(key_quotas::generation.eq(generation)),
            )
            .set(key_quotas::remaining.eq(key_quotas::remaining + to_i64(held)))
            .execute(conn)?;
        }
        Ok(())
    })
}

/// Records that `node_id` is alive at `now`; returns how many nodes are (at least 1).
pub fn heartbeat(conn: &mut DbConnection, node_id: &str, now: DateTime<Utc>) -> StoreResult<u32> {
    let seen = diesel::update(nodes::table.filter(nodes::node_id.eq(node_id)))
        .set(nodes::seen_at.eq(now.naive_utc()))
        .execute(conn)?;
    if seen == 0 {
        diesel::insert_into(nodes::table)
            .values((
                nodes::node_id.eq(node_id),
                nodes::seen_at.eq(now.naive_utc()),
            ))
            .execute(conn)?;
    }
    let live: i64 = nodes::table
        .filter(nodes::seen_at.gt((now - NODE_TIMEOUT).naive_utc()))
        .count()
        .get_result(conn)?;
    Ok(u32::try_from(live).unwrap_or(u32::MAX).max(1))
}

/// A node stopping gracefully leaves at once (after returning its credits).
pub fn leave(conn: &mut DbConnection, node_id: &str) -> StoreResult<()> {
    diesel::delete(nodes::table.filter(nodes::node_id.eq(node_id))).execute(conn)?;
    Ok(())
}

/// Forgets dead nodes and their leases (the credits they held are lost: they may have been
/// spent), and windows that ended.
pub fn reap(conn: &mut DbConnection, now: DateTime<Utc>) -> StoreResult<()> {
    let dead = (now - NODE_TIMEOUT).naive_utc();
    let live = nodes::table
        .filter(nodes::seen_at.gt(dead))
        .select(nodes::node_id);
    diesel::delete(quota_leases::table.filter(quota_leases::node_id.ne_all(live))).execute(conn)?;
    diesel::delete(nodes::table.filter(nodes::seen_at.le(dead))).execute(conn)?;
    // A window is kept a minute past its end (a node's clock may lag a little).
    diesel::delete(rate_windows::table.filter(
        (rate_windows::window_start + rate_windows::window_seconds).lt(now.timestamp() - 60),
    ))
    .execute(conn)?;
    Ok(())
}
