//! What is found after a kill, against what the clients were told: through the database directly
//! (integrity, dangling rows, the audit trail and change feed in step with the keys) and through
//! the admin API after the restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::Value;

use crate::workload::{ClientLog, KeyState, Pending};

/// Compares the keys as found (by id) with what the clients were told. Returns the problems, and
/// the number of changes each key must have in the audit trail and the change feed.
pub fn check_keys(
    logs: &[ClientLog],
    found: &BTreeMap<String, KeyState>,
    admin_id: &str,
    source: &str,
) -> (Vec<String>, HashMap<String, Expected>) {
    let mut problems = Vec::new();
    let mut expected = HashMap::new();
    let mut known = HashSet::new();
    known.insert(admin_id.to_owned());
    for log in logs {
        for k in &log.keys {
            known.insert(k.id.clone());
            let Some(f) = found.get(&k.id) else {
                problems.push(format!(
                    "{source}: acknowledged key {} ({}) is gone",
                    k.id, k.acked.name
                ));
                continue;
            };
            let pending = k.pending_state();
            let applied = if *f == k.acked {
                false
            } else if Some(f) == pending.as_ref() {
                true
            } else {
                problems.push(format!(
                    "{source}: key {} is {f:?}; acknowledged {:?}, in flight {pending:?}",
                    k.id, k.acked
                ));
                continue;
            };
            if k.acked.revoked && !f.revoked {
                problems.push(format!("{source}: revoked key {} is not revoked", k.id));
            }
            let edits =
                k.acked_edits + usize::from(applied && matches!(k.pending, Some(Pending::Edit(_))));
            expected.insert(
                k.id.clone(),
                Expected {
                    edits,
                    revoked: f.revoked,
                },
            );
        }
    }
    let mut lost: Vec<&KeyState> = logs
        .iter()
        .filter_map(|l| l.lost_create.as_ref().map(|(_, s)| s))
        .collect();
    for (id, f) in found {
        if known.contains(id) {
            continue;
        }
        // Not acknowledged: it must be a create that was in flight, whole.
        match lost.iter().position(|want| *want == f) {
            Some(i) => {
                lost.remove(i);
                expected.insert(
                    id.clone(),
                    Expected {
                        edits: 0,
                        revoked: false,
                    },
                );
            }
            None => problems.push(format!(
                "{source}: key {id} {f:?} was never created by an acknowledged or in-flight create"
            )),
        }
    }
    (problems, expected)
}

/// What the audit trail and the change feed must hold for one key.
#[derive(Debug)]
pub struct Expected {
    pub edits: usize,
    pub revoked: bool,
}

#[derive(QueryableByName)]
pub struct KeyRow {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub scopes: String,
    #[diesel(sql_type = Text)]
    pub allowed_cidrs: String,
    #[diesel(sql_type = BigInt)]
    pub revoked: i64,
}

