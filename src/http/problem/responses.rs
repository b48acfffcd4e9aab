//! The admin API's error responses as reusable OpenAPI components (`#/components/responses/…`),
//! and the sets of them that whole families of operations share. Never built: `error_response`
//! (`problem.rs`) writes the bodies, these types only name and describe them.
//!
//! A handler's `#[utoipa::path]` lists its success responses and the errors only some routes
//! answer (`NotFound`, `Conflict`), then the set of errors it shares with its family
//! (`AdminErrors` for the admin API, `CallerErrors` for `/v1/check`, `RotationErrors` for the
//! signing-key rotation), then the set for its input (`BodyErrors`, `QueryErrors`) if it reads
//! one. A set writes each status as a `$ref` to the component, exactly as
//! `(status = 401, response = Unauthorized)` does. The sets an operation combines never share a
//! status (`the_sets_an_operation_combines_are_disjoint`): the later would silently replace the
//! earlier.
#![expect(
    dead_code,
    reason = "names and describes bodies written by `error_response`"
)]

use std::collections::BTreeMap;

use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{IntoResponses, ToResponse};

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

/// `key_revoked`: a revoked key cannot be edited or rolled; `console_session_not_editable`: nor
/// can a console session's key; `console_session_parent_guarded`: a session may not roll the key
/// that started it, nor change its scopes, addresses, expiry or credentials; `console_session_nesting`, `console_session_parent_inactive`:
/// no console session could be started.
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

/// What any authenticated route can answer whatever it does: the credential is missing or
/// refused (401) or comes from a throttled address (429); or the server fails (500, 503). On its
/// own for the routes any active key of the org may call (`/v1/check`).
#[derive(IntoResponses)]
pub enum CallerErrors {
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 429)]
    TooManyRequests(#[ref_response] TooManyRequests),
    #[response(status = 500)]
    InternalError(#[ref_response] InternalError),
    #[response(status = 503)]
    ServiceUnavailable(#[ref_response] ServiceUnavailable),
}

/// `CallerErrors` and 403: what any admin route can answer, as the credential may lack `admin`
/// over the resource.
pub struct AdminErrors;

impl IntoResponses for AdminErrors {
    fn responses() -> Responses {
        let mut all = CallerErrors::responses();
        all.insert("403".to_owned(), reference::<Forbidden>());
        all
    }
}

/// `AdminErrors` of the signing-key rotation, whose 429 is also `too_many_signing_keys`.
pub struct RotationErrors;

impl IntoResponses for RotationErrors {
    fn responses() -> Responses {
        let mut all = AdminErrors::responses();
        all.insert("429".to_owned(), reference::<TooManySigningKeys>());
        all
    }
}

/// An operation that reads query parameters: malformed (400), or breaking a rule (422).
#[derive(IntoResponses)]
pub enum QueryErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 422)]
    ValidationFailed(#[ref_response] ValidationFailed),
}

/// An operation that reads a JSON body: `QueryErrors` (not JSON, or breaking a rule), and 413
/// for a body too large.
pub struct BodyErrors;

impl IntoResponses for BodyErrors {
    fn responses() -> Responses {
        let mut all = QueryErrors::responses();
        all.insert("413".to_owned(), reference::<PayloadTooLarge>());
        all
    }
}

/// An operation's responses by status, as `IntoResponses` gives them.
type Responses = BTreeMap<String, RefOr<Response>>;

/// `$ref` to the component `R`, as `(status = …, response = R)` writes it.
fn reference<R: ToResponse<'static>>() -> RefOr<Response> {
    Ref::from_response_name(R::response().0).into()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn statuses<T: IntoResponses>() -> BTreeSet<String> {
        T::responses().into_keys().collect()
    }

    #[test]
    fn the_sets_an_operation_combines_are_disjoint() {
        let own = BTreeSet::from(["404".to_owned(), "409".to_owned()]);
        for family in [
            statuses::<AdminErrors>(),
            statuses::<RotationErrors>(),
            statuses::<CallerErrors>(),
        ] {
            for input in [statuses::<BodyErrors>(), statuses::<QueryErrors>()] {
                assert!(family.is_disjoint(&input), "{family:?} and {input:?}");
                assert!(input.is_disjoint(&own), "{input:?}");
            }
            assert!(family.is_disjoint(&own), "{family:?}");
        }
    }

    #[test]
    fn every_family_answers_401_429_500_and_503_and_the_admin_ones_403() {
        let caller = statuses::<CallerErrors>();
        assert_eq!(
            caller,
            BTreeSet::from(["401", "429", "500", "503"].map(str::to_owned))
        );
        let mut admin = caller;
        admin.insert("403".to_owned());
        assert_eq!(statuses::<AdminErrors>(), admin);
        assert_eq!(statuses::<RotationErrors>(), admin);
        let RefOr::Ref(too_many) = &RotationErrors::responses()["429"] else {
            panic!("the rotation's 429 is not a $ref");
        };
        assert_eq!(
            too_many.ref_location,
            "#/components/responses/TooManySigningKeys"
        );
    }
}
