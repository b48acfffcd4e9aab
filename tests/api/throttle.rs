//! Throttling of failed client authentication (SPEC: `429` + `Retry-After`), per source address
//! and per claimed key id. Source addresses come from `X-Forwarded-For`, sent by the test client
//! as a trusted proxy (loopback is configured as one).

use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app_with, status_json};

const BURST: u32 = 5;

async fn app(backend: crate::helpers::Backend, capacity: usize) -> TestApp {
    spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.auth_throttle.burst = BURST;
        // Slow refill: nothing comes back during a test.
        s.auth_throttle.per_sec = 1.0 / 600.0;
        s.auth_throttle_capacity = capacity;
    })
    .await
}

async fn token_from(app: &TestApp, from: &str, id: &str, secret: &str) -> Response {
    app.client
        .post(app.url("/oauth/token"))
        .header("X-Forwarded-For", from)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

async fn admin_from(app: &TestApp, from: &str, secret: &str) -> Response {
    app.client
        .get(app.url("/v1/keys"))
        .header("X-Forwarded-For", from)
        .bearer_auth(secret)
        .send()
        .await
        .unwrap()
}

/// A well-formed secret (valid checksum) that belongs to no key.
fn unknown_secret() -> String {
    latchkey::domain::secret::Secret::generate()
        .expose()
        .to_owned()
}

fn retry_after(r: &Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn metric(app: &TestApp, line_start: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line_start))
        .map(|v| v.trim().parse().unwrap())
        .unwrap()
}

