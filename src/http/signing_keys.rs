//! `/v1/signing-keys…`: an org's signing keys and their rotation. Both need `admin` over
//! `signing-keys`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::auth::Caller;
use super::body::{parse_json, read_limited};
use super::ops::method_not_allowed;
use super::problem::ApiError;
use crate::domain::scope::Action;
use crate::service::now;
use crate::service::signing_keys as svc;

/// The resource path of every signing-key call (SPEC "Admin API").
const RESOURCE: &str = "signing-keys";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/signing-keys")
            .route(web::get().to(list))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/v1/signing-keys/rotate")
            .route(web::post().to(rotate))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, RESOURCE)?;
    let org = caller.org_id.clone();
    let keys = state.db(move |conn| svc::list(conn, &org, now())).await?;
    Ok(HttpResponse::Ok().json(json!({ "signing_keys": keys })))
}

/// `{"alg"?}`; the whole body is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    alg: Option<String>,
}

/// Rotates, then reloads this node's key ring at once so the very next token carries the new
/// kid here; the other nodes follow on their next key refresh.
async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, RESOURCE)?;
    let bytes = read_limited(&mut payload).await?;
    let body: RotateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        parse_json(&bytes)?
    };
    let actor = caller.actor();
    let window = svc::publish_window(state.tokens.ttl, state.rotation_leeway);
    let ring = state.keyring.clone();
    let rotated = state
        .db(move |conn| {
            let at = now();
            let rotated =
                svc::rotate(conn, ring.master(), &actor, body.alg.as_deref(), window, at)?;
            // Committed: a failed reload must not turn the rotation into an error; the
            // refresher retries within a second.
            if let Err(e) = ring.reload(conn, at) {
                tracing::warn!(error = %e, "signing keys not reloaded after a rotation");
            }
            Ok(rotated)
        })
        .await?;
    tracing::info!(
        org_id = %caller.org_id,
        actor = %caller.key_id,
        kid = %rotated.signing_key.kid,
        alg = %rotated.signing_key.alg,
        retired = %rotated.retired.kid,
        "signing key rotated"
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", "/v1/signing-keys"))
        .json(rotated))
}
