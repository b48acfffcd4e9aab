//! `POST /oauth/token` (RFC 6749 §4.4) and `POST /oauth/introspect` (RFC 7662), written on
//! actix-web directly: oxide-auth's actix operation turns scope errors into 500s, cannot take
//! `client_secret_post`, sends no `no-store` and has no introspection (README, design notes).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::auth::{bearer, client_ip};
use super::body::{declares_too_large, read_limited};
use super::oauth_doc::{OAuthErrors, TokenQuery, TokenRequest, TokenResponse};
use super::problem::ApiError;
use super::router::Router;
use super::{AppState, MAX_BODY_BYTES};
use crate::domain::limits::LimitState;
use crate::domain::oauth::{self, OAuthError, OAuthErrorCode, Params};
use crate::domain::refusal::Refusal;
use crate::service::actor::Actor;
use crate::service::authority::{GrantRequest, Introspection, NotRevoked, Presented};
use crate::service::{ServiceError, now};
use crate::store::StoreError;

pub fn routes(router: &mut Router) {
    router
        .section(post_only)
        .add(__path_token, token)
        .add(__path_introspect, introspect)
        .add(__path_revoke, revoke);
}

/// An OAuth error response (RFC 6749 §5.2), with the caching headers of §5.1.
struct OAuthFailure {
    error: OAuthError,
    /// Challenge scheme for a 401: the one the client tried.
    challenge: &'static str,
    /// Metrics label: a denial reason, or the error code for a malformed request.
    reason: &'static str,
    /// `Retry-After` of a 429 or 503 (none for a quota that does not refill).
    retry_after: Option<u64>,
    /// The client key's most restrictive rate limit, for the `RateLimit` headers.
    ratelimit: Option<Box<LimitState>>,
    /// The status when it is not the one the error code implies: `413` for a body over
    /// `MAX_BODY_BYTES`, whose code stays `invalid_request` (RFC 6749 has none for it).
    status: Option<StatusCode>,
}

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        let reason = match error.code {
            OAuthErrorCode::InvalidClient => "bad_secret",
            other => other.as_str(),
        };
        OAuthFailure {
            error,
            challenge: "Basic",
            reason,
            retry_after: Some(1),
            ratelimit: None,
            status: None,
        }
    }
}

impl OAuthFailure {
    /// A refused credential; `challenge` is the scheme the client tried.
    fn refused(refusal: Refusal, challenge: &'static str) -> Self {
        OAuthFailure {
            error: refusal.oauth_error(),
            challenge,
            reason: refusal.metric_label(),
            retry_after: refusal.retry_after().or(
                // A refusal that says nothing of when (the database is away): a second.
                match refusal {
                    Refusal::QuotaExhausted { .. } => None,
                    _ => Some(1),
                },
            ),
            ratelimit: refusal.ratelimit().cloned().map(Box::new),
            status: None,
        }
    }
}

impl From<ApiError> for OAuthFailure {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::PayloadTooLarge(_) => OAuthFailure {
                status: Some(StatusCode::PAYLOAD_TOO_LARGE),
                reason: "payload_too_large",
                ..OAuthError::invalid_request(e.to_string()).into()
            },
            ApiError::BadRequest(_) | ApiError::RequestTimeout => {
                OAuthError::invalid_request(e.to_string()).into()
            }
            ApiError::Service(ServiceError::Store(StoreError::Pool(_))) => OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the authorization server cannot reach its database; retry shortly",
            )
            .into(),
            ApiError::Refused(refusal) => OAuthFailure::refused(refusal, "Basic"),
            other => {
                tracing::error!(error = %other, "oauth request failed");
                OAuthFailure {
                    error: OAuthError::new(OAuthErrorCode::InvalidRequest, "server_error"),
                    challenge: "server_error",
                    reason: "server_error",
                    retry_after: Some(1),
                    ratelimit: None,
                    status: None,
                }
            }
        }
    }
}

