//! Who is calling an authenticated endpoint: a raw API-key secret or an access token, as sent in
//! `Authorization: Bearer`. Either way the key must be active and used from an allowed address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ServiceResult;
use super::auth::{AuthFailure, KeyPrincipal, identify_secret};
use super::keycache::KeyCache;
use super::keyring::KeyRing;
use super::tokens::{self, TokenRejection};
use crate::domain::oauth::ClientCredentials;
use crate::domain::scope::Scope;
use crate::domain::secret::SECRET_PREFIX;
use crate::domain::usage::DenyReason;

#[derive(Debug, Clone)]
pub struct CallerIdentity {
    pub key_id: String,
    pub org_id: String,
    /// For a token: its (still covered) scopes, not the key's.
    pub scopes: Vec<Scope>,
}

/// Why a caller was refused: the message for the client, the metering reason, and the key when
/// the credential named one (a valid secret or token of a revoked, expired or fenced-off key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub message: &'static str,
    pub reason: DenyReason,
    pub key_id: Option<String>,
    /// The credential itself was not valid (unknown, malformed, forged), as opposed to a valid
    /// credential of a key that may not be used now: what failed-authentication throttling
    /// counts.
    pub guessed: bool,
}

impl Refusal {
    fn of(failure: AuthFailure, key_id: Option<String>) -> Self {
        Refusal {
            message: failure.describe(),
            reason: failure.deny_reason(),
            key_id,
            guessed: matches!(failure, AuthFailure::Malformed | AuthFailure::UnknownSecret),
        }
    }

    fn invalid(message: &'static str, guessed: bool) -> Self {
        Refusal {
            message,
            reason: DenyReason::BadSecret,
            key_id: None,
            guessed,
        }
    }
}

fn admitted(
    key: KeyPrincipal,
    scopes: Vec<Scope>,
    client_ip: IpAddr,
) -> Result<CallerIdentity, Refusal> {
    match key.admit(Some(client_ip)) {
        Ok(()) => Ok(CallerIdentity {
            key_id: key.key_id,
            org_id: key.org_id,
            scopes,
        }),
        Err(f) => Err(Refusal::of(f, Some(key.key_id))),
    }
}

/// `Authorization: Bearer <secret or access token>`.
pub fn authenticate(
    conn: &mut crate::store::Conn<'_>,
    ring: &KeyRing,
    keys: &KeyCache,
    issuer: &str,
    credential: &str,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<CallerIdentity, Refusal>> {
    if credential.starts_with(SECRET_PREFIX) || !credential.contains('.') {
        return Ok(match identify_secret(conn, keys, credential, now)? {
            Ok(key) => {
                let scopes = key.scopes.clone();
                admitted(key, scopes, client_ip)
            }
            Err(f) => Err(Refusal::of(f, None)),
        });
    }
    Ok(
        match tokens::verify(conn, ring, keys, issuer, credential, now)? {
            Ok(v) => admitted(v.key, v.scopes, client_ip),
            Err(TokenRejection::KeyInactive(f)) => Err(Refusal::of(f, None)),
            Err(TokenRejection::TokenRevoked) => {
                Err(Refusal::invalid("the access token has been revoked", false))
            }
            Err(TokenRejection::Invalid(crate::crypto::jws::VerifyError::Expired)) => {
                Err(Refusal::invalid("the access token has expired", false))
            }
            Err(_) => Err(Refusal::invalid("the access token is not valid", true)),
        },
    )
}

/// Client credentials (Basic or body) of an introspection or revocation caller: the secret must
/// belong to the named client, whose key must be active and used from an allowed address.
pub fn authenticate_client(
    conn: &mut crate::store::Conn<'_>,
    keys: &KeyCache,
    creds: &ClientCredentials,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<CallerIdentity, Refusal>> {
    Ok(
        match identify_secret(conn, keys, &creds.client_secret, now)? {
            Ok(key) if key.key_id == creds.client_id => {
                let scopes = key.scopes.clone();
                admitted(key, scopes, client_ip)
            }
            Ok(_) | Err(_) => Err(Refusal {
                message: "client authentication failed",
                reason: DenyReason::BadSecret,
                key_id: Some(creds.client_id.clone()),
                guessed: true,
            }),
        },
    )
}
