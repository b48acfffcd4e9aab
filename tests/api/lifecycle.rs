//! Secret roll, token revocation (RFC 7009) and `/v1/check`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, sleep_until, spawn_app, status_json, time};

async fn token_for(
    app: &TestApp,
    id: &str,
    secret: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(s) = scope {
        form.push(("scope", s.to_owned()));
    }
    app.client
        .post(app.url("/oauth/token"))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        )
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn access_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (status, v) = status_json(token_for(app, id, secret, None).await).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn oauth_post(
    app: &TestApp,
    path: &str,
    caller: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(caller)
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn check(app: &TestApp, caller: &str, body: Value) -> (u16, Value) {
    status_json(app.post("/v1/check", caller, &body).await).await
}

backend_tests! {
    async fn a_rolled_key_keeps_its_id_and_the_old_secret_works_only_during_the_grace_period(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app.create_key("rolling", json!(["admin:keys"])).await;

        // Long enough for the four requests below to fall inside it on a busy machine.
        let r = app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({"grace_seconds": 3})).await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        let (status, v) = status_json(r).await;
        assert_eq!(status, 200, "{v}");
        let new = v["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert_eq!(v["key"]["id"], id, "same key id, so the same client_id");
        assert_eq!(v["key"]["secret_hint"], format!("lk_…{}", &new[48..]));
        let grace_ends = time(&v["key"]["previous_secret_expires_at"]);

        for secret in [&old, &new] {
            assert_eq!(token_for(&app, &id, secret, None).await.status(), 200);
            assert_eq!(app.get("/v1/keys", secret).await.status(), 200);
        }
        sleep_until(grace_ends).await;
        assert_eq!(token_for(&app, &id, &old, None).await.status(), 401, "the grace period is over");
        assert_eq!(app.get("/v1/keys", &old).await.status(), 401);
        assert_eq!(token_for(&app, &id, &new, None).await.status(), 200);
        let (_, key) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!(key["previous_secret_expires_at"], Value::Null);
    }

    async fn rolling_without_grace_stops_the_old_secret_at_once(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app.create_key("rolling", json!(["read"])).await;
        let r = app.client.post(app.url(&format!("/v1/keys/{id}/roll"))).bearer_auth(&app.admin_secret).send().await.unwrap();
        let (status, v) = status_json(r).await;
        assert_eq!(status, 200, "an empty body means no grace period");
        assert_eq!(token_for(&app, &id, &old, None).await.status(), 401);
        assert_eq!(token_for(&app, &id, v["secret"].as_str().unwrap(), None).await.status(), 200);
    }

    /// Finding 3 of the authentication-core issue: after a roll without grace, an admin token
    /// minted with the leaked old secret still created a backdoor key and re-rolled the key.
    async fn tokens_minted_with_a_rolled_away_secret_die_with_it(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app.create_key("leaked", json!(["admin:keys"])).await;
        let leaked = access_token(&app, &id, &old).await;
        assert_eq!(app.get("/v1/keys", &leaked).await.status(), 200);
        let (status, v) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({})).await).await;
        assert_eq!(status, 200);
        let new = v["secret"].as_str().unwrap().to_owned();
        let fresh = access_token(&app, &id, &new).await;
        // The old secret's token: refused by the admin API, introspection and /v1/check …
        let r = app.post("/v1/keys", &leaked, &json!({"name": "backdoor", "scopes": ["admin:keys"]})).await;
        assert_eq!(r.status(), 401);
        let (_, problem) = status_json(r).await;
        assert_eq!(problem["detail"], "the access token was issued with a secret that has been rolled");
        assert_eq!(app.post(&format!("/v1/keys/{id}/roll"), &leaked, &json!({})).await.status(), 401);
        let (_, v) = status_json(oauth_post(&app, "/oauth/introspect", &app.admin_secret, &[("token", &leaked)]).await).await;
        assert_eq!(v, json!({"active": false}));
        let (_, v) = check(&app, &app.admin_secret, json!({"token": leaked, "action": "admin", "resource": "keys"})).await;
        assert_eq!((v["allowed"].clone(), v["reason"].clone()), (json!(false), json!("revoked")), "{v}");
        // … while the new secret's token works.
        assert_eq!(app.get("/v1/keys", &fresh).await.status(), 200);
        let (_, v) = status_json(oauth_post(&app, "/oauth/introspect", &app.admin_secret, &[("token", &fresh)]).await).await;
        assert_eq!(v["active"], true);
    }

    /// With a grace period the old secret's tokens live exactly as long as the old secret: no
    /// longer (even tokens minted with it during the grace period end with it, offline too),
    /// and no shorter (a deliberate roll breaks nothing).
    async fn with_a_grace_period_the_old_secrets_tokens_end_when_it_does(backend) {
        let app = spawn_app(backend).await;
        let (id, old) = app.create_key("rolling", json!(["admin:keys"])).await;
        let before = access_token(&app, &id, &old).await;
        let (status, v) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({"grace_seconds": 3})).await).await;
        assert_eq!(status, 200);
        let new = v["secret"].as_str().unwrap().to_owned();
        let grace_ends = time(&v["key"]["previous_secret_expires_at"]);
        let (status, during) = status_json(token_for(&app, &id, &old, None).await).await;
        assert_eq!(status, 200);
        assert!(during["expires_in"].as_i64().unwrap() <= 3, "{during}");
        let during = during["access_token"].as_str().unwrap().to_owned();
        let after = access_token(&app, &id, &new).await;
        for t in [&before, &during, &after] {
            assert_eq!(app.get("/v1/keys", t).await.status(), 200);
        }
        sleep_until(grace_ends).await;
        for t in [&before, &during] {
            assert_eq!(app.get("/v1/keys", t).await.status(), 401);
        }
        assert_eq!(app.get("/v1/keys", &after).await.status(), 200);
        // Rolled again at once: the second secret's tokens end too, the third's live.
        let (_, v) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({})).await).await;
        let third = access_token(&app, &id, v["secret"].as_str().unwrap()).await;
        assert_eq!(app.get("/v1/keys", &after).await.status(), 401);
        assert_eq!(app.get("/v1/keys", &third).await.status(), 200);
    }

    async fn roll_is_validated_scoped_and_refused_on_revoked_keys(backend) {
        let app = spawn_app(backend).await;
        let (id, _) = app.create_key("k", json!(["read"])).await;
        let (_, reader) = app.create_key("reader", json!(["read:*"])).await;
        for bad in [json!({"grace_seconds": -1}), json!({"grace_seconds": 604_801})] {
            let (status, p) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &bad).await).await;
            assert_eq!((status, error_fields(&p)), (422, vec!["grace_seconds".to_owned()]), "{bad}");
        }
        let (status, p) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({"grace": 5})).await).await;
        assert_eq!((status, error_fields(&p)), (422, vec!["grace".to_owned()]));
        assert_eq!(app.post(&format!("/v1/keys/{id}/roll"), &reader, &json!({})).await.status(), 403);
        let (other, _) = app.other_org("acme");
        assert_eq!(app.post(&format!("/v1/keys/{id}/roll"), &other, &json!({})).await.status(), 404);
        app.delete(&format!("/v1/keys/{id}"), &app.admin_secret).await;
        let (status, p) = status_json(app.post(&format!("/v1/keys/{id}/roll"), &app.admin_secret, &json!({})).await).await;
        assert_eq!((status, p["type"].as_str()), (409, Some("key_revoked")));
    }

    async fn a_revoked_access_token_is_dead_everywhere_until_it_expires(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("svc", json!(["admin:keys"])).await;
        let token = access_token(&app, &id, &secret).await;
        let sibling = access_token(&app, &id, &secret).await;
        assert_eq!(app.get("/v1/keys", &token).await.status(), 200);

        let r = oauth_post(&app, "/oauth/revoke", &secret, &[("token", &token), ("token_type_hint", "access_token")]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(app.get("/v1/keys", &token).await.status(), 401, "the admin API refuses it");
        let (_, v) = status_json(oauth_post(&app, "/oauth/introspect", &app.admin_secret, &[("token", &token)]).await).await;
        assert_eq!(v, json!({"active": false}));
        let (_, d) = check(&app, &app.admin_secret, json!({"token": token, "action": "admin", "resource": "keys"})).await;
        assert_eq!((d["allowed"].as_bool(), d["reason"].as_str()), (Some(false), Some("revoked")));
        // Other tokens of the same key, and the key itself, are untouched.
        assert_eq!(app.get("/v1/keys", &sibling).await.status(), 200);
        assert_eq!(token_for(&app, &id, &secret, None).await.status(), 200);
        // Revoking again, or an unknown token, is still 200.
        assert_eq!(oauth_post(&app, "/oauth/revoke", &secret, &[("token", &token)]).await.status(), 200);
        assert_eq!(oauth_post(&app, "/oauth/revoke", &secret, &[("token", "no.such.token")]).await.status(), 200);
    }

    async fn a_token_type_hint_is_only_a_hint(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("svc", json!(["admin:keys"])).await;
        // RFC 7009 §2.1: a hint that does not match (or names a type never issued) must not stop
        // the search; the token is revoked all the same.
        for hint in ["refresh_token", "api_key", "no_such_type"] {
            let token = access_token(&app, &id, &secret).await;
            let r = oauth_post(&app, "/oauth/revoke", &secret, &[("token", &token), ("token_type_hint", hint)]).await;
            assert_eq!(r.status(), 200, "hint {hint}");
            assert_eq!(r.headers()["cache-control"], "no-store");
            let (_, v) = status_json(oauth_post(&app, "/oauth/introspect", &app.admin_secret, &[("token", &token)]).await).await;
            assert_eq!(v, json!({"active": false}), "a token revoked with hint {hint}");
        }
        // An API-key secret with an access-token hint revokes its key.
        let (other, other_secret) = app.create_key("other", json!(["read"])).await;
        let r = oauth_post(&app, "/oauth/revoke", &app.admin_secret, &[("token", &other_secret), ("token_type_hint", "access_token")]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(app.get(&format!("/v1/keys/{other}"), &app.admin_secret).await.json::<Value>().await.unwrap()["status"], "revoked");
    }

    async fn revocation_needs_the_tokens_client_or_admin_over_it(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("svc", json!(["read"])).await;
        let (_, bystander) = app.create_key("bystander", json!(["read"])).await;
        let token = access_token(&app, &id, &secret).await;

        let r = oauth_post(&app, "/oauth/revoke", &bystander, &[("token", &token)]).await;
        let (status, v) = status_json(r).await;
        assert_eq!((status, v["error"].as_str()), (400, Some("unauthorized_client")));
        let r = oauth_post(&app, "/oauth/revoke", &bystander, &[("token", &secret)]).await;
        assert_eq!(r.status(), 400);
        assert_eq!(token_for(&app, &id, &secret, None).await.status(), 200, "the bystander revoked nothing");

        // Another org's caller learns nothing and changes nothing.
        let (theirs, _) = app.other_org("acme");
        assert_eq!(oauth_post(&app, "/oauth/revoke", &theirs, &[("token", &token)]).await.status(), 200);
        assert_eq!(oauth_post(&app, "/oauth/revoke", &theirs, &[("token", &secret)]).await.status(), 200);
        assert_eq!(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await.json::<Value>().await.unwrap()["status"], "active");

        // An admin over the key may revoke its secret, which revokes the key.
        assert_eq!(oauth_post(&app, "/oauth/revoke", &app.admin_secret, &[("token", &secret), ("token_type_hint", "api_key")]).await.status(), 200);
        assert_eq!(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await.json::<Value>().await.unwrap()["status"], "revoked");
        assert_eq!(token_for(&app, &id, &secret, None).await.status(), 401);
    }

    async fn revocation_endpoint_errors_follow_rfc_7009(backend) {
        let app = spawn_app(backend).await;
        let r = app.client.post(app.url("/oauth/revoke")).form(&[("token", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let (status, v) = status_json(oauth_post(&app, "/oauth/revoke", &app.admin_secret, &[]).await).await;
        assert_eq!((status, v["error"].as_str()), (400, Some("invalid_request")));
        // A hint never stops the search (RFC 7009 §2.1), even one for a type never issued.
        assert_eq!(oauth_post(&app, "/oauth/revoke", &app.admin_secret, &[("token", "x"), ("token_type_hint", "refresh_token")]).await.status(), 200);
        // A key may revoke its own secret.
        let (id, secret) = app.create_key("self", json!(["read"])).await;
        assert_eq!(oauth_post(&app, "/oauth/revoke", &secret, &[("token", &secret)]).await.status(), 200);
        assert_eq!(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await.json::<Value>().await.unwrap()["status"], "revoked");
    }

    async fn check_decides_for_tokens_and_raw_keys(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key_with(json!({
            "name": "rs", "scopes": ["read:projects/**", "write:projects/42"], "allowed_cidrs": ["10.0.0.0/8"]
        })).await;
        let (_, open_secret) = app.create_key("open", json!(["read:projects/1"])).await;
        let (_, caller) = app.create_key("resource server", json!(["read:nothing"])).await;
        let token_scope = "read:projects/7";

        let rows = [
            (secret.clone(), "read", "projects/1/files", Some("10.1.2.3"), true, "allowed"),
            (secret.clone(), "write", "projects/42", Some("10.1.2.3"), true, "allowed"),
            (secret.clone(), "write", "projects/43", Some("10.1.2.3"), false, "scope_not_allowed"),
            (secret.clone(), "admin", "keys", None, false, "scope_not_allowed"),
            (secret.clone(), "read", "projects/1", Some("192.0.2.1"), false, "ip_not_allowed"),
            (secret.clone(), "read", "projects/1", Some("::ffff:10.0.0.9"), true, "allowed"),
            (secret.clone(), "read", "projects/1", None, true, "allowed"),
            (open_secret.clone(), "read", "projects/1", Some("203.0.113.5"), true, "allowed"),
            ("lk_unknownsecret".to_owned(), "read", "projects/1", None, false, "invalid_token"),
        ];
        for (token, action, resource, ip, allowed, reason) in rows {
            let mut body = json!({"token": token, "action": action, "resource": resource});
            if let Some(ip) = ip {
                body["ip"] = json!(ip);
            }
            let (status, d) = check(&app, &caller, body.clone()).await;
            assert_eq!(status, 200);
            assert_eq!((d["allowed"].as_bool(), d["reason"].as_str()), (Some(allowed), Some(reason)), "{body}");
        }
        let (_, d) = check(&app, &caller, json!({"token": secret, "action": "read", "resource": "projects/1"})).await;
        assert_eq!(d["key_id"], id);
        assert_eq!(d["scopes"], json!(["read:projects/**", "write:projects/42"]));

        // A token carries its own (narrower) scopes.
        let (tid, tsecret) = app.create_key("tok", json!(["read:projects/**"])).await;
        let (_, v) = status_json(token_for(&app, &tid, &tsecret, Some(token_scope)).await).await;
        let jwt = v["access_token"].as_str().unwrap();
        let (_, d) = check(&app, &caller, json!({"token": jwt, "action": "read", "resource": "projects/7"})).await;
        assert_eq!((d["allowed"].as_bool(), d["scopes"].clone()), (Some(true), json!([token_scope])));
        let (_, d) = check(&app, &caller, json!({"token": jwt, "action": "read", "resource": "projects/8"})).await;
        assert_eq!(d["reason"], "scope_not_allowed");

        // Expired and revoked keys; another org's credentials.
        let (_, esecret, expires) = app.create_expiring_key(&app.admin_secret, json!({"name": "brief", "scopes": ["read"]})).await;
        app.delete(&format!("/v1/keys/{tid}"), &app.admin_secret).await;
        let (_, d) = check(&app, &caller, json!({"token": jwt, "action": "read", "resource": "projects/7"})).await;
        assert_eq!(d["reason"], "revoked");
        let (_, d) = check(&app, &caller, json!({"token": tsecret, "action": "read", "resource": "projects/7"})).await;
        assert_eq!(d["reason"], "revoked");
        sleep_until(expires).await;
        let (_, d) = check(&app, &caller, json!({"token": esecret, "action": "read", "resource": "x"})).await;
        assert_eq!(d["reason"], "expired");
        let (theirs, _) = app.other_org("acme");
        let (_, d) = check(&app, &theirs, json!({"token": secret, "action": "read", "resource": "projects/1"})).await;
        assert_eq!((d["reason"].as_str(), d["key_id"].clone()), (Some("invalid_token"), Value::Null));
    }

    async fn check_validates_its_input(backend) {
        let app = spawn_app(backend).await;
        let (status, p) = check(&app, &app.admin_secret, json!({"action": "fly", "resource": "a/*", "ip": "1.2.3"})).await;
        assert_eq!((status, error_fields(&p)), (422, vec!["token".to_owned(), "action".to_owned(), "resource".to_owned(), "ip".to_owned()]));
        let r = app.client.post(app.url("/v1/check")).json(&json!({"token": "x", "action": "read", "resource": "a"})).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
}
