//! The change feed that keeps every node's caches honest (see the migration's comment).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::change_log;
use super::{DbConnection, StoreResult};

/// A key was edited, revoked or rolled: caches must forget it.
pub const KIND_KEY: &str = "key";
/// An access token was revoked (subject: its `jti`): denylists must learn it.
pub const KIND_TOKEN: &str = "jti";

pub fn append(
    conn: &mut DbConnection,
    kind: &str,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(change_log::table)
        .values((
            change_log::kind.eq(kind),
            change_log::subject.eq(subject),
            change_log::at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Changes after `seq`, oldest first.
pub fn since(conn: &mut DbConnection, seq: i64) -> StoreResult<Vec<(i64, String, String)>> {
    Ok(change_log::table
        .filter(change_log::seq.gt(seq))
        .order(change_log::seq.asc())
        .select((change_log::seq, change_log::kind, change_log::subject))
        .limit(10_000)
        .load(conn)?)
}

/// The newest sequence number (0 when empty): where a fresh cache starts following.
pub fn head(conn: &mut DbConnection) -> StoreResult<i64> {
    let max: Option<i64> = change_log::table
        .select(diesel::dsl::max(change_log::seq))
        .first(conn)?;
    Ok(max.unwrap_or(0))
}

/// Drops entries older than `before`; caches that fell that far behind start over.
pub fn purge(conn: &mut DbConnection, before: DateTime<Utc>) -> StoreResult<usize> {
    Ok(
        diesel::delete(change_log::table.filter(change_log::at.lt(before.naive_utc())))
            .execute(conn)?,
    )
}
