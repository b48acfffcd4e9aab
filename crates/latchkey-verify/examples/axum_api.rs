//! A resource server on axum that accepts Latchkey access tokens.
//!
//! ```sh
//! latchkey serve &                                   # prints an admin key id and secret
//! LATCHKEY_ISSUER=http://127.0.0.1:8080 cargo run -p latchkey-verify --features axum --example axum_api
//! TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials localhost:8080/oauth/token | jq -r .access_token)
//! curl -i localhost:3000/projects/42 -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! Environment: `LATCHKEY_ISSUER` (required), `LATCHKEY_AUDIENCE` (default: the issuer),
//! `LATCHKEY_SECRET` (an API key of the org: turns on the online check, failing closed),
//! `PORT` (default 3000).

use axum::{Router, routing::get};
use latchkey_verify::axum::{VerifyLayer, require};
use latchkey_verify::{FailMode, OnlineCheck, Verified, Verifier};

async fn project(Verified(claims): Verified) -> String {
    format!("project for {} (org {})\n", claims.sub, claims.org_id)
}

async fn files(Verified(claims): Verified) -> String {
    format!("files for {}\n", claims.sub)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("LATCHKEY_ISSUER")?;
    let mut builder = Verifier::builder(&issuer);
    if let Ok(audience) = std::env::var("LATCHKEY_AUDIENCE") {
        builder = builder.audience(audience);
    }
    if let Ok(secret) = std::env::var("LATCHKEY_SECRET") {
        builder = builder.online(OnlineCheck::new(secret, FailMode::Closed));
    }
    let verifier = builder.build()?;
    // Warm the key cache so the first request does not wait (a failure is not fatal: the
    // first token tries again).
    if let Err(e) = verifier.refresh().await {
        eprintln!("JWKS not fetched yet: {e}");
    }

    let app = Router::new()
        .route(
            "/projects/{id}",
            get(project).route_layer(require("read", "projects/{id}")),
        )
        .route(
            "/projects/{id}/files",
            get(files).route_layer(require("read", "projects/{id}/files")),
        )
        .layer(VerifyLayer::new(verifier));
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
