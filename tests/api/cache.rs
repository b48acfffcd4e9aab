//! Cached keys across nodes: two servers on one database stand in for two nodes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_json};
use latchkey::service::authority::keycache::{MAX_STALENESS, POLL_INTERVAL};

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

/// A second node on `a`'s database. Nodes of one service share the issuer (so each accepts the
/// other's tokens) and the master key.
async fn second_node(a: &TestApp, backend: crate::helpers::Backend) -> TestApp {
    second_node_with(a, backend, |_| {}).await
}

/// [`second_node`] with its other settings `customise`d (those of `a`, such as the token TTL,
/// are not copied).
pub(crate) async fn second_node_with(
    a: &TestApp,
    backend: crate::helpers::Backend,
    customise: impl FnOnce(&mut latchkey::config::Settings),
) -> TestApp {
    let db = a.database_url.clone();
    let keys_dir = a.keys_dir.clone();
    let issuer = a.address.clone();
    spawn_app_with(backend, |s| {
        customise(s);
        s.database_url = db;
        s.keys_dir = keys_dir;
        s.issuer = Some(issuer);
    })
    .await
}

backend_tests! {
    async fn a_change_on_one_node_reaches_the_other_nodes_cache_within_a_second(backend) {
        let a = spawn_app(backend).await;
        let b = second_node(&a, backend).await;
        let (id, secret) = a.create_key("cached", json!(["admin:keys"])).await;
        let jwt = a.access_token(&id, &secret).await;
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
        let jwt = a.access_token(&id, &secret).await;
        let other = a.access_token(&id, &secret).await;
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

/// Rolls `id` straight in the database, as another process would, without its change-feed
/// entry yet: what a node sees between another node's roll and its own next poll. Returns the
/// new secret.
fn roll_unannounced(app: &TestApp, id: &str) -> String {
    let secret = latchkey::domain::secret::Secret::generate();
    let mut conn = app.pool.get().unwrap();
    let rolled = latchkey::store::keys::roll_secret(
        &mut conn,
        &app.org_id(),
        id,
        secret.digest().as_bytes(),
        &secret.hint(),
        None,
        latchkey::service::now(),
    )
    .unwrap();
    assert!(rolled);
    secret.expose().to_owned()
}

/// The change-feed entry of a change to key `id`, arriving late.
fn announce(app: &TestApp, id: &str) {
    let mut conn = app.pool.get().unwrap();
    latchkey::store::change_log::append(
        &mut conn,
        latchkey::store::change_log::KIND_KEY,
        id,
        latchkey::service::now(),
    )
    .unwrap();
}

async fn token_status(app: &TestApp, id: &str, secret: &str) -> u16 {
    app.token_request(id, secret).await.status().as_u16()
}

backend_tests! {
    /// Finding 1 of the authentication-core issue: the rolled-away secret lived on in the key
    /// cache (its by-digest entry was never removed), even after the key was revoked.
    async fn a_rolled_away_secret_is_refused_even_when_the_new_one_reached_the_cache_first(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app.create_key("rolled elsewhere", json!(["admin:keys"])).await;
        // Cached by the old secret.
        assert_eq!(token_status(&app, &id, &old).await, 200);
        assert_eq!(app.get("/v1/keys", &old).await.status(), 200);
        // Rolled by another process; the new secret is used here before the feed says so.
        let new = roll_unannounced(&app, &id);
        assert_eq!(token_status(&app, &id, &new).await, 200);
        // At once, not only after the feed: the cached key no longer has the old digest.
        assert_eq!(token_status(&app, &id, &old).await, 401, "old secret right after the new one");
        assert_eq!(app.get("/v1/keys", &old).await.status(), 401);
        announce(&app, &id);
        tokio::time::sleep(WITHIN).await;
        assert_eq!(token_status(&app, &id, &old).await, 401, "old secret after the feed");
        for (path, body) in [
            ("/v1/check", json!({"token": old, "action": "read", "resource": "x"})),
        ] {
            let (_, v) = status_json(app.post(path, &app.admin_secret, &body).await).await;
            assert_eq!(v["allowed"], false, "{v}");
        }
        let (_, v) = status_json(
            app.client
                .post(app.url("/oauth/introspect"))
                .bearer_auth(&app.admin_secret)
                .form(&[("token", old.as_str())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["active"], false, "{v}");
        // Revoked: neither secret works, ever.
        app.delete(&format!("/v1/keys/{id}"), &app.admin_secret).await;
        for s in [&old, &new] {
            assert_eq!(token_status(&app, &id, s).await, 401);
            assert_eq!(app.get("/v1/keys", s).await.status(), 401);
        }
    }

    /// The same with two nodes: the roll made on A, the new secret used on B before B's poll.
    async fn a_secret_rolled_on_another_node_is_refused_everywhere_after_the_feed(backend) {
        let a = spawn_app(backend).await;
        let b = second_node(&a, backend).await;
        let (id, old) = a.create_key("two nodes", json!(["admin:keys"])).await;
        assert_eq!(token_status(&b, &id, &old).await, 200);
        let (status, v) = status_json(a.post(&format!("/v1/keys/{id}/roll"), &a.admin_secret, &json!({})).await).await;
        assert_eq!(status, 200);
        let new = v["secret"].as_str().unwrap().to_owned();
        assert_eq!(token_status(&b, &id, &new).await, 200);
        let rolled = Instant::now();
        seen_within(rolled, "B accepts the rolled-away secret", async || {
            token_status(&b, &id, &old).await == 401
        })
        .await;
        a.delete(&format!("/v1/keys/{id}"), &a.admin_secret).await;
        tokio::time::sleep(WITHIN).await;
        for s in [&old, &new] {
            assert_eq!(token_status(&b, &id, s).await, 401);
            assert_eq!(b.get("/v1/keys", s).await.status(), 401);
        }
    }
}

backend_tests! {
    /// A console session ends with its parent on every node: the cascade gives each session its
    /// own change-feed entry, so another node's cache drops it (and the tokens it issued) within
    /// the same bound as any change.
    async fn a_parent_revoked_or_rolled_on_one_node_ends_its_sessions_on_the_others_within_a_second(backend) {
        let a = spawn_app(backend).await;
        let b = second_node(&a, backend).await;
        let (parent, mut parent_secret) = a.create_key("signed in", json!(["admin:keys"])).await;
        // Rolled on A (the parent lives on with a new secret), then revoked on B.
        for (change, on, other) in [("roll", &a, &b), ("revoke", &b, &a)] {
            let (session, secret) = crate::sessions::session_of(on, &parent_secret).await;
            // Cached on the other node, by secret and by the token it issued there.
            let jwt = other.access_token(&session, &secret).await;
            assert_eq!(token_status(other, &session, &secret).await, 200);
            assert_eq!(other.get("/v1/keys", &jwt).await.status(), 200);
            let path = format!("/v1/keys/{parent}");
            if change == "roll" {
                let body = json!({"grace_seconds": 600});
                let (status, v) = status_json(on.post(&format!("{path}/roll"), &a.admin_secret, &body).await).await;
                assert_eq!(status, 200, "{v}");
                parent_secret = v["secret"].as_str().unwrap().to_owned();
            } else {
                assert_eq!(on.delete(&path, &a.admin_secret).await.status(), 200);
            }
            let changed = Instant::now();
            seen_within(changed, "the other node accepts the session's secret", async || {
                token_status(other, &session, &secret).await == 401
            })
            .await;
            seen_within(changed, "the other node accepts the session's token", async || {
                other.get("/v1/keys", &jwt).await.status() == 401
            })
            .await;
            // On the node that made the change, at once.
            assert_eq!(token_status(on, &session, &secret).await, 401, "{change}");
            assert_eq!(on.get("/v1/keys", &jwt).await.status(), 401, "{change}");
        }
    }
}
