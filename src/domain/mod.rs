//! Pure rules of the product: no actix, no diesel. Everything here is unit-tested in place.

pub mod assertion;
pub mod audience;
pub mod bucket;
pub mod client_ip;
pub mod federation;
pub mod ip_rules;
pub mod issuer;
pub mod key;
pub mod limits;
pub mod oauth;
pub mod org;
pub mod public_jwk;
pub mod refusal;
pub mod secret;
pub mod signing_key;
pub mod token;
pub mod usage;
pub mod webhook;

/// Actions, resource filters and scopes, and their covering rules: one copy, in the
/// `latchkey-rules` crate, shared with resource servers.
pub use latchkey_rules::scope;

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input field, addressed by a JSON path such as `scopes[1].resource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field in the request body, e.g. `scopes[1].resource`.
    #[schema(example = "scopes[1].resource")]
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Something accepted but worth telling the caller (a canonicalised CIDR, an allow-all range).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Warning {
    /// Stable machine-readable code, e.g. `cidr_canonicalised`, `wildcard_cidr`,
    /// `grants_key_management`.
    #[schema(example = "wildcard_cidr")]
    pub code: &'static str,
    /// JSON path of the field it concerns.
    pub field: String,
    /// What was accepted and what to consider.
    pub message: String,
}
