//! Recognising a presented credential: an API-key secret (by digest, from the key cache first)
//! or an access token (signature, claims, denylist, the key's live state). Nothing here meters
//! or throttles; the entry points in `mod.rs` and its siblings do, once, on the outcome.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Authority;
use super::keycache::CachedKey;
use super::verified::Verified;
use crate::crypto::jws::{self, VerifyError};
use crate::domain::key::{Key, SecretSlot};
use crate::domain::refusal::Refusal;
use crate::domain::scope::{Scope, parse_scope_list};
use crate::domain::secret::{Secret, SecretDigest};
use crate::domain::token::{AccessClaims, jti_generation};
use crate::service::ServiceResult;
use crate::store::keys::StoredDigests;
use crate::store::{self, Conn};

/// A refusal, and the key it concerns when the credential named one: what metering counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Denied {
    pub refusal: Refusal,
    pub key: Option<String>,
}

impl Denied {
    pub fn anonymous(refusal: Refusal) -> Self {
        Denied { refusal, key: None }
    }

    pub fn of(refusal: Refusal, key: &str) -> Self {
        Denied {
            refusal,
            key: Some(key.to_owned()),
        }
    }
}

/// Who may make the database look up an unknown secret: the request's address and the key id
/// it claims to be (client authentication), or, for a secret an authenticated key asks about
/// (introspection, `/v1/check`), that asking key. See `throttle` for why a refused lookup is
/// the only thing a throttled source loses.
#[derive(Debug, Clone, Copy)]
pub(super) struct Gate<'a> {
    pub ip: IpAddr,
    pub claimed: Option<&'a str>,
    pub asker: Option<&'a str>,
}

/// A secret of a key, and which of its secrets.
pub(super) struct KnownSecret {
    pub key: Arc<CachedKey>,
    pub slot: SecretSlot,
}

/// An access token that verified, with the key's live state.
pub struct VerifiedToken {
    pub token: Arc<Verified>,
    /// The token's scopes still covered by the key's current scopes: narrowing a key narrows
    /// its outstanding tokens at once.
    pub scopes: Vec<Scope>,
    pub key: Arc<CachedKey>,
}

fn entry(key: Key, digests: &StoredDigests) -> Arc<CachedKey> {
    Arc::new(CachedKey::new(key, digests))
}

/// Whether `token` is shaped like a JWS rather than an API-key secret.
pub(super) fn looks_like_token(token: &str) -> bool {
    token.contains('.')
}

impl Authority {
    /// `Some(wait)` when this request may not make the database look up an unknown secret:
    /// its address is over its allowance of failures, or (while the key cache can tell the
    /// owner's cached secret from a guess) the key id it claims is.
    pub(super) fn refuse_lookup(&self, gate: Gate<'_>) -> Option<u64> {
        if let Some(asker) = gate.asker {
            return self.throttle.asker_limited(asker).map(|w| w.0);
        }
        if let Some(wait) = self.throttle.source_blocked(gate.ip) {
            return Some(wait.0);
        }
        let claimed = gate.claimed?;
        if !self.keys.trusted() {
            return None;
        }
        self.throttle.key_limited(gate.ip, claimed).map(|w| w.0)
    }