impl OAuthFailure {
    fn response(&self) -> HttpResponse {
        if self.challenge == "server_error" {
            return no_store(HttpResponse::InternalServerError())
                .json(json!({"error": "server_error", "error_description": "internal error"}));
        }
        let status = self.status.unwrap_or(match self.error.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TooManyRequests
            | OAuthErrorCode::RateLimited
            | OAuthErrorCode::QuotaExhausted => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        });
        let mut r = no_store(HttpResponse::build(status));
        if status == StatusCode::UNAUTHORIZED {
            r.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(if self.challenge == "Bearer" {
                    r#"Bearer realm="latchkey", error="invalid_token""#
                } else {
                    r#"Basic realm="latchkey", charset="UTF-8""#
                }),
            ));
        }
        if (status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS)
            && let Some(wait) = self.retry_after
        {
            r.insert_header((header::RETRY_AFTER, wait.to_string()));
        }
        ratelimit_headers(&mut r, self.ratelimit.as_deref());
        r.json(
            json!({"error": self.error.code.as_str(), "error_description": self.error.description}),
        )
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers) of a key's most
/// restrictive rate limit, on every answer to a limited key.
pub(super) fn ratelimit_headers(
    r: &mut actix_web::HttpResponseBuilder,
    state: Option<&LimitState>,
) {
    if let Some(state) = state {
        let (policy, now) = state.headers();
        r.insert_header(("RateLimit-Policy", policy))
            .insert_header(("RateLimit", now));
    }
}

/// RFC 6749 §5.1: responses carrying tokens or credentials must not be cached.
fn no_store(mut builder: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    builder
}

/// Any other method than POST (the router adds `Allow: POST`).
fn post_only() -> HttpResponse {
    let mut r = OAuthFailure::from(OAuthError::invalid_request(
        "use POST with an application/x-www-form-urlencoded body",
    ))
    .response();
    *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// Form body with the RFC 6749 §3.2 rules; credentials in the query string are refused. A body
/// over `MAX_BODY_BYTES` is a 413, refused from its `Content-Length` before anything is read,
/// or once that much has arrived.
async fn form_params(
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<Params, OAuthFailure> {
    if declares_too_large(req) {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES).into());
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    if req.query_string().contains("client_secret") {
        return Err(
            OAuthError::invalid_request("credentials must not be sent in the URI query").into(),
        );
    }
    let body = read_limited(payload).await.map_err(OAuthFailure::from)?;
    Ok(Params::parse(&body)?)
}

/// Issue an access token (client-credentials grant)
///
/// RFC 6749 §4.4. The key must be active and used from an allowed address; the token is an
/// RFC 9068 JWT signed with the org's current key, valid for the token TTL (600 s by default)
/// or until the key expires, whichever comes first.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "oauth",
    operation_id = "token",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token; `Cache-Control: no-store`, `Pragma: no-cache`", body = TokenResponse),
        OAuthErrors,
    ),
    security(("basic" = []), ()),
)]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> HttpResponse {
    match issue_token(&req, &state, &mut payload).await {
        Ok((body, ratelimit)) => {
            state.metrics.token_issued();
            let mut r = no_store(HttpResponse::Ok());
            ratelimit_headers(&mut r, ratelimit.as_ref());
            r.json(body)
        }
        Err(f) => {
            state.metrics.token_denied(f.reason);
            f.response()
        }
    }
}

/// The `Authorization` header as text (a non-text value is refused by the Basic parser).
fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"))
}

async fn issue_token(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    payload: &mut web::Payload,
) -> Result<(TokenResponse, Option<LimitState>), OAuthFailure> {
    let params = form_params(req, payload).await?;
    oauth::check_grant_type(&params)?;
    // RFC 8707: like the grant type, checked against the configuration before any credential.
    let target = state
        .authority
        .tokens()
        .audiences
        .target(params.get_all("resource"))?;
    let request = GrantRequest {
        client: oauth::client_auth(authorization(req), &params)?,
        scope: params.get("scope").map(str::to_owned),
        target,
        ip: client_ip(req, state),
    };
    let st = state.clone();
    let issued = state
        .read(move |conn| st.authority.grant(conn, &request, now()))
        .await?
        .map_err(|refusal| OAuthFailure::refused(refusal, "Basic"))?;
    Ok((
        TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: issued.scope,
        },
        issued.spent.ratelimit,
    ))
}

