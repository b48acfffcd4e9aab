//! Cached keys across nodes: two servers on one database stand in for two nodes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_json};
use latchkey::service::keycache::{MAX_STALENESS, POLL_INTERVAL};

/// How long a change may take to reach another node's cache: it is bypassed once it has not
/// heard from the change feed for `MAX_STALENESS` (one second). Plus one poll interval of slack
/// for a busy machine (freshness is stamped when the feed is read, so the bound itself is 1 s).
const WITHIN: Duration = MAX_STALENESS.saturating_add(POLL_INTERVAL);

/// Polls `probe` until it sees the change made just before `since`. A probe that was *sent*
/// more than `WITHIN` after `since` and still sees the old state fails the test: the server
/// handled it after that moment. (Measured at the answer instead, a probe sent in time but
/// answered late by a busy machine would count against the cache.)
async fn seen_within(since: Instant, what: &str, mut probe: impl AsyncFnMut() -> bool) {
    loop {
        let sent = since.elapsed();
        if probe().await {
            return;
        }
        assert!(
            sent < WITHIN,
            "{what}: still not so for a request sent {sent:?} after the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn token(app: &TestApp, id: &str, secret: &str) -> String {
    let v: Value = app
        .client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

backend_tests! {
    async fn a_change_on_one_node_reaches_the_other_nodes_cache_within_a_second(backend) {
        let a = spawn_app(backend).await;
        let db = a.database_url.clone();
        let keys_dir = a.keys_dir.clone();
        let issuer = a.address.clone();
        let b = spawn_app_with(backend, |s| {
            s.database_url = db;
            s.keys_dir = keys_dir;
            // Nodes of one service share the issuer, so each accepts the other's tokens.
            s.issuer = Some(issuer);
        })
        .await;
        let (id, secret) = a.create_key("cached", json!(["admin:keys"])).await;
        let jwt = token(&a, &id, &secret).await;
        // Both nodes now hold the key in their caches, by secret and by id.
        for node in [&a, &b] {
            for credential in [&secret, &jwt] {
                assert_eq!(node.get("/v1/keys", credential).await.status(), 200);
            }
        }
        // Narrowed on B: A must stop honouring the old scopes within a second, by secret and by token.
        let (status, _) = status_json(b.patch(&format!("/v1/keys/{id}"), &a.admin_secret, &json!({"scopes": ["read"]})).await).await;
        assert_eq!(status, 200);
        let narrowed = Instant::now();
        for credential in [&secret, &jwt] {
            seen_within(narrowed, "A honours the old scopes", async || {
                a.get("/v1/keys", credential).await.status() == 403
            })
            .await;
        }
        // Revoked on A: B refuses within a second too.
        a.delete(&format!("/v1/keys/{id}"), &a.admin_secret).await;
        let revoked = Instant::now();
        seen_within(revoked, "B accepts a revoked key's token", async || {
            b.get("/v1/keys/whatever", &jwt).await.status() == 401
        })
        .await;
        seen_within(revoked, "B accepts a revoked key's secret", async || {
            b.get("/v1/keys", &secret).await.status() == 401
        })
        .await;
        // On the node that made the change, at once.
        assert_eq!(a.get("/v1/keys", &secret).await.status(), 401);
    }

    async fn a_token_revoked_on_one_node_is_refused_by_the_others_within_a_second(backend) {
        let a = spawn_app(backend).await;
        let db = a.database_url.clone();
        let keys_dir = a.keys_dir.clone();
        let issuer = a.address.clone();
        let (id, secret) = a.create_key("revoking", json!(["admin:keys"])).await;
        let jwt = token(&a, &id, &secret).await;
        let other = token(&a, &id, &secret).await;
        // A token revoked before B starts is in B's denylist from the start.
        let revoke = |app: &TestApp, t: String| {
            let req = app
                .client
                .post(app.url("/oauth/revoke"))
                .basic_auth(&id, Some(&secret))
                .form(&[("token", t)]);
            async move { req.send().await.unwrap().status() }
        };
        assert_eq!(revoke(&a, other.clone()).await, 200);
        let b = spawn_app_with(backend, |s| {
            s.database_url = db;
            s.keys_dir = keys_dir;
            s.issuer = Some(issuer);
        })
        .await;
        assert_eq!(b.get("/v1/keys", &other).await.status(), 401);
        assert_eq!(b.get("/v1/keys", &jwt).await.status(), 200);
        // Revoked on A: refused on A at once, on B within a second.
        assert_eq!(revoke(&a, jwt.clone()).await, 200);
        assert_eq!(a.get("/v1/keys", &jwt).await.status(), 401);
        let revoked = Instant::now();
        seen_within(revoked, "B accepts a revoked token", async || {
            b.get("/v1/keys", &jwt).await.status() == 401
        })
        .await;
        // The key itself is untouched.
        assert_eq!(b.get("/v1/keys", &secret).await.status(), 200);
    }
}
