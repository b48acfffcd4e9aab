//! `GET /v1/keys/{id}/usage` and `GET /v1/usage`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::Caller;
use super::body::query;
use super::keys::KeyPath;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, NotFound, QueryErrors};
use super::router::Router;
use crate::domain::scope::Action;
use crate::domain::secret::KeyId;
use crate::service::now;
use crate::service::usage::{self, RankingParams, UsageParams, UsageReport};

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_key_usage, key_usage)
        .add(__path_org_usage, org_usage);
}

/// A key's usage
///
/// Tokens issued, direct authentications and denials (by reason) per hour or day, with the
/// key's last use. Counted in memory and flushed in batches: visible within seconds.
#[utoipa::path(
    get,
    path = "/v1/keys/{id}/usage",
    tag = "usage",
    operation_id = "getKeyUsage",
    params(KeyPath, UsageParams),
    responses(
        (status = 200, description = "The key's usage report", body = UsageReport),
        (status = 404, response = NotFound),
        AdminErrors,
        QueryErrors,
    ),
    security(("bearer" = [])),
)]
async fn key_usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = KeyId::parse(&path.id)
        .map_err(|_| ApiError::NotFound)?
        .as_str()
        .to_owned();
    caller.require(Action::Admin, &format!("keys/{id}/usage"))?;
    let p: UsageParams = query(&req)?;
    let org = caller.org_id.clone();
    let report = state
        .db(move |conn| usage::key_usage(conn, &org, &id, &p, now()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The organization's usage
///
/// The same report over every key of the org, with its busiest keys (`top_keys`). The totals
/// count every key's traffic; the ranking leaves web-console session keys out unless
/// `include_sessions=true`.
#[utoipa::path(
    get,
    path = "/v1/usage",
    tag = "usage",
    operation_id = "getOrgUsage",
    params(UsageParams, RankingParams),
    responses(
        (status = 200, description = "The org's usage report", body = UsageReport),
        AdminErrors,
        QueryErrors,
    ),
    security(("bearer" = [])),
)]
async fn org_usage(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "usage")?;
    let p: UsageParams = query(&req)?;
    let ranking: RankingParams = query(&req)?;
    let org = caller.org_id.clone();
    let report = state
        .db(move |conn| usage::org_usage(conn, &org, &p, &ranking, now()))
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
