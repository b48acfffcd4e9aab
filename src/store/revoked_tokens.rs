//! Revoked access tokens (RFC 7009), by `jti`, kept only until the token would have expired.

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
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now.naive_utc())))
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

pub fn is_revoked(conn: &mut DbConnection, jti: &str) -> StoreResult<bool> {
    let n: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}
