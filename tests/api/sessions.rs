//! Console sessions (`POST /v1/console/sessions`): a key of its own kind, bounded by the key
//! that signed in (its parent), hidden from lists and rankings unless asked for, and credited
//! to its parent in the audit trail.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, spawn_app, status_json, time};

/// `POST /v1/console/sessions` as `bearer` with `body` (`None`: no body at all).
pub(crate) async fn start_session(
    app: &TestApp,
    bearer: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url("/v1/console/sessions"))
        .bearer_auth(bearer);
    if let Some(body) = body {
        request = request.json(&body);
    }
    status_json(request.send().await.unwrap()).await
}

/// A session of the key whose credential is `bearer`: its id and secret.
pub(crate) async fn session_of(app: &TestApp, bearer: &str) -> (String, String) {
    let (status, v) = start_session(app, bearer, Some(json!({}))).await;
    assert_eq!(status, 201, "{v}");
    (
        v["key"]["id"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
    )
}

/// `GET /v1/keys{query}` as the admin: the ids listed, and the next cursor.
async fn listed(app: &TestApp, query: &str) -> (Vec<String>, Option<String>) {
    let (status, v) = status_json(
        app.get(&format!("/v1/keys{query}"), &app.admin_secret)
            .await,
    )
    .await;
    assert_eq!(status, 200, "{query}: {v}");
    let ids = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, v["next_cursor"].as_str().map(str::to_owned))
}

fn scopes_of(key: &Value) -> Vec<String> {
    key["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}:{}",
                s["action"].as_str().unwrap(),
                s["resource"].as_str().unwrap()
            )
        })
        .collect()
}

