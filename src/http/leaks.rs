//! Leaked secrets: `POST /v1/leaks`, where an admin of any org of the deployment reports
//! secrets found in public; GitHub's secret-scanning alerts (`POST /v1/secret-scanning/github`,
//! signed by GitHub); and the org's own `leak_policy` (`GET`/`PATCH /v1/org`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::{JsonBody, read_limited};
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
        .add(__path_github, github)
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
    // Any text: it is kept as JSON (escaped) in the audit trail and the event.
    if let Some(source) = &body.source
        && source.chars().count() > MAX_SOURCE_LEN
    {
        errors.push(FieldError::new(
            "source",
            format!("must be at most {MAX_SOURCE_LEN} characters"),
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

/// One alert of GitHub's secret scanning.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = GithubSecretAlert)]
struct GithubAlert {
    /// The secret found.
    token: String,
    /// The pattern's name, as registered with GitHub.
    #[serde(rename = "type")]
    kind: String,
    /// Where it was found.
    url: Option<String>,
    /// Where GitHub found it (`content`, `commit`, …).
    source: Option<String>,
}

/// GitHub's feedback on one alert: whether it was one of this deployment's secrets.
#[derive(Serialize, ToSchema)]
#[schema(as = GithubSecretFeedback)]
struct GithubFeedback {
    token_raw: String,
    token_type: String,
    /// `true_positive` (a key's secret: revoked or flagged) or `false_positive`.
    #[schema(example = "true_positive")]
    label: &'static str,
}

/// Receive GitHub secret-scanning alerts
///
/// GitHub's secret-scanning partner endpoint: a JSON array of `{token, type, url, source}`,
/// signed with ECDSA P-256 over the body (`Github-Public-Key-Identifier`,
/// `Github-Public-Key-Signature`) by a key of the file given with `--github-scanning-keys`.
/// Each secret is handled as by `POST /v1/leaks`. Unsigned or badly signed: 401. Not served
/// (404) unless the key file is configured.
#[utoipa::path(
    post,
    path = "/v1/secret-scanning/github",
    tag = "keys",
    operation_id = "githubSecretScanning",
    request_body(content = Vec<GithubAlert>, description = "GitHub's alerts"),
    responses(
        (status = 200, description = "Feedback per alert", body = Vec<GithubFeedback>),
        (status = 401, description = "`invalid_signature`: missing or invalid GitHub signature", body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the key file is not configured", body = super::problem::Problem, content_type = "application/problem+json"),
        BodyErrors,
    ),
)]
async fn github(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Some(keys) = state.github_keys.clone() else {
        return Err(ApiError::NotFound);
    };
    let body = read_limited(&mut payload).await?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if let Err(refused) = keys.verify(
        header("github-public-key-identifier"),
        header("github-public-key-signature"),
        &body,
    ) {
        tracing::warn!(reason = %refused, "a secret-scanning alert was refused");
        return Err(ApiError::BadSignature(refused.to_string()));
    }
    let alerts: Vec<GithubAlert> = serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadBody(vec![FieldError::new(
            "",
            format!("not GitHub's alert list: {e}"),
        )])
    })?;
    let (feedback, revoked) = state
        .db(move |conn| {
            let mut feedback = Vec::with_capacity(alerts.len());
            let mut revoked = Vec::new();
            for alert in alerts {
                let source = alert.url.as_deref().or(alert.source.as_deref());
                let report = Report {
                    reporter: "github-secret-scanning",
                    source,
                };
                let (outcome, now_revoked) =
                    svc::report(conn, &report, std::slice::from_ref(&alert.token), now())?;
                revoked.extend(now_revoked);
                let found = outcome.first().is_some_and(|o| *o != LeakOutcome::Unknown);
                feedback.push((alert, found));
            }
            Ok((feedback, revoked))
        })
        .await?;
    for id in &revoked {
        state.authority.forget(id);
    }
    let mut answer = Vec::with_capacity(feedback.len());
    for (alert, found) in feedback {
        answer.push(GithubFeedback {
            token_raw: alert.token,
            token_type: alert.kind,
            label: if found {
                "true_positive"
            } else {
                "false_positive"
            },
        });
    }
    Ok(HttpResponse::Ok().json(answer))
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
