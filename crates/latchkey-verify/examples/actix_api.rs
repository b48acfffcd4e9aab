//! A resource server on actix-web that accepts Latchkey access tokens.
//!
//! ```sh
//! latchkey serve &                                   # prints an admin key id and secret
//! LATCHKEY_ISSUER=http://127.0.0.1:8080 cargo run -p latchkey-verify --features actix --example actix_api
//! TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials localhost:8080/oauth/token | jq -r .access_token)
//! curl -i localhost:3000/projects/42 -H "Authorization: Bearer $TOKEN"
//! ```
//!
//! Environment: `LATCHKEY_ISSUER` (required), `LATCHKEY_AUDIENCE` (default: the issuer),
//! `LATCHKEY_SECRET` (an API key of the org: turns on the online check, failing closed),
//! `PORT` (default 3000).

use actix_web::{App, HttpServer, web};
use latchkey_verify::actix::{VerifyToken, require};
use latchkey_verify::{FailMode, OnlineCheck, Verified, Verifier};

async fn project(Verified(claims): Verified, id: web::Path<String>) -> String {
    format!("project {id} for {} (org {})\n", claims.sub, claims.org_id)
}

#[actix_web::main]
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
    if let Err(e) = verifier.refresh().await {
        eprintln!("JWKS not fetched yet: {e}");
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    println!("listening on http://127.0.0.1:{port}");
    HttpServer::new(move || {
        App::new().wrap(VerifyToken::new(verifier.clone())).service(
            web::resource("/projects/{id}")
                .wrap(require("read", "projects/{id}"))
                .route(web::get().to(project)),
        )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
