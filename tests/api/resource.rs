//! RFC 8707 resource indicators: `--audience` names the resource servers tokens may be issued
//! for (the first is the default), a token request picks one or more with `resource`, and the
//! token's `aud` is what it asked for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with, status_json};

const API: &str = "https://api.example.com";
const BILLING: &str = "https://billing.example.com/v2";

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.audiences = vec![API.into(), BILLING.into()]).await
}

/// `POST /oauth/token` as the bootstrap admin with `extra` form pairs (repeats kept).
async fn token_request(app: &TestApp, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    app.client
        .post(app.url("/oauth/token"))
        .basic_auth(&app.admin_key_id, Some(&app.admin_secret))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn token_for(app: &TestApp, resources: &[&str]) -> String {
    let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
    let (status, v) = status_json(token_request(app, &extra).await).await;
    assert_eq!(status, 200, "{resources:?}: {v}");
    v["access_token"].as_str().unwrap().to_owned()
}

fn aud_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
    claims["aud"].clone()
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    introspect_on(app, app, token).await
}

/// Introspection on `node` as `caller`'s bootstrap admin (a second node bootstraps nothing).
async fn introspect_on(node: &TestApp, caller: &TestApp, token: &str) -> Value {
    let r = node
        .client
        .post(node.url("/oauth/introspect"))
        .basic_auth(&caller.admin_key_id, Some(&caller.admin_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    status_json(r).await.1
}

backend_tests! {
async fn the_token_is_for_the_requested_resources_or_the_first_audience(backend) {
    let app = spawn(backend).await;
    assert_eq!(aud_of(&token_for(&app, &[]).await), API, "no resource: the first audience");
    assert_eq!(aud_of(&token_for(&app, &[BILLING]).await), BILLING, "one: a string");
    assert_eq!(aud_of(&token_for(&app, &[BILLING, API]).await), json!([BILLING, API]), "several: an array, in order");
    assert_eq!(aud_of(&token_for(&app, &[API, API]).await), API, "a repeat counts once");
    // An empty value counts as omitted (RFC 6749 §3.2).
    assert_eq!(aud_of(&token_for(&app, &[""]).await), API);
}

async fn a_resource_that_is_not_a_configured_audience_is_invalid_target(backend) {
    let app = spawn(backend).await;
    for (resources, why) in [
        (vec!["https://other.example.com"], "not an audience"),
        (vec![API, "https://other.example.com"], "one of several"),
        (vec!["https://api.example.com/"], "not byte for byte"),
        (vec!["api.example.com"], "not an absolute URI"),
        (vec!["https://api.example.com#x"], "a fragment (RFC 8707 §2)"),
    ] {
        let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
        let r = token_request(&app, &extra).await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        let (status, v) = status_json(r).await;
        assert_eq!((status, v["error"].as_str()), (400, Some("invalid_target")), "{why}: {v}");
        assert!(v["error_description"].as_str().unwrap().contains("resource"), "{v}");
    }
    // Only `resource` may repeat.
    let r = token_request(&app, &[("scope", "read"), ("scope", "read")]).await;
    assert_eq!(status_json(r).await.1["error"], "invalid_request");
    // The OpenAPI document knows the parameter and the error.
    let doc: Value = app.get("/v1/openapi.json", "").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["TokenRequest"]["properties"]["resource"].is_object(), "{}", schemas["TokenRequest"]);
    assert!(schemas["OAuthErrorCode"]["enum"].as_array().unwrap().contains(&json!("invalid_target")));
    // Introspection's `aud` is a string or an array.
    assert_eq!(schemas["Audience"]["oneOf"].as_array().map(Vec::len), Some(2), "{}", schemas["Audience"]);
}

async fn latchkey_takes_tokens_of_every_configured_audience_and_introspection_shows_aud(backend) {
    let app = spawn(backend).await;
    for (resources, aud) in [
        (vec![], json!(API)),
        (vec![BILLING], json!(BILLING)),
        (vec![API, BILLING], json!([API, BILLING])),
    ] {
        let token = token_for(&app, &resources).await;
        let v = introspect(&app, &token).await;
        assert_eq!((v["active"].as_bool(), &v["aud"]), (Some(true), &aud), "{resources:?}: {v}");
        assert_eq!(app.get("/v1/keys", &token).await.status(), 200, "admin API, {resources:?}");
        let (status, d) = status_json(
            app.post("/v1/check", &app.admin_secret, &json!({"token": token, "action": "read", "resource": "x"})).await,
        )
        .await;
        assert_eq!((status, d["allowed"].as_bool()), (200, Some(true)), "{d}");
    }
}

async fn a_token_for_an_audience_no_longer_configured_is_not_accepted(backend) {
    // Two nodes of one service (same database, issuer and keys) whose audiences differ, as
    // after a configuration change: B takes no token meant for an audience it does not serve.
    let a = spawn(backend).await;
    let (db, keys_dir, issuer) = (a.database_url.clone(), a.keys_dir.clone(), a.address.clone());
    let b = spawn_app_with(backend, |s| {
        s.database_url = db;
        s.keys_dir = keys_dir;
        s.issuer = Some(issuer);
        s.audiences = vec![BILLING.into()];
    })
    .await;
    let for_api = token_for(&a, &[API]).await;
    let for_billing = token_for(&a, &[BILLING]).await;
    let for_both = token_for(&a, &[API, BILLING]).await;
    assert_eq!(introspect_on(&b, &a, &for_api).await, json!({"active": false}));
    assert_eq!(b.get("/v1/keys", &for_api).await.status(), 401);
    assert_eq!(b.get("/v1/keys", &for_billing).await.status(), 200);
    assert_eq!(introspect_on(&b, &a, &for_billing).await["active"], true);
    // One of its audiences is B's: B is among the recipients (RFC 7519 §4.1.3).
    assert_eq!(introspect_on(&b, &a, &for_both).await["aud"], json!([API, BILLING]));
}
}

/// `--audience` repeats and `LATCHKEY_AUDIENCE` is comma-separated; none means the issuer.
#[test]
fn audiences_are_repeated_or_comma_separated_and_default_to_the_issuer() {
    use clap::{Args, FromArgMatches};
    use latchkey::config::ServeArgs;
    let parse = |args: &[&str]| {
        let command = ServeArgs::augment_args(clap::Command::new("serve"));
        let matches = command.try_get_matches_from(args).unwrap();
        ServeArgs::from_arg_matches(&matches).unwrap().audiences
    };
    assert_eq!(
        parse(&["serve", "--audience", API, "--audience", BILLING]),
        [API, BILLING]
    );
    assert_eq!(
        parse(&["serve", "--audience", &format!("{API},{BILLING}")]),
        [API, BILLING]
    );
    assert!(ServeArgs::defaults().audiences.is_empty());
}
