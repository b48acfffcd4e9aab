//! A fetched JWKS turned, once per fetch, into ready verification keys: the `DecodingKey`
//! decoded and the `Validation` (algorithm, issuer, audiences, leeway) built, so that the warm
//! path does neither per token.
//!
//! The algorithm is the JWK's, never the token's: the `alg` member, or, without one, the one
//! algorithm Latchkey signs with for that key type (`OKP`/Ed25519 → EdDSA, `EC`/P-256 →
//! ES256, `RSA` → RS256). Symmetric (`oct`) keys and any other algorithm are skipped, so `none`
//! and HMAC can never verify a token.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::Deserialize;

use crate::claims::{Claims, WireClaims};
use crate::error::VerifyError;

/// What every token must carry, whatever key signed it.
#[derive(Debug, Clone)]
pub(crate) struct Expect {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub leeway_secs: u64,
}

/// One verification key with its prepared validation.
pub(crate) struct VerifyKey {
    key: DecodingKey,
    validation: Validation,
}

/// Every usable key of one fetched JWKS, by `kid`.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, VerifyKey>,
}

/// The JWKS members read here; each key is parsed alone so that one key of an unknown type
/// (a future algorithm) does not hide the others.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// The usable keys of a JWKS document; an error only when it is not a JWKS at all.
    pub(crate) fn parse(body: &[u8], expect: &Expect) -> Result<KeySet, String> {
        let raw: RawSet = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let mut keys = HashMap::with_capacity(raw.keys.len());
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let (Some(kid), Some(alg)) = (jwk.common.key_id.clone(), algorithm_of(&jwk)) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            if key.family() != alg.family() {
                continue;
            }
            keys.insert(kid, VerifyKey::new(key, alg, expect));
        }
        Ok(KeySet { keys })
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }

    pub(crate) fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

/// The key's algorithm: only the three Latchkey signs with.
fn algorithm_of(jwk: &Jwk) -> Option<Algorithm> {
    if let Some(alg) = jwk.common.key_algorithm {
        return match alg {
            KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
            KeyAlgorithm::ES256 => Some(Algorithm::ES256),
            KeyAlgorithm::RS256 => Some(Algorithm::RS256),
            _ => None,
        };
    }
    match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Some(Algorithm::EdDSA)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            Some(Algorithm::ES256)
        }
        AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
        _ => None,
    }
}

impl VerifyKey {
    fn new(key: DecodingKey, alg: Algorithm, expect: &Expect) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&expect.issuer]);
        validation.set_audience(&expect.audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = expect.leeway_secs;
        VerifyKey { key, validation }
    }

    /// Verifies `token` (whose `header` the caller parsed to find this key).
    pub(crate) fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.key, &self.validation)
            .map_err(from_jwt)?;
        let claims = Claims::try_from(data.claims)?;
        // jsonwebtoken checks `exp` and `nbf`, not `iat`: a token issued in the future is a
        // clock problem or a forgery, refused either way.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let latest = i64::try_from(now.saturating_add(self.validation.leeway)).unwrap_or(i64::MAX);
        if claims.iat > latest {
            return Err(VerifyError::NotYetValid);
        }
        Ok(claims)
    }
}

/// RFC 9068 §4: `typ` is `at+jwt`, or `application/at+jwt` (media types are case-insensitive).
pub(crate) fn is_access_token(header: &Header) -> bool {
    header.typ.as_deref().is_some_and(|typ| {
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        typ.eq_ignore_ascii_case("at+jwt")
    })
}

pub(crate) fn from_jwt(e: jsonwebtoken::errors::Error) -> VerifyError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature => VerifyError::BadSignature,
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            VerifyError::WrongAlgorithm
        }
        K::ExpiredSignature => VerifyError::Expired,
        K::ImmatureSignature => VerifyError::NotYetValid,
        K::InvalidIssuer => VerifyError::WrongIssuer,
        K::InvalidAudience => VerifyError::WrongAudience,
        K::MissingRequiredClaim(c) => VerifyError::BadClaims(format!("missing claim {c}")),
        K::InvalidClaimFormat(c) => VerifyError::BadClaims(format!("malformed claim {c}")),
        K::Json(e) => VerifyError::BadClaims(e.to_string()),
        _ => VerifyError::Malformed(e.to_string()),
    }
}
