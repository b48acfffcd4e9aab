//! `/v1/keys…`: the admin API for the key lifecycle.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::Caller;
use super::body::JsonBody;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use crate::domain::Warning;
use crate::domain::key::{KeyDraft, KeyPatch};
use crate::domain::scope::Action;
use crate::domain::secret::KeyId;
use crate::service::keys::{self as svc, KeyView, ListParams};
use crate::service::now;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/keys")
            .route(web::post().to(create))
            .route(web::get().to(list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/keys/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(update))
            .route(web::delete().to(revoke))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/keys/{id}/roll")
            .route(web::post().to(roll))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/keys/{id}/revoke")
            .route(web::post().to(revoke))
            .default_service(web::to(method_not_allowed)),
    );
}

#[derive(Debug, Default, Deserialize)]
struct DryRun {
    dry_run: Option<String>,
}

impl DryRun {
    fn parse(&self) -> Result<bool, ApiError> {
        match self.dry_run.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "dry_run must be true or false, not {other:?}"
            ))),
        }
    }
}

fn query<T: serde::de::DeserializeOwned + Default>(
    req: &actix_web::HttpRequest,
) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))
}

/// Path ids that cannot be key ids are simply not found (before any scope check or lookup).
fn key_id(raw: &str) -> Result<String, ApiError> {
    KeyId::parse(raw)
        .map(|id| id.as_str().to_owned())
        .map_err(|_| ApiError::NotFound)
}

#[derive(Serialize)]
struct CreatedBody {
    key: KeyView,
    /// Shown exactly once; `null` on a dry run.
    secret: Option<String>,
    warnings: Vec<Warning>,
}

async fn create(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    JsonBody(draft): JsonBody<KeyDraft>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let dry_run = query::<DryRun>(&req)?.parse()?;
    let actor = caller.actor();
    let created = state
        .db(move |conn| svc::create(conn, &actor, &draft, dry_run, now()))
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

async fn list(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let params: ListParams = query(&req)?;
    let org = caller.org_id.clone();
    let page = state
        .db(move |conn| svc::list(conn, &org, &params, now()))
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let org = caller.org_id.clone();
    let key = state
        .db(move |conn| svc::get(conn, &org, &id, now()))
        .await?;
    Ok(HttpResponse::Ok().json(key))
}

#[derive(Serialize)]
struct UpdatedBody {
    key: KeyView,
    warnings: Vec<Warning>,
}

async fn update(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    JsonBody(patch): JsonBody<KeyPatch>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let dry_run = query::<DryRun>(&req)?.parse()?;
    let actor = caller.actor();
    let updated = state
        .db(move |conn| svc::update(conn, &actor, &id, &patch, dry_run, now()))
        .await?;
    Ok(HttpResponse::Ok().json(UpdatedBody {
        key: updated.key,
        warnings: updated.warnings,
    }))
}

/// `POST /v1/keys/{id}/revoke` and `DELETE /v1/keys/{id}`: permanent, idempotent.
async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let actor = caller.actor();
    let key = state
        .db(move |conn| svc::revoke(conn, &actor, &id, now()))
        .await?;
    Ok(HttpResponse::Ok().json(key))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollRequest {
    grace_seconds: Option<i64>,
}

#[derive(Serialize)]
struct RolledBody {
    key: KeyView,
    /// The new secret, shown exactly once.
    secret: String,
}

/// `POST /v1/keys/{id}/roll {grace_seconds?}`; the body may be empty (no grace period).
async fn roll(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path)?;
    caller.require(Action::Admin, &format!("keys/{id}"))?;
    let body = super::body::read_limited(&mut payload).await?;
    let request: RollRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RollRequest::default()
    } else {
        super::body::parse_json(&body)?
    };
    let actor = caller.actor();
    let rolled = state
        .db(move |conn| svc::roll(conn, &actor, &id, request.grace_seconds, now()))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(RolledBody {
            key: rolled.key,
            secret: rolled.secret.expose().to_owned(),
        }))
}
