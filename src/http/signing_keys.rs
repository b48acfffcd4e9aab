//! `/v1/signing-keys…`: an org's signing keys and their rotation. Both need `admin` over
//! `signing-keys`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::body::{parse_json, read_limited};
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, BodyErrors, RotationErrors};
use super::router::Router;
use crate::domain::scope::Action;
use crate::service::now;
use crate::service::signing_keys::{self as svc, Rotated, SigningKeyView};

/// The resource path of every signing-key call (SPEC "Admin API").
const RESOURCE: &str = "signing-keys";

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_list, list)
        .add(__path_rotate, rotate);
}

/// The org's signing keys.
#[derive(Serialize, ToSchema)]
#[schema(as = SigningKeyList)]
struct ListBody {
    /// Every key the org ever had, newest first.
    signing_keys: Vec<SigningKeyView>,
}

/// List the org's signing keys
#[utoipa::path(
    get,
    path = "/v1/signing-keys",
    tag = "signing-keys",
    operation_id = "listSigningKeys",
    responses(
        (status = 200, description = "The org's signing keys, public halves only", body = ListBody),
        AdminErrors,
    ),
    security(("bearer" = [])),
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, RESOURCE)?;
    let org = caller.org_id.clone();
    let signing_keys = state.db(move |conn| svc::list(conn, &org, now())).await?;
    Ok(HttpResponse::Ok().json(ListBody { signing_keys }))
}

/// `{"alg"?}`; the whole body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(description = "The body of `POST /v1/signing-keys/rotate`; optional.")]
#[serde(deny_unknown_fields)]
#[schema(as = RotateRequest)]
struct RotateBody {
    /// Algorithm of the new key: `EdDSA`, `RS256` or `ES256`; by default the current key's.
    #[schema(pattern = "^(EdDSA|RS256|ES256)$", example = "EdDSA")]
    alg: Option<String>,
}

/// Rotate the org's signing key
///
/// The new key signs from the next token on; the old one stays in the JWKS (and verifies) until
/// every token it signed has expired (`unpublish_at`). An org has at most 10 published keys:
/// beyond that the rotation is refused (429 `too_many_signing_keys`) until a retired key leaves.
///
/// Rotates, then reloads this node's key ring at once so the very next token carries the new
/// kid here; the other nodes follow on their next key refresh.
#[utoipa::path(
    post,
    path = "/v1/signing-keys/rotate",
    tag = "signing-keys",
    operation_id = "rotateSigningKey",
    request_body(content = Option<RotateBody>, description = "Optional; an empty body keeps the current key's algorithm"),
    responses(
        (status = 201, description = "The new current key and the one it retired", body = Rotated,
            headers(("Location" = String, description = "`/v1/signing-keys`"))),
        RotationErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
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
    let window = svc::publish_window(state.authority.tokens().ttl, state.rotation_leeway);
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