#[derive(QueryableByName)]
pub struct Tally {
    #[diesel(sql_type = Text)]
    pub target: String,
    #[diesel(sql_type = Text)]
    pub action: String,
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(QueryableByName)]
pub struct Count {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

#[derive(QueryableByName)]
pub struct IntegrityCheck {
    #[diesel(sql_type = Text)]
    pub integrity_check: String,
}

pub enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Db {
    pub fn open(database_url: &str) -> Self {
        match database_url.strip_prefix("sqlite://") {
            Some(path) => Db::Sqlite(SqliteConnection::establish(path).unwrap()),
            None => Db::Pg(PgConnection::establish(database_url).unwrap()),
        }
    }

    pub fn load<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).load(c),
            Db::Pg(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    pub fn count(&mut self, sql: &str) -> i64 {
        self.load::<Count>(sql)[0].n
    }
}

/// The database as the crash left it: integrity, no dangling or half-written rows, the audit
/// trail and change feed in step with the keys.
pub fn check_database(database_url: &str, logs: &[ClientLog], admin_id: &str) -> Vec<String> {
    let mut db = Db::open(database_url);
    let mut problems = Vec::new();
    match &mut db {
        Db::Sqlite(_) => {
            let rows = db.load::<IntegrityCheck>("PRAGMA integrity_check");
            let report: Vec<&str> = rows.iter().map(|r| r.integrity_check.as_str()).collect();
            if report != ["ok"] {
                problems.push(format!("PRAGMA integrity_check: {report:?}"));
            }
            let n = db.count("SELECT count(*) AS n FROM pragma_foreign_key_check");
            if n != 0 {
                problems.push(format!("PRAGMA foreign_key_check: {n} violations"));
            }
        }
        Db::Pg(c) => {
            // amcheck: every B-tree index of the schema is consistent with itself and its table,
            // and the tables' heap pages are sound.
            if c.batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")
                .is_ok()
            {
                c.batch_execute(
                    "DO $$ DECLARE r record; BEGIN \
                       FOR r IN SELECT c.oid FROM pg_index i \
                         JOIN pg_class c ON c.oid = i.indexrelid \
                         JOIN pg_am a ON a.oid = c.relam \
                         JOIN pg_namespace s ON s.oid = c.relnamespace \
                         WHERE a.amname = 'btree' AND s.nspname = 'public' \
                       LOOP PERFORM bt_index_check(r.oid, true); END LOOP; END $$",
                )
                .unwrap_or_else(|e| problems.push(format!("amcheck bt_index_check: {e}")));
                let n = db.count(
                    "SELECT count(*) AS n FROM pg_class c \
                     JOIN pg_namespace s ON s.oid = c.relnamespace, \
                     LATERAL verify_heapam(c.oid::regclass) \
                     WHERE s.nspname = 'public' AND c.relkind = 'r'",
                );
                if n != 0 {
                    problems.push(format!("amcheck verify_heapam: {n} corrupt tuples"));
                }
            } else {
                eprintln!("NOTE (crash test): amcheck is not available; index checks skipped");
            }
        }
    }
    // Half-written keys and dangling rows.
    for (what, sql) in [
        (
            "keys without scopes",
            "SELECT count(*) AS n FROM api_keys WHERE trim(scopes) = ''",
        ),
        (
            "usage rows of no key",
            "SELECT count(*) AS n FROM usage_hourly u \
             WHERE NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = u.key_id)",
        ),
        (
            "key audit events of no key",
            "SELECT count(*) AS n FROM audit_events a WHERE a.action LIKE 'key.%' \
             AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = a.target)",
        ),
        (
            "change-feed entries of no key",
            "SELECT count(*) AS n FROM change_log l WHERE l.kind = 'key' \
             AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = l.subject)",
        ),
    ] {
        let n = db.count(sql);
        if n != 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    // The keys as stored, against what the clients were told.
    let rows = db.load::<KeyRow>(
        "SELECT id, name, scopes, allowed_cidrs, \
         CAST(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS revoked FROM api_keys",
    );
    let found: BTreeMap<String, KeyState> =
        rows.iter().map(|r| (r.id.clone(), key_state(r))).collect();
    let (mut key_problems, expected) = check_keys(logs, &found, admin_id, "database");
    problems.append(&mut key_problems);
    // Every change in the same transaction as its audit entry and change-feed entry.
    let mut tally: HashMap<(String, String), i64> = HashMap::new();
    for t in db.load::<Tally>(
        "SELECT target, action, count(*) AS n FROM audit_events GROUP BY target, action \
         UNION ALL SELECT subject AS target, 'change_log' AS action, count(*) AS n \
         FROM change_log WHERE kind = 'key' GROUP BY subject",
    ) {
        tally.insert((t.target, t.action), t.n);
    }
    let get = |id: &str, action: &str| {
        tally
            .get(&(id.to_owned(), action.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    for (id, e) in &expected {
        let want = [
            ("key.created", 1),
            ("key.updated", e.edits as i64),
            ("key.revoked", i64::from(e.revoked)),
            ("change_log", e.edits as i64 + i64::from(e.revoked)),
        ];
        for (action, n) in want {
            if get(id, action) != n {
                problems.push(format!(
                    "key {id}: {} {action} entries, expected {n} ({e:?})",
                    get(id, action)
                ));
            }
        }
    }
    problems
}

/// Every key through the admin API, all statuses.
pub async fn list_all(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
) -> BTreeMap<String, KeyState> {
    let mut found = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}/v1/keys?status=all&limit=200");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = http.get(url).bearer_auth(admin).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        for k in page["keys"].as_array().unwrap() {
            assert!(
                !k["scopes"].as_array().unwrap().is_empty(),
                "a key without scopes: {k}"
            );
            found.insert(k["id"].as_str().unwrap().to_owned(), KeyState::of_json(k));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return found,
        }
    }
}

/// PostgreSQL: the killed process's sessions are gone (their transactions ended one way or the
/// other) before the database is inspected.
pub fn wait_sessions_gone(database_url: &str) {
    if database_url.starts_with("sqlite://") {
        return;
    }
    let mut db = Db::open(database_url);
    let start = Instant::now();
    while db.count(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
         AND backend_type = 'client backend'",
    ) > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed server's PostgreSQL sessions linger"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A key as its `api_keys` columns hold it.
pub fn key_state(row: &KeyRow) -> KeyState {
    let sorted = |text: &str| {
        let mut v: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
        v.sort();
        v
    };
    KeyState {
        name: row.name.clone(),
        scopes: sorted(&row.scopes),
        cidrs: sorted(&row.allowed_cidrs),
        revoked: row.revoked != 0,
    }
}
