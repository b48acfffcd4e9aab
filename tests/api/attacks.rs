//! Attacks (hardening item 6), over real HTTP on both backends: what another tenant, a holder of
//! a dead or forged credential, or a client lying about its address can get out of the server.
//!
//! Some attacks are also covered next to the feature they attack; this file adds what those
//! tests leave open. Forged tokens are made with real keys (the orgs' own Ed25519 signing keys,
//! opened with the master key as the server does), so every forgery below carries a *valid*
//! signature unless the attack is about the signature: what refuses it is the rule under test,
//! and a control token signed the same way is accepted, proving the harness signs correctly.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use diesel::Connection as _;
use diesel::connection::InstrumentationEvent;
use ed25519_dalek::Signer as _;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, sleep_past_exp, sleep_until, spawn_app, spawn_app_with, status_json,
};

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// `POST /oauth/token` with HTTP Basic; status and body.
async fn token_request(app: &TestApp, id: &str, secret: &str) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    status_json(r).await
}

/// An access token of the key `id`, down-scoped to `scope`.
async fn access_token_scoped(app: &TestApp, id: &str, secret: &str, scope: &str) -> String {
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, v) = token_request(app, id, secret).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// How a caller authenticates at `/oauth/introspect` and `/oauth/revoke`.
#[derive(Debug, Clone, Copy)]
enum Cred<'a> {
    Basic(&'a str, &'a str),
    Bearer(&'a str),
}

async fn oauth_post(
    app: &TestApp,
    path: &str,
    cred: Cred<'_>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let auth = match cred {
        Cred::Basic(id, secret) => basic(id, secret),
        Cred::Bearer(t) => format!("Bearer {t}"),
    };
    let r = app
        .client
        .post(app.url(path))
        .header("authorization", auth)
        .form(form)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

async fn introspect(app: &TestApp, cred: Cred<'_>, token: &str) -> (u16, Value) {
    oauth_post(app, "/oauth/introspect", cred, &[("token", token)]).await
}

/// `POST /v1/check` as `caller` for `action` over `resource`; the decision.
async fn check(
    app: &TestApp,
    caller: &str,
    token: &str,
    action: &str,
    resource: &str,
) -> (u16, Value) {
    let body = json!({"token": token, "action": action, "resource": resource});
    status_json(app.post("/v1/check", caller, &body).await).await
}

/// The decision `/v1/check` gives for anything that is not a live credential of the caller's
/// org: nothing about the key behind it.
fn invalid_token() -> Value {
    json!({"allowed": false, "reason": "invalid_token", "key_id": null, "scopes": [], "ratelimit": null, "quota_remaining": null})
}

fn org_id_of(app: &TestApp, slug: &str) -> String {
    let mut conn = app.pool.get().unwrap();
    latchkey::store::orgs::find_by_slug(&mut conn, slug)
        .unwrap()
        .unwrap()
        .id
}

