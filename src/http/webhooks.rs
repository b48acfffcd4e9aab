//! `/v1/webhooks…`: an org's lifecycle webhooks, their delivery log, a retry and a test event.
//! Every call needs `admin` over `webhooks` (or `webhooks/{id}` for one webhook).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::Caller;
use super::body::{JsonBody, query};
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, BodyErrors, Conflict, NotFound, QueryErrors};
use super::router::Router;
use crate::domain::scope::Action;
use crate::domain::webhook::{WebhookDraft, WebhookPatch};
use crate::service::now;
use crate::service::webhooks::{
    self as svc, DeliveryPage, DeliveryParams, DeliveryView, WebhookView,
};

const RESOURCE: &str = "webhooks";

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_create, create)
        .add(__path_list, list)
        .add(__path_get, get)
        .add(__path_update, update)
        .add(__path_delete, delete)
        .add(__path_deliveries, deliveries)
        .add(__path_retry, retry)
        .add(__path_test, test);
}

/// `{id}` of the `/v1/webhooks/{id}…` paths.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// Webhook id (`wh_…`).
    pub id: String,
}

/// `{id}` and `{delivery_id}` of a delivery's path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// Webhook id (`wh_…`).
    pub id: String,
    /// Delivery id (`dlv_…`).
    pub delivery_id: String,
}

/// Path ids that cannot be webhook ids are simply not found (before any scope check).
fn webhook_id(raw: &str) -> Result<String, ApiError> {
    let ok = raw.strip_prefix("wh_").is_some_and(|rest| {
        (1..=64).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::NotFound)
    }
}

/// One webhook needs `admin` over `webhooks/{id}` (which `admin:webhooks/**` or `admin:*` give).
fn require_one(caller: &Caller, id: &str) -> Result<(), ApiError> {
    caller.require(Action::Admin, &format!("{RESOURCE}/{id}"))
}

/// A new webhook and its signing secret (shown this once).
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedWebhook)]
struct CreatedBody {
    webhook: WebhookView,
    /// The Standard Webhooks signing secret, `whsec_` + base64: verify each delivery's
    /// `webhook-signature` with it (e.g. the `standardwebhooks` library). Shown exactly once.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    secret: String,
}

/// Create a webhook
///
/// Events of the org of the subscribed types are POSTed to `url`, signed per Standard Webhooks
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`), at least once and in order per
/// key, retried with exponential backoff for up to 24 hours. The URL must be https and resolve
/// to public addresses (checked again on every connection); redirects are not followed.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "createWebhook",
    request_body = WebhookDraft,
    responses(
        (status = 201, description = "Created; `Cache-Control: no-store`, as the body holds the signing secret", body = CreatedBody,
            headers(("Location" = String, description = "`/v1/webhooks/{id}` of the new webhook"))),
        (status = 409, response = Conflict),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(draft): JsonBody<WebhookDraft>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, RESOURCE)?;
    let actor = caller.actor();
    let (master, reach) = (state.keyring.master().clone(), state.webhook_reach);
    let created = state
        .db(move |conn| svc::create(conn, &master, reach, &actor, &draft, now()))
        .await?;
    let body = CreatedBody {
        secret: created.secret.expose(),
        webhook: created.webhook,
    };
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Location", format!("/v1/webhooks/{}", body.webhook.id)))
        .json(body))
}

/// The org's webhooks.
#[derive(Serialize, ToSchema)]
#[schema(as = WebhookList)]
struct ListBody {
    /// Oldest first (an org has at most 20).
    webhooks: Vec<WebhookView>,
}

/// List webhooks
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "listWebhooks",
    responses(
        (status = 200, description = "The org's webhooks", body = ListBody),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, RESOURCE)?;
    let org = caller.org_id.clone();
    let webhooks = state.db(move |conn| svc::list(conn, &org)).await?;
    Ok(HttpResponse::Ok().json(ListBody { webhooks }))
}

/// Get a webhook
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "getWebhook",
    params(WebhookPath),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let org = caller.org_id.clone();
    let hook = state.db(move |conn| svc::get(conn, &org, &id)).await?;
    Ok(HttpResponse::Ok().json(hook))
}

/// Update a webhook
///
/// Changes its URL, events or description; `enabled: true` turns a disabled webhook back on
/// (events made while it was disabled are not delivered), `enabled: false` turns it off.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "updateWebhook",
    params(WebhookPath),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The webhook as updated", body = WebhookView),
        (status = 404, response = NotFound),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
    JsonBody(patch): JsonBody<WebhookPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let actor = caller.actor();
    let reach = state.webhook_reach;
    let hook = state
        .db(move |conn| svc::update(conn, reach, &actor, &id, &patch, now()))
        .await?;
    Ok(HttpResponse::Ok().json(hook))
}

/// Delete a webhook
///
/// With its delivery log; deliveries still pending are dropped.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "deleteWebhook",
    params(WebhookPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let actor = caller.actor();
    state
        .db(move |conn| svc::delete(conn, &actor, &id, now()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List a webhook's deliveries
///
/// Newest first: each event sent to this webhook, its attempts, the last answer's status, when
/// it is tried next, and when it was delivered.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "listWebhookDeliveries",
    params(WebhookPath, DeliveryParams),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryPage),
        (status = 404, response = NotFound),
        AdminErrors,
        QueryErrors,
    ),
    security(("bearer" = [])),
)]
async fn deliveries(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let params: DeliveryParams = query(&req)?;
    let org = caller.org_id.clone();
    let page = state
        .db(move |conn| svc::deliveries(conn, &org, &id, &params))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Retry a delivery
///
/// Sends it again now, whatever became of it (failed, or delivered and wanted again), with the
/// same `webhook-id`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/deliveries/{delivery_id}/retry",
    tag = "webhooks",
    operation_id = "retryWebhookDelivery",
    params(DeliveryPath),
    responses(
        (status = 202, description = "Queued: the delivery as it stands", body = DeliveryView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn retry(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<DeliveryPath>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let actor = caller.actor();
    let delivery_id = path.delivery_id.clone();
    let delivery = state
        .db(move |conn| svc::retry(conn, &actor, &id, &delivery_id, now()))
        .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}

/// Send a test event
///
/// Queues a `webhook.test` event for this webhook alone, whatever it subscribed to. A disabled
/// webhook gets it once it is enabled again.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "testWebhook",
    params(WebhookPath),
    responses(
        (status = 202, description = "Queued: the test event's delivery", body = DeliveryView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn test(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<WebhookPath>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&path.id)?;
    require_one(&caller, &id)?;
    let actor = caller.actor();
    let delivery = state
        .db(move |conn| svc::test(conn, &actor, &id, now()))
        .await?;
    Ok(HttpResponse::Accepted().json(delivery))
}
