//! Authenticating an API key by its secret. Used by the admin API now and by the token endpoint.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ServiceResult;
use crate::domain::ip_rules::IpRules;
use crate::domain::key::KeyStatus;
use crate::domain::scope::{Scope, parse_scope_list};
use crate::domain::secret::{Secret, SecretDigest};
use crate::store::{self, DbConnection, StoreError};

/// A key that proved possession of its secret, is active and was used from an allowed address.
#[derive(Debug, Clone)]
pub struct AuthenticatedKey {
    pub key_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a secret was refused. Only `Malformed`/`UnknownSecret` are possible for someone who does
/// not hold a valid secret; the others may be told to the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    Malformed,
    UnknownSecret,
    Revoked,
    Expired,
    IpNotAllowed,
}

impl AuthFailure {
    /// Usage-metering reason code (`totals.denied_by_reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Malformed | AuthFailure::UnknownSecret => "bad_secret",
            AuthFailure::Revoked => "revoked",
            AuthFailure::Expired => "expired",
            AuthFailure::IpNotAllowed => "ip_not_allowed",
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            AuthFailure::Malformed | AuthFailure::UnknownSecret => "the API key secret is not valid",
            AuthFailure::Revoked => "the API key has been revoked",
            AuthFailure::Expired => "the API key has expired",
            AuthFailure::IpNotAllowed => "the API key may not be used from this IP address",
        }
    }
}

/// Checks a presented secret: format and checksum first (no database lookup for junk), then the
/// digest lookup, status and IP rules.
pub fn authenticate_secret(
    conn: &mut DbConnection,
    presented: &str,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<AuthenticatedKey, AuthFailure>> {
    let Ok(secret) = Secret::parse(presented) else {
        return Ok(Err(AuthFailure::Malformed));
    };
    let digest = secret.digest();
    let Some((record, stored)) = store::keys::find_by_digest(conn, digest.as_bytes())? else {
        return Ok(Err(AuthFailure::UnknownSecret));
    };
    // The index lookup already matched; the constant-time compare keeps the final decision free
    // of any early-exit comparison, whatever the database does.
    if !SecretDigest::from_bytes(&stored).is_some_and(|s| s.ct_eq(&digest)) {
        return Ok(Err(AuthFailure::UnknownSecret));
    }
    match KeyStatus::of(record.revoked_at, record.expires_at, now) {
        KeyStatus::Revoked => return Ok(Err(AuthFailure::Revoked)),
        KeyStatus::Expired => return Ok(Err(AuthFailure::Expired)),
        KeyStatus::Active => {}
    }
    let rules = IpRules::from_canonical(&crate::service::keys::split_list(&record.allowed_cidrs))
        .map_err(|e| StoreError::Corrupt(format!("key {}: allowed_cidrs: {e}", record.id)))?;
    if !rules.allows(client_ip) {
        return Ok(Err(AuthFailure::IpNotAllowed));
    }
    let scopes = parse_scope_list(&record.scopes)
        .map_err(|e| StoreError::Corrupt(format!("key {}: scopes: {e}", record.id)))?;
    Ok(Ok(AuthenticatedKey {
        key_id: record.id,
        org_id: record.org_id,
        scopes,
        expires_at: record.expires_at,
    }))
}
