//! Operational endpoints and the JSON answers for unknown routes.

use actix_web::{HttpResponse, ResponseError, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::ApiError;
use super::router::Router;

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_healthz, healthz)
        .add(__path_readyz, readyz);
}

/// What a health or readiness probe answers.
#[derive(Serialize, ToSchema)]
#[schema(as = HealthStatus)]
struct Status {
    /// `ok` (`/healthz`), `ready` or `unavailable` (`/readyz`).
    #[schema(example = "ok")]
    status: &'static str,
    /// Why the node is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'static str>,
}

/// Liveness
///
/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses((status = 200, description = "The process is up", body = Status)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok",
        detail: None,
    })
}

/// Readiness
///
/// The database answers; a load balancer takes the node out while it does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "The database answers", body = Status),
        (status = 503, description = "The database is not reachable", body = Status),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    match web::block(move || crate::store::ping(&pool)).await {
        Ok(Ok(())) => HttpResponse::Ok().json(Status {
            status: "ready",
            detail: None,
        }),
        _ => HttpResponse::ServiceUnavailable().json(Status {
            status: "unavailable",
            detail: Some("the database is not reachable"),
        }),
    }
}

/// The application's default service: no route has this path.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}

/// A known path asked with a method it does not serve (the router adds `Allow`).
pub fn method_not_allowed() -> HttpResponse {
    ApiError::MethodNotAllowed.error_response()
}
