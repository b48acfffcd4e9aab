//! The change feed that keeps every node's caches honest (see the migration's comment).

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::schema::change_log;
use super::{DbConnection, StoreResult};

/// A key was edited, revoked or rolled: caches must forget it.
pub const KIND_KEY: &str = "key";
/// An access token was revoked (subject: its `jti`): denylists must learn it.
pub const KIND_TOKEN: &str = "jti";

/// Appends an entry, best as the last statement of the write transaction: on PostgreSQL it
/// takes a lock held until commit, so entries commit in `seq` order. Without it a
/// sequence number is handed out at insert, not at commit: with writers on two nodes, entry 103
/// could commit before 102, a follower would read 101 and 103, move its position past 102, and
/// never apply it. (SQLite's `BEGIN IMMEDIATE` already runs writers one at a time.)
pub fn append(
    conn: &mut DbConnection,
    kind: &str,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let DbConnection::Postgresql(c) = conn {
        c.batch_execute("SELECT pg_advisory_xact_lock(7235147)")?;
    }
    diesel::insert_into(change_log::table)
        .values((
            change_log::kind.eq(kind),
            change_log::subject.eq(subject),
            change_log::at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Most entries `since` returns at once; a full batch means there may be more.
pub const BATCH: usize = 10_000;

/// Changes after `seq`, oldest first, at most `BATCH`.
pub fn since(conn: &mut DbConnection, seq: i64) -> StoreResult<Vec<(i64, String, String)>> {
    Ok(change_log::table
        .filter(change_log::seq.gt(seq))
        .order(change_log::seq.asc())
        .select((change_log::seq, change_log::kind, change_log::subject))
        .limit(BATCH as i64)
        .load(conn)?)
}

/// The newest sequence number (0 when empty): where a fresh cache starts following.
pub fn head(conn: &mut DbConnection) -> StoreResult<i64> {
    let max: Option<i64> = change_log::table
        .select(diesel::dsl::max(change_log::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// Drops the feed's entries up to the newest one written before `before`: a prefix by sequence,
/// whatever the writers' clocks said, and never the newest entry of all. Together these make a
/// purge visible to every follower as a gap before the first entry it reads (`KeyCache::poll`
/// starts over then): a follower that was away while entries it never read were purged can
/// never mistake the remaining feed for a complete one.
pub fn purge(conn: &mut DbConnection, before: DateTime<Utc>) -> StoreResult<usize> {
    let cutoff: Option<i64> = change_log::table
        .filter(change_log::at.lt(before.naive_utc()))
        .select(diesel::dsl::max(change_log::seq))
        .first(conn)?;
    let Some(cutoff) = cutoff else {
        return Ok(0);
    };
    Ok(diesel::delete(change_log::table.filter(change_log::seq.lt(cutoff))).execute(conn)?)
}
