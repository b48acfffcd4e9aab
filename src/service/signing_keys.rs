//! An org's signing keys: listing them and rotating to a new one (SPEC `GET /v1/signing-keys`,
//! `POST /v1/signing-keys/rotate`; RFC 7517 key sets, RFC 9068 access tokens).
//!
//! Rotation makes a new key current at once and retires the old one. The old key stays in the
//! JWKS (and is still accepted) until `unpublish_at = now + token TTL + leeway`: every token it
//! signed has expired by then, so no verifier ever meets a token whose key it cannot find. The
//! leeway covers what the TTL alone does not: other nodes keep signing with the old key until
//! their next key refresh (1 s by default), and clocks of nodes and verifiers differ a little.
//!
//! Every org shares the one JWKS, so an org has at most `MAX_PUBLISHED_SIGNING_KEYS` published
//! at once (`domain::signing_key`); a rotation beyond it is refused, saying how long until a
//! retired key leaves and makes room.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::actor::Actor;
use super::{ServiceError, ServiceResult, audit};
use crate::crypto::MasterKey;
use crate::crypto::signing::{self, SigningAlg};
use crate::domain::FieldError;
use crate::domain::signing_key;
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection};

/// JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2 and §6.4; RFC 8037
/// §2). None is ever stored in `public_jwk`; they are stripped again before a key is shown, so
/// no future change can leak one through the listing.
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SigningKeyStatus {
    /// Signs the org's new tokens.
    Current,
    /// No longer signs; still in the JWKS until `unpublish_at`.
    Retired,
    /// Past `unpublish_at`: neither published nor accepted.
    Unpublished,
}

impl SigningKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningKeyStatus::Current => "current",
            SigningKeyStatus::Retired => "retired",
            SigningKeyStatus::Unpublished => "unpublished",
        }
    }
}

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
        let status = match (key.retired_at, key.unpublish_at) {
            (_, Some(t)) if t <= now => SigningKeyStatus::Unpublished,
            (None, _) => SigningKeyStatus::Current,
            (Some(_), _) => SigningKeyStatus::Retired,
        };
        Ok(SigningKeyView {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            status,
            created_at: key.created_at,
            retired_at: key.retired_at,
            unpublish_at: key.unpublish_at,
            public_jwk,
        })
    }
}

/// What a rotation did: the key that signs from now on, and the one it replaced.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rotated {
    pub signing_key: SigningKeyView,
    pub retired: SigningKeyView,
}

/// Every key the org ever had, newest first.
pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<SigningKeyView>> {
    store::signing_keys::list_for_org(conn, org_id)?
        .iter()
        .map(|k| SigningKeyView::new(k, now))
        .collect()
}

/// How long a key retired now stays published: the token TTL plus the leeway.
pub fn publish_window(token_ttl: Duration, leeway: Duration) -> Duration {
    token_ttl.saturating_add(leeway)
}

/// Generates a key of `alg` (default: the algorithm of the org's current key), makes it current
/// and retires the current one with `unpublish_at = now + window`, in one transaction.
pub fn rotate(
    conn: &mut DbConnection,
    master: &MasterKey,
    actor: &Actor,
    alg: Option<&str>,
    window: Duration,
    now: DateTime<Utc>,
) -> ServiceResult<Rotated> {
    let org_id = actor.org_id.as_str();
    let alg = match alg {
        Some(text) => SigningAlg::parse(text)
            .map_err(|m| ServiceError::Validation(vec![FieldError::new("alg", m)]))?,
        None => match store::signing_keys::find_current(conn, org_id)? {
            Some(current) => stored_alg(&current)?,
            None => return Err(not_bootstrapped(conn, org_id)),
        },
    };
    let unpublish_at = TimeDelta::from_std(window)
        .ok()
        .and_then(|w| now.checked_add_signed(w))
        .ok_or_else(|| {
            ServiceError::Validation(vec![FieldError::new(
                "token_ttl",
                "the token TTL plus the rotation leeway is too long",
            )])
        })?;
    // A first look, so that a full org does not cost an RSA key generation; the count that
    // decides is the one under the org's lock below.
    room_for_one(conn, org_id, now)?;
    // Outside the transaction: an RSA key takes tens of milliseconds to generate.
    let generated = signing::generate(alg).map_err(|e| ServiceError::Crypto(e.to_string()))?;
    let new_key = StoredSigningKey {
        private_sealed: master.seal(&generated.private_pkcs8, generated.kid.as_bytes()),
        kid: generated.kid,
        org_id: org_id.to_owned(),
        alg: generated.alg.to_owned(),
        public_jwk: generated.public_jwk,
        created_at: now,
        retired_at: None,
        unpublish_at: None,
    };
    store::write_tx(conn, |conn| {
        if !store::signing_keys::lock_org(conn, org_id)? {
            return Err(ServiceError::OrgNotFound(org_id.to_owned()));
        }
        let Some(mut previous) = store::signing_keys::find_current(conn, org_id)? else {
            return Err(not_bootstrapped(conn, org_id));
        };
        // Counted under the org's row lock (`lock_org` above), so two rotations of one org can
        // never both take the last place. On PostgreSQL a second rotation waits at that lock
        // until this transaction ends, and its count, a fresh snapshot in READ COMMITTED, then
        // includes the key inserted here; on SQLite `BEGIN IMMEDIATE` runs writers one at a
        // time. The retired key stays published, so the rotation adds exactly one key.
        room_for_one(conn, org_id, now)?;
        store::signing_keys::retire_current(conn, org_id, now, unpublish_at)?;
        store::signing_keys::insert(conn, &new_key)?;
        previous.retired_at = Some(now);
        previous.unpublish_at = Some(unpublish_at);
        let details = serde_json::json!({
            "kid": new_key.kid, "alg": new_key.alg, "retired_kid": previous.kid, "unpublish_at": unpublish_at,
        });
        audit::record(
            conn,
            actor,
            audit::action::SIGNING_KEY_ROTATED,
            &new_key.kid,
            details,
            now,
        )?;
        Ok(Rotated {
            signing_key: SigningKeyView::new(&new_key, now)?,
            retired: SigningKeyView::new(&previous, now)?,
        })
    })
}

