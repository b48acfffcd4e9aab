//! The one authority over credentials. Every decision about a presented secret or token is
//! made here: client authentication at the token, introspection and revocation endpoints,
//! Bearer authentication of the admin API, the subjects of introspection and `/v1/check`, the
//! failed-authentication throttle, and the usage metering of each authentication.
//!
//! Each entry point is one call for its handler (extract → call → render) and returns either
//! what was asked for or one typed [`Refusal`], which `domain::refusal` maps to every answer.
//! Entry points are synchronous and read-only but for [`Authority::revoke`]: a handler first
//! runs one with an offline connection (answered from the key cache and the keyring), and only
//! when that needs the database runs it again on the blocking pool. Metering and throttle
//! accounting therefore happen last, after every database read: a run that stopped for want of
//! the database has counted nothing.
//!
//! Rules:
//! - A valid secret's holder may be told why it was refused (revoked, expired, address); a
//!   guess learns only that it failed, and counts against its address (and claimed key id).
//! - A throttled address loses only database lookups of unknown secrets: a credential that
//!   verifies without the database (a cached key's secret, a valid token) is still served.
//! - An unknown secret presented as the subject of introspection or `/v1/check` is a failed
//!   authentication of the caller's address: otherwise any key of an org would be an
//!   unthrottled oracle for guessing the org's secrets.
//! - Tokens die with the secret that minted them (`Principal::token_is_live`): a token carries
//!   its secret's generation, and a roll ends the old generation when the old secret ends.

mod assertion;
mod budget;
mod check;
mod credential;
mod grant;
mod introspect;
mod jtis;
pub mod keycache;
mod revoke;
pub mod throttle;
pub mod verified;

use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::oauth::ClientAuth;
use crate::domain::refusal::Refusal;
use crate::domain::secret::{KeyId, Secret};
use crate::domain::usage::UsageEvent;
use crate::outbound::key_sets::KeySets;
use crate::service::ServiceResult;
use crate::service::actor::Actor;
use crate::service::keyring::KeyRing;
use crate::store::{Conn, Pool};
use crate::usage::UsageRecorder;

pub use budget::{Budget, Spent};
pub use check::{CheckRequest, Decision};
pub use credential::VerifiedToken;
use credential::{Denied, Gate, KnownSecret, looks_like_token};
pub use grant::{GrantRequest, Issued, TokenSettings, narrow_scope};
pub use introspect::Introspection;
use keycache::KeyCache;
pub use revoke::{NotRevoked, Revoked};
use throttle::Throttle;
use verified::VerifiedTokens;

/// A credential as an endpoint received it.
pub enum Presented {
    /// `Authorization: Bearer`: an API-key secret or an access token.
    Bearer(String),
    /// Client authentication: RFC 6749 §2.3.1 (HTTP Basic or the body's `client_id` and
    /// `client_secret`) or RFC 7523 (`private_key_jwt`).
    Client(ClientAuth),
}

pub struct Authority {
    keys: Arc<KeyCache>,
    ring: Arc<KeyRing>,
    throttle: Throttle,
    usage: Arc<UsageRecorder>,
    tokens: TokenSettings,
    verified: VerifiedTokens,
    budget: Arc<Budget>,
    /// Client assertions' `jti`s, written in groups (`jtis.rs`).
    jtis: jtis::Jtis,
    /// Public keys fetched from clients' `jwks_uri` and federated issuers.
    key_sets: Arc<KeySets>,
}

impl Authority {
    pub fn new(
        keys: KeyCache,
        ring: Arc<KeyRing>,
        throttle: Throttle,
        usage: Arc<UsageRecorder>,
        tokens: TokenSettings,
        key_sets: Arc<KeySets>,
    ) -> Self {
        Authority {
            key_sets,
            keys: Arc::new(keys),
            ring,
            throttle,
            usage,
            tokens,
            verified: VerifiedTokens::default(),
            budget: Arc::new(Budget::default()),
            jtis: jtis::Jtis::default(),
        }
    }