    /// The key a presented secret belongs to, whatever its status: format and checksum first
    /// (no lookup for junk), then the key cache, then (unless the gate refuses) the database.
    pub(super) fn identify_secret(
        &self,
        conn: &mut Conn<'_>,
        presented: &str,
        gate: Gate<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<KnownSecret, Refusal>> {
        let Ok(secret) = Secret::parse(presented) else {
            return Ok(Err(Refusal::Malformed));
        };
        let digest = secret.digest();
        if let Some((key, slot)) = self.keys.by_digest(digest.as_bytes(), now) {
            return Ok(Ok(KnownSecret { key, slot }));
        }
        if let Some(wait) = self.refuse_lookup(gate) {
            return Ok(Err(Refusal::Throttled(wait)));
        }
        let ticket = self.keys.ticket();
        let Some(found) = store::keys::find_by_digest(conn.get()?, digest.as_bytes(), now)? else {
            return Ok(Err(Refusal::BadSecret));
        };
        let stored = match found.slot {
            SecretSlot::Current => Some(&found.digests.current),
            SecretSlot::Previous => found.digests.previous.as_ref(),
        };
        // The index lookup already matched; the constant-time compare keeps the final decision
        // free of any early-exit comparison, whatever the database does.
        if !stored
            .and_then(|s| SecretDigest::from_bytes(s))
            .is_some_and(|s| s.ct_eq(&digest))
        {
            return Ok(Err(Refusal::BadSecret));
        }
        let key = entry(found.key, &found.digests);
        self.keys.insert(ticket, key.clone());
        Ok(Ok(KnownSecret {
            key,
            slot: found.slot,
        }))
    }

    /// The key with id `id` (of org `org`, when given), from the key cache, else the database
    /// (and then cached), whatever its status.
    pub(super) fn key_in(
        &self,
        conn: &mut Conn<'_>,
        org: Option<&str>,
        id: &str,
    ) -> ServiceResult<Option<Arc<CachedKey>>> {
        if let Some(cached) = self
            .keys
            .by_id(id)
            .filter(|k| org.is_none_or(|o| k.org_id == o))
        {
            return Ok(Some(cached));
        }
        let ticket = self.keys.ticket();
        let Some((record, digests)) = store::keys::find_with_digests(conn.get()?, org, id)? else {
            return Ok(None);
        };
        let key = entry(record, &digests);
        self.keys.insert(ticket, key.clone());
        Ok(Some(key))
    }

    /// Signature, `alg`, `typ`, `kid`, `exp`, `iss`, `aud`, org binding (to `org` too, when given:
    /// another org's token is just not valid here, and costs no lookup), the denylist, the
    /// key's live state, and that the secret which obtained the token still works. The
    /// signature of a token seen before is not checked again (`verified`).
    pub(super) fn verify_token(
        &self,
        conn: &mut Conn<'_>,
        token: &str,
        org: Option<&str>,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<VerifiedToken, Denied>> {
        let verified = match self.verified.get(token, &self.ring) {
            Some(v) => v,
            None => match self.verify_signature(conn, token, ip, now)? {
                Ok(v) => {
                    let v = Arc::new(v);
                    self.verified.insert(token, v.clone(), now.timestamp());
                    v
                }
                Err(refusal) => return Ok(Err(Denied::anonymous(refusal))),
            },
        };
        let claims = &verified.claims;
        // Checked on every use, not only at verification: a remembered token expires too.
        if claims.exp < now.timestamp() {
            return Ok(Err(Denied::anonymous(Refusal::TokenExpired)));
        }
        if org.is_some_and(|o| o != claims.org_id) {
            return Ok(Err(Denied::anonymous(Refusal::BadToken)));
        }
        let revoked = match self.keys.token_revoked(&claims.jti) {
            Some(known) => known,
            None => store::revoked_tokens::is_revoked(conn.get()?, &claims.jti)?,
        };
        if revoked {
            return Ok(Err(Denied::of(Refusal::TokenRevoked, &claims.client_id)));
        }
        let Some(key) = self.key_in(conn, Some(&claims.org_id), &claims.client_id)? else {
            return Ok(Err(Denied::anonymous(Refusal::BadToken)));
        };
        if let Err(refusal) = key.admit(None, now) {
            return Ok(Err(Denied::of(refusal, &key.id)));
        }
        if !key.secrets.minted_by_live_secret(verified.generation, now) {
            return Ok(Err(Denied::of(Refusal::TokenSuperseded, &key.id)));
        }
        let scopes = verified
            .scopes
            .iter()
            .filter(|s| key.scopes.iter().any(|h| h.covers(s)))
            .cloned()
            .collect();
        Ok(Ok(VerifiedToken {
            token: verified,
            scopes,
            key,
        }))
    }

    /// What does not change over a token's life: its signature by a published key of the
    /// right algorithm, `typ`, `iss`, the org binding, an `aud` among the configured
    /// audiences, and a `jti` we issued.
    fn verify_signature(
        &self,
        conn: &mut Conn<'_>,
        token: &str,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Verified, Refusal>> {
        let Ok((kid, _)) = jws::peek_header(token) else {
            return Ok(Err(Refusal::BadToken));
        };
        let verifier = match self.ring.verifier(&kid) {
            Some(v) => v,
            // An unknown kid may be a key another node just published: the keyring is re-read,
            // at most once a second, and never for an address that has used up its failures
            // (each such request would take a pooled connection for nothing).
            None => {
                if !self.ring.reload_due() {
                    return Ok(Err(Refusal::BadToken));
                }
                if let Some(wait) = self.throttle.source_blocked(ip) {
                    return Ok(Err(Refusal::Throttled(wait.0)));
                }
                self.ring.reload_if_stale(conn.get()?)?;
                match self.ring.verifier(&kid) {
                    Some(v) => v,
                    None => return Ok(Err(Refusal::BadToken)),
                }
            }
        };
        let claims: AccessClaims =
            match verifier.verify(token, self.tokens.issuer.as_str(), now.timestamp()) {
                Ok(c) => c,
                Err(VerifyError::Expired) => return Ok(Err(Refusal::TokenExpired)),
                Err(_) => return Ok(Err(Refusal::BadToken)),
            };
        if claims.org_id != verifier.org_id || claims.sub != claims.client_id {
            return Ok(Err(Refusal::BadToken));
        }
        // A token of any configured audience is for this server; one for none of them is not.
        if !self.tokens.audiences.accepts(&claims.aud) {
            return Ok(Err(Refusal::BadToken));
        }
        let Some(generation) = jti_generation(&claims.jti) else {
            return Ok(Err(Refusal::BadToken));
        };
        let scopes = parse_scope_list(&claims.scope).unwrap_or_default();
        Ok(Ok(Verified::new(claims, scopes, generation, verifier)))
    }
}
