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
        conn.get()?;
        let Some(id) = presented
            .client_id
            .as_deref()
            .or(presented.subject.as_deref())
            .filter(|id| KeyId::parse(id).is_ok())
        else {
            return Ok(Err(Denied::anonymous(Refusal::BadClient)));
        };
        if let Some(wait) = self.refuse_lookup(Gate {
            ip,
            claimed: Some(id),
            asker: None,
        }) {
            return Ok(Err(Denied::anonymous(Refusal::Throttled(wait))));
        }
        let Some(key) = self.key_in(conn, None, id)? else {
            return Ok(Err(Denied::of(Refusal::BadClient, id)));
        };
        match presented.issuer.as_deref() {
            Some(issuer) if presented.is_federated(&key.id) => {
                self.federated(key, presented, issuer, now)
            }
            _ => self.private_key_jwt(conn, key, presented, now),
        }
    }

    fn private_key_jwt(
        &self,
        conn: &mut Conn<'_>,
        key: Arc<CachedKey>,
        presented: &ClientAssertion,
        now: DateTime<Utc>,
    ) -> Checked {
        let id = key.id.clone();
        let refused = |why: String| Ok(Err(Denied::of(Refusal::BadAssertion(why), &id)));
        if key.attributes.public_keys.is_empty() && key.attributes.jwks_uri.is_none() {
            return refused(
                "this client holds no public key: it authenticates with its secret".into(),
            );
        }
        let claims = match self.verify_with_client_keys(&key, &presented.assertion)? {
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
    ) -> ServiceResult<Result<Value, Refusal>> {
        let bad = |fault: SignatureFault| Refusal::BadAssertion(fault.describe());
        match (
            client_assertion::verify(assertion, &key.attributes.public_keys),
            &key.attributes.jwks_uri,
        ) {
            (Ok(claims), _) => Ok(Ok(claims)),
            (Err(SignatureFault::UnknownKey), Some(uri)) => {
                let kid = client_assertion::kid(assertion);
                Ok(
                    match self.fetched_keys(Source::Jwks(uri.clone()), kid.as_deref())? {
                        Ok(keys) => client_assertion::verify(assertion, &keys).map_err(bad),
                        Err(why) => Err(Refusal::KeysUnavailable(why)),
                    },
                )
            }
            (Err(fault), _) => Ok(Err(bad(fault))),
        }
    }

    /// A workload's token from `issuer`, for a key that trusts that issuer.
    fn federated(
        &self,
        key: Arc<CachedKey>,
        presented: &ClientAssertion,
        issuer: &str,
        now: DateTime<Utc>,
    ) -> Checked {
        let id = key.id.clone();
        let credentials = &key.attributes.federated_credentials;
        // Before any signature is checked, only what the request itself said is told back.
        let Some(credential) = federation::of_issuer(credentials, issuer) else {
            let fault = FederationFault::Issuer(issuer.to_owned());
            return Ok(Err(Denied::of(
                Refusal::BadAssertion(fault.describe()),
                &id,
            )));
        };
        let source = match &credential.jwks_uri {
            Some(uri) => Source::Jwks(uri.clone()),
            None => Source::Issuer(issuer.to_owned()),
        };
        let kid = client_assertion::kid(&presented.assertion);
        let keys = match self.fetched_keys(source, kid.as_deref())? {
            Ok(keys) => keys,
            Err(why) => return Ok(Err(Denied::of(Refusal::KeysUnavailable(why), &id))),
        };
        let claims = match client_assertion::verify(&presented.assertion, &keys) {
            Ok(claims) => claims,
            Err(fault) => {
                let why = format!("federated token of {issuer}: {}", fault.describe());
                return Ok(Err(Denied::of(Refusal::BadAssertion(why), &id)));
            }
        };
        match federation::check_external(&claims, credentials, now.timestamp()) {
            Ok(_) => Ok(Ok(KnownSecret {
                key,
                slot: SecretSlot::Current,
            })),
            Err(fault) => Ok(Err(Denied::of(
                Refusal::AssertionRefused(fault.describe()),
                &id,
            ))),
        }
    }

    /// The cached keys of `source` for a token naming `kid`, or why there are none; a set to
    /// fetch first stops the run (`ServiceError::FetchFirst`).
    fn fetched_keys(
        &self,
        source: Source,
        kid: Option<&str>,
    ) -> ServiceResult<Result<Arc<[PublicJwk]>, String>> {
        match self.key_sets.lookup(&source, kid, Instant::now()) {
            Lookup::Keys(keys) => Ok(Ok(keys)),
            Lookup::Fetch => Err(ServiceError::FetchFirst(source)),
            Lookup::Unavailable(why) => Ok(Err(why)),
        }
    }
}
