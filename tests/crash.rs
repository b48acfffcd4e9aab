//! Crash safety: `kill -9` in the middle of a burst of creates, edits and revokes, then a restart
//! on the same database, on SQLite and on PostgreSQL. Every change the server acknowledged (2xx)
//! is there, every revoked key stays revoked (its secret is refused at `/oauth/token`), a change
//! whose answer the kill swallowed is wholly there or wholly absent (never a key without its
//! scopes, never a change without its audit entry), and the database passes its integrity checks.
//!
//! Each client owns the keys it creates, so the expected final state of every key is known: the
//! last acknowledged state, or the state of the one request that was in flight at the kill.
//! The kill is triggered by a count of acknowledged changes, not by time, and repeated: each
//! round restarts on the database the previous kill left, checks it, and bursts again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use serde_json::{Value, json};

/// Concurrent admin clients.
const CLIENTS: usize = 6;
/// Per round, the server is killed the moment this many changes have been acknowledged.
const KILL_AFTER: [usize; 3] = [300, 150, 450];
/// Upper bound on one client's requests, should the kill never come.
const MAX_STEPS: usize = 5_000;

// ---------------------------------------------------------------------------------------------
// The server process.

struct Server {
    child: Arc<Mutex<Child>>,
    base: String,
    stdout: Arc<Mutex<String>>,
    log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(database_url: &str, dir: &Path, run: &str) -> Server {
    let port = free_port();
    let log_path = dir.join(format!("serve-{run}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        // Usage flushes are transactions too: the shortest interval has some in flight.
        .args(["--usage-flush-interval", "1s"])
        .env("DATABASE_URL", database_url)
        .env("LATCHKEY_KEYS_DIR", dir.join("keys"))
        .env("LATCHKEY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let stdout = Arc::new(Mutex::new(String::new()));
    let sink = stdout.clone();
    let pipe = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    Server {
        child: Arc::new(Mutex::new(child)),
        base: format!("http://127.0.0.1:{port}"),
        stdout,
        log: log_path,
    }
}

async fn wait_ready(http: &reqwest::Client, server: &Server) {
    let start = Instant::now();
    loop {
        let ok = http
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ok {
            return;
        }
        if let Some(status) = server.child.lock().unwrap().try_wait().unwrap() {
            panic!(
                "server exited ({status}): {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "server did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The admin key id and secret the first start prints.
async fn banner(server: &Server) -> (String, String) {
    let start = Instant::now();
    loop {
        let out = server.stdout.lock().unwrap().clone();
        let field = |label: &str| {
            out.lines()
                .find(|l| l.starts_with(label))
                .and_then(|l| l.split_whitespace().last())
                .map(str::to_owned)
        };
        if let (Some(id), Some(secret)) =
            (field("Admin API key id:"), field("Admin API key secret:"))
        {
            return (id, secret);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no admin key in the banner: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// What the clients did and what they expect.

/// The parts of a key a change can touch, in a comparable form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyState {
    name: String,
    /// `action:resource`, sorted.
    scopes: Vec<String>,
    /// Canonical CIDRs, sorted.
    cidrs: Vec<String>,
    revoked: bool,
}

impl KeyState {
    /// From a key object of the API.
    fn of_json(key: &Value) -> Self {
        let mut scopes: Vec<String> = key["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s["action"].as_str().unwrap(),
                    s["resource"].as_str().unwrap()
                )
            })
            .collect();
        scopes.sort();
        let mut cidrs: Vec<String> = key["allowed_cidrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        cidrs.sort();
        let revoked = key["status"] == "revoked";
        assert_eq!(revoked, !key["revoked_at"].is_null(), "{key}");
        KeyState {
            name: key["name"].as_str().unwrap().to_owned(),
            scopes,
            cidrs,
            revoked,
        }
    }

    /// From the `api_keys` columns.
    fn of_row(row: &KeyRow) -> Self {
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
}

#[derive(Debug, Clone)]
enum Pending {
    Edit(KeyState),
    Revoke,
}

/// A key this client created.
#[derive(Debug)]
struct Owned {
    id: String,
    /// The create's number, in the key's names.
    n: usize,
    /// `None` for a key whose create was in flight at a kill (and was found after it).
    secret: Option<String>,
    /// The state of the last acknowledged change.
    acked: KeyState,
    acked_edits: usize,
    /// The change in flight when the server died (its answer never came).
    pending: Option<Pending>,
}

impl Owned {
    fn pending_state(&self) -> Option<KeyState> {
        match &self.pending {
            None => None,
            Some(Pending::Edit(s)) => Some(s.clone()),
            Some(Pending::Revoke) => Some(KeyState {
                revoked: true,
                ..self.acked.clone()
            }),
        }
    }
}

#[derive(Debug)]
struct ClientLog {
    c: usize,
    rng: Rng,
    keys: Vec<Owned>,
    /// A create in flight when the server died: the key must be absent or exactly this.
    lost_create: Option<(usize, KeyState)>,
    /// Creates attempted (so names are never reused).
    next_n: usize,
    creates: usize,
    edits: usize,
    revokes: usize,
    tokens: usize,
}

impl ClientLog {
    fn new(c: usize) -> Self {
        ClientLog {
            c,
            rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((c as u64 + 1) * 0x1000_0000_01B3)),
            keys: Vec::new(),
            lost_create: None,
            next_n: 0,
            creates: 0,
            edits: 0,
            revokes: 0,
            tokens: 0,
        }
    }

    fn in_flight(&self) -> usize {
        usize::from(self.lost_create.is_some())
            + self.keys.iter().filter(|k| k.pending.is_some()).count()
    }

    /// After a round's checks: what happened to the changes in flight is now known.
    fn settle(&mut self, found: &BTreeMap<String, KeyState>) -> usize {
        let mut applied = 0;
        for k in &mut self.keys {
            let Some(p) = k.pending.take() else { continue };
            if found[&k.id] != k.acked {
                applied += 1;
                k.acked = found[&k.id].clone();
                k.acked_edits += usize::from(matches!(p, Pending::Edit(_)));
            }
        }
        if let Some((n, want)) = self.lost_create.take()
            && let Some((id, _)) = found.iter().find(|(_, f)| **f == want)
        {
            applied += 1;
            self.keys.push(Owned {
                id: id.clone(),
                n,
                secret: None,
                acked: want,
                acked_edits: 0,
                pending: None,
            });
        }
        applied
    }
}

/// Tiny deterministic generator (xorshift64*): the same workload on every run.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

fn scopes_for(rng: &mut Rng, c: usize, n: usize, version: usize) -> Vec<(String, String)> {
    let mut scopes = vec![("read".to_owned(), format!("projects/{c}/{n}/**"))];
    if rng.below(2) == 0 {
        scopes.push(("write".to_owned(), format!("projects/{c}/{n}/docs/*")));
    }
    if rng.below(3) == 0 {
        scopes.push(("admin".to_owned(), format!("keys/v{version}")));
    }
    scopes
}

fn cidrs_for(rng: &mut Rng, c: usize, n: usize, version: usize) -> Vec<String> {
    // Loopback always, so the test can ask for tokens with every key.
    let mut cidrs = vec!["127.0.0.1/32".to_owned()];
    cidrs.push(format!("10.{c}.{}.0/24", (n + version) % 256));
    if rng.below(2) == 0 {
        // Canonical already (no zero group to compress): answers echo it unchanged.
        cidrs.push(format!("2001:db8:{c:x}:{:x}::/64", version + 1));
    }
    cidrs
}

fn scope_json(scopes: &[(String, String)]) -> Value {
    Value::Array(
        scopes
            .iter()
            .map(|(a, r)| json!({"action": a, "resource": r}))
            .collect(),
    )
}

fn state_of(name: &str, scopes: &[(String, String)], cidrs: &[String]) -> KeyState {
    let mut s: Vec<String> = scopes.iter().map(|(a, r)| format!("{a}:{r}")).collect();
    s.sort();
    let mut c = cidrs.to_vec();
    c.sort();
    KeyState {
        name: name.to_owned(),
        scopes: s,
        cidrs: c,
        revoked: false,
    }
}

/// Shared between the clients: the count that triggers the kill, and the process to kill.
struct Burst {
    base: String,
    admin: String,
    http: reqwest::Client,
    acked: AtomicUsize,
    kill_after: usize,
    killed: AtomicBool,
    child: Arc<Mutex<Child>>,
}

impl Burst {
    /// One more acknowledged change; the one that reaches `kill_after` kills the server.
    fn acknowledged(&self) {
        if self.acked.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_after {
            self.killed.store(true, Ordering::SeqCst);
            // `Child::kill` is SIGKILL.
            self.child.lock().unwrap().kill().unwrap();
        }
    }
}

enum Answer {
    /// 2xx and a complete JSON body.
    Acked(Value),
    /// No complete answer because the server is gone: the change may or may not have happened.
    Lost,
}

async fn call(burst: &Burst, req: reqwest::RequestBuilder, what: &str) -> Result<Answer, String> {
    let lost_or = |e: reqwest::Error| {
        if burst.killed.load(Ordering::SeqCst) {
            Ok(Answer::Lost)
        } else {
            Err(format!("{what}: {e} (before the kill)"))
        }
    };
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return lost_or(e),
    };
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(format!("{what}: {status} {body}"));
    }
    match resp.json::<Value>().await {
        Ok(v) => Ok(Answer::Acked(v)),
        Err(e) => lost_or(e),
    }
}

async fn client(burst: Arc<Burst>, mut log: ClientLog) -> Result<ClientLog, String> {
    let c = log.c;
    let base = burst.base.clone();
    for _ in 0..MAX_STEPS {
        let live: Vec<usize> = (0..log.keys.len())
            .filter(|&i| !log.keys[i].acked.revoked)
            .collect();
        let roll = log.rng.below(100);
        if live.is_empty() || roll < 40 {
            let n = log.next_n;
            log.next_n += 1;
            let name = format!("c{c}-k{n}");
            let scopes = scopes_for(&mut log.rng, c, n, 0);
            let cidrs = cidrs_for(&mut log.rng, c, n, 0);
            let want = state_of(&name, &scopes, &cidrs);
            let req = burst
                .http
                .post(format!("{base}/v1/keys"))
                .bearer_auth(&burst.admin)
                .json(
                    &json!({"name": name, "scopes": scope_json(&scopes), "allowed_cidrs": cidrs}),
                );
            match call(&burst, req, &format!("create {name}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v["key"]);
                    if got != want {
                        return Err(format!("create {name}: answered {got:?}, asked {want:?}"));
                    }
                    log.keys.push(Owned {
                        id: v["key"]["id"].as_str().unwrap().to_owned(),
                        n,
                        secret: Some(v["secret"].as_str().unwrap().to_owned()),
                        acked: got,
                        acked_edits: 0,
                        pending: None,
                    });
                    log.creates += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.lost_create = Some((n, want));
                    return Ok(log);
                }
            }
        } else if roll < 75 {
            let i = live[log.rng.below(live.len())];
            let version = log.keys[i].acked_edits + 1;
            let n = log.keys[i].n;
            let name = format!("c{c}-k{n}-e{version}");
            let mut body = json!({"name": name});
            let mut want = KeyState {
                name: name.clone(),
                ..log.keys[i].acked.clone()
            };
            // Each edit renames the key (so every version is distinct) and replaces the scopes,
            // the CIDRs or both.
            let what = log.rng.below(3);
            if what != 1 {
                let scopes = scopes_for(&mut log.rng, c, n, version);
                want.scopes = state_of("", &scopes, &[]).scopes;
                body["scopes"] = scope_json(&scopes);
            }
            if what != 0 {
                let cidrs = cidrs_for(&mut log.rng, c, n, version);
                want.cidrs = state_of("", &[], &cidrs).cidrs;
                body["allowed_cidrs"] = json!(cidrs);
            }
            let id = log.keys[i].id.clone();
            let req = burst
                .http
                .patch(format!("{base}/v1/keys/{id}"))
                .bearer_auth(&burst.admin)
                .json(&body);
            match call(&burst, req, &format!("edit {id}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v["key"]);
                    if got != want {
                        return Err(format!("edit {id}: answered {got:?}, asked {want:?}"));
                    }
                    let k = &mut log.keys[i];
                    k.acked = got;
                    k.acked_edits += 1;
                    log.edits += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.keys[i].pending = Some(Pending::Edit(want));
                    return Ok(log);
                }
            }
        } else if roll < 90 {
            let i = live[log.rng.below(live.len())];
            let id = log.keys[i].id.clone();
            let req = burst
                .http
                .delete(format!("{base}/v1/keys/{id}"))
                .bearer_auth(&burst.admin);
            match call(&burst, req, &format!("revoke {id}")).await? {
                Answer::Acked(v) => {
                    let got = KeyState::of_json(&v);
                    let want = KeyState {
                        revoked: true,
                        ..log.keys[i].acked.clone()
                    };
                    if got != want {
                        return Err(format!("revoke {id}: answered {got:?}, expected {want:?}"));
                    }
                    log.keys[i].acked = got;
                    log.revokes += 1;
                    burst.acknowledged();
                }
                Answer::Lost => {
                    log.keys[i].pending = Some(Pending::Revoke);
                    return Ok(log);
                }
            }
        } else {
            // A token now and then: usage counters to flush.
            let k = &log.keys[live[log.rng.below(live.len())]];
            let Some(secret) = &k.secret else { continue };
            let req = burst
                .http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&k.id, Some(secret))
                .form(&[("grant_type", "client_credentials")]);
            match call(&burst, req, &format!("token for {}", k.id)).await? {
                Answer::Acked(_) => log.tokens += 1,
                Answer::Lost => return Ok(log),
            }
        }
    }
    Err(format!(
        "client {c}: {MAX_STEPS} requests and the server was never killed"
    ))
}

// ---------------------------------------------------------------------------------------------
// Checks.

/// Compares the keys as found (by id) with what the clients were told. Returns the problems, and
/// the number of changes each key must have in the audit trail and the change feed.
fn check_keys(
    logs: &[ClientLog],
    found: &BTreeMap<String, KeyState>,
    admin_id: &str,
    source: &str,
) -> (Vec<String>, HashMap<String, Expected>) {
    let mut problems = Vec::new();
    let mut expected = HashMap::new();
    let mut known = std::collections::HashSet::new();
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
struct Expected {
    edits: usize,
    revoked: bool,
}

#[derive(QueryableByName)]
struct KeyRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    scopes: String,
    #[diesel(sql_type = Text)]
    allowed_cidrs: String,
    #[diesel(sql_type = BigInt)]
    revoked: i64,
}

#[derive(QueryableByName)]
struct Tally {
    #[diesel(sql_type = Text)]
    target: String,
    #[diesel(sql_type = Text)]
    action: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Db {
    fn open(database_url: &str) -> Self {
        match database_url.strip_prefix("sqlite://") {
            Some(path) => Db::Sqlite(SqliteConnection::establish(path).unwrap()),
            None => Db::Pg(PgConnection::establish(database_url).unwrap()),
        }
    }

    fn load<T>(&mut self, sql: &str) -> Vec<T>
    where
        T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
    {
        match self {
            Db::Sqlite(c) => diesel::sql_query(sql).load(c),
            Db::Pg(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn count(&mut self, sql: &str) -> i64 {
        self.load::<Count>(sql)[0].n
    }
}

/// The database as the crash left it: integrity, no dangling or half-written rows, the audit
/// trail and change feed in step with the keys.
fn check_database(database_url: &str, logs: &[ClientLog], admin_id: &str) -> Vec<String> {
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
    let found: BTreeMap<String, KeyState> = rows
        .iter()
        .map(|r| (r.id.clone(), KeyState::of_row(r)))
        .collect();
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
async fn list_all(http: &reqwest::Client, base: &str, admin: &str) -> BTreeMap<String, KeyState> {
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
fn wait_sessions_gone(database_url: &str) {
    if database_url.starts_with("sqlite://") {
        return;
    }
    let mut db = Db::open(database_url);
    let start = Instant::now();
    while db.count(
        "SELECT count(*) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    ) > 0
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the killed server's PostgreSQL sessions linger"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn kill_during_burst(database_url: String) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    let mut server = serve(&database_url, dir.path(), "0");
    wait_ready(&http, &server).await;
    let (admin_id, admin) = banner(&server).await;
    let mut logs: Vec<ClientLog> = (0..CLIENTS).map(ClientLog::new).collect();

    for (round, kill_after) in KILL_AFTER.into_iter().enumerate() {
        let burst = Arc::new(Burst {
            base: server.base.clone(),
            admin: admin.clone(),
            http: http.clone(),
            acked: AtomicUsize::new(0),
            kill_after,
            killed: AtomicBool::new(false),
            child: server.child.clone(),
        });
        let tasks: Vec<_> = logs
            .drain(..)
            .map(|log| tokio::spawn(client(burst.clone(), log)))
            .collect();
        let mut failures = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(log) => logs.push(log),
                Err(e) => failures.push(e),
            }
        }
        assert!(
            failures.is_empty(),
            "round {round}: requests failed before the kill: {failures:#?}"
        );
        let status = server.child.lock().unwrap().wait().unwrap();
        assert!(burst.killed.load(Ordering::SeqCst), "{status:?}");
        drop(server);
        let in_flight: usize = logs.iter().map(ClientLog::in_flight).sum();
        let acked = burst.acked.load(Ordering::SeqCst);
        assert!(acked >= kill_after);

        // The database as the kill left it.
        wait_sessions_gone(&database_url);
        let problems = check_database(&database_url, &logs, &admin_id);
        assert!(
            problems.is_empty(),
            "round {round}, after the kill: {problems:#?}"
        );

        // Restart on the same database: the same keys through the API, revocations hold.
        server = serve(&database_url, dir.path(), &(round + 1).to_string());
        wait_ready(&http, &server).await;
        let base = server.base.clone();
        let found = list_all(&http, &base, &admin).await;
        let (problems, _) = check_keys(&logs, &found, &admin_id, "admin API");
        assert!(
            problems.is_empty(),
            "round {round}, after the restart: {problems:#?}"
        );
        let mut refused = 0;
        for k in logs.iter().flat_map(|l| &l.keys) {
            let Some(secret) = &k.secret else { continue };
            let r = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&k.id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            if found[&k.id].revoked {
                // The reason is told only for the right secret: the stored digest is intact.
                assert_eq!(status, 401, "revoked key {}: {body}", k.id);
                assert_eq!(body["error"], "invalid_client", "{body}");
                assert!(
                    body["error_description"]
                        .as_str()
                        .unwrap()
                        .contains("revoked"),
                    "{body}"
                );
                refused += 1;
            } else {
                assert_eq!(status, 200, "active key {}: {body}", k.id);
            }
        }
        assert!(refused > 0, "nothing was revoked");
        let applied: usize = logs.iter_mut().map(|l| l.settle(&found)).sum();
        eprintln!(
            "crash test, round {round}: killed after {acked} acknowledged changes, \
             {in_flight} in flight of which {applied} applied; {} keys, {refused} revoked \
             secrets refused; {:.1?}",
            found.len(),
            started.elapsed()
        );
    }
    let total = |f: fn(&ClientLog) -> usize| logs.iter().map(f).sum::<usize>();
    eprintln!(
        "crash test: {} creates, {} edits, {} revokes, {} tokens acknowledged in {} rounds",
        total(|l| l.creates),
        total(|l| l.edits),
        total(|l| l.revokes),
        total(|l| l.tokens),
        KILL_AFTER.len()
    );

    // Still writable: a create and a revoke after the last restart.
    let base = &server.base;
    let r = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(&admin)
        .json(&json!({"name": "after the crash", "scopes": [{"action": "read", "resource": "*"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["key"]["id"].as_str().unwrap();
    let revoked = http
        .delete(format!("{base}/v1/keys/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_acknowledged_change_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("latchkey.db").display());
    kill_during_burst(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_burst_loses_no_acknowledged_change_postgres() {
    let Some(url) = postgres::fresh_database_url() else {
        return;
    };
    kill_during_burst(url).await;
}
