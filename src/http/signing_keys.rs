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
use crate::service::signing_keys::{
    self as svc, RotateOutcome, RotateRequest, Rotated, SigningKeyView, Staged,
};

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
    /// Every key the org ever had, newest first (the next key before the current one made with
    /// it).
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

/// `{"alg"?, "immediate"?}`; the whole body is optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[schema(description = "The body of `POST /v1/signing-keys/rotate`; optional.")]
#[serde(deny_unknown_fields)]
#[schema(as = RotateRequest)]
struct RotateBody {
    /// Algorithm of the key to sign with: `EdDSA`, `RS256` or `ES256`. Absent or the next
    /// key's: the next key is promoted at once (201). Another: a next key of it is published
    /// now and signs from its `activates_at` (202). With `immediate`: the fresh key's, by
    /// default the current key's.
    #[schema(pattern = "^(EdDSA|RS256|ES256)$", example = "EdDSA")]
    alg: Option<String>,
    /// Replace the current key at once with a fresh one, never a key already published (for a
    /// compromised key); caching verifiers refuse its tokens until their JWKS copy expires.
    #[serde(default)]
    immediate: bool,
}

/// Rotate the org's signing key
///
/// Every org has a current key and a next key, both in the JWKS. Without `alg`, or with the next
/// key's, the next key signs from the next token on (201) and a new next key of its algorithm
/// is published: verifiers that fetched the JWKS after the promoted key was published know its
/// kid. With another `alg`, a next key of that algorithm is published now (replacing the next
/// key, which never signed) and every node switches to it at its `activates_at` (202), which is
/// `--jwks-max-age` plus the rotation leeway from now: by then every cached JWKS has it.
/// `immediate: true` makes a fresh key current at once (201, with a `verifiers_may_refuse`
/// warning).
///
/// The retired key stays in the JWKS (and verifies) until every token it signed has expired
/// (`unpublish_at`). An org has at most 10 published keys: a promotion or staged rotation beyond
/// that is refused (429 `too_many_signing_keys`) until a retired key leaves; an immediate one
/// takes the retired keys that would leave first out of the JWKS now, and warns
/// `retired_key_unpublished_early`.
///
/// This node reloads its key ring at once, so the very next token here carries the new kid after
/// a promotion; the other nodes follow on their next key refresh.
#[utoipa::path(
    post,
    path = "/v1/signing-keys/rotate",
    tag = "signing-keys",
    operation_id = "rotateSigningKey",
    request_body(content = Option<RotateBody>, description = "Optional; an empty body promotes the next key"),
    responses(
        (status = 201, description = "Promoted or immediate: the key that signs from now on, the one it retired and the new next key", body = Rotated,
            headers(("Location" = String, description = "`/v1/signing-keys`"))),
        (status = 202, description = "Staged: the next key, published now, signs from its `activates_at`", body = Staged,
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
    let windows = state.rotation_windows();
    let ring = state.keyring.clone();
    let request = RotateRequest {
        alg: body.alg,
        immediate: body.immediate,
    };
    let outcome = state
        .db(move |conn| {
            let outcome = svc::rotate(conn, ring.master(), &actor, &request, windows, &now)?;
            // Committed: a failed reload must not turn the rotation into an error; the
            // refresher retries within a second.
            if let Err(e) = ring.reload(conn, now()) {
                tracing::warn!(error = %e, "signing keys not reloaded after a rotation");
            }
            Ok(outcome)
        })
        .await?;
    let mut response = match &outcome {
        RotateOutcome::Rotated(r) => {
            tracing::info!(
                org_id = %caller.org_id,
                actor = %caller.key_id,
                kid = %r.signing_key.kid,
                alg = %r.signing_key.alg,
                retired = %r.retired.kid,
                next = %r.next.kid,
                "signing key rotated"
            );
            HttpResponse::Created()
        }
        RotateOutcome::Staged(s) => {
            tracing::info!(
                org_id = %caller.org_id,
                actor = %caller.key_id,
                next = %s.next.kid,
                alg = %s.next.alg,
                activates_at = ?s.next.activates_at,
                "signing key staged"
            );
            HttpResponse::Accepted()
        }
    };
    Ok(response
        .insert_header(("Location", "/v1/signing-keys"))
        .json(outcome))
}