/// Polls `path` (as the default org's admin) until `done` holds.
async fn poll_until(app: &TestApp, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (status, v) = status_json(app.get(path, &app.admin_secret).await).await;
        assert_eq!(status, 200, "{v}");
        if done(&v) {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{path} never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(path, METHOD)` of every operation of the live OpenAPI document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                ops.push((path.clone(), m));
            }
        }
    }
    ops
}

/// What the default org looks like to its own admin: every key, the audit trail and the signing
/// keys. The admin key's own `last_used_at` is left out: taking the snapshot uses it.
async fn snapshot(app: &TestApp, target: &str) -> Value {
    let mut all = Vec::new();
    for path in [
        "/v1/keys?status=all&kind=all&limit=200".to_owned(),
        format!("/v1/keys/{target}"),
        "/v1/audit?limit=200".to_owned(),
        "/v1/signing-keys".to_owned(),
    ] {
        let (status, mut v) = status_json(app.get(&path, &app.admin_secret).await).await;
        assert_eq!(status, 200, "{path}: {v}");
        for k in v["keys"].as_array_mut().into_iter().flatten() {
            if k["id"] == app.admin_key_id.as_str() {
                k.as_object_mut().unwrap().remove("last_used_at");
            }
        }
        all.push(v);
    }
    Value::Array(all)
}

/// The org's current Ed25519 signing key, opened with the master key the way the keyring does.
/// Only someone holding the master key and the database could do this; the tests use it to make
/// forgeries whose signature is valid.
fn signing_key_of(app: &TestApp, org_id: &str) -> (String, ed25519_dalek::SigningKey) {
    let mut conn = app.pool.get().unwrap();
    let stored =
        latchkey::store::signing_keys::find_current(&mut conn, org_id, latchkey::service::now())
            .unwrap()
            .unwrap();
    assert_eq!(stored.alg, "EdDSA");
    let der = app
        .master
        .open(&stored.private_sealed, stored.kid.as_bytes())
        .unwrap();
    let key = latchkey::crypto::signing::ed25519_from_pkcs8(&der).unwrap();
    (stored.kid, key)
}

/// A compact JWS of `header` and `claims` signed with Ed25519 `key`.
fn sign(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(&header.to_string()), b64(&claims.to_string()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

fn eddsa_header(kid: &str) -> Value {
    json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid})
}

/// The claims the server would put in a token of `key_id` of `org_id`, but for every scope.
fn claims(app: &TestApp, org_id: &str, key_id: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": app.address, "sub": key_id, "client_id": key_id, "org_id": org_id,
        "aud": app.address, "iat": now, "exp": now + 300,
        "jti": latchkey::domain::secret::random_id("", 22), "scope": "*:*",
    })
}

/// Both orgs' signing keys for forging: org `default` (A, the app's admin) and `acme` (B).
struct Forger {
    a_org: String,
    a_kid: String,
    a_key: ed25519_dalek::SigningKey,
    b_org: String,
    b_kid: String,
    b_key: ed25519_dalek::SigningKey,
    b_admin: String,
    b_secret: String,
}

impl Forger {
    async fn new(app: &TestApp) -> Self {
        let (b_secret, b_admin) = app.other_org("acme");
        // B's signing key is loaded into the server's keyring by its first use.
        let b_genuine = access_token(app, &b_admin, &b_secret).await;
        assert_eq!(
            introspect(app, Cred::Bearer(&b_secret), &b_genuine).await.1["active"],
            true
        );
        let (a_org, b_org) = (org_id_of(app, "default"), org_id_of(app, "acme"));
        let (a_kid, a_key) = signing_key_of(app, &a_org);
        let (b_kid, b_key) = signing_key_of(app, &b_org);
        assert_ne!(a_kid, b_kid);
        Forger {
            a_org,
            a_kid,
            a_key,
            b_org,
            b_kid,
            b_key,
            b_admin,
            b_secret,
        }
    }
}

/// A token the default org's admin API, introspection and `/v1/check` all refuse, saying
/// nothing more than that.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let r = app.get("/v1/keys", token).await;
    assert_eq!(r.status(), 401, "{what}: admin API");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    assert_eq!(
        introspect(app, admin, token).await,
        (200, json!({"active": false})),
        "{what}: introspection"
    );
    let (status, d) = check(app, &app.admin_secret, token, "admin", "keys").await;
    assert_eq!((status, d), (200, invalid_token()), "{what}: /v1/check");
}

/// The same token is accepted everywhere: the forging harness makes tokens the server takes.
async fn assert_accepted(app: &TestApp, token: &str, what: &str) {
    assert_eq!(
        app.get("/v1/keys", token).await.status(),
        200,
        "{what}: admin API"
    );
    let admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    assert_eq!(
        introspect(app, admin, token).await.1["active"],
        true,
        "{what}: introspection"
    );
    let (_, d) = check(app, &app.admin_secret, token, "admin", "keys").await;
    assert_eq!(d["allowed"], true, "{what}: /v1/check");
}

/// A live token works as the credential of every authenticated endpoint and as the subject of
/// introspection and `/v1/check`.
async fn assert_live(app: &TestApp, token: &str) {
    assert_eq!(app.get("/v1/keys", token).await.status(), 200);
    let admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    assert_eq!(introspect(app, admin, token).await.1["active"], true);
    assert_eq!(
        check(app, &app.admin_secret, token, "read", "x").await.1["allowed"],
        true
    );
    assert_eq!(introspect(app, Cred::Bearer(token), "x").await.0, 200);
    assert_eq!(
        oauth_post(app, "/oauth/revoke", Cred::Bearer(token), &[("token", "x")])
            .await
            .0,
        200
    );
    assert_eq!(check(app, token, "x", "read", "x").await.0, 200);
}

/// A dead token works nowhere: 401 as a credential, inactive as a subject, and `/v1/check`
/// gives `reason` without naming the key.
async fn assert_dead(app: &TestApp, token: &str, reason: &str) {
    assert_eq!(app.get("/v1/keys", token).await.status(), 401, "admin API");
    let admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    assert_eq!(
        introspect(app, admin, token).await,
        (200, json!({"active": false}))
    );
    let (status, d) = check(app, &app.admin_secret, token, "read", "x").await;
    assert_eq!(
        (status, d),
        (
            200,
            json!({"allowed": false, "reason": reason, "key_id": null, "scopes": [], "ratelimit": null, "quota_remaining": null})
        )
    );
    assert_eq!(
        introspect(app, Cred::Bearer(token), "x").await.0,
        401,
        "introspection caller"
    );
    assert_eq!(
        oauth_post(app, "/oauth/revoke", Cred::Bearer(token), &[("token", "x")])
            .await
            .0,
        401,
        "revocation caller"
    );
    assert_eq!(
        check(app, token, "x", "read", "x").await.0,
        401,
        "/v1/check caller"
    );
    assert_eq!(
        oauth_post(app, "/oauth/revoke", admin, &[("token", token)])
            .await
            .0,
        200
    );
}

/// The SQL statements (with their bound values) a connection runs while `f` runs.
fn traced<T>(
    conn: &mut latchkey::store::DbConnection,
    f: impl FnOnce(&mut latchkey::store::DbConnection) -> T,
) -> (T, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock().unwrap().push(format!("{query:?}"));
        }
    });
    let out = f(conn);
    conn.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    let queries = log.lock().unwrap().clone();
    (out, queries)
}

/// `POST /oauth/token` for `(id, secret)` with extra request headers; status and body.
async fn token_from(
    app: &TestApp,
    id: &str,
    secret: &str,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut r = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials")]);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    status_json(r.send().await.unwrap()).await
}

/// `GET /v1/keys` as `secret` with extra request headers; the status.
async fn admin_from(app: &TestApp, secret: &str, headers: &[(&str, &str)]) -> u16 {
    let mut r = app.client.get(app.url("/v1/keys")).bearer_auth(secret);
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    r.send().await.unwrap().status().as_u16()
}

backend_tests! {
/// Org B's admin, with its raw secret and with an access token, walks every `/v1` operation of
/// the live OpenAPI document aimed at org A's resources (A's key id in every `{id}`, A's key
/// name as a search, A's key as an audit target, A's secret in `/v1/check`; then every
/// `/v1/keys/{id}` route again with A's console session's id). Every `{id}` route says 404, every
/// collection answers with B's own data only, no response carries anything of A's, and A's
/// keys, audit trail, signing keys and usage are exactly as before.
async fn another_orgs_admin_gets_nothing_of_ours_from_any_v1_route(backend) {
    let app = spawn_app(backend).await;
    const A_NAME: &str = "a-private-key-name";
    const A_RESOURCE: &str = "a-private-resource";
    let a_org = org_id_of(&app, "default");
    let (a_key, a_secret) = app
        .create_key(A_NAME, json!([format!("read:{A_RESOURCE}/**")]))
        .await;
    let a_token = access_token(&app, &a_key, &a_secret).await;
    let (a_session, a_session_secret) =
        crate::sessions::session_of(&app, &app.admin_secret).await;
    let (_, a_signing) = status_json(app.get("/v1/signing-keys", &app.admin_secret).await).await;
    let a_kid = a_signing["signing_keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_jti = {
        let part = a_token.split('.').nth(1).unwrap();
        let c: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        c["jti"].as_str().unwrap().to_owned()
    };
    // A's key has been used, and that use is on record, before the snapshot.
    let usage_path = format!("/v1/keys/{a_key}/usage");
    let usage_before = poll_until(&app, &usage_path, |v| v["totals"]["tokens_issued"] == 1).await;
    poll_until(&app, &format!("/v1/keys/{a_key}"), |v| {
        v["last_used_at"].is_string()
    })
    .await;
    let a_hook = {
        let r = app
            .post(
                "/v1/webhooks",
                &app.admin_secret,
                &json!({"url": "https://hooks.example.com/a", "events": ["key.created"]}),
            )
            .await;
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        v["webhook"]["id"].as_str().unwrap().to_owned()
    };
    let before = snapshot(&app, &a_key).await;

    let (b_secret, b_admin) = app.other_org("acme");
    let b_token = access_token(&app, &b_admin, &b_secret).await;
    // Anything of A's that must never show up in an answer to B.
    let leaks = [
        a_org.as_str(),
        A_NAME,
        A_RESOURCE,
        &a_kid,
        &a_jti,
        &app.admin_key_id,
        &a_key,
        &a_secret,
        &a_hook,
        &a_session,
        &a_session_secret,
    ];

    let doc: Value = app
        .client
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops: Vec<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(p, _)| p.starts_with("/v1/") && p != "/v1/openapi.json")
        .collect();
    assert!(
        ops.len() >= 13,
        "only {} /v1 operations: {ops:?}",
        ops.len()
    );

    let mut walked = 0;
    let key_routes = ops.iter().filter(|(p, _)| p.starts_with("/v1/keys/{id}")).count();
    for b_cred in [&b_secret, &b_token] {
        // Every operation aimed at A's key, then the key routes again at A's console session.
        let aimed = ops
            .iter()
            .map(|op| (op, &a_key))
            .chain(ops.iter().filter(|(p, _)| p.starts_with("/v1/keys/{id}")).map(|op| (op, &a_session)));
        for ((path, method), a_target) in aimed {
            let id = if path.starts_with("/v1/webhooks/") { &a_hook } else { a_target };
            let url_path = path.replace("{id}", id).replace("{delivery_id}", "dlv_1");
            assert!(
                !url_path.contains('{'),
                "{path}: a path parameter the walk does not fill"
            );
            let (query, body, want): (String, Option<Value>, u16) = match (
                method.as_str(),
                path.as_str(),
            ) {
                ("GET", "/v1/keys") => (format!("?status=all&search={A_NAME}"), None, 200),
                ("POST", "/v1/keys") => (
                    String::new(),
                    Some(json!({"name": "b-made", "scopes": ["read:b/**"]})),
                    201,
                ),
                ("GET", "/v1/keys/{id}")
                | ("DELETE", "/v1/keys/{id}")
                | ("GET", "/v1/keys/{id}/usage") => (String::new(), None, 404),
                ("PATCH", "/v1/keys/{id}") => (
                    String::new(),
                    Some(
                        json!({"name": "pwned", "scopes": ["*:*"], "allowed_cidrs": ["0.0.0.0/0"]}),
                    ),
                    404,
                ),
                ("POST", "/v1/keys/{id}/revoke") => (String::new(), Some(json!({})), 404),
                ("POST", "/v1/keys/{id}/quota") => {
                    (String::new(), Some(json!({"set": 0})), 404)
                }
                ("POST", "/v1/keys/{id}/roll") => {
                    (String::new(), Some(json!({"grace_seconds": 3600})), 404)
                }
                ("GET", "/v1/usage") => (String::new(), None, 200),
                ("GET", "/v1/audit") => (format!("?target={a_key}"), None, 200),
                ("GET", "/v1/signing-keys") => (String::new(), None, 200),
                ("POST", "/v1/signing-keys/rotate") => (String::new(), Some(json!({})), 201),
                // B's own webhooks; A's, by A's webhook id, are not found.
                ("POST", "/v1/webhooks") => (
                    String::new(),
                    Some(json!({"url": "https://hooks.example.com/b", "events": ["key.created"]})),
                    201,
                ),
                ("GET", "/v1/webhooks") => (String::new(), None, 200),
                ("GET", "/v1/webhooks/{id}")
                | ("DELETE", "/v1/webhooks/{id}")
                | ("GET", "/v1/webhooks/{id}/deliveries") => (String::new(), None, 404),
                ("PATCH", "/v1/webhooks/{id}") => (String::new(), Some(json!({"enabled": false})), 404),
                ("POST", "/v1/webhooks/{id}/test")
                | ("POST", "/v1/webhooks/{id}/deliveries/{delivery_id}/retry") => {
                    (String::new(), Some(json!({})), 404)
                }
                // B's own console session, for B's key.
                ("POST", "/v1/console/sessions") => (String::new(), Some(json!({})), 201),
                // A leak report of a secret that is no key's: it says nothing of anyone's.
                ("POST", "/v1/leaks") => (String::new(), Some(json!({"secrets": ["lk_unknown"]})), 200),
                ("GET", "/v1/org") => (String::new(), None, 200),
                ("PATCH", "/v1/org") => (String::new(), Some(json!({})), 200),
                // Signed by GitHub, not by a bearer, and off unless configured.
                ("POST", "/v1/secret-scanning/github") => (String::new(), Some(json!([])), 404),
                ("POST", "/v1/check") => (
                    String::new(),
                    Some(
                        json!({"token": a_secret, "action": "read", "resource": format!("{A_RESOURCE}/1")}),
                    ),
                    200,
                ),
                _ => panic!(
                    "{method} {path}: a /v1 operation the cross-org walk does not know; add it here"
                ),
            };
            let mut request = app
                .client
                .request(
                    method.parse().unwrap(),
                    app.url(&format!("{url_path}{query}")),
                )
                .bearer_auth(b_cred);
            if let Some(b) = &body {
                request = request.json(b);
            }
            let r = request.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            assert_eq!(status, want, "{method} {path} as org B: {text}");
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if want == 404 {
                assert_eq!(v["type"], "not_found", "{method} {path}");
            }
            for leak in leaks {
                // A 404 may name the id B itself sent; nothing else of A's.
                if want == 404 && (leak == *a_target || leak == a_hook) {
                    continue;
                }
                assert!(
                    !text.contains(leak),
                    "{method} {path} as org B leaked {leak:?}: {text}"
                );
            }
            match (method.as_str(), path.as_str()) {
                ("GET", "/v1/keys") => {
                    assert_eq!(v["keys"], json!([]), "a search for A's key name")
                }
                ("GET", "/v1/audit") => {
                    assert_eq!(v["events"], json!([]), "A's key as the audit target")
                }
                ("POST", "/v1/check") => assert_eq!(v, invalid_token()),
                _ => {}
            }
            walked += 1;
        }
        // Naming A's org in the query does not switch orgs: refused, or B's own answer.
        for path in ["/v1/keys", "/v1/usage", "/v1/audit", "/v1/signing-keys"] {
            for q in [format!("org_id={a_org}"), "org=default".to_owned()] {
                let r = app.get(&format!("{path}?{q}"), b_cred).await;
                let status = r.status().as_u16();
                let text = r.text().await.unwrap();
                assert!(status == 200 || status == 422, "{path}?{q}: {status}");
                for leak in leaks {
                    assert!(!text.contains(leak), "{path}?{q} leaked {leak:?}: {text}");
                }
            }
        }
    }
    assert_eq!(walked, 2 * (ops.len() + key_routes));
    // Nor does B reach A's sessions by naming their parent.
    let (status, v) = status_json(
        app.get(&format!("/v1/keys?parent_key_id={}&status=all", app.admin_key_id), &b_secret).await,
    )
    .await;
    assert_eq!((status, v["keys"].clone()), (200, json!([])), "{v}");

    // A is untouched: keys, audit trail and signing keys as they were.
    assert_eq!(snapshot(&app, &a_key).await, before);
    // A's key is still usable, and the walk added nothing to its usage: one more token (a
    // sentinel, flushed no earlier than anything before it) is the only change.
    let _ = access_token(&app, &a_key, &a_secret).await;
    let after = poll_until(&app, &usage_path, |v| v["totals"]["tokens_issued"] == 2).await;
    let mut expected = usage_before["totals"].clone();
    expected["tokens_issued"] = json!(2);
    expected["tokens_by_auth_method"]["client_secret"] = json!(2);
    assert_eq!(after["totals"], expected);
    // B's own view holds what B did, and only that.
    let (_, b_keys) = status_json(app.get("/v1/keys", &b_secret).await).await;
    assert_eq!(
        b_keys["keys"].as_array().unwrap().len(),
        3,
        "B's admin and the two keys it made"
    );
}

/// Org B holds live credentials of its own and A's token and secret (say they leaked): it can
/// neither learn anything about them, nor revoke them, nor get a decision on them, by any of
/// the ways a caller authenticates; nor mint a token for A's client id.
async fn another_org_cannot_introspect_revoke_or_check_our_credentials(backend) {
    let app = spawn_app(backend).await;
    let (a_key, a_secret) = app.create_key("a", json!(["read:things/**"])).await;
    let a_token = access_token(&app, &a_key, &a_secret).await;
    let (b_secret, b_admin) = app.other_org("acme");
    let b_token = access_token(&app, &b_admin, &b_secret).await;

    for cred in [
        Cred::Basic(&b_admin, &b_secret),
        Cred::Bearer(&b_secret),
        Cred::Bearer(&b_token),
    ] {
        for subject in [&a_token, &a_secret] {
            assert_eq!(
                introspect(&app, cred, subject).await,
                (200, json!({"active": false})),
                "{cred:?}"
            );
            for hint in [None, Some("access_token"), Some("api_key")] {
                let mut form = vec![("token", subject.as_str())];
                if let Some(h) = hint {
                    form.push(("token_type_hint", h));
                }
                let (status, body) = oauth_post(&app, "/oauth/revoke", cred, &form).await;
                assert_eq!(
                    status, 200,
                    "{cred:?} {hint:?}: RFC 7009 says 200, and nothing else: {body}"
                );
            }
        }
    }
    for caller in [&b_secret, &b_token] {
        for subject in [&a_token, &a_secret] {
            assert_eq!(
                check(&app, caller, subject, "read", "things/1").await,
                (200, invalid_token())
            );
        }
    }
    // B's secret cannot stand in for A's client id at the token endpoint.
    let (status, v) = token_request(&app, &a_key, &b_secret).await;
    assert_eq!(
        (status, v["error_description"].as_str()),
        (401, Some("client authentication failed"))
    );

    // Everything of A's still works, and nothing of A's was revoked or recorded.
    let a_admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    assert_eq!(introspect(&app, a_admin, &a_token).await.1["active"], true);
    assert_eq!(introspect(&app, a_admin, &a_secret).await.1["active"], true);
    assert_eq!(
        check(&app, &app.admin_secret, &a_token, "read", "things/1")
            .await
            .1["allowed"],
        true
    );
    assert_eq!(token_request(&app, &a_key, &a_secret).await.0, 200);
    let (_, audit) = status_json(app.get("/v1/audit", &app.admin_secret).await).await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["key.created", "org.bootstrapped"]);
}

/// A secret that is valid but whose key is revoked, expired or fenced off, presented with
/// another client id (here another org's): the token endpoint must treat it as the bad secret
/// it is for that client, not tell the caller about the other key, and must not record a
/// `revoked`/`expired`/`ip_not_allowed` denial against the client id it named.
async fn a_dead_keys_secret_under_another_client_id_is_just_a_bad_secret(backend) {
    let app = spawn_app(backend).await;
    let (a_key, _) = app.create_key("a", json!(["read"])).await;
    let (b_secret, _) = app.other_org("acme");
    let b_create = |name: &'static str, extra: Value| {
        let mut body = json!({"name": name, "scopes": ["read"]});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let mut dead = Vec::new();
    for (name, extra) in [
        ("revoked", json!({})),
        ("fenced", json!({"allowed_cidrs": ["10.0.0.0/8"]})),
    ] {
        let (status, v) = status_json(
            app.post("/v1/keys", &b_secret, &b_create(name, extra))
                .await,
        )
        .await;
        assert_eq!(status, 201, "{v}");
        dead.push((
            v["key"]["id"].as_str().unwrap().to_owned(),
            v["secret"].as_str().unwrap().to_owned(),
        ));
    }
    let (brief, brief_secret, brief_expires) = app
        .create_expiring_key(&b_secret, b_create("brief", json!({})))
        .await;
    dead.push((brief, brief_secret));
    assert_eq!(
        app.delete(&format!("/v1/keys/{}", dead[0].0), &b_secret)
            .await
            .status(),
        200
    );
    sleep_until(brief_expires).await;

    for (own_id, secret) in &dead {
        // Under its own id, the holder is told why (it holds the secret) …
        let (status, own) = token_request(&app, own_id, secret).await;
        assert_eq!(status, 401);
        assert_ne!(
            own["error_description"], "client authentication failed",
            "{own}"
        );
        // … under A's id it is a bad secret for A's key, like any other.
        let (status, v) = token_request(&app, &a_key, secret).await;
        assert_eq!(
            (status, v["error_description"].as_str()),
            (401, Some("client authentication failed")),
            "{} under another client id: {v}",
            own["error_description"]
        );
    }
    let usage = poll_until(&app, &format!("/v1/keys/{a_key}/usage"), |v| {
        v["totals"]["denied"] == 3
    })
    .await;
    let reasons = &usage["totals"]["denied_by_reason"];
    assert_eq!(reasons["bad_secret"], 3, "{reasons}");
    for r in ["revoked", "expired", "ip_not_allowed"] {
        assert_eq!(
            reasons[r], 0,
            "{r} recorded against a key whose secret was never used: {reasons}"
        );
    }
}

/// No escalation through create, PATCH or roll: a key that may administer keys can only hand
/// out, set, or obtain (by rolling a key and receiving its new secret) scopes it holds itself.
async fn no_scope_escalation_through_create_patch_or_roll(backend) {
    let app = spawn_app(backend).await;
    let (delegate_id, delegate) = app
        .create_key("delegate", json!(["admin:keys/**", "read:projects/**"]))
        .await;
    let (wide, wide_secret) = app.create_key("wide", json!(["*:*"])).await;
    let (writer, _) = app.create_key("writer", json!(["write:projects/**"])).await;
    let (narrow, _) = app.create_key("narrow", json!(["read:projects/1"])).await;
    let (_, one_key_admin) = app
        .create_key("one", json!([format!("admin:keys/{wide}")]))
        .await;
    let keys_token = {
        let r = app
            .client
            .post(app.url("/oauth/token"))
            .header("authorization", basic(&delegate_id, &delegate))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "admin:keys/**"),
            ])
            .send()
            .await
            .unwrap();
        status_json(r).await.1["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let refused = |status: u16, v: &Value, what: &str| {
        assert_eq!(
            (status, v["type"].as_str()),
            (403, Some("scope_escalation")),
            "{what}: {v}"
        );
    };

    // Create, for real and as a dry run, with the key and with a narrower token of it.
    for (caller, scopes) in [
        (&delegate, json!(["*:*"])),
        (&delegate, json!(["admin:signing-keys"])),
        (&delegate, json!(["read:projects/**", "write:projects/1"])),
        (&keys_token, json!(["read:projects/1"])),
    ] {
        for query in ["", "?dry_run=true"] {
            let (status, v) = status_json(
                app.post(
                    &format!("/v1/keys{query}"),
                    caller,
                    &json!({"name": "up", "scopes": scopes}),
                )
                .await,
            )
            .await;
            refused(status, &v, &format!("create {scopes}{query}"));
        }
    }
    // PATCH another key, or the caller's own key, beyond the caller's scopes.
    for (target, scopes) in [
        (&narrow, json!(["*:*"])),
        (&narrow, json!(["read:*"])),
        (&delegate_id, json!(["*:*"])),
        (&delegate_id, json!(["admin:*"])),
    ] {
        for query in ["", "?dry_run=true"] {
            let (status, v) = status_json(
                app.patch(
                    &format!("/v1/keys/{target}{query}"),
                    &delegate,
                    &json!({"scopes": scopes}),
                )
                .await,
            )
            .await;
            refused(status, &v, &format!("PATCH {target} {scopes}{query}"));
        }
    }
    // Roll a key that holds more than the caller: the new secret would be that key's power.
    for (caller, target) in [
        (&delegate, &wide),
        (&delegate, &writer),
        (&keys_token, &wide),
        (&one_key_admin, &wide),
    ] {
        let (status, v) = status_json(
            app.post(
                &format!("/v1/keys/{target}/roll"),
                caller,
                &json!({"grace_seconds": 60}),
            )
            .await,
        )
        .await;
        assert!(
            v.get("secret").is_none(),
            "roll of a wider key handed out its secret: {v}"
        );
        refused(status, &v, &format!("roll {target}"));
    }
    // Rolling what the caller does cover is fine, its own key included.
    for target in [&narrow, &delegate_id] {
        assert_eq!(
            app.post(
                &format!("/v1/keys/{target}/roll"),
                &delegate,
                &json!({"grace_seconds": 60})
            )
            .await
            .status(),
            200
        );
    }

    // Nothing changed: scopes as created, the wide key's secret untouched and not rolled.
    for (id, scopes) in [
        (&wide, json!(["*:*"])),
        (&narrow, json!(["read:projects/1"])),
        (&writer, json!(["write:projects/**"])),
        (&delegate_id, json!(["admin:keys/**", "read:projects/**"])),
    ] {
        let (_, k) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        let got: Vec<String> = k["scopes"]
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
            .collect();
        assert_eq!(json!(got), scopes, "{id}");
    }
    let (_, k) = status_json(
        app.get(&format!("/v1/keys/{wide}"), &app.admin_secret)
            .await,
    )
    .await;
    assert_eq!(k["previous_secret_expires_at"], Value::Null);
    assert_eq!(
        app.get("/v1/signing-keys", &wide_secret).await.status(),
        200
    );
    let (_, audit) = status_json(
        app.get(&format!("/v1/audit?target={wide}"), &app.admin_secret)
            .await,
    )
    .await;
    assert_eq!(
        audit["events"].as_array().unwrap().len(),
        1,
        "only its creation: {audit}"
    );
}

/// A key that may administer keys cannot loosen the limits of a key it does not cover: it could
/// otherwise make a stronger key's leaked but address-bound secret usable anywhere, or keep it
/// alive longer. Taking power away stays allowed to any admin of the key: tighter addresses, an
/// earlier expiry, a new name, revocation; but not narrower scopes, which would change who covers
/// the key (`a_key_admin_cannot_narrow_a_wider_key_to_take_it_over`).
async fn a_key_admin_cannot_loosen_a_wider_key_but_may_tighten_or_revoke_it(backend) {
    let app = spawn_app(backend).await;
    let (_, delegate) = app
        .create_key("delegate", json!(["admin:keys/**", "read:projects/**"]))
        .await;
    let soon = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let body = json!({"name": "wide", "scopes": ["*:*"], "allowed_cidrs": ["10.0.0.0/8"], "expires_at": soon});
    let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &body).await).await;
    assert_eq!(status, 201, "{created}");
    let wide = created["key"]["id"].as_str().unwrap().to_owned();
    let later = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    for (patch, field) in [
        (json!({"allowed_cidrs": ["0.0.0.0/0"]}), "allowed_cidrs"),
        (json!({"allowed_cidrs": []}), "allowed_cidrs"),
        (json!({"allowed_cidrs": ["10.0.0.0/8", "192.168.0.0/16"]}), "allowed_cidrs"),
        (json!({"expires_at": later}), "expires_at"),
        (json!({"expires_at": null}), "expires_at"),
    ] {
        for query in ["", "?dry_run=true"] {
            let (status, v) = status_json(
                app.patch(&format!("/v1/keys/{wide}{query}"), &delegate, &patch)
                    .await,
            )
            .await;
            assert_eq!(
                (status, v["type"].as_str()),
                (403, Some("scope_escalation")),
                "PATCH {patch}{query}: {v}"
            );
            assert_eq!(v["errors"][0]["field"], field, "{v}");
        }
    }
    let (_, k) = status_json(app.get(&format!("/v1/keys/{wide}"), &app.admin_secret).await).await;
    assert_eq!(k["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert!(k["expires_at"].is_string(), "{k}");

    // Tightening and renaming are fine.
    let sooner = (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339();
    for patch in [
        json!({"name": "renamed", "allowed_cidrs": ["10.1.0.0/16"]}),
        json!({"expires_at": sooner}),
    ] {
        let (status, v) =
            status_json(app.patch(&format!("/v1/keys/{wide}"), &delegate, &patch).await).await;
        assert_eq!(status, 200, "PATCH {patch}: {v}");
    }
    let (_, k) = status_json(app.get(&format!("/v1/keys/{wide}"), &app.admin_secret).await).await;
    assert_eq!(k["name"], "renamed");
    assert_eq!(k["allowed_cidrs"], json!(["10.1.0.0/16"]));
    assert_eq!(k["scopes"], json!([{"action": "*", "resource": "*"}]));

    // A key it does not cover, it may revoke.
    let (other, _) = app.create_key("other", json!(["write:*"])).await;
    let (status, v) = status_json(
        app.post(&format!("/v1/keys/{other}/revoke"), &delegate, &json!({}))
            .await,
    )
    .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("revoked")), "{v}");
}

/// Narrow-then-roll: a key admin without standing over a stronger key narrows its scopes down to
/// what the admin covers, and so gains standing: it may then loosen the key and roll it,
/// receiving a secret for the key's identity (its `client_id`). So changing a key's scopes at
/// all, narrowing included, needs standing over the key as it is before the change. Renaming,
/// tightening and revoking stay open to any admin of the key.
async fn a_key_admin_cannot_narrow_a_wider_key_to_take_it_over(backend) {
    let app = spawn_app(backend).await;
    let (delegate_id, delegate) = app
        .create_key("delegate", json!(["admin:keys/**", "read:projects/**"]))
        .await;
    let body = json!({"name": "wide", "scopes": ["*:*"], "allowed_cidrs": ["10.0.0.0/8"]});
    let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &body).await).await;
    assert_eq!(status, 201, "{created}");
    let wide = created["key"]["id"].as_str().unwrap().to_owned();
    let hint = created["key"]["secret_hint"].clone();
    let (_, one_key_admin) = app
        .create_key("one", json!([format!("admin:keys/{wide}")]))
        .await;
    let keys_token = access_token_scoped(&app, &delegate_id, &delegate, "admin:keys/**").await;

    // The first step of the chain, by every caller that administers the key without covering it,
    // to scopes it does cover (so the no-escalation rule alone would let it through).
    for (caller, scopes) in [
        (&delegate, json!(["read:projects/1"])),
        (&delegate, json!(["read:projects/**", "admin:keys/**"])),
        (&keys_token, json!(["admin:keys/**"])),
        (&one_key_admin, json!([format!("admin:keys/{wide}")])),
    ] {
        for query in ["?dry_run=true", ""] {
            let (status, v) = status_json(
                app.patch(
                    &format!("/v1/keys/{wide}{query}"),
                    caller,
                    &json!({"scopes": scopes}),
                )
                .await,
            )
            .await;
            assert_eq!(
                (status, v["type"].as_str()),
                (403, Some("scope_escalation")),
                "narrowing to {scopes}{query}: {v}"
            );
            assert_eq!(v["errors"][0]["field"], "scopes", "{v}");
            let why = v["errors"][0]["message"].as_str().unwrap();
            assert!(why.contains("narrow"), "the refusal says why: {why}");
        }
    }
    // Still without standing: the rest of the chain stays closed.
    let (status, v) = status_json(
        app.patch(
            &format!("/v1/keys/{wide}"),
            &delegate,
            &json!({"allowed_cidrs": []}),
        )
        .await,
    )
    .await;
    assert_eq!((status, v["type"].as_str()), (403, Some("scope_escalation")), "{v}");
    let (status, v) = status_json(
        app.post(
            &format!("/v1/keys/{wide}/roll"),
            &delegate,
            &json!({"grace_seconds": 60}),
        )
        .await,
    )
    .await;
    assert_eq!((status, v["type"].as_str()), (403, Some("scope_escalation")), "{v}");
    assert!(v.get("secret").is_none(), "{v}");

    // Renaming and tightening stay open to any admin of the key.
    for patch in [
        json!({"name": "wide, renamed"}),
        json!({"allowed_cidrs": ["10.1.0.0/16"]}),
    ] {
        let (status, v) =
            status_json(app.patch(&format!("/v1/keys/{wide}"), &delegate, &patch).await).await;
        assert_eq!(status, 200, "PATCH {patch}: {v}");
    }

    // The key is the one created, tightened and renamed: same scopes, same secret.
    let (_, k) = status_json(app.get(&format!("/v1/keys/{wide}"), &app.admin_secret).await).await;
    assert_eq!(k["scopes"], json!([{"action": "*", "resource": "*"}]), "{k}");
    assert_eq!(k["allowed_cidrs"], json!(["10.1.0.0/16"]), "{k}");
    assert_eq!(k["name"], "wide, renamed");
    assert_eq!(k["secret_hint"], hint);
    assert_eq!(k["previous_secret_expires_at"], Value::Null);
}

/// An access token is dead everywhere once its key is revoked, and once it is itself revoked:
/// as a credential of the admin API, of introspection, of revocation and of `/v1/check`, and as
/// the subject of introspection and of a check.
async fn a_token_is_dead_everywhere_once_its_key_or_itself_is_revoked(backend) {
    let app = spawn_app(backend).await;
    let scopes = json!(["admin:keys", "read:*"]);
    let (k1, s1) = app.create_key("key to revoke", scopes.clone()).await;
    let (k2, s2) = app.create_key("token to revoke", scopes.clone()).await;
    let (t1, t1_sibling) = (
        access_token(&app, &k1, &s1).await,
        access_token(&app, &k1, &s1).await,
    );
    let (t2, t2_sibling) = (
        access_token(&app, &k2, &s2).await,
        access_token(&app, &k2, &s2).await,
    );
    for t in [&t1, &t2] {
        assert_live(&app, t).await;
    }

    assert_eq!(
        app.post(
            &format!("/v1/keys/{k1}/revoke"),
            &app.admin_secret,
            &json!({})
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        oauth_post(&app, "/oauth/revoke", Cred::Bearer(&s2), &[("token", &t2)])
            .await
            .0,
        200
    );

    assert_dead(&app, &t1, "revoked").await;
    assert_dead(&app, &t1_sibling, "revoked").await;
    assert_eq!(token_request(&app, &k1, &s1).await.0, 401);
    assert_dead(&app, &t2, "revoked").await;
    // Revoking one token leaves its key and the key's other tokens alone.
    assert_live(&app, &t2_sibling).await;
    assert_eq!(token_request(&app, &k2, &s2).await.0, 200);
}

/// An access token past its `exp` is dead everywhere, though its key is alive.
async fn an_expired_token_is_dead_everywhere(backend) {
    // Long enough for `assert_live`'s requests to fall inside it on a busy machine.
    let app = spawn_app_with(backend, |s| s.token_ttl = Duration::from_secs(2)).await;
    let (k, s) = app.create_key("svc", json!(["admin:keys", "read:*"])).await;
    let t = access_token(&app, &k, &s).await;
    assert_live(&app, &t).await;
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(t.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    sleep_past_exp(claims["exp"].as_i64().unwrap()).await;
    assert_dead(&app, &t, "expired").await;
    assert_eq!(
        token_request(&app, &k, &s).await.0,
        200,
        "the key itself is fine"
    );
}

/// `alg: none`, HS256 keyed with the public key (RFC 8725 §2.1), an attacker's key (under our
/// kid, its own, or embedded in the header), another org's key under our kid, and our key under
/// another org's kid: refused by the admin API, introspection and `/v1/check`. Controls signed
/// by the same code, with the `typ` spellings RFC 9068 allows, are accepted.
async fn forged_signatures_and_algorithms_are_refused(backend) {
    let app = spawn_app(backend).await;
    let f = Forger::new(&app).await;
    let mine = || claims(&app, &f.a_org, &app.admin_key_id);
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);

    for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
        let header = json!({"alg": "EdDSA", "typ": typ, "kid": f.a_kid});
        assert_accepted(&app, &sign(&f.a_key, &header, &mine()), typ).await;
    }

    let (_, jwks) = status_json(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let a_jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == f.a_kid.as_str())
        .unwrap()
        .clone();
    let x = a_jwk["x"].as_str().unwrap().to_owned();
    let hs256 = |secret: &[u8]| {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(f.a_kid.clone());
        jsonwebtoken::encode(&h, &mine(), &jsonwebtoken::EncodingKey::from_secret(secret)).unwrap()
    };
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "at+jwt", "kid": f.a_kid}).to_string()),
            b64(&mine().to_string())
        )
    };
    let real_signature = sign(&f.a_key, &eddsa_header(&f.a_kid), &mine())
        .rsplit('.')
        .next()
        .unwrap()
        .to_owned();
    let attacker_x = URL_SAFE_NO_PAD.encode(attacker.verifying_key().as_bytes());
    let embedded = json!({
        "alg": "EdDSA", "typ": "at+jwt", "kid": f.a_kid,
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": attacker_x},
    });

    let forgeries: Vec<(&str, String)> = vec![
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("alg NONE", unsigned("NONE")),
        (
            "alg none with a real signature",
            format!("{}{real_signature}", unsigned("none")),
        ),
        (
            "HS256 keyed with the JWKS x bytes",
            hs256(&URL_SAFE_NO_PAD.decode(&x).unwrap()),
        ),
        ("HS256 keyed with the JWKS x text", hs256(x.as_bytes())),
        (
            "HS256 keyed with the JWK text",
            hs256(a_jwk.to_string().as_bytes()),
        ),
        (
            "an attacker's key under our kid",
            sign(&attacker, &eddsa_header(&f.a_kid), &mine()),
        ),
        (
            "an attacker's key under its own kid",
            sign(&attacker, &eddsa_header("attacker"), &mine()),
        ),
        (
            "an attacker's key embedded as the header's jwk",
            sign(&attacker, &embedded, &mine()),
        ),
        (
            "B's key under our kid",
            sign(&f.b_key, &eddsa_header(&f.a_kid), &mine()),
        ),
        (
            "our key under B's kid",
            sign(&f.a_key, &eddsa_header(&f.b_kid), &mine()),
        ),
    ];
    for (what, token) in &forgeries {
        assert_refused(&app, token, what).await;
    }
}

/// Valid signatures that bind the wrong things: a token signed by another org's key (under its
/// own kid) claiming our org or our key, our key claiming another org or another org's key,
/// `sub` differing from `client_id`, another issuer, no `exp`, and a `typ` other than `at+jwt`.
/// Refused everywhere, also by the org whose key signed it; an expired one as `expired`.
async fn validly_signed_tokens_binding_the_wrong_org_key_or_type_are_refused(backend) {
    let app = spawn_app(backend).await;
    let f = Forger::new(&app).await;
    let mine = || claims(&app, &f.a_org, &app.admin_key_id);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = mine();
        edit(&mut c);
        c
    };
    let ours = |header: Value, claims: Value| sign(&f.a_key, &header, &claims);
    let typed = |typ: &str| json!({"alg": "EdDSA", "typ": typ, "kid": f.a_kid});
    // Controls: each key signs what its own org accepts.
    assert_accepted(&app, &ours(eddsa_header(&f.a_kid), mine()), "our control").await;
    let b_own = sign(
        &f.b_key,
        &eddsa_header(&f.b_kid),
        &claims(&app, &f.b_org, &f.b_admin),
    );
    assert_eq!(
        introspect(&app, Cred::Bearer(&f.b_secret), &b_own).await.1["active"],
        true,
        "B's control"
    );

    let claiming_a = sign(&f.b_key, &eddsa_header(&f.b_kid), &mine());
    let forgeries: Vec<(&str, String)> = vec![
        (
            "B's key under B's kid, claiming our org and key",
            claiming_a.clone(),
        ),
        (
            "B's key and org, for our admin key",
            sign(
                &f.b_key,
                &eddsa_header(&f.b_kid),
                &with(&|c| c["org_id"] = json!(f.b_org)),
            ),
        ),
        (
            "our key, claiming B's org",
            ours(
                eddsa_header(&f.a_kid),
                with(&|c| c["org_id"] = json!(f.b_org)),
            ),
        ),
        (
            "our key, for B's admin key",
            ours(
                eddsa_header(&f.a_kid),
                with(&|c| {
                    c["sub"] = json!(f.b_admin);
                    c["client_id"] = json!(f.b_admin);
                }),
            ),
        ),
        (
            "our key, sub differing from client_id",
            ours(
                eddsa_header(&f.a_kid),
                with(&|c| c["sub"] = json!(f.b_admin)),
            ),
        ),
        (
            "our key, another issuer",
            ours(
                eddsa_header(&f.a_kid),
                with(&|c| c["iss"] = json!("https://evil.example")),
            ),
        ),
        (
            "our key, no exp",
            ours(
                eddsa_header(&f.a_kid),
                with(&|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
        ),
        ("our key, typ JWT", ours(typed("JWT"), mine())),
        ("our key, typ jwt", ours(typed("jwt"), mine())),
        (
            "our key, typ application/jwt",
            ours(typed("application/jwt"), mine()),
        ),
        ("our key, typ at+jwtx", ours(typed("at+jwtx"), mine())),
        (
            "our key, no typ",
            ours(json!({"alg": "EdDSA", "kid": f.a_kid}), mine()),
        ),
    ];
    for (what, token) in &forgeries {
        assert_refused(&app, token, what).await;
    }
    // The org whose key signed a token claiming another org gets nothing from it either.
    assert_eq!(
        introspect(&app, Cred::Bearer(&f.b_secret), &claiming_a).await,
        (200, json!({"active": false}))
    );
    assert_eq!(
        check(&app, &f.b_secret, &claiming_a, "admin", "keys").await,
        (200, invalid_token())
    );
    // Expired, though signed by our key: refused as expired.
    let old = with(&|c| {
        c["iat"] = json!(c["iat"].as_i64().unwrap() - 600);
        c["exp"] = json!(c["iat"].as_i64().unwrap() + 10);
    });
    let expired = ours(eddsa_header(&f.a_kid), old);
    assert_eq!(app.get("/v1/keys", &expired).await.status(), 401);
    assert_eq!(
        check(&app, &app.admin_secret, &expired, "admin", "keys")
            .await
            .1["reason"],
        "expired"
    );
}

/// `X-Forwarded-For` and `Forwarded` from a peer that is not a trusted proxy are ignored
/// everywhere a client address matters (token endpoint, admin API, introspection caller, audit
/// trail, usage), in both directions; from a trusted proxy, a client cannot choose its address
/// by prepending hops.
async fn forwarding_headers_from_an_untrusted_peer_change_nothing(backend) {
    let untrusting = spawn_app(backend).await;
    // Trusts a proxy network the test's loopback peer is not in.
    let elsewhere = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()]
    })
    .await;
    let lies: [(&str, &str); 4] = [
        ("x-forwarded-for", "203.0.113.7"),
        ("x-forwarded-for", "203.0.113.7, 10.0.0.1"),
        ("forwarded", "for=203.0.113.7"),
        ("forwarded", "for=\"[::ffff:203.0.113.7]:443\""),
    ];
    for app in [&untrusting, &elsewhere] {
        let fence = |name: &str, cidr: &str| {
            json!({"name": name, "scopes": ["admin:keys"], "allowed_cidrs": [cidr]})
        };
        let (fenced, fenced_secret) = app.create_key_with(fence("fenced", "203.0.113.0/24")).await;
        let (local, local_secret) = app.create_key_with(fence("local", "127.0.0.1/32")).await;
        for (name, value) in lies {
            let r = app
                .client
                .post(app.url("/oauth/token"))
                .header("authorization", basic(&fenced, &fenced_secret))
                .header(name, value)
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let (status, v) = status_json(r).await;
            assert_eq!(status, 401, "{name}: {value}: {v}");
            assert!(
                v["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("IP address"),
                "{v}"
            );
            let r = app
                .client
                .get(app.url("/v1/keys"))
                .bearer_auth(&fenced_secret)
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "admin API, {name}: {value}");
            let r = app
                .client
                .post(app.url("/oauth/introspect"))
                .header("authorization", basic(&fenced, &fenced_secret))
                .header(name, value)
                .form(&[("token", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "introspection caller, {name}: {value}");
            // The other way round: a lie cannot push a loopback-only key out of its fence.
            let r = app
                .client
                .get(app.url("/v1/keys"))
                .bearer_auth(&local_secret)
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{name}: {value}");
        }
        // What is recorded is the peer, not the claim.
        let r = app
            .client
            .post(app.url("/v1/keys"))
            .bearer_auth(&app.admin_secret)
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"name": "audited", "scopes": ["read"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let (_, audit) = status_json(
            app.get("/v1/audit?action=key.created&limit=1", &app.admin_secret)
                .await,
        )
        .await;
        assert_eq!(audit["events"][0]["ip"], "127.0.0.1", "{audit}");
        let usage = poll_until(app, &format!("/v1/keys/{local}/usage"), |v| {
            v["totals"]["requests"] == 4
        })
        .await;
        assert_eq!(usage["last_used_ip"], "127.0.0.1", "{usage}");
    }

    // Behind a trusted proxy (loopback here) the client is the nearest untrusted hop: hops the
    // client itself put in front cannot choose its address.
    let proxied = spawn_app_with(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]
    })
    .await;
    let (fenced, fenced_secret) = proxied
        .create_key_with(
            json!({"name": "fenced", "scopes": ["read"], "allowed_cidrs": ["203.0.113.0/24"]}),
        )
        .await;
    for (value, allowed) in [
        ("203.0.113.7", true),
        ("203.0.113.7, 198.51.100.9", false),
        ("203.0.113.7, garbage", false),
    ] {
        let r = proxied
            .client
            .post(proxied.url("/oauth/token"))
            .header("authorization", basic(&fenced, &fenced_secret))
            .header("x-forwarded-for", value)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().is_success(), allowed, "X-Forwarded-For: {value}");
    }
}

/// Behind a trusted proxy exactly one forwarding header is believed, the one the operator names
/// (`--forwarded-header`): the proxy appends the client's address to that one and passes the
/// other through as the client wrote it. With both present and disagreeing, the believed one
/// decides the allow-list and is what usage and the audit trail record; the other decides
/// nothing, alone or not. (Found: `Forwarded` was believed whenever present, yet nginx, HAProxy,
/// Envoy and cloud load balancers append only to `X-Forwarded-For`.)
async fn the_forwarded_header_the_proxy_does_not_write_changes_nothing(backend) {
    use latchkey::domain::client_ip::ForwardedHeader;
    // Where the client is, as the proxy tells us; and where it claims to be, in the other header.
    const CLIENT: &str = "203.0.113.7";
    const CLAIMED: &str = "198.51.100.9";
    let cases = [
        (
            ForwardedHeader::XForwardedFor,
            ("x-forwarded-for", CLIENT.to_owned()),
            ("forwarded", format!("for={CLAIMED}")),
        ),
        (
            ForwardedHeader::Forwarded,
            ("forwarded", format!("for={CLIENT}")),
            ("x-forwarded-for", CLAIMED.to_owned()),
        ),
    ];
    for (setting, (believed, client), (ignored, claim)) in cases {
        let app = spawn_app_with(backend, |s| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            s.forwarded_header = setting;
        })
        .await;
        let fence = |name: &str, ip: &str| {
            json!({"name": name, "scopes": ["admin:keys"], "allowed_cidrs": [format!("{ip}/32")]})
        };
        let (at_client, at_client_secret) = app.create_key_with(fence("client", CLIENT)).await;
        let (at_claim, at_claim_secret) = app.create_key_with(fence("claimed", CLAIMED)).await;
        let (recorded, recorded_secret) = app.create_key_with(fence("recorded", CLIENT)).await;
        let both = [(believed, client.as_str()), (ignored, claim.as_str())];
        let reversed = [(ignored, claim.as_str()), (believed, client.as_str())];
        let ignored_only = [(ignored, claim.as_str())];

        for headers in [&both[..], &reversed[..]] {
            let (status, v) = token_from(&app, &at_client, &at_client_secret, headers).await;
            assert_eq!(status, 200, "{setting}: {headers:?}: {v}");
            let (status, v) = token_from(&app, &at_claim, &at_claim_secret, headers).await;
            assert_eq!(status, 401, "{setting}: {headers:?}: {v}");
            assert!(v["error_description"].as_str().unwrap().contains("IP address"), "{v}");
            assert_eq!(admin_from(&app, &at_client_secret, headers).await, 200, "{setting}");
            assert_eq!(admin_from(&app, &at_claim_secret, headers).await, 401, "{setting}");
        }
        // Alone, the ignored header leaves the client at the proxy's own address.
        for (id, secret) in [(&at_claim, &at_claim_secret), (&at_client, &at_client_secret)] {
            let (status, v) = token_from(&app, id, secret, &ignored_only).await;
            assert_eq!(status, 401, "{setting}: {ignored}: {v}");
            assert_eq!(admin_from(&app, secret, &ignored_only).await, 401, "{setting}");
        }

        // What is recorded is the believed address.
        let (status, v) = token_from(&app, &recorded, &recorded_secret, &both).await;
        assert_eq!(status, 200, "{v}");
        let mut create = app
            .client
            .post(app.url("/v1/keys"))
            .bearer_auth(&app.admin_secret)
            .json(&json!({"name": "audited", "scopes": ["read"]}));
        for (name, value) in both {
            create = create.header(name, value);
        }
        assert_eq!(create.send().await.unwrap().status(), 201);
        let (_, audit) = status_json(
            app.get("/v1/audit?action=key.created&limit=1", &app.admin_secret)
                .await,
        )
        .await;
        assert_eq!(audit["events"][0]["ip"], CLIENT, "{setting}: {audit}");
        let usage = poll_until(&app, &format!("/v1/keys/{recorded}/usage"), |v| {
            v["totals"]["tokens_issued"] == 1
        })
        .await;
        assert_eq!(usage["last_used_ip"], CLIENT, "{setting}: {usage}");
    }
}

/// A proxy appends the client's address to whatever the client sent in that header, bytes
/// beyond ASCII included (nginx and HAProxy pass them on). Such a header still names the client
/// by its last hop; it must not fall back to the proxy's own address, which an "internal only"
/// allow-list admits. (Found: a header value that was not visible ASCII was dropped whole, so
/// the client became the proxy.)
async fn a_forwarded_header_with_raw_bytes_does_not_make_the_client_the_proxy(backend) {
    use latchkey::domain::client_ip::ForwardedHeader;
    use reqwest::header::HeaderValue;
    let cases: [(ForwardedHeader, &str, &[u8]); 2] = [
        (ForwardedHeader::XForwardedFor, "x-forwarded-for", b"\xff, 198.51.100.9"),
        (ForwardedHeader::Forwarded, "forwarded", b"for=\"\xff\", for=198.51.100.9"),
    ];
    for (setting, name, value) in cases {
        let app = spawn_app_with(backend, |s| {
            s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            s.forwarded_header = setting;
        })
        .await;
        let fence = |name: &str, cidr: &str| {
            json!({"name": name, "scopes": ["read"], "allowed_cidrs": [cidr]})
        };
        let (internal, internal_secret) = app.create_key_with(fence("internal", "127.0.0.0/8")).await;
        let (outside, outside_secret) =
            app.create_key_with(fence("outside", "198.51.100.9/32")).await;
        for (id, secret, allowed) in [(&internal, &internal_secret, false), (&outside, &outside_secret, true)] {
            let r = app
                .client
                .post(app.url("/oauth/token"))
                .header("authorization", basic(id, secret))
                .header(name, HeaderValue::from_bytes(value).unwrap())
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let (status, v) = status_json(r).await;
            assert_eq!(status == 200, allowed, "{setting}: {value:?}: {status} {v}");
        }
    }
}

/// A secret with a valid checksum (so it passes the format check) that belongs to no key, and
/// a secret rolled away, are refused by every consumer, as unknown, and revoke nothing.
async fn an_unknown_secret_with_a_valid_checksum_is_refused_everywhere(backend) {
    let app = spawn_app(backend).await;
    let (k, old) = app.create_key("svc", json!(["admin:keys", "read:*"])).await;
    let (status, rolled) = status_json(
        app.post(&format!("/v1/keys/{k}/roll"), &app.admin_secret, &json!({}))
            .await,
    )
    .await;
    assert_eq!(status, 200);
    let current = rolled["secret"].as_str().unwrap().to_owned();
    let unknown = latchkey::domain::secret::Secret::generate()
        .expose()
        .to_owned();
    assert!(
        latchkey::domain::secret::Secret::parse(&unknown).is_ok(),
        "the checksum is valid"
    );
    let admin = Cred::Basic(&app.admin_key_id, &app.admin_secret);
    // The owner uses its new secret (so it is cached: this address will have used up its
    // failures by the end, and a throttled address keeps only what verifies from memory).
    assert_eq!(app.get("/v1/keys", &current).await.status(), 200);

    for secret in [&unknown, &old] {
        let r = app.get("/v1/keys", secret).await;
        assert_eq!(r.status(), 401);
        assert_eq!(
            status_json(r).await.1["detail"],
            "the API key secret is not valid"
        );
        let (status, v) = token_request(&app, &k, secret).await;
        assert_eq!(
            (status, v["error_description"].as_str()),
            (401, Some("client authentication failed"))
        );
        let form = format!("grant_type=client_credentials&client_id={k}&client_secret={secret}");
        let r = app
            .client
            .post(app.url("/oauth/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "client_secret_post");
        for cred in [Cred::Basic(&k, secret), Cred::Bearer(secret)] {
            assert_eq!(
                introspect(&app, cred, "x").await.0,
                401,
                "{cred:?} as introspection caller"
            );
            assert_eq!(
                oauth_post(&app, "/oauth/revoke", cred, &[("token", "x")])
                    .await
                    .0,
                401,
                "{cred:?} as revocation caller"
            );
        }
        assert_eq!(
            introspect(&app, admin, secret).await,
            (200, json!({"active": false}))
        );
        assert_eq!(
            check(&app, &app.admin_secret, secret, "read", "x").await,
            (200, invalid_token())
        );
        assert_eq!(
            oauth_post(
                &app,
                "/oauth/revoke",
                admin,
                &[("token", secret), ("token_type_hint", "api_key")]
            )
            .await
            .0,
            200
        );
    }
    // Nothing was revoked, and the key's current secret works.
    assert_eq!(app.get("/v1/keys", &current).await.status(), 200);
    let usage = poll_until(&app, &format!("/v1/keys/{k}/usage"), |v| {
        v["totals"]["denied"] == 8
    })
    .await;
    assert_eq!(
        usage["totals"]["denied_by_reason"]["bad_secret"], usage["totals"]["denied"],
        "{usage}"
    );
}

/// No early exit on the key id (the timing item, proven without a clock).
///
/// The token endpoint and the introspection/revocation client check never look a key up by the
/// `client_id` they are given. `identify_secret` (src/service/auth.rs) parses the secret (format
/// and CRC32 checksum, no I/O), hashes the *whole* secret with SHA-256, finds the key by that
/// digest (cache, then an indexed `secret_digest` lookup, then the rolled-away digest), compares
/// the stored digest in constant time, and only then is the key's id compared with the
/// `client_id`. So for a given secret the work done cannot depend on whether the id exists:
/// there is no id lookup to be fast or slow.
///
/// The test makes that observable with diesel's query instrumentation on the connection the
/// service runs on: for each secret (well-formed but unknown; another key's valid secret; a bad
/// checksum; junk) it runs the authority's `grant` and client `authenticate` once with the
/// real id of an existing key and once with an id that names no key, and asserts the two runs
/// issue exactly the same SQL with exactly the same bound values (the ids appear in neither) and
/// return exactly the same refusal. Junk and bad checksums run no query at all (SPEC: rejected
/// without a database lookup). Over HTTP, both answers are byte for byte the same.
async fn a_bad_secret_and_an_unknown_key_id_take_the_same_path(backend) {
    use latchkey::domain::oauth::{AuthMethod, ClientAuth, ClientCredentials};
    use latchkey::service::authority::keycache::{Clock, KeyCache};
    use latchkey::service::authority::throttle::Throttle;
    use latchkey::service::authority::{Authority, GrantRequest, Presented, TokenSettings};
    use latchkey::service::keyring::KeyRing;
    use std::sync::Arc;

    let app = spawn_app(backend).await;
    let (known, known_secret) = app.create_key("known", json!(["read"])).await;
    let (_, other_secret) = app.create_key("other", json!(["read"])).await;
    let nobody = "key_NoSuchKeyAtAllAnywhere0";
    let unknown = latchkey::domain::secret::Secret::generate()
        .expose()
        .to_owned();
    let bad_checksum = {
        let mut b = unknown.clone().into_bytes();
        b[10] = if b[10] == b'a' { b'b' } else { b'a' };
        String::from_utf8(b).unwrap()
    };

    // Over HTTP: the same status, challenge and body whether the id exists or not.
    for secret in [&unknown, &other_secret, &bad_checksum] {
        let mut answers = Vec::new();
        for id in [known.as_str(), nobody] {
            let r = app
                .client
                .post(app.url("/oauth/token"))
                .header("authorization", basic(id, secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            answers.push((r.status().as_u16(), challenge, r.text().await.unwrap()));
        }
        assert_eq!(answers[0], answers[1]);
        assert_eq!(answers[0].0, 401);
    }

    // In the service, on an instrumented connection.
    let mut pooled = app.pool.get().unwrap();
    let conn: &mut latchkey::store::DbConnection = &mut pooled;
    let ring = Arc::new(KeyRing::load(conn, app.master.clone()).unwrap());
    let settings = TokenSettings {
        issuer: latchkey::domain::issuer::Issuer::parse(&app.address).unwrap(),
        audiences: latchkey::domain::audience::Audiences::parse(vec![app.address.clone()]).unwrap(),
        ttl: Duration::from_secs(600),
    };
    let now = chrono::Utc::now();
    let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let creds = |id: &str, secret: &str| {
        ClientAuth::Secret(ClientCredentials {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
            method: AuthMethod::ClientSecretBasic,
        })
    };

    for (what, secret, queries) in [
        ("well-formed unknown secret", &unknown, Some(2)),
        ("another key's valid secret", &other_secret, Some(1)),
        ("bad checksum", &bad_checksum, Some(0)),
        ("junk", &"lk_short".to_owned(), Some(0)),
        ("the known key's own secret", &known_secret, None),
    ] {
        let mut runs = BTreeMap::new();
        for id in [known.as_str(), nobody] {
            // A fresh authority (and key cache) each time, so both runs start from the same
            // state.
            let fresh = || {
                Authority::new(
                    KeyCache::new(0, Clock::Real(std::time::Instant::now())),
                    ring.clone(),
                    Throttle::new(latchkey::domain::bucket::Rate { burst: 20, per_sec: 1.0 }, 64),
                    Arc::new(latchkey::usage::UsageRecorder::disabled()),
                    settings.clone(),
                    Arc::new(latchkey::outbound::key_sets::KeySets::new(
                        latchkey::outbound::Outbound::new(
                            Default::default(),
                            std::time::Duration::from_secs(5),
                        )
                        .unwrap(),
                    )),
                )
            };
            let request = GrantRequest {
                client: creds(id, secret),
                scope: None,
                target: Default::default(),
                ip,
            };
            let authority = fresh();
            let (issued, issue_trace) = traced(conn, |c| {
                authority
                    .grant(&mut latchkey::store::Conn::Attached(c), &request, now)
                    .unwrap()
            });
            let authority = fresh();
            let (client, client_trace) = traced(conn, |c| {
                authority
                    .authenticate(
                        &mut latchkey::store::Conn::Attached(c),
                        &Presented::Client(creds(id, secret)),
                        ip,
                        now,
                    )
                    .unwrap()
            });
            for q in issue_trace.iter().chain(&client_trace) {
                assert!(
                    !q.contains(&known) && !q.contains(nobody),
                    "{what}: the client id reached the database: {q}"
                );
            }
            let denial = issued.err().map(|r| (r.oauth_error(), r.metric_label()));
            let refusal = client.err();
            runs.insert(id == nobody, (denial, refusal, issue_trace, client_trace));
        }
        let (with_known, with_nobody) = (&runs[&false], &runs[&true]);
        assert_eq!(
            with_known.2, with_nobody.2,
            "{what}: token endpoint queries depend on the id"
        );
        assert_eq!(
            with_known.3, with_nobody.3,
            "{what}: client check queries depend on the id"
        );
        if let Some(n) = queries {
            assert_eq!(with_known.2.len(), n, "{what}: {:?}", with_known.2);
            assert_eq!(
                (&with_known.0, &with_known.1),
                (&with_nobody.0, &with_nobody.1),
                "{what}: different refusals"
            );
            let (error, reason) = with_known.0.clone().unwrap();
            assert_eq!(
                (error.description.as_str(), reason),
                ("client authentication failed", "bad_secret"),
                "{what}"
            );
            assert_eq!(with_known.1, Some(latchkey::domain::refusal::Refusal::BadClient));
        } else {
            // Control: the right id with its own secret succeeds; the same secret under an id
            // that names no key is refused after exactly the same queries.
            assert!(with_known.0.is_none() && with_known.1.is_none(), "{what}");
            assert!(with_nobody.0.is_some() && with_nobody.1.is_some(), "{what}");
        }
    }
}
}
