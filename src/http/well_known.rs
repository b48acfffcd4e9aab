//! Discovery (RFC 8414) and the JWKS (RFC 7517) that resource servers verify tokens with.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::router::Router;
use crate::crypto::signing::SigningAlg;
use crate::domain::public_jwk::AssertionAlg;

pub fn routes(router: &mut Router) {
    router
        .section(super::ops::method_not_allowed)
        .add(__path_jwks, jwks)
        .add_well_known(__path_oauth_metadata, oauth_metadata)
        .add_well_known(__path_openid_configuration, openid_configuration);
}

/// An RFC 7517 JSON Web Key Set. Documentation only: the key ring serves the set
/// pre-serialised (`KeyRing::jwks`).
#[derive(ToSchema)]
#[schema(description = "An RFC 7517 JSON Web Key Set.")]
#[expect(dead_code, reason = "describes a body serialised elsewhere")]
struct JwkSet {
    keys: Vec<Jwk>,
}

/// A public signing key: OKP/Ed25519 (RFC 8037), RSA or EC P-256 (RFC 7518 §6). Never a private
/// member.
#[derive(ToSchema)]
#[expect(dead_code, reason = "describes a body serialised elsewhere")]
struct Jwk {
    /// `OKP`, `RSA` or `EC`.
    kty: String,
    /// RFC 7638 thumbprint; the `kid` header of the tokens the key signs.
    kid: String,
    /// `EdDSA`, `RS256` or `ES256`.
    alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    use_: String,
    /// `Ed25519` or `P-256`.
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// JSON Web Key Set
///
/// Every organization's current, next and still-published retired public signing keys. A key is
/// published here for at least `max-age` (`--jwks-max-age`, 300 s by default) before it signs,
/// except after an immediate (compromise) rotation: verifiers should still refetch it when a
/// token names a `kid` they do not know.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    operation_id = "jwks",
    responses(
        (status = 200, description = "The key set; `Cache-Control: public, max-age=<--jwks-max-age>` (300 by default)", body = JwkSet),
    ),
)]
async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.jwks_max_age.as_secs()),
        ))
        .content_type("application/json")
        .body(state.keyring.jwks().as_str().to_owned())
}

/// Authorization-server metadata (RFC 8414 §2): what this server does, and nothing it does not.
///
/// Left out on purpose: `response_types_supported` (RFC 8414 marks it REQUIRED, but there is no
/// authorization endpoint and so no response type, and §2 forbids an empty array; the `["token"]`
/// once sent here read as the implicit flow). The same document is served for OpenID Connect discovery:
/// the clients it is there for (openid-client / oauth4webapi) check only `issuer` and read the
/// endpoints (tests/interop.rs); an OpenID Provider document could not be complete anyway
/// without an authorization endpoint.
#[derive(Serialize, ToSchema)]
#[schema(as = ServerMetadata)]
struct Metadata {
    issuer: String,
    token_endpoint: String,
    jwks_uri: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    /// `["client_credentials"]`: the default (`authorization_code`, `implicit`) would be wrong.
    grant_types_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// What `private_key_jwt` assertions may be signed with (never `none` or HMAC).
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    introspection_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    revocation_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Every algorithm an org may sign with (a rotation can switch any org to any of them). No
    /// ID tokens are issued: this is where verifiers and tests read the access tokens' algorithms.
    id_token_signing_alg_values_supported: Vec<&'static str>,
    subject_types_supported: Vec<&'static str>,
    scopes_supported: Vec<&'static str>,
    /// This document: `{issuer}/v1/openapi.json`.
    service_documentation: String,
}

fn metadata(state: &AppState) -> HttpResponse {
    let issuer = &state.authority.tokens().issuer;
    let auth_methods = vec![
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    ];
    let assertion_algs = AssertionAlg::ALL.map(|a| a.as_str()).to_vec();
    let signing_algs = SigningAlg::ALL.map(SigningAlg::as_str).to_vec();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(Metadata {
            issuer: issuer.to_string(),
            token_endpoint: issuer.url("/oauth/token"),
            jwks_uri: issuer.url("/.well-known/jwks.json"),
            introspection_endpoint: issuer.url("/oauth/introspect"),
            revocation_endpoint: issuer.url("/oauth/revoke"),
            grant_types_supported: vec!["client_credentials"],
            token_endpoint_auth_methods_supported: auth_methods.clone(),
            introspection_endpoint_auth_methods_supported: auth_methods.clone(),
            revocation_endpoint_auth_methods_supported: auth_methods,
            token_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algs,
            id_token_signing_alg_values_supported: signing_algs,
            subject_types_supported: vec!["public"],
            scopes_supported: vec!["read", "write", "admin", "*"],
            service_documentation: issuer.url("/v1/openapi.json"),
        })
}

/// Authorization-server metadata (RFC 8414)
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = "discovery",
    operation_id = "oauthAuthorizationServerMetadata",
    responses(
        (status = 200, description = "The metadata; `Cache-Control: public, max-age=3600`", body = Metadata),
    ),
)]
async fn oauth_metadata(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state)
}

/// Authorization-server metadata, for clients that only discover through OpenID Connect
///
/// The same document as `/.well-known/oauth-authorization-server`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    operation_id = "openidConfiguration",
    responses(
        (status = 200, description = "The metadata; `Cache-Control: public, max-age=3600`", body = Metadata),
    ),
)]
async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(&state)
}
