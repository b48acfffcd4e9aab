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

        // A session of a key with `admin` over the collection only (not over `keys/{id}`) still
        // signs out, with its token or its secret, and can revoke no other key.
        let (_, narrow) = app.create_key("collection admin", json!(["admin:keys"])).await;
        for via_secret in [false, true] {
            let (session, secret) = session_of(&app, &narrow).await;
            let token = app.access_token(&session, &secret).await;
            let credential = if via_secret { &secret } else { &token };
            let other = format!("/v1/keys/{}/revoke", app.admin_key_id);
            assert_eq!(app.post(&other, credential, &json!({})).await.status(), 403);
            let r = app.delete(&format!("/v1/keys/{session}"), credential).await;
            assert_eq!(r.status(), 200, "sign-out");
            assert_eq!(app.token_request(&session, &secret).await.status(), 401);
        }
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

/// A parent key and a console session of it, with an access token the session obtained.
pub(crate) struct Family {
    pub parent: String,
    pub parent_secret: String,
    pub session: String,
    pub secret: String,
    pub token: String,
}

/// A fresh key `name` (`admin:keys`, `read:*`) that has started a console session.
pub(crate) async fn family(app: &TestApp, name: &str) -> Family {
    let (parent, parent_secret) = app.create_key(name, json!(["admin:keys", "read:*"])).await;
    let (session, secret) = session_of(app, &parent_secret).await;
    let token = app.access_token(&session, &secret).await;
    Family {
        parent,
        parent_secret,
        session,
        secret,
        token,
    }
}

/// Introspection of `token` as the admin: whether it is active.
async fn active(app: &TestApp, token: &str) -> bool {
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&app.admin_secret)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v["active"].as_bool().unwrap()
}

/// `/v1/check` of `token` (for what a session holds) as the admin: whether it is allowed.
async fn allowed(app: &TestApp, token: &str) -> bool {
    let body = json!({"token": token, "action": "read", "resource": "anything"});
    let (status, v) = status_json(app.post("/v1/check", &app.admin_secret, &body).await).await;
    assert_eq!(status, 200, "{v}");
    v["allowed"].as_bool().unwrap()
}

/// What the session's secret and its token can do: a token at `/oauth/token`, the admin API
/// (status), introspection of each, and `/v1/check` of each.
async fn session_powers(app: &TestApp, f: &Family) -> (u16, u16, bool, bool, bool, bool) {
    (
        app.token_request(&f.session, &f.secret)
            .await
            .status()
            .as_u16(),
        app.get("/v1/keys", &f.token).await.status().as_u16(),
        active(app, &f.secret).await,
        active(app, &f.token).await,
        allowed(app, &f.secret).await,
        allowed(app, &f.token).await,
    )
}

const LIVE: (u16, u16, bool, bool, bool, bool) = (200, 200, true, true, true, true);
const DEAD: (u16, u16, bool, bool, bool, bool) = (401, 401, false, false, false, false);

