//! Authenticating an API key by its secret, for the admin API, the token endpoint and
//! introspection.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ServiceResult;
use super::keycache::KeyCache;
use crate::domain::ip_rules::IpRules;
use crate::domain::key::KeyStatus;
use crate::domain::scope::{Scope, parse_scope_list};
use crate::domain::secret::{Secret, SecretDigest};
use crate::store::keys::KeyRecord;
use crate::store::{self, Conn, StoreError};

/// A stored key parsed into domain types.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    pub key_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub ip_rules: IpRules,
    pub status: KeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl KeyPrincipal {
    pub fn from_record(record: KeyRecord, now: DateTime<Utc>) -> ServiceResult<Self> {
        let ip_rules = IpRules::from_canonical(&super::keys::split_list(&record.allowed_cidrs))
            .map_err(|e| StoreError::Corrupt(format!("key {}: allowed_cidrs: {e}", record.id)))?;
        let scopes = parse_scope_list(&record.scopes)
            .map_err(|e| StoreError::Corrupt(format!("key {}: scopes: {e}", record.id)))?;
        Ok(KeyPrincipal {
            status: KeyStatus::of(record.revoked_at, record.expires_at, now),
            key_id: record.id,
            org_id: record.org_id,
            scopes,
            ip_rules,
            expires_at: record.expires_at,
            created_at: record.created_at,
        })
    }

    /// The same key with its status as of `now` (a cached key may have expired since).
    pub fn at(&self, now: DateTime<Utc>) -> KeyPrincipal {
        let mut k = self.clone();
        if k.status != KeyStatus::Revoked {
            k.status = KeyStatus::of(None, k.expires_at, now);
        }
        k
    }

    /// Active and used from an allowed address.
    pub fn admit(&self, client_ip: Option<IpAddr>) -> Result<(), AuthFailure> {
        match self.status {
            KeyStatus::Revoked => return Err(AuthFailure::Revoked),
            KeyStatus::Expired => return Err(AuthFailure::Expired),
            KeyStatus::Active => {}
        }
        match client_ip {
            Some(ip) if !self.ip_rules.allows(ip) => Err(AuthFailure::IpNotAllowed),
            _ => Ok(()),
        }
    }
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

    pub fn deny_reason(&self) -> crate::domain::usage::DenyReason {
        use crate::domain::usage::DenyReason as R;
        match self {
            AuthFailure::Malformed | AuthFailure::UnknownSecret => R::BadSecret,
            AuthFailure::Revoked => R::Revoked,
            AuthFailure::Expired => R::Expired,
            AuthFailure::IpNotAllowed => R::IpNotAllowed,
        }
    }

    pub fn describe(&self) -> &'static str {
        match self {
            AuthFailure::Malformed | AuthFailure::UnknownSecret => {
                "the API key secret is not valid"
            }
            AuthFailure::Revoked => "the API key has been revoked",
            AuthFailure::Expired => "the API key has expired",
            AuthFailure::IpNotAllowed => "the API key may not be used from this IP address",
        }
    }
}

/// The key a presented secret belongs to, whatever its status: format and checksum first (no
/// database lookup for junk), then the digest lookup.
pub fn identify_secret(
    conn: &mut Conn<'_>,
    cache: &KeyCache,
    presented: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Result<KeyPrincipal, AuthFailure>> {
    let Ok(secret) = Secret::parse(presented) else {
        return Ok(Err(AuthFailure::Malformed));
    };
    let digest = secret.digest();
    if let Some(key) = cache.by_digest(digest.as_bytes()) {
        return Ok(Ok(key.at(now)));
    }
    let ticket = cache.ticket();
    let Some(found) = store::keys::find_by_digest(conn.get()?, digest.as_bytes(), now)? else {
        return Ok(Err(AuthFailure::UnknownSecret));
    };
    // The index lookup already matched; the constant-time compare keeps the final decision free
    // of any early-exit comparison, whatever the database does.
    if !SecretDigest::from_bytes(&found.stored).is_some_and(|s| s.ct_eq(&digest)) {
        return Ok(Err(AuthFailure::UnknownSecret));
    }
    let key = KeyPrincipal::from_record(found.record, now)?;
    if found.current {
        cache.insert(ticket, Some(*digest.as_bytes()), key.clone());
    }
    Ok(Ok(key))
}

/// A secret that belongs to an active key used from an allowed address.
pub fn authenticate_secret(
    conn: &mut Conn<'_>,
    cache: &KeyCache,
    presented: &str,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<KeyPrincipal, AuthFailure>> {
    Ok(identify_secret(conn, cache, presented, now)?
        .and_then(|key| key.admit(Some(client_ip)).map(|()| key)))
}
