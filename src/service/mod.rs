//! Use cases shared by the HTTP API and the CLI: domain rules applied to stored data.
//! Synchronous (diesel); HTTP handlers call these on the blocking pool.

pub mod actor;
pub mod audit;
pub mod authority;
pub mod clock;
pub mod keyring;
pub mod keys;
pub mod leaks;
pub mod lifecycle;
pub mod orgs;
pub mod signing_keys;
pub mod usage;
pub mod webhooks;

use crate::domain::FieldError;
use crate::domain::signing_key::{MAX_PUBLISHED_SIGNING_KEYS, TooManyPublished};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {}", describe(.0))]
    Validation(Vec<FieldError>),
    #[error("scope escalation refused: {}", describe(.0))]
    Escalation(Vec<FieldError>),
    #[error("no key {0} in this organization")]
    KeyNotFound(String),
    #[error("no organization with slug {0:?}")]
    OrgNotFound(String),
    #[error("organization {0:?} already exists")]
    OrgExists(String),
    #[error("organization {0:?} is not bootstrapped yet: run `latchkey org bootstrap {0}`")]
    OrgNotBootstrapped(String),
    #[error("organization {0:?} is already bootstrapped")]
    AlreadyBootstrapped(String),
    #[error("key {0} is revoked; a revoked key cannot be edited")]
    KeyRevoked(String),
    #[error(
        "key {0} has no secret to roll: it authenticates with private_key_jwt (change its public_keys instead)"
    )]
    NoSecret(String),
    #[error("key {0} has no quota: give it one first (PATCH /v1/keys/{0} with \"quota\")")]
    NoQuota(String),
    /// A console session could not be started, or its key changed (`domain::key::session`).
    #[error(transparent)]
    Session(#[from] crate::domain::key::session::SessionRefusal),
    #[error("no webhook {0} in this organization")]
    WebhookNotFound(String),
    #[error("no delivery {0} of this webhook")]
    DeliveryNotFound(String),
    #[error("the organization already has {0} webhooks, the most allowed: delete one first")]
    TooManyWebhooks(i64),
    /// A rotation would publish more than `MAX_PUBLISHED_SIGNING_KEYS` keys of the org.
    #[error(
        "the organization already has {} published signing keys, the most allowed is {}: a rotation fits again in {} s, when a retired key leaves the JWKS",
        .0.published,
        MAX_PUBLISHED_SIGNING_KEYS,
        .0.retry_after_secs
    )]
    TooManySigningKeys(TooManyPublished),
    /// Not an error the caller sees: the work needs this set of public keys fetched first
    /// (`outbound::key_sets`), and is run again once it is (`AppState::read`).
    #[error("{} must be fetched first", .0.describe())]
    FetchFirst(crate::outbound::key_sets::Source),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key material error: {0}")]
    Crypto(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Page size of every listing (keys, audit): `limit` default and maximum.
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// An opaque listing cursor for the row `id`, tagged by listing (`evt`, `dlv`) so that one
/// listing's cursor is not another's.
pub(crate) fn encode_cursor(tag: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{tag}.{id}"))
}

/// The row id of a cursor `encode_cursor(tag, …)` made; `None` for anything else.
pub(crate) fn decode_cursor(tag: &str, text: &str) -> Option<i64> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix(tag)?
        .strip_prefix('.')?
        .parse()
        .ok()
}

/// The `limit` query parameter of a listing; a bad value is reported on `errors`.
pub(crate) fn page_limit(text: Option<&str>, errors: &mut Vec<FieldError>) -> i64 {
    match text {
        None => DEFAULT_LIMIT,
        Some(t) => match t.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_LIMIT}"),
                ));
                DEFAULT_LIMIT
            }
        },
    }
}

/// Wall-clock now at the precision both backends store; defined by the store, which knows that
/// precision, and re-exported here where most callers look for it.
pub use crate::store::now;
