//! The OAuth endpoints: RFC 6749 client credentials, RFC 7662 introspection, JWKS and discovery.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, sleep_past_exp, sleep_until, spawn_app, spawn_app_with, status_json,
};

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

async fn token_request(app: &TestApp, auth: Option<&str>, form: &str) -> reqwest::Response {
    let mut r = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned());
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.send().await.unwrap()
}

/// Access token for `(id, secret)`, asserting success.
async fn token_for(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> String {
    let form = match scope {
        Some(s) => format!("grant_type=client_credentials&scope={}", urlencode(s)),
        None => "grant_type=client_credentials".to_owned(),
    };
    let (status, v) = status_json(token_request(app, Some(&basic(id, secret)), &form).await).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

fn urlencode(s: &str) -> String {
    s.replace('%', "%25")
        .replace('*', "%2A")
        .replace('/', "%2F")
        .replace(':', "%3A")
        .replace(' ', "+")
}

fn decode_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn introspect(
    app: &TestApp,
    caller_id: &str,
    caller_secret: &str,
    token: &str,
) -> (u16, Value) {
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .header("authorization", basic(caller_id, caller_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    status_json(r).await
}

async fn assert_oauth_error(r: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let got = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let (_, v) = status_json(r).await;
    assert_eq!((got, v["error"].as_str()), (status, Some(error)), "{v}");
    assert!(v["error_description"].is_string());
    if status == 401 {
        assert!(
            challenge.unwrap().starts_with("Basic realm="),
            "invalid_client carries a Basic challenge"
        );
    }
    v
}

backend_tests! {
async fn a_key_gets_an_rfc_9068_access_token_with_basic_auth(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app
        .create_key("svc", json!(["read:projects/**", "write:projects/42"]))
        .await;
    let r = token_request(
        &app,
        Some(&basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let (_, v) = status_json(r).await;
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    assert_eq!(v["scope"], "read:projects/** write:projects/42");
    assert!(v.get("refresh_token").is_none());

    let token = v["access_token"].as_str().unwrap();
    let header = decode_part(token, 0);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("at+jwt"))
    );
    let (_, jwks) = status_json(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The org's current key; its next key is published beside it.
    let kids: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().map(|k| &k["kid"]).collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&&header["kid"]), "{jwks}");
    let claims = decode_part(token, 1);
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["aud"], app.address);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert!(claims["org_id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    assert!(claims["jti"].as_str().unwrap().len() >= 16);
    assert_eq!(claims["scope"], "read:projects/** write:projects/42");
}

async fn client_secret_post_and_form_encoded_basic_credentials_work(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.create_key("svc", json!(["read"])).await;
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    assert_eq!(token_request(&app, None, &form).await.status(), 200);
    // RFC 6749 §2.3.1: id and secret are form-urlencoded inside Basic; %6C is 'l'.
    let encoded = format!("%6C{}", &secret[1..]);
    assert_eq!(
        token_request(
            &app,
            Some(&basic(&id, &encoded)),
            "grant_type=client_credentials"
        )
        .await
        .status(),
        200
    );
}

async fn malformed_token_requests_get_the_right_rfc_6749_error(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.create_key("svc", json!(["read"])).await;
    let auth = basic(&id, &secret);
    let both = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    assert_oauth_error(
        token_request(&app, Some(&auth), &both).await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        token_request(
            &app,
            Some(&auth),
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        token_request(&app, Some(&auth), "scope=read").await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        token_request(&app, Some(&auth), "grant_type=").await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        token_request(
            &app,
            Some(&auth),
            "grant_type=password&username=a&password=b",
        )
        .await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_oauth_error(
        token_request(&app, Some(&auth), "grant_type=authorization_code&code=x").await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_oauth_error(
        token_request(&app, None, "grant_type=client_credentials").await,
        401,
        "invalid_client",
    )
    .await;
    assert_oauth_error(
        token_request(
            &app,
            None,
            &format!("grant_type=client_credentials&client_id={id}"),
        )
        .await,
        401,
        "invalid_client",
    )
    .await;

    let json_body = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", &auth)
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json_body, 400, "invalid_request").await;
    let in_query = app
        .client
        .post(app.url(&format!(
            "/oauth/token?client_id={id}&client_secret={secret}"
        )))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(in_query, 400, "invalid_request").await;
    let get = app
        .client
        .get(app.url("/oauth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    // Unknown parameters are ignored (RFC 6749 §3.2).
    assert_eq!(
        token_request(&app, Some(&auth), "grant_type=client_credentials&foo=bar")
            .await
            .status(),
        200
    );
}

async fn bad_credentials_are_invalid_client_and_say_why_only_to_the_secret_holder(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.create_key("svc", json!(["read"])).await;
    let (other_id, _) = app.create_key("other", json!(["read"])).await;
    let wrong_secret = latchkey::domain::secret::Secret::generate()
        .expose()
        .to_owned();

    for (cid, sec) in [
        (&id, &wrong_secret),
        (&other_id, &secret),
        (&id, &"lk_short".to_owned()),
        (&"key_unknown00000000".to_owned(), &wrong_secret),
    ] {
        let v = assert_oauth_error(
            token_request(
                &app,
                Some(&basic(cid, sec)),
                "grant_type=client_credentials",
            )
            .await,
            401,
            "invalid_client",
        )
        .await;
        assert_eq!(
            v["error_description"], "client authentication failed",
            "the same answer for a wrong id and a wrong secret"
        );
    }

    let (exp_id, exp_secret, expires) = app
        .create_expiring_key(&app.admin_secret, json!({"name": "soon", "scopes": ["read"]}))
        .await;
    app.delete(&format!("/v1/keys/{id}"), &app.admin_secret)
        .await;
    let v = assert_oauth_error(
        token_request(
            &app,
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(v["error_description"].as_str().unwrap().contains("revoked"));
    sleep_until(expires).await;
    let v = assert_oauth_error(
        token_request(
            &app,
            Some(&basic(&exp_id, &exp_secret)),
            "grant_type=client_credentials",
        )
        .await,
        401,
        "invalid_client",
    )
    .await;
    assert!(v["error_description"].as_str().unwrap().contains("expired"));
}

async fn requested_scopes_must_be_covered_by_the_key(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app
        .create_key("svc", json!(["read:projects/**", "admin:keys"]))
        .await;
    let auth = basic(&id, &secret);
    for (scope, granted) in [
        ("read:projects/42/**", "read:projects/42/**"),
        ("read:projects/42/files/7", "read:projects/42/files/7"),
        (
            "read:projects/42/** admin:keys",
            "read:projects/42/** admin:keys",
        ),
    ] {
        let (status, v) = status_json(
            token_request(
                &app,
                Some(&auth),
                &format!("grant_type=client_credentials&scope={}", urlencode(scope)),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, v["scope"].as_str()),
            (200, Some(granted)),
            "{scope}"
        );
    }
    for scope in [
        "write:projects/42",
        "read:*",
        "read:other/**",
        "*:projects/1",
        "admin:keys/x",
        "read:a//b",
        "fly:x",
    ] {
        let r = token_request(
            &app,
            Some(&auth),
            &format!("grant_type=client_credentials&scope={}", urlencode(scope)),
        )
        .await;
        assert_oauth_error(r, 400, "invalid_scope").await;
    }
}

async fn a_token_never_outlives_its_key(backend) {
    let app = spawn_app(backend).await;
    // Well under the token TTL (600 s), and far enough away that the key is still valid when
    // the token is asked for, however slow the machine.
    let key_expiry = chrono::Utc::now() + chrono::Duration::seconds(60);
    let (id, secret) = app
        .create_key_with(
            json!({"name": "brief", "scopes": ["read"], "expires_at": key_expiry.to_rfc3339()}),
        )
        .await;
    let (status, v) = status_json(
        token_request(
            &app,
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let claims = decode_part(v["access_token"].as_str().unwrap(), 1);
    assert!(claims["exp"].as_i64().unwrap() <= key_expiry.timestamp());
    assert!(v["expires_in"].as_i64().unwrap() <= 60);
}

async fn ip_rules_apply_at_the_token_endpoint_for_an_ipv4_client(backend) {
    let app = spawn_app(backend).await;
    for (cidrs, allowed) in [
        (json!(["127.0.0.0/8"]), true),
        (json!(["10.0.0.0/8"]), false),
        (json!(["::1/128"]), false),
        (json!(["::/0"]), false),
        (json!(["::1/128", "127.0.0.1/32"]), true),
        (json!(["2001:db8::/32", "10.0.0.0/8"]), false),
    ] {
        let (id, secret) = app
            .create_key_with(json!({"name": "ip", "scopes": ["read"], "allowed_cidrs": cidrs}))
            .await;
        let r = token_request(
            &app,
            Some(&basic(&id, &secret)),
            "grant_type=client_credentials",
        )
        .await;
        if allowed {
            assert_eq!(r.status(), 200, "{cidrs}");
        } else {
            let v = assert_oauth_error(r, 401, "invalid_client").await;
            assert!(
                v["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("IP address"),
                "{cidrs}"
            );
        }
    }
}

/// From a trusted proxy, the header `--forwarded-header` names (and only that one) says who the
/// client is; from anyone else neither does.
async fn forwarded_headers_count_only_from_trusted_proxies(backend) {
    use latchkey::domain::client_ip::ForwardedHeader;
    let trusting = |header: ForwardedHeader| {
        spawn_app_with(backend, move |s| {
            s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            s.forwarded_header = header;
        })
    };
    let untrusting = spawn_app(backend).await;
    let by_xff = trusting(ForwardedHeader::XForwardedFor).await;
    let by_forwarded = trusting(ForwardedHeader::Forwarded).await;
    let xff = ("x-forwarded-for", "203.0.113.7");
    let forwarded = ("forwarded", "for=203.0.113.7");
    for (app, (name, value), allowed) in [
        (&untrusting, xff, false),
        (&untrusting, forwarded, false),
        (&by_xff, xff, true),
        (&by_xff, forwarded, false),
        (&by_forwarded, forwarded, true),
        (&by_forwarded, xff, false),
    ] {
        let (id, secret) = app.create_key_with(json!({"name": "behind proxy", "scopes": ["read"], "allowed_cidrs": ["203.0.113.0/24"]})).await;
        let r = app
            .client
            .post(app.url("/oauth/token"))
            .header("authorization", basic(&id, &secret))
            .header(name, value)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().is_success(), allowed, "{name}: {value}");
    }
}

async fn the_admin_api_takes_access_tokens_with_the_tokens_scopes(backend) {
    let app = spawn_app(backend).await;
    let read_only = token_for(&app, &app.admin_key_id, &app.admin_secret, Some("read:*")).await;
    let keys_admin = token_for(
        &app,
        &app.admin_key_id,
        &app.admin_secret,
        Some("admin:keys"),
    )
    .await;
    assert_eq!(
        app.get("/v1/keys", &read_only).await.status(),
        403,
        "the token's scopes, not the key's, decide"
    );
    assert_eq!(app.get("/v1/keys", &keys_admin).await.status(), 200);
    let r = app
        .post(
            "/v1/keys",
            &keys_admin,
            &json!({"name": "via token", "scopes": ["*:*"]}),
        )
        .await;
    assert_eq!(
        r.status(),
        403,
        "a token cannot grant beyond its own scopes"
    );
}

async fn a_revoked_keys_tokens_stop_working_at_once(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.create_key("doomed", json!(["admin:keys"])).await;
    let token = token_for(&app, &id, &secret, None).await;
    assert_eq!(app.get("/v1/keys", &token).await.status(), 200);
    let (_, v) = introspect(&app, &app.admin_key_id, &app.admin_secret, &token).await;
    assert_eq!(v["active"], true);

    app.delete(&format!("/v1/keys/{id}"), &app.admin_secret)
        .await;
    assert_eq!(app.get("/v1/keys", &token).await.status(), 401);
    assert_eq!(
        introspect(&app, &app.admin_key_id, &app.admin_secret, &token)
            .await
            .1,
        json!({"active": false})
    );
}

async fn introspection_reports_active_tokens_and_keys_of_the_callers_org(backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = app.create_key("svc", json!(["read:projects/**"])).await;
    let token = token_for(&app, &id, &secret, Some("read:projects/1")).await;
    let (status, v) = introspect(&app, &app.admin_key_id, &app.admin_secret, &token).await;
    assert_eq!(status, 200);
    assert_eq!(v["active"], true);
    assert_eq!(v["client_id"], id);
    assert_eq!(v["sub"], id);
    assert_eq!(v["scope"], "read:projects/1");
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["iss"], app.address);
    for field in ["org_id", "aud", "jti", "exp", "iat"] {
        assert!(!v[field].is_null(), "{field}");
    }
    // A key may introspect through Bearer too, and raw secrets are accepted as tokens.
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&secret)
        .form(&[("token", secret.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (_, v) = status_json(r).await;
    assert_eq!(
        (
            v["active"].as_bool(),
            v["token_type"].as_str(),
            v["client_id"].as_str()
        ),
        (Some(true), Some("api_key"), Some(id.as_str()))
    );
    // Body credentials (client_secret_post) also authenticate the caller.
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[
            ("token", token.as_str()),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(status_json(r).await.1["active"], true);
}

async fn introspection_requires_an_authenticated_caller_and_a_token(backend) {
    let app = spawn_app(backend).await;
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .bearer_auth("lk_nope")
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .header("authorization", basic(&app.admin_key_id, &app.admin_secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        status_json(r).await,
        (
            400,
            json!({"error": "invalid_request", "error_description": "token is required"})
        )
    );
}

async fn forged_expired_and_foreign_tokens_are_inactive_and_nothing_more(backend) {
    let app = spawn_app_with(backend, |s| s.token_ttl = std::time::Duration::from_secs(1)).await;
    let (theirs_secret, theirs_id) = app.other_org("acme");
    let mine = token_for(&app, &app.admin_key_id, &app.admin_secret, None).await;
    let foreign = token_for(&app, &theirs_id, &theirs_secret, None).await;
    // Checked at once: with a 1 s TTL, the other org's token must still be live, so that its
    // refusal below is about the org, not its expiry.
    assert_eq!(
        introspect(&app, &app.admin_key_id, &app.admin_secret, &foreign)
            .await
            .1,
        json!({"active": false}),
        "other org's token"
    );
    assert_eq!(
        introspect(&app, &theirs_id, &theirs_secret, &foreign)
            .await
            .1["active"],
        true
    );

    let parts: Vec<&str> = mine.split('.').collect();
    let mut claims = decode_part(&mine, 1);
    claims["scope"] = json!("*:*");
    claims["exp"] = json!(i64::MAX / 2);
    let forged_body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let tampered = format!("{}.{forged_body}.{}", parts[0], parts[2]);
    let alg_none = format!(
        "{}.{forged_body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#)
    );
    let header = decode_part(&mine, 0);
    let (_, jwks) = status_json(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let x = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap()["x"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.typ = Some("at+jwt".into());
    hs_header.kid = header["kid"].as_str().map(str::to_owned);
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
    )
    .unwrap();
    let hs256_raw = jsonwebtoken::encode(
        &hs_header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(&x).unwrap()),
    )
    .unwrap();
    let unknown_kid = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"at+jwt","kid":"nope"}"#),
        parts[1],
        parts[2]
    );
    let plain_jwt_typ = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg":"EdDSA","typ":"JWT","kid":header["kid"]}).to_string()),
        parts[1],
        parts[2]
    );
    // Another org's kid on our org's claims.
    let foreign_header = decode_part(&foreign, 0);
    let kid_swap = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(foreign_header.to_string()),
        parts[1],
        parts[2]
    );

    for (what, token) in [
        ("tampered", tampered.as_str()),
        ("alg none", &alg_none),
        ("HS256 with the public key as secret", &hs256),
        ("HS256 with the raw public key", &hs256_raw),
        ("unknown kid", &unknown_kid),
        ("typ JWT", &plain_jwt_typ),
        ("other org's kid", &kid_swap),
        ("other org's token", &foreign),
        ("garbage", "not.a.token"),
        (
            "random secret",
            "lk_0000000000000000000000000000000000000000000000000",
        ),
    ] {
        let (status, v) = introspect(&app, &app.admin_key_id, &app.admin_secret, token).await;
        assert_eq!((status, &v), (200, &json!({"active": false})), "{what}");
        if what != "other org's token" {
            assert_eq!(
                app.get("/v1/keys", token).await.status(),
                401,
                "{what} on the admin API"
            );
        }
    }
    // The other org cannot see our raw key either.
    assert_eq!(
        introspect(&app, &theirs_id, &theirs_secret, &app.admin_secret)
            .await
            .1,
        json!({"active": false})
    );

    sleep_past_exp(decode_part(&mine, 1)["exp"].as_i64().unwrap()).await;
    assert_eq!(
        introspect(&app, &app.admin_key_id, &app.admin_secret, &mine)
            .await
            .1,
        json!({"active": false}),
        "expired"
    );
    let r = app.get("/v1/keys", &mine).await;
    assert_eq!(r.status(), 401);
}

async fn jwks_publishes_public_keys_only_and_may_be_cached(backend) {
    let app = spawn_app(backend).await;
    app.other_org("acme");
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let (_, v) = status_json(r).await;
    let keys = v["keys"].as_array().unwrap();
    // The new org's key is published after a reload triggered by its first use; the default
    // org's key is there from the start.
    assert!(!keys.is_empty());
    for k in keys {
        assert_eq!(
            (
                k["kty"].as_str(),
                k["crv"].as_str(),
                k["alg"].as_str(),
                k["use"].as_str()
            ),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"), Some("sig"))
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(k["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert!(k.get("d").is_none(), "no private part");
    }
}

async fn discovery_documents_describe_the_endpoints(backend) {
    let app = spawn_app(backend).await;
    let (status, a) = status_json(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let (_, b) = status_json(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(a, b);
    assert_eq!(a["issuer"], app.address);
    assert_eq!(a["token_endpoint"], format!("{}/oauth/token", app.address));
    assert_eq!(
        a["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
    assert_eq!(
        a["introspection_endpoint"],
        format!("{}/oauth/introspect", app.address)
    );
    assert_eq!(
        a["revocation_endpoint"],
        format!("{}/oauth/revoke", app.address)
    );
    assert_eq!(a["grant_types_supported"], json!(["client_credentials"]));
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            a[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!(["client_secret_basic", "client_secret_post", "private_key_jwt"])
        );
        // RFC 8414 §2: with private_key_jwt, the algorithms it may be signed with (never none).
        assert_eq!(
            a[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["EdDSA", "ES256", "RS256", "PS256"])
        );
    }
    // Only what is supported: no authorization endpoint and so no response type (`["token"]`
    // read as the implicit flow).
    let mut members: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(
        members,
        [
            "grant_types_supported",
            "id_token_signing_alg_values_supported",
            "introspection_endpoint",
            "introspection_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
            "issuer",
            "jwks_uri",
            "revocation_endpoint",
            "revocation_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
            "scopes_supported",
            "service_documentation",
            "subject_types_supported",
            "token_endpoint",
            "token_endpoint_auth_methods_supported",
            "token_endpoint_auth_signing_alg_values_supported",
        ],
        "{a}"
    );
}
}