backend_tests! {
    async fn a_session_has_the_callers_scopes_and_its_parents_addresses_and_expiry(backend) {
        let app = spawn_app(backend).await;
        let parent_expiry = Utc::now() + chrono::Duration::hours(2);
        let (parent, parent_secret) = app
            .create_key_with(json!({
                "name": "ops admin",
                "scopes": ["admin:keys", "read:projects/**"],
                "allowed_cidrs": ["127.0.0.0/8"],
                "expires_at": parent_expiry.to_rfc3339(),
                "metadata": {"team": "ops"},
                "rate_limits": [{"limit": 1000, "window_seconds": 60}],
            }))
            .await;
        let r = app
            .client
            .post(app.url("/v1/console/sessions"))
            .bearer_auth(&parent_secret)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let location = r.headers()["location"].to_str().unwrap().to_owned();
        let (_, v) = status_json(r).await;
        let key = &v["key"];
        let id = key["id"].as_str().unwrap();
        assert_eq!(location, format!("/v1/keys/{id}"));
        assert_eq!(key["kind"], "console_session");
        assert_eq!(key["parent_key_id"], parent.as_str());
        assert_eq!(key["name"], "console session for ops admin");
        assert_eq!(scopes_of(key), ["admin:keys", "read:projects/**"]);
        assert_eq!(key["allowed_cidrs"], json!(["127.0.0.0/8"]));
        let (_, p) = status_json(app.get(&format!("/v1/keys/{parent}"), &app.admin_secret).await).await;
        assert_eq!(key["expires_at"], p["expires_at"], "the parent's, sooner than 8 h");
        assert_eq!((key["metadata"].clone(), key["rate_limits"].clone(), key["quota"].clone()), (json!({}), json!([]), Value::Null));
        let secret = v["secret"].as_str().unwrap();
        assert!(secret.starts_with("lk_") && secret.len() == 52);
        assert_eq!(app.token_request(id, secret).await.status(), 200, "the session renews tokens");
        // The parent's own view says it is standard and answers to no one.
        assert_eq!((p["kind"].as_str(), p["parent_key_id"].clone()), (Some("standard"), Value::Null));

        // Started with a down-scoped token: the token's scopes, never the key's.
        let r = app
            .client
            .post(app.url("/oauth/token"))
            .basic_auth(&parent, Some(&parent_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "admin:keys")])
            .send()
            .await
            .unwrap();
        let token: Value = r.json().await.unwrap();
        let (status, v) = start_session(&app, token["access_token"].as_str().unwrap(), None).await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(scopes_of(&v["key"]), ["admin:keys"]);

        // A parent that never expires: 8 hours, or less when asked.
        let (_, forever) = app.create_key("forever", json!(["admin:keys"])).await;
        let before = Utc::now();
        let (_, v) = start_session(&app, &forever, None).await;
        let expires = time(&v["key"]["expires_at"]);
        assert!(expires >= before + chrono::Duration::hours(8) && expires <= Utc::now() + chrono::Duration::hours(8), "{v}");
        let (status, v) = start_session(&app, &forever, Some(json!({"expires_in": 60}))).await;
        assert_eq!(status, 201, "{v}");
        assert!(time(&v["key"]["expires_at"]) <= Utc::now() + chrono::Duration::seconds(60));
    }

    async fn starting_a_session_needs_admin_over_keys_and_a_valid_body(backend) {
        let app = spawn_app(backend).await;
        let (_, reader) = app.create_key("reader", json!(["read:*", "admin:usage"])).await;
        let (status, v) = start_session(&app, &reader, None).await;
        assert_eq!((status, v["type"].as_str()), (403, Some("insufficient_scope")), "{v}");
        let (status, _) = start_session(&app, "lk_nonsense", None).await;
        assert_eq!(status, 401);
        for bad in [json!({"expires_in": 0}), json!({"expires_in": 28801}), json!({"expires_in": 1.5}), json!({"expires_in": "60"}), json!({"scopes": ["*:*"]})] {
            let (status, v) = start_session(&app, &app.admin_secret, Some(bad.clone())).await;
            assert_eq!((status, v["type"].as_str()), (422, Some("validation_failed")), "{bad}: {v}");
            let field = if bad.get("scopes").is_some() { "scopes" } else { "expires_in" };
            assert_eq!(error_fields(&v), [field], "{bad}: {v}");
        }
        let (status, v) = start_session(&app, &app.admin_secret, Some(json!({"expires_in": 28800.0}))).await;
        assert_eq!(status, 201, "{v}");
    }

    async fn a_session_cannot_start_another_and_its_key_is_not_editable_only_revocable(backend) {
        let app = spawn_app(backend).await;
        let (session, secret) = session_of(&app, &app.admin_secret).await;
        let token = app.access_token(&session, &secret).await;
        for credential in [&secret, &token] {
            let (status, v) = start_session(&app, credential, None).await;
            assert_eq!((status, v["type"].as_str()), (409, Some("console_session_nesting")), "{v}");
        }
        let path = format!("/v1/keys/{session}");
        for (what, r) in [
            ("rename", app.patch(&path, &app.admin_secret, &json!({"name": "mine now"})).await),
            ("widen", app.patch(&format!("{path}?dry_run=true"), &app.admin_secret, &json!({"allowed_cidrs": []})).await),
            ("roll", app.post(&format!("{path}/roll"), &app.admin_secret, &json!({})).await),
            ("quota", app.post(&format!("{path}/quota"), &app.admin_secret, &json!({"add": 1})).await),
            ("self-edit", app.patch(&path, &secret, &json!({"expires_at": null})).await),
        ] {
            let (status, v) = status_json(r).await;
            assert_eq!((status, v["type"].as_str()), (409, Some("console_session_not_editable")), "{what}: {v}");
        }
        assert_eq!(app.token_request(&session, &secret).await.status(), 200, "unchanged");
        // Signing out: the session revokes itself.
        let (status, v) = status_json(app.post(&format!("{path}/revoke"), &token, &json!({})).await).await;
        assert_eq!((status, v["status"].as_str()), (200, Some("revoked")), "{v}");
        assert_eq!(app.token_request(&session, &secret).await.status(), 401);
        assert_eq!(app.get("/v1/keys", &token).await.status(), 401);
    }

    async fn sessions_are_listed_only_when_asked_for_and_pages_keep_the_filter(backend) {
        let app = spawn_app(backend).await;
        let (parent, parent_secret) = app.create_key("ops admin", json!(["admin:keys"])).await;
        let mut mine = Vec::new();
        for _ in 0..3 {
            mine.push(session_of(&app, &parent_secret).await.0);
        }
        let (admins, _) = session_of(&app, &app.admin_secret).await;
        let standard: HashSet<String> = [parent.clone(), app.admin_key_id.clone()].into();
        let all_sessions: HashSet<String> = mine.iter().cloned().chain([admins.clone()]).collect();

        for query in ["", "?status=all", "?kind=standard", "?search=console"] {
            let (ids, _) = listed(&app, query).await;
            assert!(ids.iter().all(|id| standard.contains(id)), "{query}: {ids:?}");
        }
        let (ids, _) = listed(&app, "?kind=console_session").await;
        assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), all_sessions);
        let (ids, _) = listed(&app, "?kind=all").await;
        assert_eq!(ids.len(), 6);
        let (ids, _) = listed(&app, &format!("?parent_key_id={parent}")).await;
        let mut newest_first = mine.clone();
        newest_first.reverse();
        assert_eq!(ids, newest_first, "a key's sessions, newest first");
        let (ids, _) = listed(&app, &format!("?parent_key_id={parent}&kind=standard")).await;
        assert!(ids.is_empty());
        let (ids, _) = listed(&app, "?kind=console_session&search=OPS%20ADMIN").await;
        assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), mine.iter().cloned().collect());

        // One key a page, the filter repeated with the cursor: every session exactly once.
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let (ids, next) = listed(&app, &format!("?kind=console_session&limit=1&cursor={cursor}")).await;
            seen.extend(ids);
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        assert_eq!(seen.len(), 4);
        assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all_sessions);

        for bad in ["?kind=session", "?kind=", "?parent_key_id=nobody"] {
            assert_eq!(app.get(&format!("/v1/keys{bad}"), &app.admin_secret).await.status(), 422, "{bad}");
        }
    }

    async fn usage_rankings_leave_sessions_out_unless_asked_and_totals_count_them(backend) {
        let app = spawn_app(backend).await;
        let (busy, busy_secret) = app.create_key("busy", json!(["read"])).await;
        let (session, secret) = session_of(&app, &app.admin_secret).await;
        for _ in 0..4 {
            assert_eq!(app.token_request(&session, &secret).await.status(), 200);
        }
        assert_eq!(app.token_request(&busy, &busy_secret).await.status(), 200);
        let start = Instant::now();
        let report = loop {
            let (status, v) = status_json(app.get("/v1/usage", &app.admin_secret).await).await;
            assert_eq!(status, 200, "{v}");
            if v["totals"]["tokens_issued"] == 5 {
                break v;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let ranked = |v: &Value| -> Vec<String> {
            v["top_keys"].as_array().unwrap().iter().map(|k| k["key_id"].as_str().unwrap().to_owned()).collect()
        };
        // (The admin's polling counts too: it ranks first, being busiest.)
        assert!(!ranked(&report).contains(&session), "{report}");
        assert!(ranked(&report).contains(&busy), "{report}");
        let (_, with) = status_json(app.get("/v1/usage?include_sessions=true", &app.admin_secret).await).await;
        let at = |id: &str| ranked(&with).iter().position(|k| k == id);
        assert!(at(&session).unwrap() < at(&busy).unwrap(), "four tokens rank above one: {with}");
        let entry = &with["top_keys"][at(&session).unwrap()];
        assert_eq!(entry["name"], "console session for bootstrap admin");
        assert_eq!(with["totals"], report["totals"], "the same traffic either way");
        let (status, v) = status_json(app.get("/v1/usage?include_sessions=yes", &app.admin_secret).await).await;
        assert_eq!((status, error_fields(&v)), (422, vec!["include_sessions".to_owned()]));
    }

    async fn the_audit_trail_credits_a_sessions_changes_to_its_parent_via_the_console(backend) {
        let app = spawn_app(backend).await;
        let (parent, parent_secret) = app.create_key("ops admin", json!(["admin:keys/**", "read:*"])).await;
        let (session, secret) = session_of(&app, &parent_secret).await;
        let token = app.access_token(&session, &secret).await;
        let (status, v) = status_json(app.post("/v1/keys", &token, &json!({"name": "made at the console", "scopes": ["read:x"]})).await).await;
        assert_eq!(status, 201, "{v}");
        let made = v["key"]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.patch(&format!("/v1/keys/{made}"), &secret, &json!({"name": "renamed at the console"})).await.status(), 200);

        let (status, v) = status_json(app.get("/v1/audit?limit=4", &app.admin_secret).await).await;
        assert_eq!(status, 200, "{v}");
        let events = v["events"].as_array().unwrap();
        let summary: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap(), e["target"].as_str().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("key.updated", parent.as_str(), made.as_str()),
                ("key.created", parent.as_str(), made.as_str()),
                ("key.created", parent.as_str(), session.as_str()),
                ("key.created", app.admin_key_id.as_str(), parent.as_str()),
            ]
        );
        for e in &events[..2] {
            assert_eq!(e["actor_via"], "console", "{e}");
            assert_eq!(e["actor_session"], session.as_str(), "{e}");
            assert_eq!(e["actor_name"], "ops admin", "{e}");
            assert_eq!(e["target_name"], "renamed at the console", "names are read now: {e}");
        }
        // The session's start is the parent's own doing, not through a session.
        let started = &events[2];
        assert_eq!((started["actor_via"].clone(), started["actor_session"].clone()), (Value::Null, Value::Null));
        assert_eq!(started["target_name"], "console session for ops admin");
        assert_eq!(started["details"]["kind"], "console_session");
        assert_eq!(started["details"]["parent_key_id"], parent.as_str());
        assert_eq!(events[3]["actor_name"], "bootstrap admin");
        // Who is not a key has no name.
        let (_, v) = status_json(app.get("/v1/audit?action=org.bootstrapped", &app.admin_secret).await).await;
        let boot = &v["events"][0];
        assert_eq!((boot["actor"].as_str(), boot["actor_name"].clone(), boot["target_name"].clone()), (Some("cli"), Value::Null, Value::Null));
    }
}