/// Refuses a rotation when the org already has `MAX_PUBLISHED_SIGNING_KEYS` published keys.
fn room_for_one(conn: &mut DbConnection, org_id: &str, now: DateTime<Utc>) -> ServiceResult<()> {
    let published = store::signing_keys::published_unpublish_times(conn, org_id, now)?;
    signing_key::room_for(&published, 1, now).map_err(ServiceError::TooManySigningKeys)
}

fn stored_alg(key: &StoredSigningKey) -> ServiceResult<SigningAlg> {
    SigningAlg::parse(&key.alg).map_err(|_| {
        ServiceError::Crypto(format!(
            "signing key {} has unsupported alg {}",
            key.kid, key.alg
        ))
    })
}

/// An org without a current key has not been bootstrapped (bootstrap provisions the first).
fn not_bootstrapped(conn: &mut DbConnection, org_id: &str) -> ServiceError {
    match store::orgs::find_by_id(conn, org_id) {
        Ok(Some(org)) => ServiceError::OrgNotBootstrapped(org.slug),
        Ok(None) => ServiceError::OrgNotFound(org_id.to_owned()),
        Err(e) => e.into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::service::orgs;

    fn database() -> (tempfile::TempDir, DbConnection) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let mut conn = store::connect_one(&url).unwrap();
        store::migrate_conn(&mut conn).unwrap();
        (dir, conn)
    }

    fn bootstrapped(conn: &mut DbConnection, master: &MasterKey, slug: &str) -> String {
        let now = crate::service::now();
        orgs::create(conn, slug, now).unwrap();
        orgs::bootstrap(conn, master, slug, now).unwrap().org.id
    }

    const WINDOW: Duration = Duration::from_secs(660);

    #[test]
    fn rotation_keeps_the_algorithm_and_retires_the_old_key_for_the_window() {
        let (_dir, mut conn) = database();
        let master = MasterKey::generate();
        let org = bootstrapped(&mut conn, &master, "acme");
        let first = list(&mut conn, &org, crate::service::now()).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].status, SigningKeyStatus::Current);

        let now = crate::service::now();
        let r = rotate(&mut conn, &master, &Actor::cli(&org), None, WINDOW, now).unwrap();
        assert_eq!(r.signing_key.alg, "EdDSA");
        assert_eq!(r.signing_key.status, SigningKeyStatus::Current);
        assert_eq!(r.retired.kid, first[0].kid);
        assert_eq!(r.retired.status, SigningKeyStatus::Retired);
        assert_eq!(r.retired.retired_at, Some(now));
        assert_eq!(r.retired.unpublish_at, Some(now + TimeDelta::seconds(660)));

        let listed = list(&mut conn, &org, now).unwrap();
        let seen: Vec<_> = listed.iter().map(|k| (k.kid.as_str(), k.status)).collect();
        assert_eq!(
            seen,
            vec![
                (r.signing_key.kid.as_str(), SigningKeyStatus::Current),
                (r.retired.kid.as_str(), SigningKeyStatus::Retired),
            ]
        );
        let later = now + TimeDelta::seconds(660);
        assert_eq!(
            list(&mut conn, &org, later).unwrap()[1].status,
            SigningKeyStatus::Unpublished
        );
    }

    #[test]
    fn rotation_switches_algorithms_and_the_next_rotation_keeps_the_new_one() {
        let (_dir, mut conn) = database();
        let master = MasterKey::generate();
        let org = bootstrapped(&mut conn, &master, "acme");
        for (asked, got) in [
            (Some("ES256"), "ES256"),
            (None, "ES256"),
            (Some("RS256"), "RS256"),
            (Some("EdDSA"), "EdDSA"),
        ] {
            let r = rotate(
                &mut conn,
                &master,
                &Actor::cli(&org),
                asked,
                WINDOW,
                crate::service::now(),
            );
            let r = r.unwrap();
            assert_eq!(r.signing_key.alg, got);
            assert_eq!(r.signing_key.public_jwk["alg"], got);
            assert_eq!(r.signing_key.public_jwk["kid"], r.signing_key.kid.as_str());
        }
        let keys = list(&mut conn, &org, crate::service::now()).unwrap();
        assert_eq!(keys.len(), 5);
        assert_eq!(
            keys.iter()
                .filter(|k| k.status == SigningKeyStatus::Current)
                .count(),
            1
        );
    }

    #[test]
    fn an_org_has_at_most_ten_published_keys_and_room_comes_back_as_retired_ones_leave() {
        let (_dir, mut conn) = database();
        let master = MasterKey::generate();
        let org = bootstrapped(&mut conn, &master, "acme");
        let start = crate::service::now();
        let at = |secs: i64| start + TimeDelta::seconds(secs);
        let actor = Actor::cli(&org);
        // Rotation i retires a key at `at(i)`, published until `at(i + 660)`.
        for i in 0..9 {
            rotate(&mut conn, &master, &actor, None, WINDOW, at(i)).unwrap();
        }
        let refused = |conn: &mut DbConnection, alg, now| match rotate(
            conn, &master, &actor, alg, WINDOW, now,
        ) {
            Err(ServiceError::TooManySigningKeys(full)) => full,
            other => panic!("{other:?}"),
        };
        let full = refused(&mut conn, None, at(10));
        assert_eq!(full.published, signing_key::MAX_PUBLISHED_SIGNING_KEYS);
        assert_eq!(full.retry_after_secs, 650, "until the bootstrap key leaves");
        assert_eq!(refused(&mut conn, Some("RS256"), at(10)), full);
        assert_eq!(list(&mut conn, &org, at(10)).unwrap().len(), 10);

        // When the oldest retired key leaves, there is room for one rotation.
        rotate(&mut conn, &master, &actor, None, WINDOW, at(660)).unwrap();
        assert_eq!(refused(&mut conn, None, at(660)).retry_after_secs, 1);
        let published = list(&mut conn, &org, at(660))
            .unwrap()
            .into_iter()
            .filter(|k| k.status != SigningKeyStatus::Unpublished)
            .count();
        assert_eq!(published, 10);
    }

    #[test]
    fn an_unknown_algorithm_is_a_validation_error_on_alg() {
        let (_dir, mut conn) = database();
        let master = MasterKey::generate();
        let org = bootstrapped(&mut conn, &master, "acme");
        for bad in ["HS256", "none", "rs256", ""] {
            match rotate(
                &mut conn,
                &master,
                &Actor::cli(&org),
                Some(bad),
                WINDOW,
                crate::service::now(),
            ) {
                Err(ServiceError::Validation(e)) => assert_eq!(e[0].field, "alg"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        assert_eq!(
            list(&mut conn, &org, crate::service::now()).unwrap().len(),
            1
        );
    }

    #[test]
    fn an_org_that_is_not_bootstrapped_has_nothing_to_rotate() {
        let (_dir, mut conn) = database();
        let master = MasterKey::generate();
        let org = orgs::create(&mut conn, "fresh", crate::service::now()).unwrap();
        for alg in [None, Some("RS256")] {
            match rotate(
                &mut conn,
                &master,
                &Actor::cli(&org.id),
                alg,
                WINDOW,
                crate::service::now(),
            ) {
                Err(ServiceError::OrgNotBootstrapped(slug)) => assert_eq!(slug, "fresh"),
                other => panic!("{other:?}"),
            }
        }
        assert!(
            list(&mut conn, &org.id, crate::service::now())
                .unwrap()
                .is_empty()
        );
    }
}
