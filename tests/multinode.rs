//! Several `latchkey serve` processes on one PostgreSQL: what one node does, the others see.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/keys.rs"]
mod keys;
#[path = "support/nodes.rs"]
mod nodes;
#[path = "support/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use nodes::{ready, start_ready, wait_until};

async fn token(client: &reqwest::Client, base: &str, id: &str, secret: &str) -> reqwest::Response {
    client
        .post(format!("{base}/oauth/token"))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgresql_act_as_one_service() {
    let Some(database_url) = postgres::fresh_database_url() else {
        return;
    };
    let server = postgres::server().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let master = STANDARD.encode([7u8; 32]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Three nodes start at once on an empty database: migrations run once (advisory lock) and
    // exactly one of them bootstraps org `default`.
    let nodes = start_ready(3, &database_url, &master, dir.path(), &client).await;
    let outputs: Vec<String> = nodes
        .iter()
        .map(|n| n.stdout.lock().unwrap().clone())
        .collect();
    let booted: Vec<&String> = outputs
        .iter()
        .filter(|o| o.contains("Admin API key secret"))
        .collect();
    assert_eq!(booted.len(), 1, "exactly one node bootstraps: {outputs:?}");
    let field = |label: &str| {
        booted[0]
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    let (admin_id, admin) = (field("Admin API key id:"), field("Admin API key secret:"));
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);

    // Every node publishes the same JWKS (the nodes that did not bootstrap pick the new signing
    // key up on their next refresh, within a second).
    wait_until(
        "identical JWKS on every node",
        Duration::from_secs(2),
        async || {
            let mut jwks = Vec::new();
            for n in &nodes {
                jwks.push(
                    client
                        .get(format!("{}/.well-known/jwks.json", n.base))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap(),
                );
            }
            jwks.iter().all(|j| j == &jwks[0]) && jwks[0].contains("Ed25519")
        },
    )
    .await;

    // A key created on A issues tokens on B at once.
    let (id, secret) =
        keys::create_key(&client, &a.base, &admin, "worker", json!(["admin:keys"])).await;
    let r = token(&client, &b.base, &id, &secret).await;
    assert_eq!(r.status(), 200);
    let access: Value = r.json().await.unwrap();
    let jwt = access["access_token"].as_str().unwrap().to_owned();

    // A token from B introspects active on C, and works on A's admin API.
    let v: Value = client
        .post(format!("{}/oauth/introspect", c.base))
        .basic_auth(&admin_id, Some(&admin))
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["active"].as_bool(), v["client_id"].as_str()),
        (Some(true), Some(id.as_str()))
    );
    assert_eq!(
        client
            .get(format!("{}/v1/keys", a.base))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Revoked on B: refused on A and C within 1 s (here: at once, keys are read per request).
    let r = client
        .post(format!("{}/v1/keys/{id}/revoke", b.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for n in [a, c] {
        wait_until("revocation seen", Duration::from_secs(1), async || {
            token(&client, &n.base, &id, &secret).await.status() == 401
        })
        .await;
        // A token of the revoked key: refused once the node's key cache has followed the
        // change feed (it polls every 250 ms), and in any case once the cache has not heard
        // from the feed for a second (it is bypassed then). Plus one poll interval: the poll
        // that last renewed the cache's freshness may have read the feed just before the
        // revocation committed and finished just after it.
        wait_until(
            "revoked key's token refused",
            Duration::from_millis(1250),
            async || {
                client
                    .get(format!("{}/v1/keys", n.base))
                    .bearer_auth(&jwt)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 401)
            },
        )
        .await;
    }

    // Rotated on A (the next key, published since bootstrap, is promoted): C signs with it
    // within its 1 s key refresh, and a token signed before the rotation stays valid on every
    // node.
    let kid_of = |jwt: &str| -> String {
        let header = URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&header).unwrap()["kid"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let admin_token = |base: String| {
        let (client, id, secret) = (client.clone(), admin_id.clone(), admin.clone());
        async move {
            let r = token(&client, &base, &id, &secret).await;
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let before = admin_token(c.base.clone()).await;
    let c_jwks_before = client
        .get(format!("{}/.well-known/jwks.json", c.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rotated: Value = client
        .post(format!("{}/v1/signing-keys/rotate", a.base))
        .bearer_auth(&admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_kid = rotated["signing_key"]["kid"].as_str().unwrap().to_owned();
    assert!(
        c_jwks_before.contains(&new_kid),
        "the promoted key was in C's JWKS before the rotation"
    );
    assert_eq!(
        rotated["retired"]["kid"].as_str(),
        Some(kid_of(&before).as_str())
    );
    assert_eq!(
        kid_of(&admin_token(a.base.clone()).await),
        new_kid,
        "A at once"
    );
    // The refresher runs every second; allow one reload on top.
    wait_until(
        "C signs with the rotated-in key",
        Duration::from_millis(1250),
        async || kid_of(&admin_token(c.base.clone()).await) == new_kid,
    )
    .await;
    for n in &nodes {
        let v: Value = client
            .post(format!("{}/oauth/introspect", n.base))
            .basic_auth(&admin_id, Some(&admin))
            .form(&[("token", before.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["active"], true,
            "a token signed before the rotation, on {}",
            n.base
        );
    }

    // PostgreSQL goes away under light load and comes back: /readyz says so, requests fail with a
    // clear 503 `temporarily_unavailable` (never an opaque 5xx), and nothing written before is lost.
    let (keep_id, keep_secret) = {
        let v: Value = client
            .post(format!("{}/v1/keys", c.base))
            .bearer_auth(&admin)
            .json(&json!({"name": "survivor", "scopes": ["read"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["key"]["id"].as_str().unwrap().to_owned(),
            v["secret"].as_str().unwrap().to_owned(),
        )
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let unavailable = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let load = {
        let (client, base, stop) = (client.clone(), a.base.clone(), stop.clone());
        let unavailable = unavailable.clone();
        let (id, secret) = (keep_id.clone(), keep_secret.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = token(&client, &base, &id, &secret).await;
                let status = r.status().as_u16();
                let body: Value = r.json().await.unwrap_or(Value::Null);
                if status == 503 {
                    unavailable.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                seen.push((status, body["error"].as_str().map(str::to_owned)));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.stop();
    wait_until(
        "readyz 503 while the database is down",
        Duration::from_secs(10),
        async || {
            client
                .get(format!("{}/readyz", a.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 503)
        },
    )
    .await;
    // The outage lasts until the load has met it: A's key cache answers for up to a second
    // after the feed went silent, and a request that needs the database waits out the pool's
    // 1 s connect timeout before its 503, so a fixed pause could end before either.
    wait_until(
        "a token request refused with 503 while the database is down",
        Duration::from_secs(20),
        async || unavailable.load(std::sync::atomic::Ordering::Relaxed) > 0,
    )
    .await;
    server.start();
    for n in &nodes {
        wait_until(
            "readyz 200 after the database is back",
            Duration::from_secs(20),
            async || ready(&client, n).await,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = load.await.unwrap();
    assert!(
        seen.iter().any(|(s, _)| *s == 503),
        "some requests met the outage: {seen:?}"
    );
    for (status, error) in &seen {
        match status {
            200 => {}
            503 => assert_eq!(error.as_deref(), Some("temporarily_unavailable")),
            other => panic!("unexpected {other} during the outage: {seen:?}"),
        }
    }
    assert_eq!(seen.last().unwrap().0, 200, "recovered by itself");
    let listed: Value = client
        .get(format!("{}/v1/keys?status=all", b.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["survivor", "worker", "bootstrap admin"],
        "nothing written before the stop is lost"
    );
}
