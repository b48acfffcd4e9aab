//! Usage rows: hourly counters per key (upserted in batches by the flusher), rolled up into
//! daily rows after the retention window.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::schema::{usage_daily, usage_hourly};
use super::{Backend, DbConnection, StoreResult, write_tx};
use crate::domain::usage::{Batch, Counts, LastUse};

/// Rows per statement: well under SQLite's bind-variable limit (32766; 9 binds a row).
const CHUNK: usize = 1000;

pub type UsageRow = (String, DateTime<Utc>, Counts);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Hourly,
    Daily,
}

impl Table {
    fn name(&self) -> &'static str {
        match self {
            Table::Hourly => "usage_hourly",
            Table::Daily => "usage_daily",
        }
    }
}

fn backend_of(conn: &DbConnection) -> Backend {
    match conn {
        DbConnection::Sqlite(_) => Backend::Sqlite,
        DbConnection::Postgresql(_) => Backend::Postgres,
    }
}

/// `?` for SQLite, `$n` for PostgreSQL.
fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// A common table expression of bound rows: `WITH v(a, b) AS (VALUES (?, ?), (?, ?))`. Both
/// backends accept it in front of INSERT and UPDATE, and a VALUES list parses far faster than a
/// chain of `UNION ALL` selects.
fn values_cte(backend: Backend, columns: &[&str], rows: usize) -> String {
    let mut n = 0;
    let mut tuples = Vec::with_capacity(rows);
    for _ in 0..rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|_| {
                n += 1;
                placeholder(backend, n)
            })
            .collect();
        tuples.push(format!("({})", cells.join(", ")));
    }
    format!(
        "WITH v({}) AS (VALUES {})",
        columns.join(", "),
        tuples.join(", ")
    )
}

/// THE counter columns of `usage_hourly` and `usage_daily`, named once, in
/// [`Counts::to_array`] order. Everything that writes or reads them is generated from this list:
/// the upsert's SQL ([`COUNT_COLUMNS`]), the typed selects of the reports and of the roll-up
/// (`count_selection!`) and the row they load into ([`Row`]). A new counter is one name here,
/// one field of `Counts`, and a migration on each backend (the selects check `schema.rs` at
/// compile time; `count_columns_follow_the_counts_order` checks the order).
///
/// A macro and not a `const` because diesel's typed columns are paths, not values: a `const`
/// array can name them in SQL text but not select them. It hands the list to another macro:
/// `with_count_columns!(m!(args))` expands to `m!(args tokens_issued, requests, …)`.
macro_rules! with_count_columns {
    ($then:ident!($($args:tt)*)) => {
        $then! {
            $($args)*
            tokens_issued,
            requests,
            denied_bad_secret,
            denied_revoked,
            denied_expired,
            denied_ip_not_allowed,
            denied_scope_not_allowed,
            denied_rate_limited,
            denied_quota_exhausted,
            tokens_private_key_jwt,
            tokens_federated
        }
    };
}

macro_rules! column_names {
    ($($column:ident),*) => {
        [$(stringify!($column)),*]
    };
}

/// The counter columns as SQL names, for the upsert.
const COUNT_COLUMNS: [&str; Counts::LEN] = with_count_columns!(column_names!());

/// `(key_id, bucket, <counters>)` of `$table`, in [`Row`]'s field order.
macro_rules! count_selection {
    ($table:ident; $($column:ident),*) => {
        ($table::key_id, $table::bucket, $($table::$column),*)
    };
}

macro_rules! row_struct {
    ($($column:ident),*) => {
        /// A usage row as loaded: key, bucket, then one field per counter column.
        #[derive(Queryable)]
        struct Row {
            key_id: String,
            bucket: NaiveDateTime,
            $($column: i64),*
        }

        impl From<Row> for UsageRow {
            fn from(r: Row) -> Self {
                let u = |n: i64| u64::try_from(n).unwrap_or(0);
                let counts = Counts::from_array([$(u(r.$column)),*]);
                (r.key_id, r.bucket.and_utc(), counts)
            }
        }
    };
}

with_count_columns!(row_struct!());

