//! Revoked access tokens (RFC 7009), by `jti`, kept only until the token would have expired.
//!
//! A token is accepted while `exp >= now` in whole seconds (`crypto::jws::Verifier::verify`),
//! that is during the whole second `exp`: an entry must outlive that second, so it is dropped
//! only from `expires_at + 1 s` on ([`over`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::revoked_tokens;
use super::{DbConnection, StoreResult};

/// Records a revocation (idempotent) and drops entries whose tokens have expired anyway.
pub fn insert(
    conn: &mut DbConnection,
    jti: &str,
    org_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(over(now))))
        .execute(conn)?;
    if is_revoked(conn, jti)? {
        return Ok(());
    }
    diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti),
            revoked_tokens::org_id.eq(org_id),
            revoked_tokens::expires_at.eq(expires_at.naive_utc()),
            revoked_tokens::revoked_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Entries with `expires_at` at or before this are of tokens no longer accepted at `now`.
fn over(now: DateTime<Utc>) -> chrono::NaiveDateTime {
    (now - chrono::Duration::seconds(1)).naive_utc()
}

pub fn is_revoked(conn: &mut DbConnection, jti: &str) -> StoreResult<bool> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Every revocation whose token has not expired yet, with its expiry (Unix seconds): the whole
/// denylist, small by construction (revocations × token TTL).
pub fn live(conn: &mut DbConnection, now: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>> {
    let rows: Vec<(String, chrono::NaiveDateTime)> = revoked_tokens::table
        .filter(revoked_tokens::expires_at.gt(over(now)))
        .select((revoked_tokens::jti, revoked_tokens::expires_at))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(jti, exp)| (jti, exp.and_utc().timestamp()))
        .collect())
}

/// When a revoked token expires (Unix seconds), if it is on the list.
pub fn expiry(conn: &mut DbConnection, jti: &str) -> StoreResult<Option<i64>> {
    let exp: Option<chrono::NaiveDateTime> = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .select(revoked_tokens::expires_at)
        .first(conn)
        .optional()?;
    Ok(exp.map(|e| e.and_utc().timestamp()))
}
