//! Lifecycle webhooks end to end (issue 19): a real receiver verifying every delivery with the
//! `standardwebhooks` library, the outbox, retries on a fixed clock, expiry warnings on two
//! nodes, leaked-secret reports, GitHub's secret-scanning endpoint, and the SSRF refusals.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use latchkey::config::Settings;
use latchkey::outbound::Reach;
use latchkey::service::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::receiver::Receiver;

/// Servers that may deliver to the loopback receiver, looking for work every 50 ms.
fn deliver_locally(s: &mut Settings) {
    s.webhooks.reach = Reach {
        http: true,
        private: true,
    };
    s.webhooks.poll = Duration::from_millis(50);
    s.webhooks.expiry_scan = Duration::from_millis(50);
}

/// A server delivering locally on a clock the test moves, a minute ahead of the wall clock
/// (so what the server writes at wall-clock time is already due by it).
async fn on_a_manual_clock(backend: Backend) -> (TestApp, Clock) {
    let clock = Clock::manual(Utc::now() + TimeDelta::minutes(1));
    let c = clock.clone();
    let app = spawn_app_with(backend, move |s| {
        deliver_locally(s);
        s.webhooks.clock = c;
    })
    .await;
    (app, clock)
}

/// Waits up to 20 s for `check`, which says what it waits for when it gives up.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            std::time::Instant::now() < until,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A webhook to the receiver for `events`; the receiver learns its secret.
async fn subscribe(app: &TestApp, receiver: &Receiver, events: &[&str]) -> String {
    let (status, v) = status_json(
        app.post(
            "/v1/webhooks",
            &app.admin_secret,
            &json!({"url": receiver.url(), "events": events, "description": "tests"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let secret = v["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{v}");
    receiver.secret(secret).await;
    v["webhook"]["id"].as_str().unwrap().to_owned()
}

/// The verified deliveries' bodies once there are `n` of them.
async fn delivered(receiver: &Receiver, n: usize) -> Vec<Value> {
    eventually(&format!("{n} verified deliveries"), async || {
        let verified = receiver.verified().await;
        (verified.len() >= n).then_some(verified)
    })
    .await
}

fn body(entry: &Value) -> Value {
    serde_json::from_str(entry["body"].as_str().unwrap()).unwrap()
}

fn types(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| body(e)["type"].as_str().unwrap().to_owned())
        .collect()
}

backend_tests! {
    async fn events_are_signed_delivered_in_order_and_verified(backend) {
        let app = spawn_app_with(backend, deliver_locally).await;
        let receiver = Receiver::start().await;
        let hook = subscribe(
            &app,
            &receiver,
            &["key.created", "key.updated", "key.rolled", "key.revoked"],
        )
        .await;
        let (id, secret) = app.create_key("ci", json!(["read:*"])).await;
        let r = app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"name": "ci-2"})).await;
        assert_eq!(r.status(), 200);
        let (status, rolled) = status_json(
            app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({})).await,
        )
        .await;
        assert_eq!(status, 200, "{rolled}");
        let r = app.post(&format!("/v1/keys/{id}/revoke"), &app.admin_secret, &json!({})).await;
        assert_eq!(r.status(), 200);

        let log = delivered(&receiver, 4).await;
        assert_eq!(
            types(&log),
            ["key.created", "key.updated", "key.rolled", "key.revoked"],
            "in order per key"
        );
        let mut ids: Vec<&str> = log.iter().map(|e| e["id"].as_str().unwrap()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 4, "one webhook-id per event");
        for entry in &log {
            let b = body(entry);
            assert_eq!(b["data"]["key"]["id"], id, "{b}");
            assert!(b["timestamp"].as_str().is_some(), "{b}");
            let text = entry["body"].as_str().unwrap();
            assert!(!text.contains(&secret), "never a secret");
            assert!(!text.contains(rolled["secret"].as_str().unwrap()), "never a secret");
        }
        assert_eq!(body(&log[1])["data"]["changes"]["after"]["name"], "ci-2");
        assert_eq!(body(&log[3])["data"]["key"]["status"], "revoked");

        // The delivery log says the same, once the sender has recorded the last answer (the
        // receiver has the body before the sender has its status).
        let page = eventually("four deliveries recorded as delivered", async || {
            let (status, page) = status_json(
                app.get(&format!("/v1/webhooks/{hook}/deliveries"), &app.admin_secret).await,
            )
            .await;
            assert_eq!(status, 200, "{page}");
            let done = page["deliveries"].as_array().unwrap().iter().all(|d| d["state"] == "delivered");
            done.then_some(page)
        })
        .await;
        let deliveries = page["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 4);
        for d in deliveries {
            assert_eq!((d["state"].clone(), d["attempts"].clone(), d["last_status"].clone()),
                (json!("delivered"), json!(1), json!(204)), "{d}");
            assert!(d["next_retry_at"].is_null() && d["delivered_at"].is_string(), "{d}");
        }

        // The library refuses a tampered body, a signature by another secret, and a replay
        // of a genuine delivery ten minutes later.
        let genuine = &log[0];
        let headers = |sig: &'static str| -> Vec<(&'static str, String)> { vec![
            ("webhook-id", genuine["id"].as_str().unwrap().to_owned()),
            ("webhook-timestamp", genuine["timestamp"].as_str().unwrap().to_owned()),
            ("webhook-signature", sig.to_owned()),
        ]};
        let receiver = &receiver;
        let sent = |h: Vec<(&'static str, String)>, b: String| async move {
            let pairs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
            receiver.send(&pairs, &b).await
        };
        let signature: &'static str = genuine["signature"].as_str().unwrap().to_owned().leak();
        let original = genuine["body"].as_str().unwrap().to_owned();
        assert_eq!(sent(headers(signature), original.clone()).await, 204, "the genuine one");
        assert_eq!(sent(headers(signature), original.replace("ci", "cj")).await, 400, "tampered");
        let other = latchkey::domain::webhook::SigningSecret::generate().sign(
            genuine["id"].as_str().unwrap(),
            genuine["timestamp"].as_str().unwrap().parse().unwrap(),
            original.as_bytes(),
        );
        assert_eq!(sent(headers(other.leak()), original.clone()).await, 400, "another secret");
        receiver.later(600).await;
        assert_eq!(sent(headers(signature), original).await, 400, "a replay, later");
    }

    async fn webhook_destinations_are_checked_for_ssrf(backend) {
        let app = spawn_app(backend).await;
        let refused = [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",
            "https://localhost/x",
            "https://user:pw@hooks.example.com/x",
        ];
        for url in refused {
            let (status, v) = status_json(
                app.post("/v1/webhooks", &app.admin_secret, &json!({"url": url, "events": ["key.created"]})).await,
            )
            .await;
            assert_eq!(status, 422, "{url}: {v}");
            assert_eq!(v["errors"][0]["field"], "url", "{url}: {v}");
        }
        // A PATCH is held to the same rules.
        let (status, v) = status_json(
            app.post("/v1/webhooks", &app.admin_secret,
                &json!({"url": "https://hooks.example.com/x", "events": ["key.created"]})).await,
        )
        .await;
        assert_eq!(status, 201, "{v}");
        let id = v["webhook"]["id"].as_str().unwrap();
        let (status, _) = status_json(
            app.patch(&format!("/v1/webhooks/{id}"), &app.admin_secret, &json!({"url": "https://127.0.0.1/"})).await,
        )
        .await;
        assert_eq!(status, 422);
        // Bad input is refused field by field, NUL bytes included, and nothing is lost.
        let (status, v) = status_json(
            app.post("/v1/webhooks", &app.admin_secret,
                &json!({"url": "https://a.example/\u{0}", "events": ["key.nope"], "description": "\u{0}"})).await,
        )
        .await;
        assert_eq!(status, 422, "{v}");
        let (_, list) = status_json(app.get("/v1/webhooks", &app.admin_secret).await).await;
        assert_eq!(list["webhooks"].as_array().unwrap().len(), 1, "{list}");
    }

    async fn a_failing_receiver_is_retried_with_growing_delays(backend) {
        let (app, clock) = on_a_manual_clock(backend).await;
        let receiver = Receiver::start().await;
        let hook = subscribe(&app, &receiver, &["key.created"]).await;
        receiver.fail(3, 503).await;
        app.create_key("flaky", json!(["read:*"])).await;
        let path = format!("/v1/webhooks/{hook}/deliveries");
        let mut waits = Vec::new();
        for attempt in 1..=3 {
            let d = eventually(&format!("attempt {attempt}"), async || {
                let (_, page) = status_json(app.get(&path, &app.admin_secret).await).await;
                let d = page["deliveries"][0].clone();
                (d["attempts"] == attempt).then_some(d)
            })
            .await;
            assert_eq!((d["state"].as_str(), d["last_status"].as_u64()), (Some("pending"), Some(503)), "{d}");
            let last: chrono::DateTime<Utc> = d["last_attempt_at"].as_str().unwrap().parse().unwrap();
            let next: chrono::DateTime<Utc> = d["next_retry_at"].as_str().unwrap().parse().unwrap();
            waits.push((next - last).num_milliseconds());
            // Not before it is due.
            clock.advance(next - last - TimeDelta::milliseconds(10));
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(receiver.log().await.len(), attempt as usize, "tried early");
            clock.advance(TimeDelta::milliseconds(10));
        }
        let log = delivered(&receiver, 1).await;
        assert_eq!(receiver.log().await.len(), 4);
        let ids: Vec<Value> = receiver.log().await.iter().map(|e| e["id"].clone()).collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "one webhook-id for every attempt");
        assert_eq!(types(&log), ["key.created"]);
        // 5 s doubling, each wait in the upper half of its step: 2.5–5 s, 5–10 s, 10–20 s.
        for (i, wait) in waits.iter().enumerate() {
            let ceiling = 5_000 << i;
            assert!((ceiling / 2..=ceiling).contains(wait), "wait {i}: {waits:?}");
        }
        let (_, page) = status_json(app.get(&path, &app.admin_secret).await).await;
        assert_eq!(page["deliveries"][0]["state"], "delivered", "{page}");
        assert_eq!(page["deliveries"][0]["attempts"], 4, "{page}");
    }

    async fn expiry_warnings_fire_once_per_threshold_on_one_of_two_nodes(backend) {
        let (app, clock) = on_a_manual_clock(backend).await;
        let c = clock.clone();
        let url = app.database_url.clone();
        let keys = app.keys_dir.clone();
        let _second = spawn_app_with(backend, move |s| {
            deliver_locally(s);
            s.webhooks.clock = c;
            s.database_url = url;
            s.keys_dir = keys;
        })
        .await;
        let receiver = Receiver::start().await;
        subscribe(&app, &receiver, &["key.expiring", "key.expired"]).await;
        let expires = Utc::now() + TimeDelta::days(40);
        let (id, _) = app
            .create_key_with(json!({"name": "short-lived", "scopes": ["read:*"], "expires_at": expires.to_rfc3339()}))
            .await;
        let start = clock.now();
        let mut seen = 0;
        for (day, expect) in [(10.5, "key.expiring"), (33.5, "key.expiring"), (39.5, "key.expiring"), (40.2, "key.expired")] {
            let target = start + TimeDelta::milliseconds((day * 86_400_000.0) as i64);
            clock.advance(target - clock.now());
            seen += 1;
            let log = delivered(&receiver, seen).await;
            let last = body(&log[seen - 1]);
            assert_eq!(last["type"], expect, "day {day}: {last}");
            assert_eq!(last["data"]["key"]["id"], id.as_str());
        }
        // Both nodes kept looking: still one event per threshold.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = receiver.verified().await;
        let thresholds: Vec<Value> = log.iter().map(|e| body(e)["data"]["threshold_seconds"].clone()).collect();
        assert_eq!(
            thresholds,
            [json!(30 * 86_400), json!(7 * 86_400), json!(86_400), Value::Null],
            "{log:?}"
        );
    }

    async fn leaked_secrets_are_revoked_or_flagged_by_the_org_policy(backend) {
        let app = spawn_app_with(backend, deliver_locally).await;
        let receiver = Receiver::start().await;
        subscribe(&app, &receiver, &["key.leaked", "key.revoked"]).await;
        let (first, first_secret) = app.create_key("leaky", json!(["read:*"])).await;
        let (second, second_secret) = app.create_key("flag-me", json!(["read:*"])).await;
        let unknown = latchkey::domain::secret::Secret::generate().expose().to_owned();
        let (status, v) = status_json(
            app.post("/v1/leaks", &app.admin_secret, &json!({
                "secrets": [first_secret, "not a secret", unknown],
                "source": "https://github.com/acme/app/blob/main/.env",
            })).await,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["results"], json!(["revoked", "unknown", "unknown"]));
        assert_eq!(app.token_request(&first, &first_secret).await.status(), 401, "revoked at once");

        let (status, org) = status_json(
            app.patch("/v1/org", &app.admin_secret, &json!({"leak_policy": "notify"})).await,
        )
        .await;
        assert_eq!((status, org["leak_policy"].as_str()), (200, Some("notify")), "{org}");
        let (_, v) = status_json(
            app.post("/v1/leaks", &app.admin_secret, &json!({"secrets": [second_secret, first_secret]})).await,
        )
        .await;
        assert_eq!(v["results"], json!(["flagged", "already_revoked"]));
        assert_eq!(app.token_request(&second, &second_secret).await.status(), 200, "only flagged");
        let (_, key) = status_json(app.get(&format!("/v1/keys/{second}"), &app.admin_secret).await).await;
        assert!(key["leaked_at"].is_string(), "{key}");

        let log = delivered(&receiver, 3).await;
        // In order per key (the two keys' events may interleave).
        let of = |key: &str| -> Vec<Value> {
            log.iter().filter(|e| body(e)["data"]["key"]["id"] == key).cloned().collect()
        };
        assert_eq!(types(&of(&first)), ["key.leaked", "key.revoked"]);
        assert_eq!(types(&of(&second)), ["key.leaked"]);
        let leaked = &of(&first)[0];
        assert_eq!(body(leaked)["data"]["source"], "https://github.com/acme/app/blob/main/.env");
        assert_eq!(body(leaked)["data"]["action"], "revoked");
        let (_, audit) = status_json(app.get("/v1/audit?action=key.leaked", &app.admin_secret).await).await;
        assert_eq!(audit["events"].as_array().unwrap().len(), 2, "{audit}");
    }

    async fn github_secret_scanning_alerts_are_verified_and_acted_on(backend) {
        use p256::ecdsa::{Signature, SigningKey, signature::Signer};
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let github = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("github-keys.json");
        let pem = github.verifying_key().to_public_key_pem(LineEnding::LF).unwrap();
        std::fs::write(&file, json!({"public_keys": [
            {"key_identifier": "test-key-1", "key": pem, "is_current": true}
        ]}).to_string()).unwrap();
        let app = spawn_app_with(backend, move |s| {
            deliver_locally(s);
            s.github_scanning_keys = Some(file);
        })
        .await;
        let receiver = Receiver::start().await;
        subscribe(&app, &receiver, &["key.leaked"]).await;
        let (id, secret) = app.create_key("pushed", json!(["read:*"])).await;
        let payload = json!([
            {"token": secret, "type": "latchkey_api_key", "url": "https://github.com/acme/app/blob/x/.env", "source": "content"},
            {"token": "lk_nothing", "type": "latchkey_api_key", "url": "https://github.com/x", "source": "content"},
        ])
        .to_string();
        let signature: Signature = github.sign(payload.as_bytes());
        let der = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature.to_der().as_bytes());
        let send = |key_id: &'static str, sig: String, body: String| {
            let client = app.client.clone();
            let url = app.url("/v1/secret-scanning/github");
            async move {
                client.post(url)
                    .header("Github-Public-Key-Identifier", key_id)
                    .header("Github-Public-Key-Signature", sig)
                    .header("content-type", "application/json")
                    .body(body).send().await.unwrap()
            }
        };
        // Unsigned, signed by another key id, or over another body: 401, nothing done.
        assert_eq!(send("test-key-1", String::new(), payload.clone()).await.status(), 401);
        assert_eq!(send("other-key", der.clone(), payload.clone()).await.status(), 401);
        assert_eq!(send("test-key-1", der.clone(), payload.replace("content", "commit")).await.status(), 401);
        assert_eq!(app.token_request(&id, &secret).await.status(), 200);

        let r = send("test-key-1", der, payload).await;
        assert_eq!(r.status(), 200);
        let feedback: Value = r.json().await.unwrap();
        assert_eq!(feedback, json!([
            {"token_raw": secret, "token_type": "latchkey_api_key", "label": "true_positive"},
            {"token_raw": "lk_nothing", "token_type": "latchkey_api_key", "label": "false_positive"},
        ]));
        assert_eq!(app.token_request(&id, &secret).await.status(), 401, "revoked");
        let log = delivered(&receiver, 1).await;
        assert_eq!(types(&log), ["key.leaked"]);
        assert_eq!(body(&log[0])["data"]["key"]["id"], id.as_str());
    }

    async fn webhooks_are_managed_and_audited(backend) {
        let app = spawn_app_with(backend, deliver_locally).await;
        let receiver = Receiver::start().await;
        let hook = subscribe(&app, &receiver, &["key.revoked"]).await;
        let (status, v) = status_json(app.post(&format!("/v1/webhooks/{hook}/test"), &app.admin_secret, &json!({})).await).await;
        assert_eq!(status, 202, "{v}");
        let log = delivered(&receiver, 1).await;
        assert_eq!(types(&log), ["webhook.test"]);
        // A redelivery keeps the webhook-id.
        let dlv = v["id"].as_str().unwrap();
        let (status, _) = status_json(app.post(&format!("/v1/webhooks/{hook}/deliveries/{dlv}/retry"), &app.admin_secret, &json!({})).await).await;
        assert_eq!(status, 202);
        let log = delivered(&receiver, 2).await;
        assert_eq!(log[0]["id"], log[1]["id"]);
        let (status, v) = status_json(app.patch(&format!("/v1/webhooks/{hook}"), &app.admin_secret, &json!({"enabled": false, "events": ["key.created"]})).await).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!((v["status"].as_str(), v["events"].clone()), (Some("disabled"), json!(["key.created"])));
        let (_, one) = status_json(app.get(&format!("/v1/webhooks/{hook}"), &app.admin_secret).await).await;
        assert_eq!(one, v, "no secret in a read");
        // Another org's admin, or a key without admin over webhooks, finds nothing.
        let (_, reader) = app.create_key("reader", json!(["admin:keys"])).await;
        assert_eq!(app.get(&format!("/v1/webhooks/{hook}"), &reader).await.status(), 403);
        assert_eq!(app.get("/v1/webhooks/wh_doesnotexist", &app.admin_secret).await.status(), 404);
        assert_eq!(app.delete(&format!("/v1/webhooks/{hook}"), &app.admin_secret).await.status(), 204);
        assert_eq!(app.get(&format!("/v1/webhooks/{hook}"), &app.admin_secret).await.status(), 404);
        let (_, audit) = status_json(app.get("/v1/audit", &app.admin_secret).await).await;
        let actions: Vec<&str> = audit["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).filter(|a| a.starts_with("webhook.")).collect();
        assert_eq!(actions, ["webhook.deleted", "webhook.updated", "webhook.delivery_retried", "webhook.created"]);
    }

    async fn three_nodes_deliver_every_event_once_each(backend) {
        let app = spawn_app_with(backend, deliver_locally).await;
        let mut others = Vec::new();
        for _ in 0..2 {
            let (url, keys) = (app.database_url.clone(), app.keys_dir.clone());
            others.push(
                spawn_app_with(backend, move |s| {
                    deliver_locally(s);
                    s.database_url = url;
                    s.keys_dir = keys;
                })
                .await,
            );
        }
        let receiver = Receiver::start().await;
        subscribe(&app, &receiver, &["key.created", "key.revoked"]).await;
        // Changes made on every node, while every node's sender runs.
        let mut made = Vec::new();
        for i in 0..12 {
            let node = [&app, &others[0], &others[1]][i % 3];
            let (status, v) = status_json(
                node.post("/v1/keys", &app.admin_secret, &json!({"name": format!("k{i}"), "scopes": ["read:*"]})).await,
            )
            .await;
            assert_eq!(status, 201, "{v}");
            let id = v["key"]["id"].as_str().unwrap().to_owned();
            if i % 2 == 0 {
                let r = node.post(&format!("/v1/keys/{id}/revoke"), &app.admin_secret, &json!({})).await;
                assert_eq!(r.status(), 200);
                made.push((id.clone(), "key.revoked"));
            }
            made.push((id, "key.created"));
        }
        let log = delivered(&receiver, made.len()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let log = if receiver.verified().await.len() > log.len() { receiver.verified().await } else { log };
        // Every event arrived; a second arrival of one (at least once) has the same webhook-id.
        let mut by_id: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
        for entry in &log {
            let id = entry["id"].as_str().unwrap().to_owned();
            if let Some(before) = by_id.insert(id, entry.clone()) {
                assert_eq!(before["body"], entry["body"], "a duplicate is the same event");
            }
        }
        let mut got: Vec<(String, String)> = by_id
            .values()
            .map(|e| {
                let b = body(e);
                (b["data"]["key"]["id"].as_str().unwrap().to_owned(), b["type"].as_str().unwrap().to_owned())
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = made.iter().map(|(k, t)| (k.clone(), (*t).to_owned())).collect();
        want.sort();
        assert_eq!(got, want, "each event once, none lost");
        // And per key in order: created before revoked.
        for (key, _) in made.iter().filter(|(_, t)| *t == "key.revoked") {
            let of: Vec<String> = log.iter().filter(|e| body(e)["data"]["key"]["id"] == key.as_str()).map(|e| body(e)["type"].as_str().unwrap().to_owned()).collect();
            assert_eq!(of.first().map(String::as_str), Some("key.created"), "{key}: {of:?}");
        }
    }

    async fn an_endpoint_failing_for_five_days_is_disabled_and_audited(backend) {
        let (app, clock) = on_a_manual_clock(backend).await;
        let receiver = Receiver::start().await;
        let hook = subscribe(&app, &receiver, &["key.created"]).await;
        receiver.fail(1_000, 500).await;
        app.create_key("first", json!(["read:*"])).await;
        eventually("a first failure", async || (!receiver.log().await.is_empty()).then_some(())).await;
        // Five days on: the first event is past its retry period, and a new one fails too.
        clock.advance(TimeDelta::days(5) + TimeDelta::seconds(1));
        app.create_key("second", json!(["read:*"])).await;
        let hook_now = eventually("the endpoint disabled", async || {
            let (_, v) = status_json(app.get(&format!("/v1/webhooks/{hook}"), &app.admin_secret).await).await;
            (v["status"] == "disabled").then_some(v)
        })
        .await;
        assert!(hook_now["disabled_reason"].as_str().unwrap().contains("5 days"), "{hook_now}");
        let (_, page) = status_json(app.get(&format!("/v1/webhooks/{hook}/deliveries"), &app.admin_secret).await).await;
        let states: Vec<&str> = page["deliveries"].as_array().unwrap().iter().filter_map(|d| d["state"].as_str()).collect();
        assert!(states.contains(&"failed"), "the first gave up after its retry period: {page}");
        let (_, audit) = status_json(app.get("/v1/audit?action=webhook.disabled", &app.admin_secret).await).await;
        assert_eq!(audit["events"][0]["actor"], "system", "{audit}");
        // Enabled again, it gets its five days back.
        let (status, v) = status_json(app.patch(&format!("/v1/webhooks/{hook}"), &app.admin_secret, &json!({"enabled": true})).await).await;
        assert_eq!((status, v["status"].as_str(), v["failing_since"].is_null()), (200, Some("enabled"), true), "{v}");
    }

    async fn a_quota_running_low_and_out_is_announced_once_per_period(backend) {
        let app = spawn_app_with(backend, deliver_locally).await;
        let receiver = Receiver::start().await;
        subscribe(&app, &receiver, &["quota.low", "quota.exhausted"]).await;
        let (status, v) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
            "name": "metered", "scopes": ["read:projects/**"],
            "quota": {"remaining": 20, "refill": null},
        })).await).await;
        assert_eq!(status, 201, "{v}");
        let id = v["key"]["id"].as_str().unwrap().to_owned();
        let secret = v["secret"].as_str().unwrap().to_owned();
        let check = async |cost: u64| {
            let body = json!({"token": secret, "action": "read", "resource": "projects/1", "cost": cost});
            let (status, v) = status_json(app.post("/v1/check", &app.admin_secret, &body).await).await;
            assert_eq!(status, 200, "{v}");
            v["allowed"] == true
        };

        assert!(check(15).await);
        // Too costly for the 5 left: refused, but the credits have not run out.
        assert!(!check(10).await);
        // 2 left of 20: low (at most 10%), noticed when the node reports what it spent.
        assert!(check(3).await);
        let log = delivered(&receiver, 1).await;
        assert_eq!(types(&log), ["quota.low"]);
        let low = body(&log[0]);
        assert_eq!(low["data"]["key"]["id"], id, "{low}");
        assert_eq!(
            low["data"]["quota"]["remaining"].as_u64().unwrap() + low["data"]["quota"]["period_credits"].as_u64().unwrap(),
            22,
            "{low}"
        );
        assert_eq!(low["data"]["quota"]["low_percent"], 10, "{low}");

        assert!(check(2).await);
        let log = delivered(&receiver, 2).await;
        assert_eq!(types(&log), ["quota.low", "quota.exhausted"]);
        assert_eq!(body(&log[1])["data"]["quota"]["remaining"], 0);
        // Refused uses of an exhausted period say nothing more.
        assert!(!check(1).await);
        assert!(!check(1).await);

        // A top-up starts again: spent at once, it is exhausted (not low first).
        let r = app.post(&format!("/v1/keys/{id}/quota"), &app.admin_secret, &json!({"add": 20})).await;
        assert_eq!(r.status(), 200);
        assert!(check(20).await);
        let log = delivered(&receiver, 3).await;
        assert_eq!(types(&log), ["quota.low", "quota.exhausted", "quota.exhausted"]);
        // Nothing else comes (the background sync runs many times in this second).
        assert!(!check(1).await);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(receiver.verified().await.len(), 3, "once per period");
    }
}