/// One multi-row upsert. Rows of unknown keys fall out of the join (a token request may name any
/// client_id), and each row takes the org of its key. The same SQL runs on both backends
/// (SQLite ≥ 3.24 and PostgreSQL share `ON CONFLICT … DO UPDATE` and `excluded`); the `WHERE
/// true` resolves SQLite's parsing ambiguity between a join and the upsert clause.
fn upsert_chunk(
    conn: &mut DbConnection,
    table: Table,
    rows: &[(&str, DateTime<Utc>, &Counts)],
) -> StoreResult<()> {
    let backend = backend_of(conn);
    let mut columns = vec!["key_id", "bucket"];
    columns.extend(COUNT_COLUMNS);
    let t = table.name();
    let sets: Vec<String> = COUNT_COLUMNS
        .iter()
        .map(|c| format!("{c} = {t}.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "{values} INSERT INTO {t} (key_id, org_id, bucket, {cols}) \
         SELECT v.key_id, k.org_id, v.bucket, {vcols} FROM v JOIN api_keys k ON k.id = v.key_id \
         WHERE true ON CONFLICT (key_id, bucket) DO UPDATE SET {sets}",
        cols = COUNT_COLUMNS.join(", "),
        vcols = COUNT_COLUMNS
            .iter()
            .map(|c| format!("v.{c}"))
            .collect::<Vec<_>>()
            .join(", "),
        values = values_cte(backend, &columns, rows.len()),
        sets = sets.join(", "),
    );
    macro_rules! run {
        ($c:expr, $db:ty) => {{
            let mut q = diesel::sql_query(sql).into_boxed::<$db>();
            for (key, bucket, counts) in rows {
                q = q
                    .bind::<Text, _>(key.to_string())
                    .bind::<Timestamp, _>(bucket.naive_utc());
                for n in counts.to_array() {
                    q = q.bind::<BigInt, _>(clamp(n));
                }
            }
            q.execute($c)?
        }};
    }
    match conn {
        DbConnection::Sqlite(c) => run!(c, Sqlite),
        DbConnection::Postgresql(c) => run!(c, Pg),
    };
    Ok(())
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `(key id, (when, from where))` as the recorder keeps it.
type LastUsed<'a> = (&'a String, &'a LastUse);

/// Moves `last_used_at`/`last_used_ip` forward (never back: two nodes flush in any order).
fn last_used_chunk(conn: &mut DbConnection, rows: &[LastUsed<'_>]) -> StoreResult<()> {
    let backend = backend_of(conn);
    let sql = format!(
        "{values} UPDATE api_keys SET last_used_at = v.at, last_used_ip = v.ip FROM v \
         WHERE api_keys.id = v.id AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.at)",
        values = values_cte(backend, &["id", "at", "ip"], rows.len()),
    );
    macro_rules! run {
        ($c:expr, $db:ty) => {{
            let mut q = diesel::sql_query(sql).into_boxed::<$db>();
            for (id, (at, ip)) in rows {
                q = q
                    .bind::<Text, _>(id.to_string())
                    .bind::<Timestamp, _>(at.naive_utc())
                    .bind::<Nullable<Text>, _>(ip.map(|i| i.to_string()));
            }
            q.execute($c)?
        }};
    }
    match conn {
        DbConnection::Sqlite(c) => run!(c, Sqlite),
        DbConnection::Postgresql(c) => run!(c, Pg),
    };
    Ok(())
}

/// Writes a batch in one transaction: counters added to their hourly rows, last use moved on.
pub fn flush(conn: &mut DbConnection, batch: &Batch) -> StoreResult<()> {
    // Sorted, so each chunk walks the primary-key b-trees in order instead of at random.
    let mut counts: Vec<(&str, DateTime<Utc>, &Counts)> = batch
        .counts
        .iter()
        .map(|((k, b), c)| (k.as_str(), *b, c))
        .collect();
    counts.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut uses: Vec<_> = batch.last_used.iter().collect();
    uses.sort_unstable_by(|a, b| a.0.cmp(b.0));
    write_tx(conn, |conn| {
        for chunk in counts.chunks(CHUNK) {
            upsert_chunk(conn, Table::Hourly, chunk)?;
        }
        for chunk in uses.chunks(CHUNK) {
            last_used_chunk(conn, chunk)?;
        }
        Ok(())
    })
}

macro_rules! select_rows {
    ($table:ident, $conn:expr, $org:expr, $key:expr, $from:expr, $to:expr) => {{
        let mut q = $table::table
            .filter($table::org_id.eq($org.to_owned()))
            .filter($table::bucket.ge($from.naive_utc()))
            .filter($table::bucket.lt($to.naive_utc()))
            .select(with_count_columns!(count_selection!($table;)))
            .into_boxed();
        if let Some(k) = $key {
            q = q.filter($table::key_id.eq(k.to_owned()));
        }
        q.load::<Row>($conn)?
            .into_iter()
            .map(UsageRow::from)
            .collect::<Vec<_>>()
    }};
}

/// Hourly and daily rows of an org (or one key) with `from <= bucket < to`.
pub fn rows(
    conn: &mut DbConnection,
    org_id: &str,
    key_id: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<UsageRow>> {
    let mut all = select_rows!(usage_hourly, conn, org_id, key_id, from, to);
    all.extend(select_rows!(usage_daily, conn, org_id, key_id, from, to));
    Ok(all)
}

/// Rolls hourly rows older than `hourly_before` into daily rows and drops daily rows older than
/// `daily_before`, in one transaction (serialised across nodes on PostgreSQL), so totals are
/// kept exactly. Returns how many hourly rows were rolled up.
pub fn roll_up(
    conn: &mut DbConnection,
    hourly_before: DateTime<Utc>,
    daily_before: DateTime<Utc>,
) -> StoreResult<usize> {
    write_tx(conn, |conn| {
        if let DbConnection::Postgresql(c) = conn {
            c.batch_execute("SELECT pg_advisory_xact_lock(7235146)")?;
        }
        let old: Vec<UsageRow> = usage_hourly::table
            .filter(usage_hourly::bucket.lt(hourly_before.naive_utc()))
            .select(with_count_columns!(count_selection!(usage_hourly;)))
            .load::<Row>(conn)?
            .into_iter()
            .map(UsageRow::from)
            .collect();
        let n = old.len();
        let mut days: HashMap<(String, DateTime<Utc>), Counts> = HashMap::new();
        for (key_id, bucket, counts) in old {
            let day = crate::domain::usage::Granularity::Day.start_of(bucket);
            days.entry((key_id, day)).or_default().add(&counts);
        }
        let rows: Vec<(&str, DateTime<Utc>, &Counts)> =
            days.iter().map(|((k, d), c)| (k.as_str(), *d, c)).collect();
        for chunk in rows.chunks(CHUNK) {
            upsert_chunk(conn, Table::Daily, chunk)?;
        }
        diesel::delete(
            usage_hourly::table.filter(usage_hourly::bucket.lt(hourly_before.naive_utc())),
        )
        .execute(conn)?;
        diesel::delete(usage_daily::table.filter(usage_daily::bucket.lt(daily_before.naive_utc())))
            .execute(conn)?;
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::usage::DenyReason;

    #[test]
    fn count_columns_follow_the_counts_order() {
        let mut expected = vec!["tokens_issued".to_owned(), "requests".to_owned()];
        expected.extend(
            DenyReason::ALL
                .iter()
                .map(|r| format!("denied_{}", r.as_str())),
        );
        expected.extend([
            "tokens_private_key_jwt".to_owned(),
            "tokens_federated".to_owned(),
        ]);
        assert_eq!(COUNT_COLUMNS.to_vec(), expected);
    }

    #[test]
    fn bound_rows_use_each_backends_placeholders() {
        assert_eq!(
            values_cte(Backend::Sqlite, &["a", "b"], 2),
            "WITH v(a, b) AS (VALUES (?, ?), (?, ?))"
        );
        assert_eq!(
            values_cte(Backend::Postgres, &["a", "b"], 2),
            "WITH v(a, b) AS (VALUES ($1, $2), ($3, $4))"
        );
    }
}