    /// Follows the change feed in the background (see `keycache`) while the authority lives.
    pub fn follow_changes(&self, pool: Pool) {
        keycache::spawn_follower(&self.keys, pool.clone());
        budget::spawn_sync(&self.budget, pool.clone());
        self.jtis.start(pool);
    }

    /// This node's share of every rate limit and quota.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    pub fn tokens(&self) -> &TokenSettings {
        &self.tokens
    }

    /// The fetched public keys the assertion checks use (`AppState::read` fills it).
    pub fn key_sets(&self) -> &KeySets {
        &self.key_sets
    }

    pub fn key_cache(&self) -> &KeyCache {
        &self.keys
    }

    /// Entries held by the throttle (addresses, key ids), for the metrics.
    pub fn throttle_tracked(&self) -> (usize, usize) {
        self.throttle.tracked()
    }

    /// Forgets what this node holds about a key it just changed; other nodes learn it from the
    /// change feed. (Quota credits it holds stay its own: see `Budget::forget`.)
    pub fn forget(&self, key_id: &str) {
        self.keys.invalidate(key_id);
        self.budget.forget(key_id);
    }

    /// Who is calling: the key behind a Bearer credential or client authentication, active and
    /// used from an allowed address. Metered as a request of that key.
    pub fn authenticate(
        &self,
        conn: &mut Conn<'_>,
        presented: &Presented,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Actor, Refusal>> {
        let (outcome, claimed) = match presented {
            // Begun like a secret (any deployment's prefix, current or earlier): judged as
            // one, even with a dot in it; otherwise a dot makes it a token.
            Presented::Bearer(credential)
                if !Secret::has_prefix_shape(credential) && looks_like_token(credential) =>
            {
                let outcome = self
                    .verify_token(conn, credential, None, ip, now)?
                    .and_then(|t| {
                        t.key
                            .admit(Some(ip), now)
                            .map(|()| actor(&t.key, t.scopes, ip))
                            .map_err(|r| Denied::of(r, &t.key.id))
                    });
                (outcome, None)
            }
            Presented::Bearer(secret) => {
                let gate = Gate {
                    ip,
                    claimed: None,
                    asker: None,
                };
                let outcome = match self.identify_secret(conn, secret, gate, now)? {
                    Ok(found) => found
                        .key
                        .admit(Some(ip), now)
                        .map(|()| actor(&found.key, found.key.scopes.clone(), ip))
                        .map_err(|r| Denied::of(r, &found.key.id)),
                    Err(refusal) => Err(Denied::anonymous(refusal)),
                };
                (outcome, None)
            }
            Presented::Client(creds) => {
                let outcome = self.client(conn, creds, ip, now)?.and_then(|found| {
                    let key = &found.key;
                    key.admit(Some(ip), now)
                        .map(|()| actor(key, key.scopes.clone(), ip))
                        .map_err(|r| Denied::of(r, &key.id))
                });
                (outcome, claimed(creds))
            }
        };
        Ok(self.settle(
            outcome,
            |a| (a.key_id.as_deref().unwrap_or_default(), UsageEvent::Request),
            ip,
            claimed,
            now,
        ))
    }

    /// Client authentication, written once for every endpoint that takes it: a secret that must
    /// be the named client's (RFC 6749 §2.3.1), or an assertion signed by the client's key
    /// (RFC 7523, `assertion.rs`). The key may be inactive: the caller admits it.
    fn client(
        &self,
        conn: &mut Conn<'_>,
        auth: &ClientAuth,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<KnownSecret, Denied>> {
        match auth {
            ClientAuth::Secret(creds) => self.secret_client(conn, creds, ip, now),
            ClientAuth::Assertion(assertion) => self.assertion_client(conn, assertion, ip, now),
        }
    }

    /// The secret is looked up by digest alone and the id compared afterwards, so a wrong id and
    /// a wrong secret take the same path (no early exit that tells ids apart).
    fn secret_client(
        &self,
        conn: &mut Conn<'_>,
        creds: &crate::domain::oauth::ClientCredentials,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<KnownSecret, Denied>> {
        // An id that cannot be a key id is nobody's: refused as a bad client at once, and
        // neither metered nor throttled under that id (it could be 64 KiB long, and new each
        // time).
        let Some(client_id) = key_id_of(&creds.client_id) else {
            return Ok(Err(Denied::anonymous(Refusal::BadClient)));
        };
        let gate = Gate {
            ip,
            claimed: Some(client_id),
            asker: None,
        };
        Ok(
            match self.identify_secret(conn, &creds.client_secret, gate, now)? {
                // A key without a secret has none to match (its digest is of a secret nobody was
                // ever shown); checked all the same.
                Ok(found) if found.key.id == creds.client_id && found.key.attributes.secret => {
                    Ok(found)
                }
                Err(Refusal::Throttled(wait)) => Err(Denied::anonymous(Refusal::Throttled(wait))),
                // An unknown secret, or the secret of another key (whatever that key's state): a
                // bad secret for the client named, metered against it (the flush drops ids that
                // name no key). Nothing about the other key is told or metered.
                Ok(_) | Err(_) => Err(Denied::of(Refusal::BadClient, &creds.client_id)),
            },
        )
    }

    /// Meters the outcome of an authentication and counts a guess against its address (and
    /// claimed key id); a guess that is itself over the limit becomes `Throttled`.
    fn settle<T>(
        &self,
        outcome: Result<T, Denied>,
        success: impl FnOnce(&T) -> (&str, UsageEvent),
        ip: IpAddr,
        claimed: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, Refusal> {
        match outcome {
            Ok(value) => {
                let (key, event) = success(&value);
                self.usage.record(key, event, now, Some(ip));
                Ok(value)
            }
            Err(Denied { refusal, key }) => {
                // An address that has used up its failures is answered 429 for every further
                // one, before anything about it is recorded.
                if refusal.is_guess()
                    && let Some(wait) = self.throttle.source_blocked(ip)
                {
                    return Err(Refusal::Throttled(wait.0));
                }
                if let (Some(key), Some(reason)) = (&key, refusal.deny_reason()) {
                    self.usage
                        .record(key, UsageEvent::Denied(reason), now, Some(ip));
                }
                self.count_failure(&refusal, ip, claimed)?;
                Err(refusal)
            }
        }
    }

    /// Counts a guess against `ip` (and `claimed`); `Err(Throttled)` when this very failure is
    /// over the limit.
    fn count_failure(
        &self,
        refusal: &Refusal,
        ip: IpAddr,
        claimed: Option<&str>,
    ) -> Result<(), Refusal> {
        if !refusal.is_guess() {
            return Ok(());
        }
        match self.throttle.failed(ip, claimed) {
            Some(wait) => Err(Refusal::Throttled(wait.0)),
            None => Ok(()),
        }
    }
}

/// The client id a request claims, when it can be a key id at all.
fn claimed(auth: &ClientAuth) -> Option<&str> {
    auth.claimed_id().and_then(key_id_of)
}

/// `id`, when it can be a key id at all.
fn key_id_of(id: &str) -> Option<&str> {
    KeyId::parse(id).is_ok().then_some(id)
}

/// The key `key` acting with `scopes` (its own, or a token's) from `ip`.
fn actor(
    key: &crate::domain::key::Key,
    scopes: Vec<crate::domain::scope::Scope>,
    ip: IpAddr,
) -> Actor {
    Actor {
        org_id: key.org_id.clone(),
        key_id: Some(key.id.clone()),
        scopes,
        ip: Some(ip),
        session_parent: key.session_parent().map(str::to_owned),
    }
}
