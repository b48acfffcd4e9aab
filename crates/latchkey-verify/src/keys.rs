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

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    /// An Ed25519 key decoded once (point decompression included), for the EdDSA path.
    ed25519: Option<ed25519_dalek::VerifyingKey>,
    expect: Expect,
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
            let ed25519 = match (&jwk.algorithm, alg) {
                (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
                    match ed25519_key(&p.x) {
                        Some(key) => Some(key),
                        None => continue,
                    }
                }
                _ => None,
            };
            keys.insert(kid, VerifyKey::new(key, alg, ed25519, expect));
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

/// The Ed25519 public key of a JWK's `x`.
fn ed25519_key(x: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(x).ok()?.try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

impl VerifyKey {
    fn new(
        key: DecodingKey,
        alg: Algorithm,
        ed25519: Option<ed25519_dalek::VerifyingKey>,
        expect: &Expect,
    ) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&expect.issuer]);
        validation.set_audience(&expect.audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = expect.leeway_secs;
        VerifyKey {
            key,
            validation,
            ed25519,
            expect: expect.clone(),
        }
    }

    /// Verifies `token`, whose header (already parsed by the caller to find this key) names
    /// `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, token: &str) -> Result<Claims, VerifyError> {
        let claims = match &self.ed25519 {
            Some(key) if alg == Algorithm::EdDSA => self.verify_ed25519(key, token)?,
            Some(_) => return Err(VerifyError::WrongAlgorithm),
            None => {
                let data = jsonwebtoken::decode::<WireClaims>(token, &self.key, &self.validation)
                    .map_err(from_jwt)?;
                Claims::try_from(data.claims)?
            }
        };
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

impl VerifyKey {
    /// Latchkey's own algorithm without jsonwebtoken's generic path, which decodes the header
    /// again, the claims twice and (its RustCrypto provider) the public key on every call: the
    /// signature over `header.payload` with the key decoded once (ed25519-dalek's strict
    /// verification, as jsonwebtoken's), then the same claim checks.
    fn verify_ed25519(
        &self,
        key: &ed25519_dalek::VerifyingKey,
        token: &str,
    ) -> Result<Claims, VerifyError> {
        let malformed = || VerifyError::Malformed("not a compact JWS".into());
        let (signed, signature) = token.rsplit_once('.').ok_or_else(malformed)?;
        let (_, payload) = signed.split_once('.').ok_or_else(malformed)?;
        let signature: [u8; 64] = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(VerifyError::BadSignature)?;
        key.verify_strict(
            signed.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| VerifyError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| malformed())?;
        let wire: WireClaims =
            serde_json::from_slice(&payload).map_err(|e| VerifyError::BadClaims(e.to_string()))?;
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.expect.leeway_secs).unwrap_or(i64::MAX);
        // As jsonwebtoken: expired when `exp` is before now less the leeway; not yet valid
        // when `nbf` is after now plus the leeway.
        if wire.exp < now.saturating_sub(leeway) {
            return Err(VerifyError::Expired);
        }
        if wire.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(VerifyError::NotYetValid);
        }
        if wire.iss != self.expect.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        if !wire
            .audiences()
            .any(|a| self.expect.audiences.iter().any(|e| e == a))
        {
            return Err(VerifyError::WrongAudience);
        }
        Claims::try_from(wire)
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
