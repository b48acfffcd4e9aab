//! The admin API's error responses as reusable OpenAPI components (`#/components/responses/…`);
//! each handler's `#[utoipa::path]` lists those it can answer with. Never built: `error_response`
//! (`problem.rs`) writes the bodies, these types only name and describe them.
#![expect(
    dead_code,
    reason = "names and describes bodies written by `error_response`"
)]

use utoipa::ToResponse;

use super::Problem;

/// `bad_request`: the body is not JSON, or a query parameter is malformed.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(Problem<'static>);

/// `invalid_token`: credentials missing, malformed or refused (RFC 6750 §3.1).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"latchkey\", error=\"invalid_token\", error_description=\"…\"`"))
)]
pub struct Unauthorized(Problem<'static>);

/// `insufficient_scope`: no scope of the credential allows `admin` over this resource; or
/// `scope_escalation`: a scope to grant is not covered by the caller's own scopes (`errors`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"latchkey\", error=\"insufficient_scope\", error_description=\"…\"`"))
)]
pub struct Forbidden(Problem<'static>);

/// `not_found`: no such key in the caller's organization (keys of other organizations
/// included).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(Problem<'static>);

/// `key_revoked`: a revoked key cannot be edited or rolled.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(Problem<'static>);

/// `payload_too_large`: the body is larger than 64 KiB.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(Problem<'static>);

/// `validation_failed`: the input breaks a rule; `errors` names every offending field.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct ValidationFailed(Problem<'static>);

/// `internal_error`: the cause is logged on the server, never sent.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct InternalError(Problem<'static>);

/// `service_unavailable`: the database cannot be reached; nothing is served from a cache.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
)]
pub struct ServiceUnavailable(Problem<'static>);

/// `too_many_requests`: too many failed authentications from this address; nothing was
/// checked.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
)]
pub struct TooManyRequests(Problem<'static>);

/// `too_many_signing_keys`: the org already has 10 published signing keys (current and
/// retired ones still in the JWKS), the most allowed; nothing changed. `Retry-After` says
/// when a retired key leaves the JWKS and a rotation fits again. Or `too_many_requests`:
/// too many failed authentications from this address; nothing was checked.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
)]
pub struct TooManySigningKeys(Problem<'static>);
