//! Client authentication by assertion (RFC 7521 §4.2), in its two kinds:
//! - RFC 7523 `private_key_jwt`: a JWT the client signed with a private key whose public half
//!   its key holds (`public_keys`) or publishes (`jwks_uri`). Which key, the signature
//!   (`crypto::client_assertion`), the claims (`domain::assertion`), then the `jti`, once, on
//!   every node (`store::assertions`).
//! - Workload identity federation: a token another issuer minted for a workload (a GitHub
//!   Actions job, a Kubernetes service account), verified with that issuer's keys and matched
//!   against the key's federated credentials (`domain::federation`). Reused by design: no `jti`.
//!
//! The assertion's unverified `iss` says which: the client's own id, or a federated issuer.
//! Keys fetched from URLs come from `outbound::key_sets`; a set not cached yet stops this run
//! with [`ServiceError::FetchFirst`], and the HTTP layer runs it again once fetched.
//!
//! The replay check writes, so this path always runs with a connection: it asks for one before
//! any work, and a first run without one stops there having verified nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::credential::{Denied, Gate, KnownSecret};
use super::keycache::CachedKey;
use super::{Authority, Refusal};
use crate::crypto::client_assertion::{self, SignatureFault};
use crate::domain::assertion::check_claims;
use crate::domain::federation::{self, FederationFault};
use crate::domain::key::SecretSlot;
use crate::domain::oauth::ClientAssertion;
use crate::domain::public_jwk::PublicJwk;
use crate::domain::secret::KeyId;
use crate::outbound::key_sets::{Lookup, Source};
use crate::service::{ServiceError, ServiceResult};
use crate::store::Conn;

type Checked = ServiceResult<Result<KnownSecret, Denied>>;

