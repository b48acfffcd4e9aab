//! A full run of the real binary with debug logging: no secret, token or key material in the
//! logs, and a graceful stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/keys.rs"]
mod keys;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_secrets_tokens_or_keys_and_sigterm_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let master = "bWFzdGVyLWtleS1mb3ItdGhlLWxvZ3MtdGVzdC0zMmI=";
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("db").display()),
        )
        .env("LATCHKEY_KEYS_DIR", dir.path().join("keys"))
        .env("LATCHKEY_MASTER_KEY", master)
        .env("LATCHKEY_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr as it comes: a full pipe would block the server on its next log line.
    let mut stderr = child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut all = String::new();
        stderr.read_to_string(&mut all).unwrap();
        all
    });
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let start = Instant::now();
    while client.get(format!("{base}/readyz")).send().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The admin secret is printed once on stdout (by design); read it from there.
    let mut stdout = child.stdout.take().unwrap();
    let mut banner = vec![0u8; 4096];
    let n = stdout.read(&mut banner).unwrap();
    let banner = String::from_utf8_lossy(&banner[..n]).to_string();
    let field = |label: &str| {
        banner
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    let (admin_id, admin) = (field("Admin API key id:"), field("Admin API key secret:"));

    let mut secrets = vec![admin.clone(), master.to_owned()];
    let (id, secret) = keys::create_key(
        &client,
        &base,
        &admin,
        "logged",
        json!(["admin:keys", "read"]),
    )
    .await;
    secrets.push(secret.clone());
    let token: Value = client
        .post(format!("{base}/oauth/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = token["access_token"].as_str().unwrap().to_owned();
    secrets.push(jwt.clone());
    // Every kind of request that carries a credential, including wrong and misplaced ones.
    let _ = client
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await;
    let _ = client
        .post(format!("{base}/oauth/token?client_secret={secret}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let _ = client
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(&admin_id, Some(&admin))
        .form(&[("token", &jwt)])
        .send()
        .await;
    let _ = client
        .post(format!("{base}/v1/check"))
        .bearer_auth(&jwt)
        .json(&json!({"token": secret, "action": "read", "resource": "x"}))
        .send()
        .await;
    let _ = client
        .get(format!("{base}/v1/keys?search={secret}"))
        .bearer_auth(&jwt)
        .send()
        .await;
    let wrong_last = if secret.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("{}{wrong_last}", &secret[..secret.len() - 1]);
    secrets.push(wrong.clone());
    let _ = client
        .get(format!("{base}/v1/keys"))
        .bearer_auth(&wrong)
        .send()
        .await;
    let rolled: Value = client
        .post(format!("{base}/v1/keys/{id}/roll"))
        .bearer_auth(&admin)
        .json(&json!({"grace_seconds": 60}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(rolled["secret"].as_str().unwrap().to_owned());
    let _ = client
        .post(format!("{base}/oauth/revoke"))
        .bearer_auth(&admin)
        .form(&[("token", &jwt)])
        .send()
        .await;
    let _ = client.get(format!("{base}/metrics")).send().await;

    // SIGTERM: actix stops accepting, finishes in-flight requests and exits 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no graceful stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");

    let logs = logs.join().unwrap();
    assert!(
        logs.lines().count() > 5,
        "debug logging produced output: {logs}"
    );
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "a credential leaked into the logs"
        );
        // Not even the random body of a secret, nor a JWT's signature part.
        let tail = &s[s.len().saturating_sub(20)..];
        assert!(
            !logs.contains(tail),
            "part of a credential leaked into the logs"
        );
    }
    let private_markers = ["PRIVATE KEY", "\"d\":"];
    for m in private_markers {
        assert!(!logs.contains(m), "key material marker {m} in the logs");
    }
}
