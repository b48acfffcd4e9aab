//! `/v1/keys…`: the admin API for the key lifecycle.

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
use crate::domain::Warning;
use crate::domain::key::{KeyDraft, KeyPatch};
use crate::domain::scope::Action;
use crate::domain::secret::KeyId;
use crate::service::keys::{self as svc, KeyView, ListParams, Page};
use crate::service::now;

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_create, create)
        .add(__path_list, list)
        .add(__path_get, get)
        .add(__path_update, update)
        .add(__path_delete, delete)
        .add(__path_roll, roll)
        .add(__path_change_quota, change_quota)
        .add(__path_revoke, revoke);
}

/// `{id}` of the `/v1/keys/{id}…` paths.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// Key id (`key_…`), the key's OAuth `client_id`.
    pub id: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct DryRun {
    /// `true`: validate and return the warnings, write nothing.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
}

impl DryRun {
    fn parse(&self) -> Result<bool, ApiError> {
        match self.dry_run.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "dry_run must be true or false, not {other:?}"
            ))),
        }
    }
}

/// This node forgets the console sessions a change ended, at once (the others learn it from
/// the change feed).
fn forget_all(state: &AppState, ended_sessions: &[String]) {
    for id in ended_sessions {
        state.authority.forget(id);
    }
}

/// Path ids that cannot be key ids are simply not found (before any scope check or lookup).
fn key_id(raw: &str) -> Result<String, ApiError> {
    KeyId::parse(raw)
        .map(|id| id.as_str().to_owned())
        .map_err(|_| ApiError::NotFound)
}

/// A new key and its secret (shown this once), or a dry run's preview.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedKey)]
struct CreatedBody {
    key: KeyView,
    /// Shown exactly once; `null` on a dry run. The deployment's prefix (`lk_` unless
    /// `--secret-prefix` says otherwise) + 49 base62 characters.
    #[schema(example = "lk_…")]
    secret: Option<String>,
    warnings: Vec<Warning>,
}