impl Authority {
    pub(super) fn assertion_client(
        &self,
        conn: &mut Conn<'_>,
        presented: &ClientAssertion,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> Checked {
        let Some(id) = presented
            .client_id
            .as_deref()
            .or(presented.subject.as_deref())
            .filter(|id| KeyId::parse(id).is_ok())
        else {
            return Ok(Err(Denied::anonymous(Refusal::BadClient)));
        };
        let gate = Gate {
            ip,
            claimed: Some(id),
            asker: None,
        };
        // As for a secret, a throttled source loses only what costs the database or the
        // network: a cached key's assertion, verified from cached keys, is still served.
        let key = match self.keys.by_id(id) {
            Some(key) => key,
            None => {
                if let Some(wait) = self.refuse_lookup(gate) {
                    return Ok(Err(Denied::anonymous(Refusal::Throttled(wait))));
                }
                match self.key_in(conn, None, id)? {
                    Some(key) => key,
                    None => return Ok(Err(Denied::of(Refusal::BadClient, id))),
                }
            }
        };
        match presented.issuer.as_deref() {
            Some(issuer) if presented.is_federated(&key.id) => {
                self.federated(key, presented, issuer, gate, now)
            }
            _ => self.private_key_jwt(conn, key, presented, gate, now),
        }
    }

    fn private_key_jwt(
        &self,
        conn: &mut Conn<'_>,
        key: Arc<CachedKey>,
        presented: &ClientAssertion,
        gate: Gate<'_>,
        now: DateTime<Utc>,
    ) -> Checked {
        // The jti is written: without a connection, stop before verifying anything.
        conn.get()?;
        let id = key.id.clone();
        let refused = |why: String| Ok(Err(Denied::of(Refusal::BadAssertion(why), &id)));
        if key.attributes.public_keys.is_empty() && key.attributes.jwks_uri.is_none() {
            return refused(
                "this client holds no public key: it authenticates with its secret".into(),
            );
        }
        let claims = match self.verify_with_client_keys(&key, &presented.assertion, gate, now)? {
            Ok(claims) => claims,
            Err(refusal) => return Ok(Err(Denied::of(refusal, &id))),
        };
        // Signed by the client's own key from here: the holder is told what is wrong.
        let rejected = |why: String| Ok(Err(Denied::of(Refusal::AssertionRefused(why), &id)));
        let issuer = &self.tokens.issuer;
        let audiences = [
            issuer.as_str().to_owned(),
            issuer.url("/oauth/token"),
            issuer.url("/oauth/introspect"),
            issuer.url("/oauth/revoke"),
        ];
        let audiences: Vec<&str> = audiences.iter().map(String::as_str).collect();
        let single = match check_claims(&claims, &key.id, &audiences, now.timestamp()) {
            Ok(single) => single,
            Err(fault) => return rejected(fault.describe()),
        };
        let expires = Utc.timestamp_opt(single.exp, 0).single().unwrap_or(now);
        if !self
            .jtis
            .remember(conn.get()?, &key.id, &single.jti, expires)?
        {
            return rejected(
                "the client assertion's jti was used before: an assertion is good for one request"
                    .into(),
            );
        }
        Ok(Ok(KnownSecret {
            key,
            slot: SecretSlot::Current,
        }))
    }

    /// The claims of an assertion signed by one of the client's keys: those it holds, then
    /// (for a `kid` it does not hold) those its `jwks_uri` publishes.
    fn verify_with_client_keys(
        &self,
        key: &CachedKey,
        assertion: &str,
        gate: Gate<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Value, Refusal>> {
        let bad = |fault: SignatureFault| Refusal::BadAssertion(fault.describe());
        match (
            client_assertion::verify(assertion, &key.attributes.public_keys),
            &key.attributes.jwks_uri,
        ) {
            (Ok(claims), _) => Ok(Ok(claims)),
            (Err(SignatureFault::UnknownKey), Some(uri)) => {
                let keys =
                    self.fetched_keys(key, Source::Jwks(uri.clone()), assertion, gate, now)?;
                Ok(keys.and_then(|keys| client_assertion::verify(assertion, &keys).map_err(bad)))
            }
            (Err(fault), _) => Ok(Err(bad(fault))),
        }
    }

    /// A workload's token from `issuer`, for a key that trusts that issuer. Until the token is
    /// verified, a refusal is a guess (the throttle counts it), whatever it says.
    fn federated(
        &self,
        key: Arc<CachedKey>,
        presented: &ClientAssertion,
        issuer: &str,
        gate: Gate<'_>,
        now: DateTime<Utc>,
    ) -> Checked {
        let id = key.id.clone();
        let guess = |why: String| Ok(Err(Denied::of(Refusal::BadAssertion(why), &id)));
        // This server's own tokens are checked as tokens (the denylist, their key's state),
        // which this path does not do: they are never a workload's identity.
        if issuer == self.tokens.issuer.as_str() {
            return guess("a token of this server is not a federated credential".into());
        }
        let credentials = &key.attributes.federated_credentials;
        // Before any signature is checked, only what the request itself said is told back.
        let Some(credential) = federation::of_issuer(credentials, issuer) else {
            return guess(FederationFault::Issuer(issuer.to_owned()).describe());
        };
        let source = match &credential.jwks_uri {
            Some(uri) => Source::Jwks(uri.clone()),
            None => Source::Issuer(issuer.to_owned()),
        };
        let keys = match self.fetched_keys(&key, source, &presented.assertion, gate, now)? {
            Ok(keys) => keys,
            Err(refusal) => return Ok(Err(Denied::of(refusal, &id))),
        };
        let claims = match client_assertion::verify(&presented.assertion, &keys) {
            Ok(claims) => claims,
            Err(fault) => {
                return guess(format!("federated token of {issuer}: {}", fault.describe()));
            }
        };
        match federation::check_external(&claims, credentials, now.timestamp()) {
            Ok(_) => Ok(Ok(KnownSecret {
                key,
                slot: SecretSlot::Current,
            })),
            // A real token of the issuer, but the workload is told only once it matches: any
            // workload of a public issuer (every GitHub repository) can mint one, so probing a
            // key's audience and subjects this way is throttled like guessing a secret.
            Err(fault @ FederationFault::Times(_)) => Ok(Err(Denied::of(
                Refusal::AssertionRefused(fault.describe()),
                &id,
            ))),
            Err(fault) => guess(fault.describe()),
        }
    }

    /// The cached keys of `source` for `assertion`, or why there are none. A set to fetch first
    /// stops the run (`ServiceError::FetchFirst`), unless the source is throttled or the key
    /// could not use them anyway (revoked, expired: nothing is fetched for a dead key). Tokens
    /// verified with fetched keys must name their key: without a `kid`, one request could make
    /// the server try every key of a large set.
    fn fetched_keys(
        &self,
        key: &CachedKey,
        source: Source,
        assertion: &str,
        gate: Gate<'_>,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Arc<[PublicJwk]>, Refusal>> {
        let Some(kid) = client_assertion::kid(assertion) else {
            return Ok(Err(Refusal::BadAssertion(
                "the client assertion has no kid: keys fetched from a URL are chosen by kid".into(),
            )));
        };
        match self.key_sets.lookup(&source, Some(&kid), Instant::now()) {
            Lookup::Keys(keys) => Ok(Ok(keys)),
            Lookup::Fetch if key.admit(None, now).is_err() => Ok(Err(Refusal::BadAssertion(
                "client authentication failed".into(),
            ))),
            Lookup::Fetch => match self.refuse_lookup(gate) {
                Some(wait) => Ok(Err(Refusal::Throttled(wait))),
                None => Err(ServiceError::FetchFirst(source)),
            },
            Lookup::Unavailable(why) => {
                tracing::debug!(key_id = %key.id, reason = %why, "client assertion keys unavailable");
                Ok(Err(Refusal::KeysUnavailable))
            }
        }
    }
}
