//! An org's signing keys: listing them, rotating them (`rotate.rs`), and keeping a next key
//! published for every org (SPEC `GET /v1/signing-keys`, `POST /v1/signing-keys/rotate`; RFC
//! 7517 key sets, RFC 9068 access tokens).
//!
//! Every org has a current key, which signs, and a next key, published in the JWKS but not
//! signing, so that verifiers caching the JWKS already know a key when it starts signing (the
//! rules are in `domain::signing_key`). A key that stops signing stays in the JWKS (and is still
//! accepted) until `unpublish_at` = the time it stopped + token TTL + leeway: every token it
//! signed has expired by then. The leeway covers what the TTL alone does not: other nodes act on
//! a change only at their next key refresh (1 s by default), and clocks differ a little.
//!
//! Every org shares the one JWKS, so an org has at most `MAX_PUBLISHED_SIGNING_KEYS` published
//! at once (`domain::signing_key::limit`).

mod rotate;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ServiceError, ServiceResult};
use crate::crypto::MasterKey;
use crate::crypto::signing::{self, SigningAlg};
use crate::domain::FieldError;
use crate::domain::signing_key::{self, KeyTimes};
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection};

pub use crate::domain::signing_key::SigningKeyStatus;
pub use rotate::{RotateOutcome, RotateRequest, Rotated, Staged, rotate};

/// JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2 and §6.4; RFC 8037
/// §2). None is ever stored in `public_jwk`; they are stripped again before a key is shown, so
/// no future change can leak one through the listing.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A signing key as the admin API and the CLI show it: public half only.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = SigningKey)]
pub struct SigningKeyView {
    /// RFC 7638 thumbprint of the public key; the `kid` of the tokens it signs.
    pub kid: String,
    /// `EdDSA`, `RS256` or `ES256`.
    #[schema(example = "EdDSA")]
    pub alg: String,
    pub status: SigningKeyStatus,
    pub created_at: DateTime<Utc>,
    /// When it starts (or started) signing: null for a next key awaiting promotion (and for one
    /// replaced before it ever signed); in the future for a staged one.
    pub activates_at: Option<DateTime<Utc>>,
    /// When it stops (or stopped) signing; in the future while a staged rotation is pending.
    pub retired_at: Option<DateTime<Utc>>,
    /// When the key leaves the JWKS: every token it signed has expired by then.
    pub unpublish_at: Option<DateTime<Utc>>,
    /// The public JWK as served in the JWKS (RFC 7517); never a private member.
    #[schema(value_type = Object)]
    pub public_jwk: serde_json::Value,
}

impl SigningKeyView {
    fn new(key: &StoredSigningKey, now: DateTime<Utc>) -> ServiceResult<Self> {
        let mut public_jwk: serde_json::Value =
            serde_json::from_str(&key.public_jwk).map_err(|e| {
                store::StoreError::Corrupt(format!("signing key {}: public_jwk: {e}", key.kid))
            })?;
        if let Some(members) = public_jwk.as_object_mut() {
            for private in PRIVATE_JWK_MEMBERS {
                members.remove(private);
            }
        }
        Ok(SigningKeyView {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            status: key.times.status(now),
            created_at: key.created_at,
            activates_at: key.times.activates_at,
            retired_at: key.times.retired_at,
            unpublish_at: key.times.unpublish_at,
            public_jwk,
        })
    }
}

/// Every key the org ever had, newest first; of keys made together, those that sign later first
/// (the pending next key, the staged key, the current key).
pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<SigningKeyView>> {
    let mut keys = store::signing_keys::list_for_org(conn, org_id)?
        .iter()
        .map(|k| SigningKeyView::new(k, now))
        .collect::<ServiceResult<Vec<_>>>()?;
    keys.sort_by_key(|k| {
        let signs_later = (k.status, k.activates_at.is_some());
        (std::cmp::Reverse(k.created_at), signs_later)
    });
    Ok(keys)
}

/// How long a rotation keeps keys published around the instant one stops signing and another
/// starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationWindows {
    /// From when a key stops signing until it leaves the JWKS: token TTL + leeway.
    pub retire: Duration,
    /// From when a staged key is published until it signs: the JWKS `max-age` + leeway. A
    /// verifier may hold a JWKS copy for `max-age` from when it fetched it, and a node serves
    /// copies without the staged key until its next key refresh (the leeway covers that, and
    /// clock differences between nodes).
    pub prepublish: Duration,
    /// The JWKS `max-age`, for what a rotation tells its caller.
    pub jwks_max_age: Duration,
}

impl RotationWindows {
    pub fn new(token_ttl: Duration, leeway: Duration, jwks_max_age: Duration) -> Self {
        RotationWindows {
            retire: token_ttl.saturating_add(leeway),
            prepublish: jwks_max_age.saturating_add(leeway),
            jwks_max_age,
        }
    }
}

