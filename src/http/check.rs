//! `POST /v1/check`: allow/deny for a credential of the caller's org.

use actix_web::{HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use crate::domain::usage::{DenyReason, UsageEvent};
use crate::service::check::{self, CheckRequest};
use crate::service::now;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/check")
            .route(web::post().to(decide))
            .default_service(web::to(method_not_allowed)),
    );
}

/// Any active key of the org may ask, as at introspection: resource servers should not need
/// `admin` to learn whether a request is allowed.
async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let org = caller.org_id.clone();
    let ip = request.ip.as_deref().and_then(|i| i.parse().ok());
    let decision = state
        .db(move |conn| check::check(conn, &st.keyring, &st.tokens.issuer, &org, &request, now()))
        .await?;
    // The subject's use, as the resource server reports it: a request, or a denial by reason.
    if let Some(key) = &decision.key_id {
        let event = match DenyReason::parse(decision.reason) {
            Some(reason) => UsageEvent::Denied(reason),
            None => UsageEvent::Request,
        };
        state.usage.record(key, event, now(), ip);
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(decision))
}
