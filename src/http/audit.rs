//! `GET /v1/audit`: the org's audit trail.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use crate::domain::scope::Action;
use crate::service::audit::{self, AuditParams};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/audit")
            .route(web::get().to(list))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "audit")?;
    let params: AuditParams = serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
    let org = caller.org_id.clone();
    let page = state
        .db(move |conn| audit::list(conn, &org, &params))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
