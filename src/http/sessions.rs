//! `POST /v1/console/sessions`: the web console's session key for the key that signed in.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::Caller;
use super::keys::whole_number;
use super::ops::method_not_allowed;
use super::problem::ApiError;
use super::problem::responses::{AdminErrors, BodyErrors, Conflict};
use super::router::Router;
use crate::domain::key::session;
use crate::domain::scope::Action;
use crate::service::keys::{KeyView, sessions};
use crate::service::{ServiceError, now};

pub fn routes(router: &mut Router) {
    router.section(method_not_allowed).add(__path_start, start);
}

/// The whole body is optional: empty (or `{}`) means a session of 8 hours.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ConsoleSessionRequest)]
struct StartRequest {
    /// How long the session may last, in seconds: 1 to 28800 (8 hours, the default). It ends
    /// sooner if the key that signed in expires sooner.
    #[schema(minimum = 1, maximum = 28800)]
    #[serde(default, deserialize_with = "whole_number")]
    expires_in: Option<i64>,
}

/// The session's key and its secret (shown this once).
#[derive(Serialize, ToSchema)]
#[schema(as = ConsoleSession)]
struct StartedBody {
    /// The session's key: `kind` `console_session`, `parent_key_id` the caller's key.
    key: KeyView,
    /// The session key's secret, shown exactly once: what the console renews its access token
    /// with (`POST /oauth/token` with the session key's id as `client_id`).
    #[schema(example = "lk_…")]
    secret: String,
}

/// Start a console session
///
/// A key of kind `console_session` for the calling key (its parent), so that the web console can
/// renew its access token without keeping the secret that signed in. It is bounded by the
/// parent: exactly the scopes of the calling credential (a down-scoped token's, if that is what
/// signed in), the parent's allowed addresses, no limits, quota, metadata or public keys, and an
/// expiry of at most `expires_in` (8 hours by default) and never after the parent's. It ends
/// with the parent: revoking or rolling the parent, or changing its scopes, allowed CIDRs or
/// expiry, revokes its sessions at once. The session's own key cannot be edited or rolled
/// (409 `console_session_not_editable`), only revoked (`POST /v1/keys/{id}/revoke`: sign-out).
/// A session cannot start another (409 `console_session_nesting`). Needs `admin` over `keys`,
/// as creating a key does: a session is a key, and without the limits of its parent. Audited as
/// `key.created` with `kind: console_session`; console sessions are left out of key listings
/// and usage rankings unless asked for.
#[utoipa::path(
    post,
    path = "/v1/console/sessions",
    tag = "keys",
    operation_id = "startConsoleSession",
    request_body(content = Option<StartRequest>, description = "Optional; an empty body means 8 hours"),
    responses(
        (status = 201, description = "Started; `Cache-Control: no-store`, as the body holds the secret", body = StartedBody,
            headers(("Location" = String, description = "`/v1/keys/{id}` of the session's key"))),
        (status = 409, response = Conflict),
        AdminErrors,
        BodyErrors,
    ),
    security(("bearer" = [])),
)]
async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Action::Admin, "keys")?;
    let body = super::body::read_limited(&mut payload).await?;
    let request: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        super::body::parse_json(&body)?
    };
    let lifetime = session::lifetime(request.expires_in)
        .map_err(|e| ApiError::from(ServiceError::Validation(vec![e])))?;
    let actor = caller.actor();
    let prefix = state.secret_prefix.clone();
    let started = state
        .db(move |conn| sessions::start(conn, &actor, lifetime, &prefix, now()))
        .await?;
    Ok(HttpResponse::Created()
        // The body carries a credential: no cache may keep it.
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Location", format!("/v1/keys/{}", started.key.id)))
        .json(StartedBody {
            key: started.key,
            secret: started.secret.expose().to_owned(),
        }))
}
