//! The one place where errors become HTTP: RFC 9457 problem details for the admin API, with
//! RFC 6750 `WWW-Authenticate` challenges on 401 and 403.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::FieldError;
use crate::domain::key::session::SessionRefusal;
use crate::domain::refusal::Refusal;
use crate::service::ServiceError;
use crate::store::StoreError;

pub mod responses;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing, malformed or refused credentials (RFC 6750 `invalid_token`), or too many
    /// failed authentications (429).
    #[error("{}", .0.describe())]
    Refused(Refusal),
    /// Authenticated, but no scope allows this action on this resource.
    #[error("{0}")]
    InsufficientScope(String),
    #[error("{0}")]
    BadRequest(String),
    /// The body did not deserialize: wrong type or unknown field, reported at its path.
    #[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    BadBody(Vec<FieldError>),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("no such resource")]
    NotFound,
    /// A request signed by a third party (GitHub's secret scanning) without a valid signature.
    #[error("the request's signature is missing or invalid: {0}")]
    BadSignature(String),
    #[error("the method is not allowed on this resource")]
    MethodNotAllowed,
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Service(ServiceError::Store(e))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// An RFC 9457 problem document (`application/problem+json`): how every admin-API error is sent.
#[derive(Serialize, ToSchema)]
pub struct Problem<'a> {
    /// Stable machine-readable code (a relative URI reference, as RFC 9457 §3.1.1 allows), e.g.
    /// `invalid_token`, `validation_failed`, `not_found`.
    #[serde(rename = "type")]
    #[schema(example = "validation_failed")]
    kind: &'a str,
    /// Short summary of the `type`; the same for every occurrence of it.
    #[schema(example = "Invalid input")]
    title: &'a str,
    /// The HTTP status code of the response.
    #[schema(example = 422)]
    status: u16,
    /// What went wrong with this request (a fixed text for 5xx: causes are logged, not sent).
    detail: String,
    /// For `validation_failed` and `scope_escalation`: every offending field, at its JSON path.
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl ApiError {
    /// `(type, title)` of the problem document.
    fn code(&self) -> (&'static str, &'static str) {
        use ServiceError as S;
        match self {
            ApiError::Refused(Refusal::Throttled(_)) => {
                ("too_many_requests", "Too many failed authentications")
            }
            ApiError::Refused(_) => ("invalid_token", "Authentication required"),
            ApiError::InsufficientScope(_) => ("insufficient_scope", "Insufficient scope"),
            ApiError::BadRequest(_) => ("bad_request", "Malformed request"),
            ApiError::BadBody(_) => ("validation_failed", "Invalid input"),
            ApiError::PayloadTooLarge(_) => ("payload_too_large", "Request body too large"),
            ApiError::RequestTimeout => ("request_timeout", "Request timeout"),
            ApiError::NotFound => ("not_found", "Not found"),
            ApiError::BadSignature(_) => ("invalid_signature", "Invalid signature"),
            ApiError::MethodNotAllowed => ("method_not_allowed", "Method not allowed"),
            ApiError::Internal(_) => ("internal_error", "Internal error"),
            ApiError::Service(e) => match e {
                S::Validation(_) => ("validation_failed", "Invalid input"),
                S::Escalation(_) => ("scope_escalation", "Scope escalation refused"),
                S::KeyNotFound(_)
                | S::OrgNotFound(_)
                | S::WebhookNotFound(_)
                | S::DeliveryNotFound(_) => ("not_found", "Not found"),
                S::TooManyWebhooks(_) => ("too_many_webhooks", "Too many webhooks"),
                S::OrgExists(_) => ("org_exists", "Organization exists"),
                S::OrgNotBootstrapped(_) => {
                    ("org_not_bootstrapped", "Organization not bootstrapped")
                }
                S::AlreadyBootstrapped(_) => {
                    ("already_bootstrapped", "Organization already bootstrapped")
                }
                S::KeyRevoked(_) => ("key_revoked", "Key is revoked"),
                S::NoSecret(_) => ("no_secret", "Key has no secret"),
                S::NoQuota(_) => ("no_quota", "Key has no quota"),
                S::Session(refusal) => match refusal {
                    SessionRefusal::Nested => {
                        ("console_session_nesting", "Console sessions do not nest")
                    }
                    SessionRefusal::NotEditable => (
                        "console_session_not_editable",
                        "Console session keys are not editable",
                    ),
                    SessionRefusal::ParentGuarded => (
                        "console_session_parent_guarded",
                        "A console session cannot change the key that started it",
                    ),
                    SessionRefusal::ParentInactive | SessionRefusal::NotAKey => (
                        "console_session_parent_inactive",
                        "The key that signed in is not active",
                    ),
                },
                S::TooManySigningKeys(_) => {
                    ("too_many_signing_keys", "Too many published signing keys")
                }
                S::Store(StoreError::Pool(_)) => ("service_unavailable", "Database unavailable"),
                S::Store(_) | S::Crypto(_) | S::FetchFirst(_) => {
                    ("internal_error", "Internal error")
                }
            },
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::BadBody(e)
            | ApiError::Service(ServiceError::Validation(e) | ServiceError::Escalation(e)) => e,
            _ => &[],
        }
    }

    /// `Retry-After` seconds: every 429 and 503 says when to come back.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Refused(Refusal::Throttled(wait)) => Some(*wait),
            ApiError::Service(ServiceError::TooManySigningKeys(full)) => {
                Some(full.retry_after_secs)
            }
            _ if self.status_code() == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            _ => None,
        }
    }

    fn is_opaque(&self) -> bool {
        self.status_code().is_server_error()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use ServiceError as S;
        match self {
            ApiError::Refused(Refusal::Throttled(_)) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Refused(_) => StatusCode::UNAUTHORIZED,
            ApiError::InsufficientScope(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::BadBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Service(e) => match e {
                S::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
                S::Escalation(_) => StatusCode::FORBIDDEN,
                S::KeyNotFound(_)
                | S::OrgNotFound(_)
                | S::WebhookNotFound(_)
                | S::DeliveryNotFound(_) => StatusCode::NOT_FOUND,
                S::OrgExists(_)
                | S::OrgNotBootstrapped(_)
                | S::AlreadyBootstrapped(_)
                | S::KeyRevoked(_)
                | S::NoSecret(_)
                | S::NoQuota(_)
                | S::Session(_)
                | S::TooManyWebhooks(_) => StatusCode::CONFLICT,
                S::TooManySigningKeys(_) => StatusCode::TOO_MANY_REQUESTS,
                S::Store(StoreError::Pool(_)) => StatusCode::SERVICE_UNAVAILABLE,
                S::Store(_) | S::Crypto(_) | S::FetchFirst(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (kind, title) = self.code();
        let detail = if self.is_opaque() {
            // The cause goes to the log, never to the client.
            tracing::error!(error = %self, debug = ?self, "request failed");
            title.to_owned()
        } else {
            self.to_string()
        };
        let body = Problem {
            kind,
            title,
            status: status.as_u16(),
            detail,
            errors: self.field_errors(),
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        match self {
            ApiError::Refused(Refusal::Throttled(_)) => {}
            ApiError::Refused(refusal) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    bearer_challenge("invalid_token", &refusal.describe()),
                ));
            }
            ApiError::InsufficientScope(d) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    bearer_challenge("insufficient_scope", d),
                ));
            }
            ApiError::Service(ServiceError::Escalation(_)) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    bearer_challenge(
                        "insufficient_scope",
                        "a requested scope exceeds the caller's scopes",
                    ),
                ));
            }
            _ => {}
        }
        if let Some(wait) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, wait.to_string()));
        }
        response.json(body)
    }
}

/// RFC 6750 §3 challenge. The description is our own text, but quotes and backslashes are
/// dropped anyway so the header stays well-formed.
fn bearer_challenge(error: &str, description: &str) -> HeaderValue {
    let clean: String = description
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    HeaderValue::from_str(&format!(
        r#"Bearer realm="latchkey", error="{error}", error_description="{clean}""#
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer realm="latchkey""#))
}