/// Create a key
///
/// The secret is in this response only: only its SHA-256 digest is stored. Every scope granted
/// must be covered by the caller's own scopes (no escalation). A scope granting `admin` over
/// Latchkey's own resources (`keys`, `usage`, `audit`, `signing-keys`, `webhooks`) is accepted
/// with a `grants_key_management` warning, as on update.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "createKey",
    params(DryRun),
    request_body = KeyDraft,
    responses(
        (status = 201, description = "Created; `Cache-Control: no-store`, as the body holds the secret", body = CreatedBody,
            headers(("Location" = String, description = "`/v1/keys/{id}` of the new key"))),
        (status = 200, description = "`dry_run=true`: the key as it would be created (empty `id`, `null` secret) and the warnings; nothing written", body = CreatedBody),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn create(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(draft): JsonBody<KeyDraft>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let dry_run = query::<DryRun>(&req)?.parse()?;
    let actor = caller.actor();
    let prefix = state.secret_prefix.clone();
    let created = state
        .db(move |conn| svc::create(conn, &actor, &draft, dry_run, &prefix, now()))
        .await?;
    let body = CreatedBody {
        key: created.key,
        secret: created.secret.as_ref().map(|s| s.expose().to_owned()),
        warnings: created.warnings,
    };
    let status = if dry_run {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    let mut response = HttpResponse::build(status);
    if !dry_run {
        // The body carries a credential: no cache may keep it.
        response.insert_header(("Cache-Control", "no-store"));
        response.insert_header(("Location", format!("/v1/keys/{}", body.key.id)));
    }
    Ok(response.json(body))
}

/// List keys
///
/// Newest first, keyset-paginated: every key is listed exactly once even while keys are being
/// created.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    operation_id = "listKeys",
    params(ListParams),
    responses(
        (status = 200, description = "One page of keys", body = Page),
        AdminErrors,
        QueryErrors,
    ),
    security(("bearer" = [])),
)]
async fn list(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let params: ListParams = query(&req)?;
    let org = caller.org_id.clone();
    // This node's part of the credits counted exactly (see `Budget::report_all`).
    let budget = state.authority.budget().clone();
    let page = state
        .db(move |conn| {
            budget.report_all(conn, crate::service::now())?;
            svc::list(conn, &org, &params, now())
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Get a key
#[utoipa::path(
    get,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "getKey",
    params(KeyPath),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path.id)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let org = caller.org_id.clone();
    // This node's part of the credits counted exactly (see `Budget::report_all`).
    let budget = state.authority.budget().clone();
    let key = state
        .db(move |conn| {
            budget.report_all(conn, crate::service::now())?;
            svc::get(conn, &org, &id, now())
        })
        .await?;
    Ok(HttpResponse::Ok().json(key))
}

/// The key after an update, and what to know about the change.
#[derive(Serialize, ToSchema)]
#[schema(as = UpdatedKey)]
struct UpdatedBody {
    key: KeyView,
    warnings: Vec<Warning>,
}

/// Update a key
///
/// Only the fields present change. New scopes and allowed CIDRs apply from the very next
/// request (a warning says so). A revoked key cannot be edited. New scopes must be covered by
/// the caller's own; changing the scopes at all (even narrowing them: that changes who covers
/// the key), widening the allowed CIDRs or extending the expiry needs a caller covering all of
/// the key's current scopes (403 `scope_escalation`).
#[utoipa::path(
    patch,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "updateKey",
    params(KeyPath, DryRun),
    request_body = KeyPatch,
    responses(
        (status = 200, description = "The key as updated (or, with `dry_run=true`, as it would be) and the warnings", body = UpdatedBody),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn update(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
    JsonBody(patch): JsonBody<KeyPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path.id)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let dry_run = query::<DryRun>(&req)?.parse()?;
    let actor = caller.actor();
    let target = id.clone();
    // This node's part of the credits counted exactly (see `Budget::report_all`).
    let budget = state.authority.budget().clone();
    let updated = state
        .db(move |conn| {
            budget.report_all(conn, crate::service::now())?;
            svc::update(conn, &actor, &id, &patch, dry_run, now())
        })
        .await?;
    // This node forgets the old version at once; the others through the change feed.
    state.authority.forget(&target);
    forget_all(&state, &updated.ended_sessions);
    if updated.credits_reset {
        state.authority.budget().void_credits(&target);
    }
    Ok(HttpResponse::Ok().json(UpdatedBody {
        key: updated.key,
        warnings: updated.warnings,
    }))
}

/// Revoke a key
///
/// Permanent and idempotent: the key stops authenticating at once, with its access tokens and
/// its console sessions. Keys are never deleted. Needs `admin` over `keys/{id}`, except for a
/// key revoking itself (as RFC 7009 revocation allows): that is how a console session signs out.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/revoke",
    tag = "keys",
    operation_id = "revokeKey",
    params(KeyPath),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path.id)?;
    // A console session signs out by revoking itself, whatever its scopes. No other key may
    // end itself without `admin` over it: its access tokens reach resource servers, and a
    // narrow token must not be able to revoke its key for good.
    let signing_out = caller.key_id == id && caller.session_parent.is_some();
    if !signing_out {
        caller.require(Action::Admin, &format!("keys/{id}"))?;
    }
    let actor = caller.actor();
    let target = id.clone();
    let revoked = state
        .db(move |conn| svc::revoke(conn, &actor, &id, now()))
        .await?;
    state.authority.forget(&target);
    forget_all(&state, &revoked.ended_sessions);
    Ok(HttpResponse::Ok().json(revoked.key))
}

/// Revoke a key (`DELETE` spelling of `POST /v1/keys/{id}/revoke`)
///
/// Permanent and idempotent; answers the revoked key.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "keys",
    operation_id = "deleteKey",
    params(KeyPath),
    responses(
        (status = 200, description = "The revoked key", body = KeyView),
        (status = 404, response = NotFound),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
) -> Result<HttpResponse, ApiError> {
    revoke(state, caller, path).await
}

/// The whole body is optional: empty means no grace period.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RollRequest)]
struct RollRequest {
    /// How long the previous secret keeps working: 0 (the default) to 604800 (7 days).
    #[schema(minimum = 0, maximum = 604800)]
    #[serde(default, deserialize_with = "whole_number")]
    grace_seconds: Option<i64>,
}

/// A JSON Schema `integer` is any number with a zero fraction, so `60.0` is the whole number 60
/// (JSON itself does not tell them apart). Whole numbers beyond `i64` saturate (`as` does), to
/// fail the range check with its own message; a fraction is refused here.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(de)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "invalid value: {n}, expected a whole number"
        ))),
    }
}

/// The key and its new secret (shown this once).
#[derive(Serialize, ToSchema)]
#[schema(as = RolledKey)]
struct RolledBody {
    key: KeyView,
    /// The new secret, shown exactly once.
    #[schema(example = "lk_…")]
    secret: String,
}

