//! Leaked secrets: `POST /v1/leaks`, where an admin of any org of the deployment reports
//! secrets found in public, and the org's own `leak_policy` (`GET`/`PATCH /v1/org`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, BodyErrors};
use super::router::Router;
use crate::domain::FieldError;
use crate::domain::org::LeakPolicy;
use crate::domain::scope::Action;
use crate::service::leaks::{self as svc, LeakOutcome, MAX_SECRETS, MAX_SOURCE_LEN, Report};
use crate::service::{ServiceError, now, orgs};

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_report, report)
        .add(__path_get_org, get_org)
        .add(__path_update_org, update_org);
}

/// The body of `POST /v1/leaks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LeakReport)]
struct ReportBody {
    /// The secrets found, 1 to 100.
    #[schema(min_items = 1, max_items = 100)]
    secrets: Vec<String>,
    /// Where they were found (a URL, say), kept in the audit trail and the `key.leaked` event.
    #[schema(max_length = 2048)]
    source: Option<String>,
}

/// What became of each reported secret, in order.
#[derive(Serialize, ToSchema)]
#[schema(as = LeakReportResult)]
struct ReportResult {
    results: Vec<LeakOutcome>,
}

/// Report leaked secrets
///
/// Each secret that belongs to a key of this deployment, in any organization, is acted on by
/// that organization's `leak_policy`: the key is revoked at once (`revoke`, the default) or
/// flagged (`notify`); the report is audited there as `key.leaked` and announced by the
/// `key.leaked` webhook event. The answer says what became of each secret, never whose it was.
/// Needs `admin` over `keys` in the caller's own organization.
#[utoipa::path(
    post,
    path = "/v1/leaks",
    tag = "keys",
    operation_id = "reportLeaks",
    request_body = ReportBody,
    responses(
        (status = 200, description = "What became of each secret", body = ReportResult),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn report(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ReportBody>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let mut errors = Vec::new();
    if body.secrets.is_empty() || body.secrets.len() > MAX_SECRETS {
        errors.push(FieldError::new(
            "secrets",
            format!("must list 1 to {MAX_SECRETS} secrets"),
        ));
    }
    if let Some(source) = &body.source
        && (source.chars().count() > MAX_SOURCE_LEN || source.chars().any(char::is_control))
    {
        errors.push(FieldError::new(
            "source",
            format!("must be at most {MAX_SOURCE_LEN} characters, without control characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors).into());
    }
    let reporter = format!("leak-report:{}", caller.key_id);
    let (outcomes, revoked) = state
        .db(move |conn| {
            let report = Report {
                reporter: &reporter,
                source: body.source.as_deref(),
            };
            svc::report(conn, &report, &body.secrets, now())
        })
        .await?;
    for id in &revoked {
        state.authority.forget(id);
    }
    Ok(HttpResponse::Ok().json(ReportResult { results: outcomes }))
}

/// The caller's organization and its settings.
#[derive(Serialize, ToSchema)]
#[schema(as = Org)]
struct OrgBody {
    #[schema(example = "org_4mQp9ZcT2vLx8NbR0sWy")]
    id: String,
    #[schema(example = "default")]
    slug: String,
    created_at: chrono::DateTime<chrono::Utc>,
    /// What happens to a key whose secret is reported leaked: `revoke` (default) or `notify`.
    leak_policy: LeakPolicy,
}

/// The body of `PATCH /v1/org`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = OrgUpdate)]
struct OrgPatch {
    leak_policy: Option<LeakPolicy>,
}

fn org_body(org: crate::store::orgs::Org) -> OrgBody {
    OrgBody {
        id: org.id,
        slug: org.slug,
        created_at: org.created_at,
        leak_policy: org.leak_policy,
    }
}

/// Get the caller's organization
///
/// Needs `admin` over `keys`.
#[utoipa::path(
    get,
    path = "/v1/org",
    tag = "keys",
    operation_id = "getOrg",
    responses(
        (status = 200, description = "The organization and its settings", body = OrgBody),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn get_org(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let id = caller.org_id.clone();
    let org = state.db(move |conn| orgs::find_by_id(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(org_body(org)))
}

/// Update the caller's organization
///
/// Sets `leak_policy`. Needs `admin` over `keys`; audited as `org.updated`.
#[utoipa::path(
    patch,
    path = "/v1/org",
    tag = "keys",
    operation_id = "updateOrg",
    request_body = OrgPatch,
    responses(
        (status = 200, description = "The organization as updated", body = OrgBody),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn update_org(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(patch): JsonBody<OrgPatch>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let actor = caller.actor();
    let org = state
        .db(move |conn| orgs::set_leak_policy(conn, &actor, patch.leak_policy, now()))
        .await?;
    Ok(HttpResponse::Ok().json(org_body(org)))
}
