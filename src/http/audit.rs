//! `GET /v1/audit`: the org's audit trail.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::body::query;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, QueryErrors};
use super::router::Router;
use crate::domain::scope::Action;
use crate::service::audit::{self, AuditPage, AuditParams};

pub fn routes(router: &mut Router) {
    router.section(method_not_allowed).add(__path_list, list);
}

/// List audit events
///
/// Who did what, to what, when and from where: every change to the org's keys and signing
/// keys, newest first. Needs `admin` over `audit`.
#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    operation_id = "listAuditEvents",
    params(AuditParams),
    responses(
        (status = 200, description = "One page of events", body = AuditPage),
        AdminErrors,
        QueryErrors,
    ),
    security(("bearer" = [])),
)]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "audit")?;
    let params: AuditParams = query(&req)?;
    let org = caller.org_id.clone();
    let page = state
        .db(move |conn| audit::list(conn, &org, &params))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}