backend_tests! {
    /// Finding 5 of the authentication-core issue: introspection and `/v1/check` looked up
    /// any well-formed secret for any authenticated caller, unthrottled: an oracle for guessing
    /// an org's secrets at database speed. They count against the asking key (not its address:
    /// see `tests/authority_attacks.rs`).
    async fn unknown_secrets_asked_about_count_against_the_caller(backend) {
        let app = app(backend, 1024).await;
        let (id, secret) = app.create_key("resource server", json!(["read"])).await;
        let check = |subject: String| {
            app.client
                .post(app.url("/v1/check"))
                .header("X-Forwarded-For", "203.0.113.9")
                .bearer_auth(&secret)
                .json(&json!({"token": subject, "action": "read", "resource": "x"}))
                .send()
        };
        let introspect = |subject: String| {
            app.client
                .post(app.url("/oauth/introspect"))
                .header("X-Forwarded-For", "203.0.113.9")
                .basic_auth(&id, Some(&secret))
                .form(&[("token", subject)])
                .send()
        };
        for i in 0..BURST {
            let r = if i % 2 == 0 {
                check(unknown_secret()).await.unwrap()
            } else {
                introspect(unknown_secret()).await.unwrap()
            };
            assert_eq!(r.status(), 200, "attempt {i}");
        }
        // Allowance used up: the next guess is not looked up.
        let r = check(unknown_secret()).await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(retry_after(&r) >= 1);
        let r = introspect(unknown_secret()).await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "too_many_requests");
        // Nor is a secret to revoke: 429, never a 200 that revoked nothing it was asked to.
        let r = app
            .client
            .post(app.url("/oauth/revoke"))
            .header("X-Forwarded-For", "203.0.113.9")
            .basic_auth(&id, Some(&secret))
            .form(&[("token", unknown_secret())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429);
        // What verifies from memory is still answered for that caller: its own secret (cached),
        // and a token (signature), whatever the subject's state.
        let jwt: Value = token_from(&app, "198.51.100.1", &id, &secret).await.json().await.unwrap();
        let jwt = jwt["access_token"].as_str().unwrap().to_owned();
        let (status, v) = status_json(check(jwt.clone()).await.unwrap()).await;
        assert_eq!((status, v["allowed"].clone()), (200, json!(true)), "{v}");
        let (status, v) = status_json(introspect(secret.clone()).await.unwrap()).await;
        assert_eq!((status, v["active"].clone()), (200, json!(true)), "{v}");
        // Another key asking from the same address is not affected, nor is the address.
        let (_, other) = app.create_key("another resource server", json!(["read"])).await;
        let r = app
            .client
            .post(app.url("/v1/check"))
            .header("X-Forwarded-For", "203.0.113.9")
            .bearer_auth(&other)
            .json(&json!({"token": unknown_secret(), "action": "read", "resource": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn an_address_with_repeated_failures_gets_429_and_others_do_not(backend) {
        let app = app(backend, 1024).await;
        let (id, secret) = app.create_key("svc", json!(["read:projects/**"])).await;
        // The client has used its key before (see `a_key_id_under_attack_still_serves_its_owner`).
        assert_eq!(token_from(&app, "198.51.100.20", &id, &secret).await.status(), 200);
        let bad = unknown_secret();
        for _ in 0..BURST {
            assert_eq!(token_from(&app, "203.0.113.7", &id, &bad).await.status(), 401);
        }
        // Over the burst: no more database lookups for that address. An unknown secret is
        // refused with 429 …
        let r = token_from(&app, "203.0.113.7", &id, &bad).await;
        assert_eq!(r.status(), 429);
        assert!(retry_after(&r) >= 1);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "too_many_requests");
        // … and so is a valid secret this node has not seen yet (it would need the database) …
        let (fresh, fresh_secret) = app.create_key("fresh", json!(["read:projects/**"])).await;
        assert_eq!(token_from(&app, "203.0.113.7", &fresh, &fresh_secret).await.status(), 429);
        let (_, unseen_admin) = app.create_key("unseen admin", json!(["admin:keys"])).await;
        let r = admin_from(&app, "203.0.113.7", &unseen_admin).await;
        assert_eq!(r.status(), 429);
        assert!(retry_after(&r) >= 1);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let (_, problem) = status_json(r).await;
        assert_eq!(problem["type"], "too_many_requests");
        // … but a credential that verifies from memory is served: one guesser behind a NAT
        // cannot lock out everyone else there, admins included.
        assert_eq!(token_from(&app, "203.0.113.7", &id, &secret).await.status(), 200);
        assert_eq!(admin_from(&app, "203.0.113.7", &app.admin_secret).await.status(), 200);
        // Another client, from another address, is not affected at all.
        assert_eq!(token_from(&app, "198.51.100.20", &id, &secret).await.status(), 200);
        assert_eq!(admin_from(&app, "198.51.100.20", &app.admin_secret).await.status(), 200);
    }

    async fn only_invalid_credentials_count_as_failures(backend) {
        let app = app(backend, 1024).await;
        let (id, secret) = app.create_key("narrow", json!(["read:projects/1"])).await;
        // Scope refusals and a malformed grant are not authentication failures.
        for _ in 0..BURST * 2 {
            let r = app.client.post(app.url("/oauth/token"))
                .header("X-Forwarded-For", "192.0.2.50")
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "write:projects/1")])
                .send().await.unwrap();
            assert_eq!(r.status(), 400);
        }
        assert_eq!(token_from(&app, "192.0.2.50", &id, &secret).await.status(), 200);
        // A revoked key's valid secret is told why, and not throttled either.
        app.delete(&format!("/v1/keys/{id}"), &app.admin_secret).await;
        for _ in 0..BURST * 2 {
            assert_eq!(token_from(&app, "192.0.2.50", &id, &secret).await.status(), 401);
        }
        assert_eq!(admin_from(&app, "192.0.2.50", &app.admin_secret).await.status(), 200);
    }

    async fn admin_api_and_introspection_failures_count_per_address(backend) {
        let app = app(backend, 1024).await;
        let junk = unknown_secret();
        for i in 0..BURST {
            // Mixed: unknown secrets at the admin API, forged tokens at introspection.
            if i % 2 == 0 {
                assert_eq!(admin_from(&app, "192.0.2.9", &junk).await.status(), 401);
            } else {
                let r = app.client.post(app.url("/oauth/introspect"))
                    .header("X-Forwarded-For", "192.0.2.9")
                    .bearer_auth("eyJhbGciOiJFZERTQSJ9.e30.AAAA")
                    .form(&[("token", "x")])
                    .send().await.unwrap();
                assert_eq!(r.status(), 401);
            }
        }
        let r = app.client.post(app.url("/oauth/introspect"))
            .header("X-Forwarded-For", "192.0.2.9")
            .bearer_auth(&app.admin_secret)
            .form(&[("token", "x")])
            .send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert!(retry_after(&r) >= 1);
        assert_eq!(admin_from(&app, "192.0.2.10", &app.admin_secret).await.status(), 200);
    }

    async fn a_key_id_under_attack_still_serves_its_owner(backend) {
        let app = app(backend, 1024).await;
        let (id, secret) = app.create_key("target", json!(["read:projects/**"])).await;
        // The owner has used its key: it is in the cache.
        assert_eq!(token_from(&app, "198.51.100.1", &id, &secret).await.status(), 200);
        // Guesses against this client id, each from a different address.
        for i in 0..BURST {
            let from = format!("203.0.113.{}", 10 + i);
            assert_eq!(token_from(&app, &from, &id, &unknown_secret()).await.status(), 401);
        }
        // The key id is exhausted: another guess from an address that has failed → 429, though
        // that address has allowance left of its own.
        let r = token_from(&app, "203.0.113.10", &id, &unknown_secret()).await;
        assert_eq!(r.status(), 429);
        assert!(retry_after(&r) >= 1);
        // Introspection's client authentication for that id is limited the same way.
        let r = app.client.post(app.url("/oauth/introspect"))
            .header("X-Forwarded-For", "203.0.113.11")
            .basic_auth(&id, Some(unknown_secret()))
            .form(&[("token", "x")])
            .send().await.unwrap();
        assert_eq!(r.status(), 429);
        // A fresh address gets one answer, and is limited from its first failure on.
        assert_eq!(token_from(&app, "203.0.113.99", &id, &unknown_secret()).await.status(), 401);
        assert_eq!(token_from(&app, "203.0.113.99", &id, &unknown_secret()).await.status(), 429);
        // The owner is not locked out, from anywhere...
        for from in ["198.51.100.1", "198.51.100.2"] {
            assert_eq!(token_from(&app, from, &id, &secret).await.status(), 200);
        }
        // ...not even once its key has left the cache (an edit drops it everywhere): a clean
        // address is served from the database.
        assert_eq!(
            app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"name": "renamed"}))
                .await
                .status(),
            200
        );
        assert_eq!(token_from(&app, "198.51.100.3", &id, &secret).await.status(), 200);
        // Other clients are untouched.
        let (other, other_secret) = app.create_key("bystander", json!(["read:projects/**"])).await;
        assert_eq!(token_from(&app, "203.0.113.99", &other, &other_secret).await.status(), 200);
    }

    async fn spraying_addresses_keeps_memory_bounded_and_honest_clients_served(backend) {
        const CAPACITY: usize = 64;
        let app = app(backend, CAPACITY).await;
        let (id, secret) = app.create_key("svc", json!(["read:projects/**"])).await;
        let junk = unknown_secret();
        let mut refused = 0;
        for i in 0..400u32 {
            let from = format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
            match admin_from(&app, &from, &junk).await.status().as_u16() {
                401 => {}
                429 => refused += 1,
                other => panic!("unexpected {other}"),
            }
        }
        let tracked = metric(&app, "latchkey_auth_throttle_tracked{table=\"sources\"}").await;
        assert!(tracked <= CAPACITY as u64, "{tracked} addresses tracked");
        // Past the table and the shared overflow allowance, the sprayed guesses are refused.
        assert!(refused >= 400 - CAPACITY - BURST as usize, "only {refused} refused");
        // An honest client from a fresh address is served.
        assert_eq!(token_from(&app, "192.0.2.200", &id, &secret).await.status(), 200);
        assert_eq!(admin_from(&app, "192.0.2.201", &app.admin_secret).await.status(), 200);
    }

    async fn an_untrusted_peer_cannot_dodge_the_throttle_with_forwarded_headers(backend) {
        // No trusted proxies: X-Forwarded-For is ignored and the peer address counts.
        let app = spawn_app_with(backend, |s| {
            s.auth_throttle.burst = BURST;
            s.auth_throttle.per_sec = 1.0 / 600.0;
        })
        .await;
        let junk = unknown_secret();
        for i in 0..BURST {
            let r = admin_from(&app, &format!("203.0.113.{i}"), &junk).await;
            assert_eq!(r.status(), 401);
        }
        let r = admin_from(&app, "203.0.113.200", &app.admin_secret).await;
        assert_eq!(r.status(), 429);
    }
}
