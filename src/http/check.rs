//! `POST /v1/check`: allow/deny for a credential of the caller's org.

use actix_web::{HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{BodyErrors, CallerErrors};
use super::router::Router;
use crate::service::authority::{CheckRequest, Decision};
use crate::service::now;

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_decide, decide);
}

/// Decide a request
///
/// Whether a credential of the caller's org (an access token or an API-key secret) allows an
/// action on a resource, from an address: the decision a resource server needs when it does not
/// verify tokens itself. A denial is a `200` with `allowed: false` and the reason.
///
/// Any active key of the org may ask, as at introspection: resource servers should not need
/// `admin` to learn whether a request is allowed.
#[utoipa::path(
    post,
    path = "/v1/check",
    tag = "check",
    operation_id = "check",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The decision; `Cache-Control: no-store`", body = Decision),
        CallerErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn decide(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(request): JsonBody<CheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let st = state.clone();
    let actor = caller.actor();
    let decision = state
        .read(move |conn| st.authority.check(conn, &actor, &request, now()))
        .await?
        .map_err(ApiError::Refused)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(decision))
}
