//! `POST /oauth/token` (RFC 6749 §4.4) and `POST /oauth/introspect` (RFC 7662), written on
//! actix-web directly: oxide-auth's actix operation turns scope errors into 500s, cannot take
//! `client_secret_post`, sends no `no-store` and has no introspection (README, design notes).

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::AppState;
use super::auth::{bearer, client_ip, meter_caller, throttle_failure};
use super::body::read_limited;
use super::oauth_doc::{
    Introspection, OAuthBadRequest, OAuthInvalidClient, OAuthServerError, OAuthTooManyRequests,
    OAuthUnavailable, TokenQuery, TokenRequest, TokenResponse,
};
use super::problem::ApiError;
use super::router::Router;
use crate::domain::oauth::{self, OAuthError, OAuthErrorCode, Params};
use crate::domain::usage::{DenyReason, UsageEvent};
use crate::service::auth::identify_secret;
use crate::service::callers::{self, CallerIdentity};
use crate::service::keys::Actor;
use crate::service::revocation;
use crate::service::tokens::{self, VerifiedToken};
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
    /// For `too_many_requests`: the `Retry-After` seconds.
    retry_after: u64,
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
            retry_after: 1,
        }
    }
}

impl From<tokens::Denied> for OAuthFailure {
    fn from(d: tokens::Denied) -> Self {
        OAuthFailure {
            error: d.error,
            challenge: "Basic",
            reason: d.reason,
            retry_after: 1,
        }
    }
}

impl From<ApiError> for OAuthFailure {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::PayloadTooLarge(_) | ApiError::BadRequest(_) | ApiError::RequestTimeout => {
                OAuthError::invalid_request(e.to_string()).into()
            }
            ApiError::Service(ServiceError::Store(StoreError::Pool(_))) => OAuthError::new(
                OAuthErrorCode::TemporarilyUnavailable,
                "the authorization server cannot reach its database; retry shortly",
            )
            .into(),
            ApiError::TooManyRequests(wait) => OAuthFailure {
                error: OAuthError::new(
                    OAuthErrorCode::TooManyRequests,
                    format!("too many failed client authentications; retry after {wait} s"),
                ),
                challenge: "Basic",
                reason: "throttled",
                retry_after: wait,
            },
            other => {
                tracing::error!(error = %other, "oauth request failed");
                OAuthFailure {
                    error: OAuthError::new(OAuthErrorCode::InvalidRequest, "server_error"),
                    challenge: "server_error",
                    reason: "server_error",
                    retry_after: 1,
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
        let status = match self.error.code {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::BAD_REQUEST,
        };
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
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            r.insert_header((header::RETRY_AFTER, self.retry_after.to_string()));
        }
        r.json(
            json!({"error": self.error.code.as_str(), "error_description": self.error.description}),
        )
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

/// Form body with the RFC 6749 §3.2 rules; credentials in the query string are refused.
async fn form_params(
    req: &HttpRequest,
    payload: &mut web::Payload,
) -> Result<Params, OAuthFailure> {
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
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthInvalidClient),
        (status = 429, response = OAuthTooManyRequests),
        (status = 500, response = OAuthServerError),
        (status = 503, response = OAuthUnavailable),
    ),
    security(("basic" = []), ()),
)]
async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> HttpResponse {
    match issue_token(&req, &state, &mut payload).await {
        Ok(body) => {
            state.metrics.token_issued();
            no_store(HttpResponse::Ok()).json(body)
        }
        Err(f) => {
            state.metrics.token_denied(f.reason);
            f.response()
        }
    }
}

