//! Who is calling an authenticated endpoint: a raw API-key secret or an access token, as sent in
//! `Authorization: Bearer`. Either way the key must be active and used from an allowed address.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::ServiceResult;
use super::auth::authenticate_secret;
use super::keyring::KeyRing;
use super::tokens::{self, TokenRejection};
use crate::domain::scope::Scope;
use crate::domain::secret::SECRET_PREFIX;

#[derive(Debug, Clone)]
pub struct CallerIdentity {
    pub key_id: String,
    pub org_id: String,
    /// For a token: its (still covered) scopes, not the key's.
    pub scopes: Vec<Scope>,
}

pub fn authenticate(
    conn: &mut crate::store::DbConnection,
    ring: &KeyRing,
    issuer: &str,
    credential: &str,
    client_ip: IpAddr,
    now: DateTime<Utc>,
) -> ServiceResult<Result<CallerIdentity, &'static str>> {
    if credential.starts_with(SECRET_PREFIX) || !credential.contains('.') {
        return Ok(authenticate_secret(conn, credential, client_ip, now)?
            .map(|k| CallerIdentity {
                key_id: k.key_id,
                org_id: k.org_id,
                scopes: k.scopes,
            })
            .map_err(|f| f.describe()));
    }
    Ok(match tokens::verify(conn, ring, issuer, credential, now)? {
        Ok(v) => match v.key.admit(Some(client_ip)) {
            Ok(()) => Ok(CallerIdentity {
                key_id: v.key.key_id,
                org_id: v.key.org_id,
                scopes: v.scopes,
            }),
            Err(f) => Err(f.describe()),
        },
        Err(TokenRejection::KeyInactive(f)) => Err(f.describe()),
        Err(TokenRejection::TokenRevoked) => Err("the access token has been revoked"),
        Err(TokenRejection::Invalid(crate::crypto::jws::VerifyError::Expired)) => {
            Err("the access token has expired")
        }
        Err(_) => Err("the access token is not valid"),
    })
}
