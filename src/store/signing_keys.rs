//! Per-org signing keys. Private halves are stored sealed (see `crypto::master_key`); this module
//! never sees them in the clear. When a key signs and is published is read into
//! `domain::signing_key::KeyTimes`, which decides its status.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{orgs, signing_keys};
use super::{DbConnection, StoreResult};
use crate::domain::signing_key::{self, KeyTimes};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct SigningKeyRow {
    kid: String,
    org_id: String,
    alg: String,
    public_jwk: String,
    private_sealed: Vec<u8>,
    created_at: NaiveDateTime,
    activates_at: Option<NaiveDateTime>,
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
    /// When it signs and when it is published.
    pub times: KeyTimes,
}

impl std::fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("org_id", &self.org_id)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

impl From<SigningKeyRow> for StoredSigningKey {
    fn from(r: SigningKeyRow) -> Self {
        let utc = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc());
        StoredSigningKey {
            kid: r.kid,
            org_id: r.org_id,
            alg: r.alg,
            public_jwk: r.public_jwk,
            private_sealed: r.private_sealed,
            created_at: r.created_at.and_utc(),
            times: KeyTimes {
                activates_at: utc(r.activates_at),
                retired_at: utc(r.retired_at),
                unpublish_at: utc(r.unpublish_at),
            },
        }
    }
}

fn naive(t: Option<DateTime<Utc>>) -> Option<NaiveDateTime> {
    t.map(|t| t.naive_utc())
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
            signing_keys::activates_at.eq(naive(key.times.activates_at)),
            signing_keys::retired_at.eq(naive(key.times.retired_at)),
            signing_keys::unpublish_at.eq(naive(key.times.unpublish_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes when the key `kid` signs and is published. Returns false for an unknown kid.
pub fn set_times(conn: &mut DbConnection, kid: &str, times: &KeyTimes) -> StoreResult<bool> {
    let n = diesel::update(signing_keys::table.filter(signing_keys::kid.eq(kid)))
        .set((
            signing_keys::activates_at.eq(naive(times.activates_at)),
            signing_keys::retired_at.eq(naive(times.retired_at)),
            signing_keys::unpublish_at.eq(naive(times.unpublish_at)),
        ))
        .execute(conn)?;
    Ok(n == 1)
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

/// Keys that belong in the JWKS now (current, next, and retired ones still within their publish
/// window), by org, newest first.
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

/// The keys of one org [`list_published`] would serve now.
pub fn list_published_for_org(
    conn: &mut DbConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<StoredSigningKey>> {
    Ok(signing_keys::table
        .filter(signing_keys::org_id.eq(org_id))
        .filter(
            signing_keys::unpublish_at
                .is_null()
                .or(signing_keys::unpublish_at.gt(now.naive_utc())),
        )
        .order((signing_keys::created_at.desc(), signing_keys::kid.desc()))
        .select(SigningKeyRow::as_select())
        .load(conn)?
        .into_iter()
        .map(StoredSigningKey::from)
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

/// The org's signing key at `now` (`domain::signing_key::signer_at`).
pub fn find_current(
    conn: &mut DbConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<StoredSigningKey>> {
    let keys = list_published_for_org(conn, org_id, now)?;
    Ok(signing_key::signer_at(keys.iter().map(|k| (&k.times, k)), now).cloned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel_migrations::MigrationHarness;

    use super::*;
    use crate::domain::signing_key::SigningKeyStatus;

    /// A database at the migration before next keys, with one org's key written as that version
    /// wrote it, then migrated: the key signed from its creation, so it is current, and the org
    /// has no next key yet (`serve` publishes one at startup).
    #[test]
    fn keys_from_before_next_keys_signed_from_their_creation() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = super::super::connect_one(&url).unwrap();
        let DbConnection::Sqlite(sqlite) = &mut conn else {
            panic!("SQLite")
        };
        for _ in 0..7 {
            sqlite
                .run_next_migration(super::super::SQLITE_MIGRATIONS)
                .unwrap();
        }
        sqlite
            .batch_execute(
                "INSERT INTO orgs (id, slug, created_at, bootstrapped_at)
                     VALUES ('org_a', 'a', '2026-12-01 10:00:00', '2026-12-01 10:00:00');
                 INSERT INTO signing_keys (kid, org_id, alg, public_jwk, private_sealed, created_at)
                     VALUES ('k1', 'org_a', 'EdDSA', '{}', x'00', '2026-12-01 10:00:00.5'),
                            ('k0', 'org_a', 'EdDSA', '{}', x'00', '2026-11-30 10:00:00');
                 UPDATE signing_keys SET retired_at = '2026-12-01 10:00:00.5',
                     unpublish_at = '2026-12-01 10:11:00.5' WHERE kid = 'k0';",
            )
            .unwrap();
        super::super::migrate_conn(&mut conn).unwrap();

        let keys = list_for_org(&mut conn, "org_a").unwrap();
        let created: Vec<_> = keys.iter().map(|k| k.created_at).collect();
        let activated: Vec<_> = keys.iter().filter_map(|k| k.times.activates_at).collect();
        assert_eq!(activated, created);
        let now = "2026-12-01T10:05:00Z".parse().unwrap();
        let statuses: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.as_str(), k.times.status(now)))
            .collect();
        assert_eq!(
            statuses,
            [
                ("k1", SigningKeyStatus::Current),
                ("k0", SigningKeyStatus::Retired)
            ]
        );
        assert_eq!(
            find_current(&mut conn, "org_a", now).unwrap().unwrap().kid,
            "k1"
        );
    }
}
