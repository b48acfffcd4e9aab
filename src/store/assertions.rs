//! The `jti`s of accepted client assertions (RFC 7523 §3: a `jti` may be used once), shared by
//! every node: an assertion replayed on any node is refused.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::schema::assertion_jtis;
use super::{Bound, DbConnection, StoreResult, insert_ignore};

/// Records `jti` of `client_id` until `expires_at`; `false` when it was already recorded (a
/// replay). One statement, atomic on both backends.
pub fn remember(
    conn: &mut DbConnection,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<bool> {
    let mut hasher = Sha256::new();
    hasher.update(client_id.as_bytes());
    hasher.update([0]);
    hasher.update(jti.as_bytes());
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let inserted = insert_ignore(
        conn,
        "INSERT INTO assertion_jtis (digest, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        vec![Bound::Text(digest), Bound::Time(expires_at.naive_utc())],
    )?;
    Ok(inserted == 1)
}

/// Forgets the `jti`s of assertions that expired before `before`.
pub fn purge(conn: &mut DbConnection, before: DateTime<Utc>) -> StoreResult<usize> {
    Ok(diesel::delete(
        assertion_jtis::table.filter(assertion_jtis::expires_at.lt(before.naive_utc())),
    )
    .execute(conn)?)
}
