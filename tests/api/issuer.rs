//! The issuer as configured: used byte for byte (a trailing slash included), and an issuer with a
//! path served under that path without a proxy (RFC 8414 §3.1 path insertion, OpenID Connect's
//! appended `/.well-known/openid-configuration`), the root routes still working.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with, status_json};

fn claims_of(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    status_json(app.client.get(app.url(path)).send().await.unwrap()).await
}

/// A token from `{prefix}/oauth/token` for the bootstrap admin key.
async fn admin_token(app: &TestApp, prefix: &str) -> String {
    let r = app
        .client
        .post(app.url(&format!("{prefix}/oauth/token")))
        .basic_auth(&app.admin_key_id, Some(&app.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{prefix}/oauth/token: {v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn introspect(app: &TestApp, prefix: &str, token: &str) -> Value {
    let r = app
        .client
        .post(app.url(&format!("{prefix}/oauth/introspect")))
        .basic_auth(&app.admin_key_id, Some(&app.admin_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// What the metadata must say for `issuer`, whose endpoints live under `base`.
fn assert_metadata(md: &Value, issuer: &str, base: &str) {
    assert_eq!(md["issuer"], issuer, "{md}");
    for (member, path) in [
        ("token_endpoint", "/oauth/token"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("introspection_endpoint", "/oauth/introspect"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("service_documentation", "/v1/openapi.json"),
    ] {
        assert_eq!(md[member], format!("{base}{path}"), "{member}");
    }
}

backend_tests! {
async fn the_issuer_is_used_exactly_as_configured_trailing_slash_included(backend) {
    let issuer = "https://auth.example.com/";
    let app = spawn_app_with(backend, |s| s.issuer = Some(issuer.into())).await;

    let token = admin_token(&app, "").await;
    let claims = claims_of(&token);
    assert_eq!((claims["iss"].as_str(), claims["aud"].as_str()), (Some(issuer), Some(issuer)));
    // Endpoint URLs are joined without a double slash.
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let (status, md) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert_metadata(&md, issuer, "https://auth.example.com");
    }
    // Latchkey itself takes the token it issued under that issuer.
    let v = introspect(&app, "", &token).await;
    assert_eq!((v["active"].as_bool(), v["iss"].as_str(), v["aud"].as_str()), (Some(true), Some(issuer), Some(issuer)));
    assert_eq!(app.get("/v1/keys", &token).await.status(), 200);
}
}

/// An issuer Latchkey could not serve or that RFC 8414 §2 forbids stops `serve` with a sentence
/// naming `--issuer`, before anything listens.
#[test]
fn an_issuer_that_cannot_be_served_is_refused_at_startup() {
    for (bad, why) in [
        ("auth.example.com", "http"),
        ("https://auth.example.com/?tenant=1", "query"),
        ("https://auth.example.com/#x", "fragment"),
        ("https://auth.example.com//x", "empty"),
        ("https://auth.example.com/a/../b", ".."),
        ("https://auth.example.com/{id}", "character"),
        ("https://auth.example.com/.well-known/x", ".well-known"),
        ("https:///x", "host"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::helpers::settings(dir.path());
        settings.issuer = Some(bad.into());
        let Err(e) = latchkey::startup::Application::build(settings) else {
            panic!("{bad} was accepted");
        };
        let message = e.to_string();
        assert!(
            message.contains("--issuer") && message.contains(why),
            "{bad}: {message}"
        );
    }
}
