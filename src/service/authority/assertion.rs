//! RFC 7523 client authentication (`private_key_jwt`): a JWT the client signed with a private
//! key whose public half its key holds (`domain::public_jwk`). Which key, the signature
//! (`crypto::client_assertion`), the claims (`domain::assertion`), then the `jti`, once, on
//! every node (`store::assertions`).
//!
//! The replay check writes, so this path always runs with a connection: it asks for one before
//! any work, and a first run without one stops there having verified nothing.

use std::net::IpAddr;

use chrono::{DateTime, TimeZone, Utc};

use super::credential::{Denied, Gate, KnownSecret};
use super::{Authority, Refusal};
use crate::crypto::client_assertion;
use crate::domain::assertion::check_claims;
use crate::domain::key::SecretSlot;
use crate::domain::oauth::ClientAssertion;
use crate::domain::secret::KeyId;
use crate::service::ServiceResult;
use crate::store::Conn;

impl Authority {
    pub(super) fn assertion_client(
        &self,
        conn: &mut Conn<'_>,
        presented: &ClientAssertion,
        ip: IpAddr,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<KnownSecret, Denied>> {
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
        let refused = |why: String| Ok(Err(Denied::of(Refusal::BadAssertion(why), id)));
        if key.attributes.public_keys.is_empty() {
            return refused(
                "this client holds no public key: it authenticates with its secret".into(),
            );
        }
        let claims =
            match client_assertion::verify(&presented.assertion, &key.attributes.public_keys) {
                Ok(claims) => claims,
                Err(fault) => return refused(fault.describe()),
            };
        // Signed by the client's own key from here: the holder is told what is wrong.
        let rejected = |why: String| Ok(Err(Denied::of(Refusal::AssertionRefused(why), id)));
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
}
