//! The axum layer and the actix-web middleware over real HTTP, in front of tokens of a real
//! server: RFC 6750 answers exactly.

use std::net::TcpListener as StdListener;

use latchkey_verify::{Verified, Verifier};
use serde_json::json;

use crate::helpers::{Server, spawn};

async fn project(Verified(claims): Verified) -> String {
    format!("hello {}", claims.sub)
}

async fn serve_axum(verifier: Verifier) -> String {
    use axum::{Router, routing::get};
    use latchkey_verify::axum::{VerifyLayer, require};
    let app = Router::new()
        .route(
            "/projects/{id}",
            get(|v: Verified| project(v)).route_layer(require("read", "projects/{id}")),
        )
        .layer(VerifyLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

fn serve_actix(verifier: Verifier) -> String {
    use actix_web::{App, HttpServer, web};
    use latchkey_verify::actix::{VerifyToken, require};
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new().wrap(VerifyToken::new(verifier.clone())).service(
            web::resource("/projects/{id}")
                .wrap(require("read", "projects/{id}"))
                .route(web::get().to(project)),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    address
}

/// The same walk for both frameworks.
async fn rfc_6750_answers(server: &Server, api: &str) {
    let client = reqwest::Client::new();
    let (id, secret) = server.create_key(json!(["read:projects/42"])).await;
    let token = server.token_for(&id, &secret).await;
    let get = |path: &str, auth: Option<&str>| {
        let mut r = client.get(format!("{api}{path}"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        r.send()
    };
    let challenge = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let r = get("/projects/42", None).await.unwrap();
    assert_eq!(
        (r.status().as_u16(), challenge(&r).as_deref()),
        (401, Some("Bearer"))
    );

    let r = get("/projects/42", Some("Bearer not.a.token"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let c = challenge(&r).unwrap();
    assert!(
        c.starts_with("Bearer error=\"invalid_token\", error_description=\"the token is malformed"),
        "{c}"
    );

    let r = get("/projects/42", Some(&format!("Bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), format!("hello {id}"));

    let r = get("/projects/7", Some(&format!("bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        challenge(&r).unwrap(),
        "Bearer error=\"insufficient_scope\", error_description=\"the token lacks scope read:projects/7\", scope=\"read:projects/7\""
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    // A parameter that no scope can name is refused, never widened.
    let r = get("/projects/%2A", Some(&format!("Bearer {token}")))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_axum_layer_answers_as_rfc_6750_says() {
    let server = spawn().await;
    let api = serve_axum(server.verifier().build().unwrap()).await;
    rfc_6750_answers(&server, &api).await;
}

#[tokio::test]
async fn the_actix_middleware_answers_as_rfc_6750_says() {
    let server = spawn().await;
    let api = serve_actix(server.verifier().build().unwrap());
    rfc_6750_answers(&server, &api).await;
}