/// Roll a key's secret
///
/// A new secret for the same key id (so the same `client_id`); the previous secret keeps
/// working for `grace_seconds`, then stops.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/roll",
    tag = "keys",
    operation_id = "rollKey",
    params(KeyPath),
    request_body(content = Option<RollRequest>, description = "Optional; an empty body means no grace period"),
    responses(
        (status = 200, description = "The key and its new secret; `Cache-Control: no-store`", body = RolledBody),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn roll(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path.id)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let body = super::body::read_limited(&mut payload).await?;
    let request: RollRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollRequest::default()
    } else {
        super::body::parse_json(&body)?
    };
    let actor = caller.actor();
    let target = id.clone();
    let prefix = state.secret_prefix.clone();
    let rolled = state
        .db(move |conn| svc::roll(conn, &actor, &id, request.grace_seconds, &prefix, now()))
        .await?;
    state.authority.forget(&target);
    forget_all(&state, &rolled.ended_sessions);
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(RolledBody {
            key: rolled.key,
            secret: rolled.secret.expose().to_owned(),
        }))
}

/// `{"add": n}` or `{"set": n}`, exactly one, read loosely so that each problem names its
/// field (the document shows `QuotaChangeBody`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaChange {
    add: Option<serde_json::Value>,
    set: Option<serde_json::Value>,
}

impl QuotaChange {
    fn parse(&self) -> Result<svc::CreditChange, ApiError> {
        use crate::domain::limits::MAX_CREDITS;
        let amount = |field: &str, v: &serde_json::Value| {
            crate::domain::limits::whole_number(v)
                .filter(|n| *n <= MAX_CREDITS)
                .ok_or_else(|| {
                    ApiError::from(crate::service::ServiceError::Validation(vec![
                        crate::domain::FieldError::new(
                            field,
                            format!("must be a whole number from 0 to {MAX_CREDITS}"),
                        ),
                    ]))
                })
        };
        match (&self.add, &self.set) {
            (Some(n), None) => Ok(svc::CreditChange::Add(amount("add", n)?)),
            (None, Some(n)) => Ok(svc::CreditChange::Set(amount("set", n)?)),
            _ => Err(ApiError::from(crate::service::ServiceError::Validation(
                vec![crate::domain::FieldError::new(
                    "add",
                    "give exactly one of `add` (credits to add) or `set` (credits left)",
                )],
            ))),
        }
    }
}

/// What `POST /v1/keys/{id}/quota` takes, as documented: one of the two, never both
/// (`QuotaChange` parses it loosely, to name the field of each problem).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum QuotaChangeBody {
    Add(AddCredits),
    Set(SetCredits),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AddCredits {
    /// Credits to add to what is left (a top-up).
    #[schema(minimum = 0, maximum = 1000000000000000_u64)]
    add: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct SetCredits {
    /// Credits left from now on; credits nodes hold from before are void.
    #[schema(minimum = 0, maximum = 1000000000000000_u64)]
    set: u64,
}

/// The credits left after a change.
#[derive(Serialize, ToSchema)]
#[schema(as = QuotaRemaining)]
struct QuotaRemaining {
    #[schema(example = 1500)]
    remaining: u64,
}

/// Add or set a key's quota credits
///
/// Atomic on every node: a billing system tops a key up with `{"add": n}`, or sets what is
/// left with `{"set": n}`. Returns the credits left after the change. Audited as
/// `key.quota_changed`. The key must have a quota (give it one with `PATCH`): else 409
/// `no_quota`.
#[utoipa::path(
    post,
    path = "/v1/keys/{id}/quota",
    tag = "keys",
    operation_id = "changeKeyQuota",
    params(KeyPath),
    request_body = QuotaChangeBody,
    responses(
        (status = 200, description = "The credits left", body = QuotaRemaining),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn change_quota(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<KeyPath>,
    JsonBody(request): JsonBody<QuotaChange>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path.id)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let change = request.parse()?;
    let actor = caller.actor();
    let target = id.clone();
    // This node's part of the credits counted exactly (see `Budget::report_all`).
    let budget = state.authority.budget().clone();
    let remaining = state
        .db(move |conn| {
            budget.report_all(conn, crate::service::now())?;
            svc::change_credits(conn, &actor, &id, change, now())
        })
        .await?;
    state.authority.forget(&target);
    if let svc::CreditChange::Set(_) = change {
        state.authority.budget().void_credits(&target);
    }
    Ok(HttpResponse::Ok().json(QuotaRemaining { remaining }))
}
