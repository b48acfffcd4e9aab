//! A graceful stop flushes the usage counted since the last flush: stop right after a burst,
//! start again, and the counts are complete.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/keys.rs"]
mod keys;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn serve(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        // Nothing is flushed on the timer during the test: only the shutdown flush can write.
        .args(["--usage-flush-interval", "1h"])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.join("db").display()),
        )
        .env("LATCHKEY_KEYS_DIR", dir.join("keys"))
        .env("LATCHKEY_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let start = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(mut child: Child) {
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no graceful stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_pending_usage() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    let mut first = serve(dir.path(), port);
    let banner: Vec<String> = BufReader::new(first.stdout.take().unwrap())
        .lines()
        .take(3)
        .map(Result::unwrap)
        .collect();
    let admin = banner
        .iter()
        .find(|l| l.starts_with("Admin API key secret:"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    wait_ready(&client, &base).await;
    let (id, secret) = keys::create_key(&client, &base, &admin, "burst", json!(["read"])).await;
    for _ in 0..50 {
        let r = client
            .post(format!("{base}/oauth/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    stop(first);

    let second = serve(dir.path(), port);
    wait_ready(&client, &base).await;
    let usage: Value = client
        .get(format!("{base}/v1/keys/{id}/usage"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["totals"]["tokens_issued"], 50, "{usage}");
    assert_eq!(usage["totals"]["requests"], 0);
    stop(second);
}
