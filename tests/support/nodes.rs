//! `latchkey serve` processes for the tests that run several nodes on one database
//! (`tests/multinode.rs`, `tests/limits_nodes.rs`).

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "stdout.rs"]
mod stdout;

pub const ISSUER: &str = "http://latchkey.test";

pub struct Node {
    pub child: Child,
    pub base: String,
    pub stdout: Arc<Mutex<String>>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` distinct free ports: all bound at once, then released (one at a time, the system could
/// hand out the same port twice).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

pub fn start_node(
    database_url: &str,
    master_key: &str,
    keys_dir: &std::path::Path,
    port: u16,
) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            ISSUER,
        ])
        .env("DATABASE_URL", database_url)
        .env("LATCHKEY_MASTER_KEY", master_key)
        .env("LATCHKEY_KEYS_DIR", keys_dir)
        .env("LATCHKEY_LOG", "error")
        .env("LATCHKEY_DB_CONNECT_TIMEOUT", "1s")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = stdout::collect(child.stdout.take().unwrap());
    Node {
        child,
        base: format!("http://127.0.0.1:{port}"),
        stdout,
    }
}

/// Polls `check` until it holds. A check *sent* `limit` or more after the start that still
/// fails fails the test: the nodes handled it after that moment. (Measured at the answer
/// instead, a check sent in time but answered late by a busy machine would count too.)
pub async fn wait_until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    loop {
        let sent = start.elapsed();
        if check().await {
            return;
        }
        assert!(
            sent < limit,
            "{what}: not so for a check sent {sent:?} after the start (limit {limit:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn ready(client: &reqwest::Client, node: &Node) -> bool {
    client
        .get(format!("{}/readyz", node.base))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// `n` nodes on `database_url` started at once, each ready before this returns.
pub async fn start_ready(
    n: usize,
    database_url: &str,
    master_key: &str,
    keys_dir: &std::path::Path,
    client: &reqwest::Client,
) -> Vec<Node> {
    let nodes: Vec<Node> = free_ports(n)
        .into_iter()
        .map(|port| start_node(database_url, master_key, keys_dir, port))
        .collect();
    for node in &nodes {
        wait_until("node ready", Duration::from_secs(30), async || {
            ready(client, node).await
        })
        .await;
    }
    nodes
}