/// `now + window`, or a validation error naming the settings that make it too long.
fn later(now: DateTime<Utc>, window: Duration, field: &str) -> ServiceResult<DateTime<Utc>> {
    TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_add_signed(w))
        .ok_or_else(|| {
            ServiceError::Validation(vec![FieldError::new(
                field,
                "the window this setting makes with the rotation leeway is too long",
            )])
        })
}

/// A new key pair of `alg` for the org, sealed under the master key, with the given times.
/// Generated outside any transaction by its callers: an RSA key takes tens of milliseconds.
pub(crate) fn generate(
    master: &MasterKey,
    org_id: &str,
    alg: SigningAlg,
    created_at: DateTime<Utc>,
    times: KeyTimes,
) -> ServiceResult<StoredSigningKey> {
    let generated = signing::generate(alg).map_err(|e| ServiceError::Crypto(e.to_string()))?;
    Ok(StoredSigningKey {
        private_sealed: master.seal(&generated.private_pkcs8, generated.kid.as_bytes()),
        kid: generated.kid,
        org_id: org_id.to_owned(),
        alg: generated.alg.to_owned(),
        public_jwk: generated.public_jwk,
        created_at,
        times,
    })
}

/// An org's first keys, made at bootstrap: its current key (Ed25519, signing from `now`) and
/// its next key, for `org_id` (filled in later by a caller that learns it inside its
/// transaction).
pub(crate) fn first_keys(
    master: &MasterKey,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<[StoredSigningKey; 2]> {
    Ok([
        generate(master, org_id, SigningAlg::EdDsa, now, KeyTimes::from(now))?,
        generate(master, org_id, SigningAlg::EdDsa, now, KeyTimes::default())?,
    ])
}

fn stored_alg(key: &StoredSigningKey) -> ServiceResult<SigningAlg> {
    SigningAlg::parse(&key.alg).map_err(|_| {
        ServiceError::Crypto(format!(
            "signing key {} has unsupported alg {}",
            key.kid, key.alg
        ))
    })
}

/// One org's published keys by role at an instant (`domain::signing_key::rotation::OrgKeys`).
#[derive(Debug, Clone, Copy)]
struct Roles<'a> {
    current: Option<&'a StoredSigningKey>,
    staged: Option<&'a StoredSigningKey>,
    pending: Option<&'a StoredSigningKey>,
}

impl<'a> Roles<'a> {
    fn of(keys: &'a [StoredSigningKey], now: DateTime<Utc>) -> Self {
        let next = |staged: bool| {
            keys.iter()
                .filter(|k| k.times.status(now) == SigningKeyStatus::Next)
                .filter(|k| k.times.activates_at.is_some() == staged)
                // One of each after any rotation; of several (none is ever made), the newest.
                .max_by_key(|k| k.created_at)
        };
        Roles {
            current: signing_key::signer_at(keys.iter().map(|k| (&k.times, k)), now),
            staged: next(true),
            pending: next(false),
        }
    }
}

/// Publishes a next key (of the algorithm of the key that signs next) for every org that has a
/// current key but no next key awaiting promotion: the orgs of a database from before next keys. `serve` runs this at startup, after
/// the migrations; nodes starting together each check again under the org's lock, so an org
/// gets one. Returns the orgs given one.
pub fn ensure_next_keys(
    conn: &mut DbConnection,
    master: &MasterKey,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<String>> {
    let mut by_org: BTreeMap<String, Vec<StoredSigningKey>> = BTreeMap::new();
    for key in store::signing_keys::list_published(conn, now)? {
        by_org.entry(key.org_id.clone()).or_default().push(key);
    }
    let mut given = Vec::new();
    for (org_id, keys) in by_org {
        let roles = Roles::of(&keys, now);
        let (Some(current), None) = (roles.current, roles.pending) else {
            continue;
        };
        // After a staged key, if one runs, it is the key that signs next.
        let alg = stored_alg(roles.staged.unwrap_or(current))?;
        let next = generate(master, &org_id, alg, now, KeyTimes::default())?;
        let inserted = store::write_tx(conn, |conn| {
            store::signing_keys::lock_org(conn, &org_id)?;
            let keys = store::signing_keys::list_published_for_org(conn, &org_id, now)?;
            if Roles::of(&keys, now).pending.is_some() {
                return Ok::<_, ServiceError>(false);
            }
            store::signing_keys::insert(conn, &next)?;
            Ok(true)
        })?;
        if inserted {
            tracing::info!(org_id = %org_id, kid = %next.kid, alg = %next.alg, "next signing key published");
            given.push(org_id);
        }
    }
    Ok(given)
}

/// An org without a current key has not been bootstrapped (bootstrap provisions the first).
fn not_bootstrapped(conn: &mut DbConnection, org_id: &str) -> ServiceError {
    match store::orgs::find_by_id(conn, org_id) {
        Ok(Some(org)) => ServiceError::OrgNotBootstrapped(org.slug),
        Ok(None) => ServiceError::OrgNotFound(org_id.to_owned()),
        Err(e) => e.into(),
    }
}
