//! Storage: the only module that imports diesel. One binary serves SQLite (embedded default) and
//! PostgreSQL (multi-node) through a `MultiConnection`; the backend is chosen by the URL scheme.

pub mod assertions;
pub mod audit;
pub mod change_log;
pub mod keys;
pub mod limits;
pub mod orgs;
pub mod revoked_tokens;
pub mod schema;
pub mod signing_keys;
pub mod usage;
pub mod webhooks;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// One connection type for both backends; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConn = r2d2::PooledConnection<ConnectionManager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("cannot reach the database: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("{0}")]
    Config(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The work needs the database but ran where blocking is not allowed (see [`Conn`]).
    #[error("the database is needed for this request")]
    Offline,
}

impl StoreError {
    /// A UNIQUE constraint failed: callers turn it into a 409 rather than a 500.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        match e {
            r2d2::Error::ConnectionError(c) => StoreError::Connect(c),
            r2d2::Error::QueryError(q) => StoreError::Query(q),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A connection for work that usually needs none (the hot path answers from the key cache and
/// the keyring). `Offline` runs on the async executor and fails with [`StoreError::Offline`] the
/// moment the database is wanted; the caller then repeats the work, which must be read-only, on
/// the blocking pool with a real connection. Saves the thread hop and the pool checkout on every
/// cache hit.
pub enum Conn<'a> {
    Attached(&'a mut DbConnection),
    Offline,
}

impl Conn<'_> {
    pub fn get(&mut self) -> StoreResult<&mut DbConnection> {
        match self {
            Conn::Attached(c) => Ok(c),
            Conn::Offline => Err(StoreError::Offline),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A parsed `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// For SQLite the file path; for PostgreSQL the URL as given.
    pub target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_owned(),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"));
        match path {
            Some(p) if !p.is_empty() => Ok(Self {
                backend: Backend::Sqlite,
                target: p.to_owned(),
            }),
            _ => Err(StoreError::Config(format!(
                "unsupported database URL {url:?}: use sqlite://PATH or postgres://USER@HOST/DB"
            ))),
        }
    }
}

/// r2d2 manager that picks the backend from the URL. diesel's derived `establish()` tries each
/// backend in turn and swallows the real error; this one reports it.
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// PostgreSQL `statement_timeout`: a stuck query fails instead of holding a connection.
    statement_timeout: Duration,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl, statement_timeout: Duration) -> Self {
        Self {
            url,
            statement_timeout,
        }
    }
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match self.url.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.url.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(&format!(
                    "SET statement_timeout = {}",
                    self.statement_timeout.as_millis()
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first, so even the journal-mode switch waits rather than fails;
                // WAL lets readers run beside the single writer; a 32 MiB page cache and mmap
                // keep a large key table off the pread path (usage flushes, 1M-key lookups);
                // synchronous = FULL syncs the WAL at every commit, so an acknowledged change
                // (a revocation above all) survives a power loss, not only a crash — writes are
                // admin actions and one usage flush a second, so the cost is small; foreign keys
                // are off by default in SQLite.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA cache_size = -32768; \
                     PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY; \
                     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Pool settings that matter operationally.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a connection before failing (503) when the database is gone.
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the pool, creating the SQLite file and its folder on demand. See `migrate`.
pub fn connect(url: &str, options: &PoolOptions) -> StoreResult<Pool> {
    let url = DatabaseUrl::parse(url)?;
    prepare_sqlite_dir(&url)?;
    if url.backend == Backend::Sqlite {
        // WAL is a property of the file: switch it once, alone, before the pool opens its
        // connections in parallel (several switching at once would find the database locked).
        drop(ConnectionManager::new(url.clone(), options.statement_timeout).connect()?);
    }
    // A checkout test costs a parsed `SELECT 1` per request. An embedded SQLite connection does
    // not go away, so only PostgreSQL connections (which can, with the server) are tested.
    let test_on_check_out = url.backend == Backend::Postgres;
    let pool = r2d2::Pool::builder()
        .max_size(options.max_size)
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(test_on_check_out)
        .build(ConnectionManager::new(url, options.statement_timeout))?;
    Ok(pool)
}

/// One connection without a pool, for short-lived commands: fails at once with the real cause
/// instead of retrying until the pool's timeout.
pub fn connect_one(url: &str) -> StoreResult<DbConnection> {
    let url = DatabaseUrl::parse(url)?;
    prepare_sqlite_dir(&url)?;
    Ok(ConnectionManager::new(url, PoolOptions::default().statement_timeout).connect()?)
}

fn prepare_sqlite_dir(url: &DatabaseUrl) -> StoreResult<()> {
    let sqlite_dir = Path::new(&url.target)
        .parent()
        .filter(|p| !p.as_os_str().is_empty());
    if let (Backend::Sqlite, Some(parent)) = (url.backend, sqlite_dir) {
        std::fs::create_dir_all(parent)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", parent.display())))?;
    }
    Ok(())
}

/// Runs the embedded migrations of the pool's backend.
pub fn migrate(pool: &Pool) -> StoreResult<()> {
    let mut conn = pool.get()?;
    migrate_conn(&mut conn)
}

/// Runs the embedded migrations of the connection's backend.
pub fn migrate_conn(conn: &mut DbConnection) -> StoreResult<()> {
    let result = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        DbConnection::Postgresql(c) => {
            // diesel_migrations takes no lock: nodes starting together must not race.
            c.batch_execute("SELECT pg_advisory_lock(7235145)")?;
            let r = c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ());
            c.batch_execute("SELECT pg_advisory_unlock(7235145)")?;
            r
        }
    };
    result.map_err(|e| StoreError::Migration(e.to_string()))
}

/// A write transaction. On SQLite it is `BEGIN IMMEDIATE`, so two writers queue on the busy
/// timeout instead of one failing with SQLITE_BUSY when a read lock cannot be upgraded.
pub fn write_tx<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    match conn {
        DbConnection::Postgresql(_) => {
            conn.batch_execute("BEGIN").map_err(StoreError::from)?;
        }
        DbConnection::Sqlite(_) => {
            conn.batch_execute("BEGIN IMMEDIATE")
                .map_err(StoreError::from)?;
        }
    }
    match f(conn) {
        Ok(value) => {
            conn.batch_execute("COMMIT").map_err(StoreError::from)?;
            Ok(value)
        }
        Err(e) => {
            // The original error is what matters; a failed rollback leaves a broken connection
            // that r2d2 discards.
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

/// `INSERT … ON CONFLICT DO NOTHING`, the same text on both backends but for the placeholders.
/// Returns how many rows it inserted (0: the row was there).
pub(crate) fn insert_ignore(
    conn: &mut DbConnection,
    sql: &str,
    bind: Vec<Bound>,
) -> StoreResult<usize> {
    macro_rules! run {
        ($c:expr, $db:ty, $sql:expr) => {{
            let mut q = diesel::sql_query($sql).into_boxed::<$db>();
            for b in bind {
                q = match b {
                    Bound::Text(t) => q.bind::<Text, _>(t),
                    Bound::Big(i) => q.bind::<BigInt, _>(i),
                    Bound::Time(t) => q.bind::<Timestamp, _>(t),
                };
            }
            q.execute($c)?
        }};
    }
    Ok(match conn {
        DbConnection::Sqlite(c) => run!(c, diesel::sqlite::Sqlite, sql.to_owned()),
        DbConnection::Postgresql(c) => {
            let mut n = 0;
            let pg: String = sql
                .chars()
                .map(|ch| {
                    if ch == '?' {
                        n += 1;
                        format!("${n}")
                    } else {
                        ch.to_string()
                    }
                })
                .collect();
            run!(c, diesel::pg::Pg, pg)
        }
    })
}

/// A value bound to [`insert_ignore`]'s statement.
pub(crate) enum Bound {
    Text(String),
    Big(i64),
    Time(chrono::NaiveDateTime),
}

/// Wall-clock now at the precision both backends store (microseconds), so a value read back
/// equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Database reachable? Used by `/readyz`.
pub fn ping(pool: &Pool) -> StoreResult<()> {
    let mut conn = pool.get()?;
    conn.ping()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_pick_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/x.db").unwrap().target,
            "data/x.db"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap().target,
            "/tmp/x.db"
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend,
            Backend::Postgres
        );
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }
}
