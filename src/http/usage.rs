//! `GET /v1/keys/{id}/usage` and `GET /v1/usage`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use crate::domain::scope::Action;
use crate::domain::secret::KeyId;
use crate::service::now;
use crate::service::usage::{self, UsageParams};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/keys/{id}/usage")
            .route(web::get().to(key_usage))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/usage")
            .route(web::get().to(org_usage))
            .default_service(web::to(method_not_allowed)),
    );
}

fn params(req: &HttpRequest) -> Result<UsageParams, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))
}

async fn key_usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = KeyId::parse(&path)
        .map_err(|_| ApiError::NotFound)?
        .as_str()
        .to_owned();
    caller.require(Action::Admin, &format!("keys/{id}/usage"))?;
    let p = params(&req)?;
    let org = caller.org_id.clone();
    let report = state
        .db(move |conn| usage::key_usage(conn, &org, &id, &p, now()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

async fn org_usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "usage")?;
    let p = params(&req)?;
    let org = caller.org_id.clone();
    let report = state
        .db(move |conn| usage::org_usage(conn, &org, &p, now()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
