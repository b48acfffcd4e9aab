//! The issuer as configured: used byte for byte (a trailing slash included), and an issuer with a
//! path served under that path without a proxy (RFC 8414 §3.1 path insertion, OpenID Connect's
//! appended `/.well-known/openid-configuration`), the root routes still working.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

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

async fn an_issuer_with_a_path_is_served_under_it_and_at_the_root(backend) {
    let issuer = "https://auth.example.com/tenant";
    let app = spawn_app_with(backend, |s| s.issuer = Some(issuer.into())).await;

    // Discovery: RFC 8414 §3.1 path insertion, OpenID Connect's appended form, and the root.
    let mut documents = Vec::new();
    for path in [
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/.well-known/openid-configuration",
        "/.well-known/openid-configuration/tenant",
        "/tenant/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let (status, md) = get(&app, path).await;
        assert_eq!(status, 200, "{path}: {md}");
        assert_metadata(&md, issuer, issuer);
        documents.push(md);
    }
    assert!(documents.windows(2).all(|w| w[0] == w[1]), "one document everywhere");
    assert_eq!(get(&app, "/.well-known/oauth-authorization-server/other").await.0, 404);

    // Every endpoint the metadata advertises answers under the path, and at the root.
    for prefix in ["/tenant", ""] {
        let token = admin_token(&app, prefix).await;
        assert_eq!(claims_of(&token)["iss"], issuer);
        let v = introspect(&app, prefix, &token).await;
        assert_eq!((v["active"].as_bool(), v["iss"].as_str()), (Some(true), Some(issuer)));
        assert_eq!(app.get(&format!("{prefix}/v1/keys"), &token).await.status(), 200, "{prefix}/v1/keys");
        let (status, jwks) = get(&app, &format!("{prefix}/.well-known/jwks.json")).await;
        assert_eq!(status, 200);
        // The org's current key (which signed the token) and its pre-published next key.
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids.len(), 2, "{jwks}");
        let header: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').next().unwrap()).unwrap(),
        )
        .unwrap();
        assert!(kids.contains(&header["kid"].as_str().unwrap()), "{jwks}");
        assert_eq!(get(&app, &format!("{prefix}/healthz")).await.0, 200);
        let r = app
            .client
            .post(app.url(&format!("{prefix}/oauth/revoke")))
            .bearer_auth(&app.admin_secret)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(introspect(&app, prefix, &token).await, json!({"active": false}));
    }

    // The same answers for what is not there: 405 with Allow and an RFC 6749 body, 404.
    let r = app.client.get(app.url("/tenant/oauth/token")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "POST"));
    assert_eq!(status_json(r).await.1["error"], "invalid_request");
    let (status, problem) = get(&app, "/tenant/v2/nothing").await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("not_found")));

    // The console too: it calls the API relative to its own URL, so under the path it stays there.
    let r = app.client.get(app.url("/tenant/console/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));

    // The OpenAPI document, wherever it is fetched, describes the root paths only, once.
    let (_, doc) = get(&app, "/tenant/v1/openapi.json").await;
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(paths.contains(&&"/oauth/token".to_owned()), "{paths:?}");
    assert!(paths.iter().all(|p| !p.starts_with("/tenant")), "{paths:?}");

    // Metrics label the route pattern that served each request.
    let metrics = app.client.get(app.url("/tenant/metrics")).send().await.unwrap().text().await.unwrap();
    for line in [
        "http_requests_total{route=\"/tenant/oauth/token\",method=\"POST\",status=\"200\"} 1",
        "http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 1",
        "http_requests_total{route=\"/.well-known/oauth-authorization-server/tenant\",method=\"GET\",status=\"200\"} 1",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
}

async fn a_path_issuer_with_a_trailing_slash_keeps_it_and_serves_the_same_urls(backend) {
    let issuer = "https://auth.example.com/a/b/";
    let app = spawn_app_with(backend, |s| s.issuer = Some(issuer.into())).await;
    // RFC 8414 §3.1 and OpenID Connect Discovery §4: the terminating "/" is removed first.
    for path in ["/.well-known/oauth-authorization-server/a/b", "/a/b/.well-known/openid-configuration"] {
        let (status, md) = get(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert_metadata(&md, issuer, "https://auth.example.com/a/b");
    }
    let token = admin_token(&app, "/a/b").await;
    assert_eq!(claims_of(&token)["iss"], issuer);
    assert_eq!(app.get("/a/b/v1/keys", &token).await.status(), 200);
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