async fn issue_token(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    payload: &mut web::Payload,
) -> Result<TokenResponse, OAuthFailure> {
    let params = form_params(req, payload).await?;
    oauth::check_grant_type(&params)?;
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let creds = oauth::client_credentials(authorization, &params)?;
    let scope = params.get("scope").map(str::to_owned);
    let ip = client_ip(req, state);
    state.admit_source(ip)?;
    let client_id = creds.client_id.clone();
    let st = state.clone();
    let issued = state
        .read_throttled(state.throttle.key_limited(ip, &client_id), move |conn| {
            tokens::issue(
                conn,
                &st.keyring,
                &st.keys,
                &st.tokens,
                &creds,
                scope.as_deref(),
                ip,
                now(),
            )
        })
        .await?;
    let issued = match issued {
        Ok(issued) => {
            state
                .usage
                .record(&issued.key_id, UsageEvent::TokenIssued, now(), Some(ip));
            issued
        }
        Err(denied) => {
            if let (Some(key), Some(reason)) = (&denied.key_id, DenyReason::parse(denied.reason)) {
                state
                    .usage
                    .record(key, UsageEvent::Denied(reason), now(), Some(ip));
            }
            if denied.guessed
                && let Some(wait) = state.throttle.failed(ip, Some(&client_id))
            {
                return Err(ApiError::TooManyRequests(wait.0).into());
            }
            return Err(denied.into());
        }
    };
    Ok(TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: issued.scope,
    })
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
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthInvalidClient),
        (status = 429, response = OAuthTooManyRequests),
        (status = 500, response = OAuthServerError),
        (status = 503, response = OAuthUnavailable),
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
) -> Result<Value, OAuthFailure> {
    let params = form_params(req, payload).await?;
    let caller = authenticate_caller(req, state, &params).await?;
    let token = required_token(&params)?;
    let st = state.clone();
    let answer = state
        .read(move |conn| {
            let now = now();
            if token.contains('.') {
                Ok(
                    match tokens::verify(
                        conn,
                        &st.keyring,
                        &st.keys,
                        &st.tokens.issuer,
                        &token,
                        now,
                    )? {
                        Ok(v) if v.claims.org_id == caller.org_id => active_token(&v),
                        _ => inactive(),
                    },
                )
            } else {
                Ok(match identify_secret(conn, &st.keys, &token, now)? {
                    Ok(k) if k.org_id == caller.org_id && k.admit(None).is_ok() => json!({
                        "active": true,
                        "token_type": "api_key",
                        "scope": crate::domain::scope::format_scope_list(&k.scopes),
                        "client_id": k.key_id,
                        "sub": k.key_id,
                        "org_id": k.org_id,
                        "iat": k.created_at.timestamp(),
                        "exp": k.expires_at.map(|e| e.timestamp()),
                    }),
                    _ => inactive(),
                })
            }
        })
        .await?;
    Ok(answer)
}

fn inactive() -> Value {
    json!({"active": false})
}

fn active_token(v: &VerifiedToken) -> Value {
    let c = &v.claims;
    json!({
        "active": true,
        "token_type": "Bearer",
        "scope": crate::domain::scope::format_scope_list(&v.scopes),
        "client_id": c.client_id,
        "sub": c.sub,
        "org_id": c.org_id,
        "iss": c.iss,
        "aud": c.aud,
        "jti": c.jti,
        "iat": c.iat,
        "exp": c.exp,
    })
}

/// The introspection caller: `Authorization: Bearer` (secret or token), Basic, or body credentials.
async fn authenticate_caller(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    params: &Params,
) -> Result<CallerIdentity, OAuthFailure> {
    let ip = client_ip(req, state);
    state.admit_source(ip)?;
    let st = state.clone();
    let (outcome, challenge, client_id) = if let Some(credential) = bearer(req).map(str::to_owned) {
        let outcome = state
            .read(move |conn| {
                callers::authenticate(
                    conn,
                    &st.keyring,
                    &st.keys,
                    &st.tokens.issuer,
                    &credential,
                    ip,
                    now(),
                )
            })
            .await?;
        (outcome, "Bearer", None)
    } else {
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let creds = oauth::client_credentials(authorization, params)?;
        let client_id = creds.client_id.clone();
        let outcome = state
            .read_throttled(state.throttle.key_limited(ip, &client_id), move |conn| {
                callers::authenticate_client(conn, &st.keys, &creds, ip, now())
            })
            .await?;
        (outcome, "Basic", Some(client_id))
    };
    meter_caller(state, &outcome, ip);
    throttle_failure(state, &outcome, ip, client_id.as_deref())?;
    outcome.map_err(|refusal| OAuthFailure {
        error: OAuthError::invalid_client(refusal.message),
        challenge,
        reason: refusal.reason.as_str(),
        retry_after: 1,
    })
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
        (status = 400, response = OAuthBadRequest),
        (status = 401, response = OAuthInvalidClient),
        (status = 429, response = OAuthTooManyRequests),
        (status = 500, response = OAuthServerError),
        (status = 503, response = OAuthUnavailable),
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
    let identity = authenticate_caller(req, state, &params).await?;
    let caller = Actor {
        org_id: identity.org_id,
        key_id: Some(identity.key_id),
        scopes: identity.scopes,
        ip: Some(client_ip(req, state)),
    };
    let token = required_token(&params)?;
    let hint = params.get("token_type_hint").map(str::to_owned);
    let st = state.clone();
    state
        .db(move |conn| {
            revocation::revoke(
                conn,
                &st.keyring,
                &st.keys,
                &st.tokens.issuer,
                &caller,
                &token,
                hint.as_deref(),
                now(),
            )
        })
        .await??;
    Ok(())
}
