//! `kill -9` between changes and their deliveries (issue 19): a real `latchkey serve` makes
//! changes while the receiver refuses every delivery, is killed, and restarted on the same
//! database once the receiver is back. Every event made is delivered after the restart, verified
//! by the `standardwebhooks` library, exactly the events made (a repeat only with the same
//! `webhook-id`), on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/provision.rs"]
mod provision;
#[path = "support/receiver.rs"]
#[allow(dead_code, reason = "the replay helpers serve tests/api/webhooks.rs")]
mod receiver;
#[path = "support/stdout.rs"]
mod stdout;

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use receiver::Receiver;

struct Server {
    child: Child,
    base: String,
    stdout: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: &str, dir: &std::path::Path, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", database_url)
        .env("LATCHKEY_MASTER_KEY", STANDARD.encode([9u8; 32]))
        .env("LATCHKEY_KEYS_DIR", dir.join("keys"))
        .env("LATCHKEY_LOG", "error")
        .env("LATCHKEY_WEBHOOK_ALLOW_HTTP", "true")
        .env("LATCHKEY_WEBHOOK_ALLOW_PRIVATE", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = stdout::collect(child.stdout.take().unwrap());
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        stdout,
    }
}

async fn until<T>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < end, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ready(client: &reqwest::Client, server: &Server) {
    until(
        "the server to be ready",
        Duration::from_secs(30),
        async || {
            let r = client
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                .ok()?;
            r.status().is_success().then_some(())
        },
    )
    .await;
}

fn body(entry: &Value) -> Value {
    serde_json::from_str(entry["body"].as_str().unwrap()).unwrap()
}

async fn killed_between_change_and_delivery(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let receiver = Receiver::start().await;
    receiver.fail(10_000, 503).await;

    let server = serve(&database_url, dir.path(), port);
    ready(&client, &server).await;
    let admin = until(
        "the bootstrap banner",
        Duration::from_secs(10),
        async || {
            let out = server.stdout.lock().unwrap().clone();
            out.lines()
                .find(|l| l.starts_with("Admin API key secret:"))
                .and_then(|l| l.split_whitespace().last().map(str::to_owned))
        },
    )
    .await;
    let call = |method: &str, path: &str, body: Value| {
        client
            .request(method.parse().unwrap(), format!("{}{path}", server.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let r = call(
        "POST",
        "/v1/webhooks",
        json!({"url": receiver.url(), "events": ["key.created", "key.updated", "key.revoked"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    receiver.secret(created["secret"].as_str().unwrap()).await;

    let mut made = BTreeSet::new();
    for i in 0..4 {
        let r = call(
            "POST",
            "/v1/keys",
            json!({"name": format!("k{i}"), "scopes": ["read:*"]}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let id = r.json::<Value>().await.unwrap()["key"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        made.insert((id.clone(), "key.created".to_owned()));
        if i % 2 == 0 {
            let r = call(
                "PATCH",
                &format!("/v1/keys/{id}"),
                json!({"name": format!("k{i}b")}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200);
            made.insert((id.clone(), "key.updated".to_owned()));
        } else {
            let r = call("POST", &format!("/v1/keys/{id}/revoke"), json!({}))
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            made.insert((id.clone(), "key.revoked".to_owned()));
        }
    }
    // Attempts were made and refused: nothing is delivered yet.
    until(
        "a first refused attempt",
        Duration::from_secs(10),
        async || (!receiver.log().await.is_empty()).then_some(()),
    )
    .await;
    assert!(receiver.verified().await.is_empty());

    // kill -9, the receiver comes back, and so does the server.
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    receiver.fail(0, 503).await;
    let restarted = serve(&database_url, dir.path(), port);
    ready(&client, &restarted).await;

    until(
        "every event delivered after the restart",
        Duration::from_secs(60),
        async || {
            let verified = receiver.verified().await;
            let ids: BTreeSet<&str> = verified.iter().map(|e| e["id"].as_str().unwrap()).collect();
            (ids.len() >= made.len()).then_some(())
        },
    )
    .await;
    // Anything still arriving (a repeat) is in the log too: it only grows.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log = receiver.verified().await;
    let mut by_id: HashMap<String, Value> = HashMap::new();
    for entry in &log {
        let previous = by_id.insert(entry["id"].as_str().unwrap().to_owned(), entry.clone());
        if let Some(previous) = previous {
            assert_eq!(
                previous["body"], entry["body"],
                "a repeat is the same event"
            );
        }
    }
    let got: BTreeSet<(String, String)> = by_id
        .values()
        .map(|e| {
            let b = body(e);
            (
                b["data"]["key"]["id"].as_str().unwrap().to_owned(),
                b["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, made, "exactly the events made");
}

#[tokio::test]
async fn sqlite_kill_9_between_change_and_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    killed_between_change_and_delivery(url).await;
}

#[tokio::test]
async fn postgres_kill_9_between_change_and_delivery() {
    let Some(url) = postgres::fresh_database_url() else {
        return;
    };
    killed_between_change_and_delivery(url).await;
}
