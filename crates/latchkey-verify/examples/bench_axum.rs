//! The middleware's cost, measured with the shared harness: one axum server, one thread, two
//! hello-world routes, `/hello` bare and `/verified/hello` behind [`VerifyLayer`] and
//! `require("read", "projects/42")` (the doc example's key set and token, so no Latchkey
//! server is needed). `bench/verify_middleware.sh` drives both with wrk, side by side.
//!
//! ```sh
//! cargo run --release -p latchkey-verify --features axum --example bench_axum   # PORT=3000
//! ```

use axum::{Router, routing::get};
use latchkey_verify::axum::{VerifyLayer, require};
use latchkey_verify::{Verified, Verifier, doc_example};

async fn hello() -> &'static str {
    "hello\n"
}

async fn verified_hello(Verified(_claims): Verified) -> &'static str {
    "hello\n"
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let verifier = Verifier::builder(doc_example::ISSUER)
        .static_jwks(doc_example::JWKS)
        .build()?;
    let verified = Router::new()
        .route(
            "/verified/hello",
            get(verified_hello).route_layer(require("read", "projects/42")),
        )
        .layer(VerifyLayer::new(verifier));
    let app = Router::new().route("/hello", get(hello)).merge(verified);
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