backend_tests! {
    /// The hole of issue 20: revoking the key that signed in left its console session key (an
    /// ordinary key) working for up to 8 hours. Revocation must be sacred.
    async fn revoking_the_key_that_signed_in_ends_its_sessions(backend) {
        let app = spawn_app(backend).await;
        let by_post = family(&app, "revoked by POST").await;
        let by_delete = family(&app, "revoked by DELETE").await;
        let by_rfc7009 = family(&app, "revoked by RFC 7009").await;
        let bystander = family(&app, "bystander").await;
        assert_eq!(session_powers(&app, &by_post).await, LIVE);

        let path = |f: &Family| format!("/v1/keys/{}", f.parent);
        assert_eq!(app.post(&format!("{}/revoke", path(&by_post)), &app.admin_secret, &json!({})).await.status(), 200);
        assert_eq!(app.delete(&path(&by_delete), &app.admin_secret).await.status(), 200);
        // The parent revokes its own secret (RFC 7009).
        let r = app
            .client
            .post(app.url("/oauth/revoke"))
            .basic_auth(&by_rfc7009.parent, Some(&by_rfc7009.parent_secret))
            .form(&[("token", by_rfc7009.parent_secret.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        for f in [&by_post, &by_delete, &by_rfc7009] {
            assert_eq!(session_powers(&app, f).await, DEAD, "{}", f.parent);
            let (_, k) = status_json(app.get(&format!("/v1/keys/{}", f.session), &app.admin_secret).await).await;
            assert_eq!(k["status"], "revoked", "{k}");
        }
        assert_eq!(session_powers(&app, &bystander).await, LIVE, "another key's session");
        let (_, v) = status_json(app.get(&format!("/v1/audit?target={}", by_post.session), &app.admin_secret).await).await;
        let ended = &v["events"][0];
        assert_eq!((ended["action"].as_str(), ended["actor"].as_str()), (Some("key.revoked"), Some(app.admin_key_id.as_str())), "{v}");
        assert_eq!(ended["details"]["reason"], "parent_revoked");
        assert_eq!(ended["details"]["parent_key_id"], by_post.parent.as_str());
    }

    /// A roll may mean the old secret leaked: the sessions it started end, grace period or not.
    async fn rolling_the_key_that_signed_in_ends_its_sessions(backend) {
        let app = spawn_app(backend).await;
        for grace in [0, 3600] {
            let f = family(&app, &format!("rolled with grace {grace}")).await;
            let (status, v) = status_json(app.post(&format!("/v1/keys/{}/roll", f.parent), &app.admin_secret, &json!({"grace_seconds": grace})).await).await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(session_powers(&app, &f).await, DEAD, "grace {grace}");
        }
    }

    /// Otherwise a session could keep scopes, addresses or time its parent no longer has.
    async fn changing_what_bounds_a_session_ends_it_and_a_rename_does_not(backend) {
        let app = spawn_app(backend).await;
        let f = family(&app, "edited").await;
        let path = format!("/v1/keys/{}", f.parent);
        assert_eq!(app.patch(&path, &app.admin_secret, &json!({"name": "renamed", "metadata": {"a": 1}})).await.status(), 200);
        assert_eq!(session_powers(&app, &f).await, LIVE, "a rename bounds nothing");
        let later = (Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        for change in [json!({"scopes": ["admin:keys"]}), json!({"allowed_cidrs": ["127.0.0.0/8"]}), json!({"expires_at": later})] {
            let (session, secret) = session_of(&app, &f.parent_secret).await;
            let token = app.access_token(&session, &secret).await;
            let g = Family { session, secret, token, parent: f.parent.clone(), parent_secret: f.parent_secret.clone() };
            let (status, v) = status_json(app.patch(&path, &app.admin_secret, &change).await).await;
            assert_eq!(status, 200, "{change}: {v}");
            assert_eq!(session_powers(&app, &g).await, DEAD, "{change}");
        }
        // A dry run changes nothing, so it ends nothing.
        let (session, secret) = session_of(&app, &f.parent_secret).await;
        let token = app.access_token(&session, &secret).await;
        let g = Family { session, secret, token, parent: f.parent.clone(), parent_secret: f.parent_secret.clone() };
        assert_eq!(app.patch(&format!("{path}?dry_run=true"), &app.admin_secret, &json!({"scopes": ["admin:keys"]})).await.status(), 200);
        assert_eq!(session_powers(&app, &g).await.0, 200);
    }

    async fn a_leaked_key_takes_its_sessions_with_it(backend) {
        let app = spawn_app(backend).await;
        let f = family(&app, "leaky").await;
        let (status, v) = status_json(app.post("/v1/leaks", &app.admin_secret, &json!({"secrets": [f.parent_secret]})).await).await;
        assert_eq!((status, v["results"].clone()), (200, json!(["revoked"])), "{v}");
        assert_eq!(session_powers(&app, &f).await, DEAD);
        let (_, v) = status_json(app.get(&format!("/v1/audit?target={}", f.session), &app.admin_secret).await).await;
        assert_eq!(v["events"][0]["actor"], format!("leak-report:{}", app.admin_key_id), "{v}");
    }

    // Review findings (attacker's review of issue 20), each a test first.

    async fn only_a_console_session_may_revoke_itself_without_admin(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app
            .create_key_with(json!({"name": "svc", "scopes": ["admin:keys", "read:projects/**"]}))
            .await;
        // A narrow token of the key (what a resource server sees) cannot end the key.
        let (status, t) = status_json(
            app.client
                .post(app.url("/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("scope", "read:projects/42")])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{t}");
        let narrow = t["access_token"].as_str().unwrap();
        let r = app.post(&format!("/v1/keys/{id}/revoke"), narrow, &json!({})).await;
        assert_eq!(r.status(), 403);
        let r = app.client.delete(app.url(&format!("/v1/keys/{id}"))).bearer_auth(narrow).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let (_, k) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!(k["status"], "active", "{k}");
        // A console session signs itself out with its own credential.
        let (session, session_secret) = session_of(&app, &secret).await;
        let r = app.post(&format!("/v1/keys/{session}/revoke"), &session_secret, &json!({})).await;
        assert_eq!(r.status(), 200);
    }

    async fn a_session_started_with_a_rolled_away_secret_ends_with_it(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app
            .create_key_with(json!({"name": "ops", "scopes": ["admin:keys"]}))
            .await;
        let (status, rolled) = status_json(
            app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({"grace_seconds": 60})).await,
        )
        .await;
        assert_eq!(status, 200, "{rolled}");
        let grace_end = time(&rolled["key"]["previous_secret_expires_at"]);
        let (status, v) = start_session(&app, &old, Some(json!({}))).await;
        assert_eq!(status, 201, "{v}");
        assert!(
            time(&v["key"]["expires_at"]) <= grace_end,
            "a session started during a grace period ends with it: {v} (grace ends {grace_end})"
        );
    }

    async fn a_session_cannot_roll_or_rescope_the_key_that_started_it(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app
            .create_key_with(json!({"name": "ops", "scopes": ["admin:keys", "admin:keys/**"]}))
            .await;
        let (_, session_secret) = session_of(&app, &secret).await;
        let r = app.post(&format!("/v1/keys/{id}/roll"), &session_secret, &json!({})).await;
        let (status, v) = status_json(r).await;
        assert_eq!((status, v["type"].as_str()), (409, Some("console_session_parent_guarded")), "{v}");
        let r = app.patch(&format!("/v1/keys/{id}"), &session_secret, &json!({"scopes": ["admin:keys/**"]})).await;
        assert_eq!(r.status(), 409);
        let r = app.patch(&format!("/v1/keys/{id}"), &session_secret, &json!({"expires_at": null, "allowed_cidrs": ["127.0.0.1/32"]})).await;
        assert_eq!(r.status(), 409);
        // The owner's secret still works; a rename through the session is harmless and allowed.
        assert_eq!(app.token_request(&id, &secret).await.status(), 200);
        let r = app.patch(&format!("/v1/keys/{id}"), &session_secret, &json!({"name": "ops 2"})).await;
        assert_eq!(r.status(), 200);
    }

    async fn replacing_a_parents_public_keys_or_workloads_ends_its_sessions(backend) {
        let app = spawn_app(backend).await;
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "a"});
        let (id, secret) = app
            .create_key_with(json!({"name": "ops", "scopes": ["admin:keys"], "public_keys": [jwk]}))
            .await;
        let (session, _) = session_of(&app, &secret).await;
        let r = app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"public_keys": []})).await;
        assert_eq!(r.status(), 200);
        let (_, s) = status_json(app.get(&format!("/v1/keys/{session}"), &app.admin_secret).await).await;
        assert_eq!(s["status"], "revoked", "a credential replaced ends the sessions, as a roll does: {s}");
    }
}