impl From<ServiceError> for OAuthFailure {
    fn from(e: ServiceError) -> Self {
        ApiError::from(e).into()
    }
}

/// Introspect a token or an API-key secret
///
/// RFC 7662. Only credentials of the caller's own organization are ever reported active.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = "oauth",
    operation_id = "introspect",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "What the token is, or `{\"active\": false}`; `Cache-Control: no-store`", body = Introspection),
        OAuthErrors,
    ),
    security(("basic" = []), ("bearer" = []), ()),
)]
async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> HttpResponse {
    match introspection(&req, &state, &mut payload).await {
        Ok(body) => no_store(HttpResponse::Ok()).json(body),
        Err(f) => f.response(),
    }
}

/// RFC 7662 §2: the caller must authenticate (any active key, by Basic, body or Bearer) and only
/// learns about tokens of its own org; anything else is `{"active": false}` and nothing more.
/// The `token` parameter that introspection and revocation require (RFC 7662 §2.1, RFC 7009 §2.1).
fn required_token(params: &Params) -> Result<String, OAuthFailure> {
    params
        .get("token")
        .map(str::to_owned)
        .ok_or_else(|| OAuthError::invalid_request("token is required").into())
}

async fn introspection(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    payload: &mut web::Payload,
) -> Result<Introspection, OAuthFailure> {
    let params = form_params(req, payload).await?;
    let caller = authenticate_caller(req, state, &params).await?;
    let token = required_token(&params)?;
    let st = state.clone();
    state
        .read(move |conn| st.authority.introspect(conn, &caller, &token, now()))
        .await?
        .map_err(|refusal| OAuthFailure::refused(refusal, "Basic"))
}

/// The introspection or revocation caller: `Authorization: Bearer` (secret or token), Basic,
/// or body credentials.
async fn authenticate_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    params: &Params,
) -> Result<Actor, OAuthFailure> {
    let ip = client_ip(req, state);
    let (presented, challenge) = match bearer(req) {
        Some(credential) => (Presented::Bearer(credential.to_owned()), "Bearer"),
        None => (
            Presented::Client(oauth::client_auth(authorization(req), params)?),
            "Basic",
        ),
    };
    let st = state.clone();
    state
        .read(move |conn| st.authority.authenticate(conn, &presented, ip, now()))
        .await?
        .map_err(|refusal| OAuthFailure::refused(refusal, challenge))
}

/// Revoke an access token or an API key
///
/// RFC 7009. An access token is refused from then on until it expires; an API-key secret
/// revokes its key when the caller is that key or holds `admin` over it.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "oauth",
    operation_id = "revoke",
    request_body(content = TokenQuery, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke (RFC 7009 §2.2); empty body"),
        OAuthErrors,
    ),
    security(("basic" = []), ("bearer" = []), ()),
)]
async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> HttpResponse {
    match revocation(&req, &state, &mut payload).await {
        // RFC 7009 §2.2: 200 whether or not there was anything to revoke; the body is ignored.
        Ok(()) => no_store(HttpResponse::Ok()).finish(),
        Err(f) => f.response(),
    }
}

/// RFC 7009 §2.1: the caller authenticates like at introspection; an access token is revoked by
/// `jti` until it expires, an API-key secret revokes its key.
async fn revocation(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    payload: &mut web::Payload,
) -> Result<(), OAuthFailure> {
    let params = form_params(req, payload).await?;
    let caller = authenticate_caller(req, state, &params).await?;
    let token = required_token(&params)?;
    // `token_type_hint` is not read: RFC 7009 §2.1, a hint never stops the search.
    let st = state.clone();
    match state
        .db(move |conn| st.authority.revoke(conn, &caller, &token, now()))
        .await?
    {
        Ok(_) => Ok(()),
        Err(NotRevoked::Error(error)) => Err(error.into()),
        Err(NotRevoked::Refused(refusal)) => Err(OAuthFailure::refused(refusal, "Basic")),
    }
}
