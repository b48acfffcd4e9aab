//! Operational endpoints and the JSON answers for unknown routes.

use actix_web::{HttpResponse, ResponseError, web};

use super::AppState;
use super::problem::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database answers; a load balancer takes the node out while it does not.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let pool = state.pool.clone();
    match web::block(move || crate::store::ping(&pool)).await {
        Ok(Ok(())) => HttpResponse::Ok().json(serde_json::json!({"status": "ready"})),
        _ => HttpResponse::ServiceUnavailable().json(
            serde_json::json!({"status": "unavailable", "detail": "the database is not reachable"}),
        ),
    }
}

pub async fn not_found() -> HttpResponse {
    ApiError::NotFound.error_response()
}

pub async fn method_not_allowed() -> HttpResponse {
    ApiError::MethodNotAllowed.error_response()
}
