//! The server under test: a `latchkey serve` process, its readiness and its first-start banner.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::stdout;

pub struct Server {
    pub child: Arc<Mutex<Child>>,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
    pub log: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn serve(database_url: &str, dir: &Path, run: &str) -> Server {
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
    let stdout = stdout::collect(child.stdout.take().unwrap());
    Server {
        child: Arc::new(Mutex::new(child)),
        base: format!("http://127.0.0.1:{port}"),
        stdout,
        log: log_path,
    }
}

pub async fn wait_ready(http: &reqwest::Client, server: &Server) {
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
pub async fn banner(server: &Server) -> (String, String) {
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
