//! The OAuth endpoints' forms and JSON bodies, described for the OpenAPI document. These types
//! are never built: `oauth.rs` reads the forms as pairs (`domain::oauth::Params`, which refuses
//! repeated parameters) and writes the bodies the RFCs define. The interop test
//! (`tests/interop/openapi_validate.py`) checks real responses against these schemas.
#![expect(dead_code, reason = "schemas of bodies read and written elsewhere")]

use utoipa::{IntoResponses, ToResponse, ToSchema};

/// The only grant this server supports (RFC 6749 §4.4).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
}

/// `POST /oauth/token` (RFC 6749 §4.4.2). Authenticate with HTTP Basic (`client_secret_basic`,
/// form-encoded id and secret, RFC 6749 §2.3.1) or with `client_id` and `client_secret` here
/// (`client_secret_post`), never both. Every parameter at most once, but `resource`.
#[derive(ToSchema)]
pub struct TokenRequest {
    grant_type: GrantType,
    /// Space-separated `action:filter` scopes, each covered by one of the key's scopes;
    /// omitted means all of them.
    #[schema(example = "read:projects/42/**")]
    scope: Option<String>,
    /// RFC 8707 resource indicators, repeated once per resource (`resource=…&resource=…`): each
    /// an absolute URI that is, byte for byte, one of the server's audiences (`--audience`),
    /// else `invalid_target`. The token's `aud` is the one asked for (a string), or all of them
    /// (an array); omitted means the first audience.
    #[schema(example = json!(["https://api.example.com"]))]
    resource: Option<Vec<String>>,
    /// The key id, for `client_secret_post`.
    client_id: Option<String>,
    /// The key's secret, for `client_secret_post`.
    client_secret: Option<String>,
}

/// RFC 6749 §5.1 access-token response. No refresh token is issued. The type the token
/// endpoint serialises, so the document and the answer cannot differ.
#[derive(serde::Serialize, ToSchema)]
pub struct TokenResponse {
    /// An RFC 9068 JWT (`typ` `at+jwt`), verifiable against the JWKS.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until `exp`: the token TTL, or less when the key expires sooner.
    #[schema(example = 600)]
    pub expires_in: i64,
    /// The scopes granted, space-separated.
    #[schema(example = "read:projects/42/**")]
    pub scope: String,
}

/// `POST /oauth/introspect` (RFC 7662 §2.1) and `POST /oauth/revoke` (RFC 7009 §2.1). The
/// caller authenticates as any active key of the org: HTTP Basic, these body fields, or
/// `Authorization: Bearer`.
#[derive(ToSchema)]
pub struct TokenQuery {
    /// An access token or an API-key secret. Empty is the same as absent (RFC 6749 §3.1).
    #[schema(min_length = 1)]
    token: String,
    /// `access_token`, `api_key` or anything else: ignored, since a hint must never stop the
    /// search (RFC 7009 §2.1) and the server tells tokens from secrets by their shape.
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.2 error codes, RFC 8707's `invalid_target`, and `server_error` and
/// `temporarily_unavailable` for 500 and 503.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidScope,
    InvalidTarget,
    UnsupportedGrantType,
    UnauthorizedClient,
    TemporarilyUnavailable,
    ServerError,
}

/// An RFC 6749 §5.2 error response.
#[derive(ToSchema)]
pub struct OAuthError {
    error: OAuthErrorCode,
    /// Why, in one sentence (for a bad secret, nothing more than that).
    error_description: String,
}

/// `invalid_request`, `invalid_scope`, `invalid_target`, `unsupported_grant_type` or
/// `unauthorized_client` (RFC 6749 §5.2; RFC 8707 §2 for a resource that is not an audience;
/// RFC 7009 §2.1 for another client's token).
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
pub struct OAuthBadRequest(OAuthError);

/// `invalid_client`: client authentication failed; the description says why (revoked,
/// expired, address not allowed) only once the secret itself is valid.
#[derive(ToResponse)]
#[response(headers(
    ("WWW-Authenticate" = String, description = "`Basic realm=\"latchkey\", charset=\"UTF-8\"` (or a `Bearer` challenge when the caller used one)"),
    ("Cache-Control" = String, description = "`no-store`"),
))]
pub struct OAuthInvalidClient(OAuthError);

/// `invalid_request` with `413`: the body is over 64 KiB (65,536 bytes); nothing was read
/// beyond that.
#[derive(ToResponse)]
#[response(headers(("Cache-Control" = String, description = "`no-store`")))]
pub struct OAuthPayloadTooLarge(OAuthError);

/// `server_error`: the cause is logged on the server, never sent.
#[derive(ToResponse)]
pub struct OAuthServerError(OAuthError);

/// `temporarily_unavailable`: the database cannot be reached; nothing is decided from a cache.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))]
pub struct OAuthUnavailable(OAuthError);

/// `too_many_requests`: too many failed client authentications from this address or for this
/// client id; nothing was checked.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))]
pub struct OAuthTooManyRequests(OAuthError);

/// Every error the OAuth endpoints answer, as `$ref`s to the responses above: each operation
/// lists its success response and this set.
#[derive(IntoResponses)]
pub enum OAuthErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] OAuthBadRequest),
    #[response(status = 401)]
    InvalidClient(#[ref_response] OAuthInvalidClient),
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] OAuthPayloadTooLarge),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] OAuthTooManyRequests),
    #[response(status = 500)]
    ServerError(#[ref_response] OAuthServerError),
    #[response(status = 503)]
    Unavailable(#[ref_response] OAuthUnavailable),
}
