//! The audit trail: every administrative change, in order, with its actor; per org.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, status_json, time};

async fn events(app: &TestApp, secret: &str, query: &str) -> Vec<Value> {
    let (status, v) = status_json(app.get(&format!("/v1/audit{query}"), secret).await).await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

backend_tests! {
    async fn every_change_is_recorded_in_order_with_its_actor(backend) {
        let app = spawn_app(backend).await;
        let admin = app.admin_key_id.clone();
        let (id, secret) = app.create_key("svc", json!(["read:projects/**"])).await;
        let patch = json!({"name": "svc2", "scopes": ["read:projects/1"], "allowed_cidrs": ["127.0.0.0/8"]});
        assert_eq!(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &patch).await.status(), 200);
        assert_eq!(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({"grace_seconds": 60})).await.status(), 200);
        let token: Value = app.client.post(app.url("/oauth/token")).basic_auth(&id, Some(&secret)).form(&[("grant_type", "client_credentials")]).send().await.unwrap().json().await.unwrap();
        let r = app.client.post(app.url("/oauth/revoke")).bearer_auth(&app.admin_secret).form(&[("token", token["access_token"].as_str().unwrap())]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.post(&format!("/v1/keys/{id}/revoke"), &app.admin_secret, &json!({})).await.status(), 200);
        assert_eq!(app.delete(&format!("/v1/keys/{id}"), &app.admin_secret).await.status(), 200, "idempotent");
        assert_eq!(app.post("/v1/signing-keys/rotate", &app.admin_secret, &json!({})).await.status(), 201);
        // Refused changes leave no trace.
        assert_eq!(app.post("/v1/keys", &app.admin_secret, &json!({"name": ""})).await.status(), 422);
        assert_eq!(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"name": "x"})).await.status(), 409);

        let all = events(&app, &app.admin_secret, "").await;
        assert_eq!(
            actions(&all),
            vec!["signing_key.rotated", "key.revoked", "token.revoked", "key.rolled", "key.updated", "key.created", "org.bootstrapped"]
        );
        for e in &all[..6] {
            assert_eq!(e["actor"], admin.as_str(), "{e}");
            assert_eq!(e["ip"], "127.0.0.1");
        }
        assert_eq!((all[6]["actor"].as_str(), all[6]["ip"].clone()), (Some("cli"), Value::Null));
        let updated = &all[4];
        assert_eq!(updated["target"], id.as_str());
        assert_eq!(updated["details"]["before"], json!({"name": "svc", "scopes": ["read:projects/**"], "allowed_cidrs": []}));
        assert_eq!(updated["details"]["after"], json!({"name": "svc2", "scopes": ["read:projects/1"], "allowed_cidrs": ["127.0.0.0/8"]}));
        assert_eq!(all[5]["details"]["scopes"], json!(["read:projects/**"]));
        assert_eq!(all[3]["details"]["grace_seconds"], 60);
        assert!(all[0]["details"]["retired_kid"].is_string());
        let times: Vec<_> = all.iter().map(|e| time(&e["at"])).collect();
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "newest first");
    }

    async fn the_trail_filters_and_pages(backend) {
        let app = spawn_app(backend).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(app.create_key(&format!("k{i}"), json!(["read"])).await.0);
        }
        app.patch(&format!("/v1/keys/{}", ids[2]), &app.admin_secret, &json!({"name": "renamed"})).await;
        assert_eq!(actions(&events(&app, &app.admin_secret, "?action=key.created").await), vec!["key.created"; 5]);
        let about = events(&app, &app.admin_secret, &format!("?target={}", ids[2])).await;
        assert_eq!(actions(&about), vec!["key.updated", "key.created"]);

        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (_, v) = status_json(app.get(&format!("/v1/audit?limit=2&cursor={cursor}"), &app.admin_secret).await).await;
            seen.extend(v["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            match v["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (7, 7), "bootstrap + 5 creates + 1 update, each once");
        for bad in ["limit=0", "cursor=nope", "action=key.exploded"] {
            assert_eq!(app.get(&format!("/v1/audit?{bad}"), &app.admin_secret).await.status(), 422, "{bad}");
        }
    }

    async fn another_orgs_trail_is_invisible_and_reading_needs_admin_over_audit(backend) {
        let app = spawn_app(backend).await;
        let (theirs, their_admin) = app.other_org("acme");
        app.post("/v1/keys", &theirs, &json!({"name": "theirs", "scopes": ["read"]})).await;
        let mine = events(&app, &app.admin_secret, "").await;
        assert!(!serde_json::to_string(&mine).unwrap().contains(&their_admin));
        assert_eq!(actions(&events(&app, &theirs, "").await), vec!["key.created", "org.bootstrapped"]);
        let (_, reader) = app.create_key("reader", json!(["admin:keys/**", "read:*"])).await;
        assert_eq!(app.get("/v1/audit", &reader).await.status(), 403);
    }
}
