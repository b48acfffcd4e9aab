//! A throwaway PostgreSQL for one test binary: `initdb` + `pg_ctl` of the machine's PostgreSQL on
//! a free loopback port with a private socket folder, one fresh database per test. Started on
//! first use; a watchdog process stops it and removes its files when the test binary exits.
//!
//! Not installed → the PostgreSQL half of the suite is skipped with a clear message, unless
//! `LATCHKEY_REQUIRE_POSTGRES=1` (set by `.ci/run`), which turns the skip into a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

pub struct PgServer {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    options: String,
    log: PathBuf,
    as_postgres: bool,
}

#[allow(dead_code)] // Used by the multi-node test binary only.
impl PgServer {
    /// Fast shutdown: connections are cut, as when a database server goes away.
    pub fn stop(&self) {
        run(pg_command(&self.bin, "pg_ctl", self.as_postgres)
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop"))
        .expect("stop PostgreSQL");
    }

    pub fn start(&self) {
        self.pg_ctl_start().expect("start PostgreSQL");
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        run(pg_command(&self.bin, "pg_ctl", self.as_postgres)
            .args(["-w", "-t", "60", "-o", &self.options, "-l"])
            .arg(&self.log)
            .arg("-D")
            .arg(&self.data)
            .arg("start"))
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The server, or why there is none. Panics when PostgreSQL is required but unavailable.
pub fn server() -> Option<&'static PgServer> {
    match SERVER.get_or_init(start) {
        Ok(s) => Some(s),
        Err(why) => {
            if std::env::var("LATCHKEY_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "PostgreSQL is required (LATCHKEY_REQUIRE_POSTGRES=1) but unavailable: {why}"
                );
            }
            eprintln!("SKIPPED (PostgreSQL half): {why}");
            None
        }
    }
}

/// A new empty database on the throwaway server; `None` when PostgreSQL is unavailable.
pub fn fresh_database_url() -> Option<String> {
    let server = server()?;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port);
    let mut conn = PgConnection::establish(&admin).expect("connect to the throwaway PostgreSQL");
    conn.batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    Some(format!(
        "postgres://postgres@127.0.0.1:{}/{name}",
        server.port
    ))
}

fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `initdb` and `postgres` refuse to run as root: run them as the `postgres` user then.
fn pg_command(bin: &Path, tool: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn start() -> Result<PgServer, String> {
    let bin = bin_dir()
        .ok_or("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; set PG_BIN)")?;
    let as_postgres = is_root();
    let dir = std::env::temp_dir().join(format!("latchkey-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sock")).map_err(|e| e.to_string())?;
    if as_postgres {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir))?;
    }
    let data = dir.join("data");
    run(pg_command(&bin, "initdb", as_postgres)
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data))?;
    let log = dir.join("log");
    // A port that was free when picked is not reserved: another process may bind it before the
    // server does. Then the server cannot start, and another port is tried.
    let mut attempts = 0;
    let server = loop {
        attempts += 1;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        // Every test's server keeps its pool open until the test binary exits: room for all of
        // them.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=1000",
            dir.join("sock").display()
        );
        let server = PgServer {
            port,
            bin: bin.clone(),
            data: data.clone(),
            options,
            log: log.clone(),
            as_postgres,
        };
        let _ = std::fs::remove_file(&log);
        match server.pg_ctl_start() {
            Ok(()) => break server,
            Err(why) => {
                let taken = std::fs::read_to_string(&log)
                    .is_ok_and(|l| l.contains("Address already in use"));
                if !taken || attempts == 5 {
                    return Err(why);
                }
                eprintln!("PostgreSQL: port {port} was taken meanwhile; trying another");
            }
        }
    };
    // Stop the server when this process is gone, however it ends.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runuser} {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runuser = if as_postgres {
            "runuser -u postgres --"
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok(server)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
