//! Discovery (RFC 8414) and the JWKS (RFC 7517) that resource servers verify tokens with.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::crypto::signing::SigningAlg;

/// How long verifiers may cache the JWKS. Short next to the token TTL, so a rotated-in key is
/// picked up well before the old one leaves.
pub const JWKS_MAX_AGE_SECS: u32 = 300;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/jwks.json", web::get().to(jwks))
        .route(
            "/.well-known/oauth-authorization-server",
            web::get().to(metadata),
        )
        .route("/.well-known/openid-configuration", web::get().to(metadata));
}

async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .content_type("application/json")
        .body(state.keyring.jwks().as_str().to_owned())
}

/// RFC 8414 §2. `response_types_supported` is REQUIRED there yet no response type applies to a
/// client-credentials-only server; `["token"]` is the value the interop libraries accept.
async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.tokens.issuer;
    let auth_methods = json!(["client_secret_basic", "client_secret_post"]);
    // Every algorithm an org may sign with: a rotation can switch any org to any of them.
    let signing_algs = SigningAlg::ALL.map(SigningAlg::as_str);
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}/oauth/token"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "introspection_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "token_endpoint_auth_signing_alg_values_supported": signing_algs,
            "id_token_signing_alg_values_supported": signing_algs,
            "subject_types_supported": ["public"],
            "scopes_supported": ["read", "write", "admin", "*"],
            "service_documentation": format!("{issuer}/v1/openapi.json"),
        }))
}
