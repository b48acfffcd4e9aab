//! Per-org signing keys. Private halves are stored sealed (see `crypto::master_key`); this module
//! never sees them in the clear.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{orgs, signing_keys};
use super::{DbConnection, StoreResult};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct SigningKeyRow {
    kid: String,
    org_id: String,
    alg: String,
    public_jwk: String,
    private_sealed: Vec<u8>,
    created_at: NaiveDateTime,
    retired_at: Option<NaiveDateTime>,
    unpublish_at: Option<NaiveDateTime>,
}

/// A stored signing key. `Debug` leaves out the sealed private key.
#[derive(Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub org_id: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_sealed: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub unpublish_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("org_id", &self.org_id)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(r: SigningKeyRow) -> Self {
        StoredSigningKey {
            kid: r.kid,
            org_id: r.org_id,
            alg: r.alg,
            public_jwk: r.public_jwk,
            private_sealed: r.private_sealed,
            created_at: r.created_at.and_utc(),
            retired_at: r.retired_at.map(|t| t.and_utc()),
            unpublish_at: r.unpublish_at.map(|t| t.and_utc()),
        }
    }
}

pub fn insert(conn: &mut DbConnection, key: &StoredSigningKey) -> StoreResult<()> {
    diesel::insert_into(signing_keys::table)
        .values((
            signing_keys::kid.eq(&key.kid),
            signing_keys::org_id.eq(&key.org_id),
            signing_keys::alg.eq(&key.alg),
            signing_keys::public_jwk.eq(&key.public_jwk),
            signing_keys::private_sealed.eq(&key.private_sealed),
            signing_keys::created_at.eq(key.created_at.naive_utc()),
            signing_keys::retired_at.eq(key.retired_at.map(|t| t.naive_utc())),
            signing_keys::unpublish_at.eq(key.unpublish_at.map(|t| t.naive_utc())),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every key of an org, newest first.
pub fn list_for_org(conn: &mut DbConnection, org_id: &str) -> StoreResult<Vec<StoredSigningKey>> {
    Ok(signing_keys::table
        .filter(signing_keys::org_id.eq(org_id))
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .select(SigningKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(StoredSigningKey::from)
        .collect())
}

/// Keys that belong in JWKS now: not retired, or retired but still within their publish window.
pub fn list_published(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
) -> StoreResult<Vec<StoredSigningKey>> {
    Ok(signing_keys::table
        .filter(
            signing_keys::unpublish_at
                .is_null()
                .or(signing_keys::unpublish_at.gt(now.naive_utc())),
        )
        .order((
            signing_keys::org_id.asc(),
            signing_keys::created_at.desc(),
            signing_keys::kid.desc(),
        ))
        .select(SigningKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(StoredSigningKey::from)
        .collect())
}

/// When each of the org's published keys leaves the JWKS (`None` for the current key, which is
/// not scheduled to): one entry per key [`list_published`] would serve now.
pub fn published_unpublish_times(
    conn: &mut DbConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Option<DateTime<Utc>>>> {
    Ok(signing_keys::table
        .filter(signing_keys::org_id.eq(org_id))
        .filter(
            signing_keys::unpublish_at
                .is_null()
                .or(signing_keys::unpublish_at.gt(now.naive_utc())),
        )
        .select(signing_keys::unpublish_at)
        .load::<Option<NaiveDateTime>>(conn)?
        .into_iter()
        .map(|t| t.map(|t| t.and_utc()))
        .collect())
}

/// Takes the org's row lock until the transaction ends, so two rotations of one org (on two
/// nodes) run one after the other: the second sees the key the first made current. On SQLite the
/// `BEGIN IMMEDIATE` of `write_tx` already serialises writers; this is for PostgreSQL, where a
/// no-op `UPDATE` is the portable `SELECT … FOR UPDATE`. Returns false for an unknown org.
pub fn lock_org(conn: &mut DbConnection, org_id: &str) -> StoreResult<bool> {
    let n = diesel::update(orgs::table.filter(orgs::id.eq(org_id)))
        .set(orgs::bootstrapped_at.eq(orgs::bootstrapped_at))
        .execute(conn)?;
    Ok(n == 1)
}

/// The org's signing key: the newest one not retired.
pub fn find_current(
    conn: &mut DbConnection,
    org_id: &str,
) -> StoreResult<Option<StoredSigningKey>> {
    Ok(signing_keys::table
        .filter(signing_keys::org_id.eq(org_id))
        .filter(signing_keys::retired_at.is_null())
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .select(SigningKeyRow::as_select())
        .first(conn)
        .optional()?
        .map(StoredSigningKey::from))
}

/// Retires every unretired key of the org: they stop signing now and stay published until
/// `unpublish_at`. Returns how many were retired.
pub fn retire_current(
    conn: &mut DbConnection,
    org_id: &str,
    retired_at: DateTime<Utc>,
    unpublish_at: DateTime<Utc>,
) -> StoreResult<usize> {
    Ok(diesel::update(
        signing_keys::table
            .filter(signing_keys::org_id.eq(org_id))
            .filter(signing_keys::retired_at.is_null()),
    )
    .set((
        signing_keys::retired_at.eq(retired_at.naive_utc()),
        signing_keys::unpublish_at.eq(unpublish_at.naive_utc()),
    ))
    .execute(conn)?)
}
