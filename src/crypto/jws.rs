//! Compact JWS (RFC 7515) signing with an org's cached key, and verification.
//!
//! EdDSA is signed by hand: `jsonwebtoken::encode` re-parses the PKCS#8 key and re-derives the
//! public key on every call (34.9 µs against 18.5 µs here, research/dependencies.md §6), and
//! EdDSA is what almost every org signs with. RS256 and ES256 go through `jsonwebtoken::encode`
//! with a cached `EncodingKey`: their signature itself costs far more than the key parsing.
//! Verification of all three goes through `jsonwebtoken`, and tests prove it accepts what we sign.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::signing::{
    ALG_EDDSA, SigningAlg, SigningKeyError, ed25519_from_pkcs8, p256_check_pkcs8,
    rsa_pkcs1_from_pkcs8,
};
use crate::domain::token::ACCESS_TOKEN_TYP;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("claims do not serialise: {0}")]
    Claims(#[from] serde_json::Error),
    #[error("signing failed: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// An org's current signing key, ready to sign access tokens with header
/// `{"alg", "typ": "at+jwt", "kid"}` (RFC 9068 §2.1).
// One per org, behind an `Arc`: the variants' sizes do not matter, and boxing would put an
// indirection on the EdDSA fast path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Signer {
    EdDsa(EdDsaSigner),
    /// RS256 or ES256 through `jsonwebtoken`.
    Jwt(JwtSigner),
}

impl Signer {
    /// The signer for a stored key: `der` is its PKCS#8 private key, opened from the seal.
    pub fn from_pkcs8(alg: SigningAlg, kid: &str, der: &[u8]) -> Result<Self, SigningKeyError> {
        Ok(match alg {
            SigningAlg::EdDsa => Signer::EdDsa(EdDsaSigner::new(kid, ed25519_from_pkcs8(der)?)),
            SigningAlg::Rs256 => Signer::Jwt(JwtSigner::rs256(kid, &rsa_pkcs1_from_pkcs8(der)?)),
            SigningAlg::Es256 => {
                p256_check_pkcs8(der)?;
                Signer::Jwt(JwtSigner::es256(kid, der))
            }
        })
    }

    pub fn kid(&self) -> &str {
        match self {
            Signer::EdDsa(s) => s.kid(),
            Signer::Jwt(s) => s.kid(),
        }
    }

    pub fn alg(&self) -> SigningAlg {
        match self {
            Signer::EdDsa(_) => SigningAlg::EdDsa,
            Signer::Jwt(s) => s.alg,
        }
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, SignError> {
        match self {
            Signer::EdDsa(s) => Ok(s.sign(claims)?),
            Signer::Jwt(s) => s.sign(claims),
        }
    }
}

/// An Ed25519 key with its JWS header already serialised: the token endpoint's fast path.
pub struct EdDsaSigner {
    kid: String,
    key: SigningKey,
    header_b64: String,
}

impl std::fmt::Debug for EdDsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdDsaSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl EdDsaSigner {
    pub fn new(kid: &str, key: SigningKey) -> Self {
        let header = serde_json::json!({"alg": ALG_EDDSA, "typ": ACCESS_TOKEN_TYP, "kid": kid});
        Self {
            kid: kid.to_owned(),
            key,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, serde_json::Error> {
        let payload = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity(self.header_b64.len() + payload.len() * 4 / 3 + 90);
        token.push_str(&self.header_b64);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.key.sign(token.as_bytes());
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
        Ok(token)
    }
}

/// An RS256 or ES256 key for `jsonwebtoken::encode`, with the header it signs under.
pub struct JwtSigner {
    alg: SigningAlg,
    header: Header,
    key: EncodingKey,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner")
            .field("alg", &self.alg)
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// `pkcs1_der`: the PKCS#1 `RSAPrivateKey` (see `signing::rsa_pkcs1_from_pkcs8`).
    pub fn rs256(kid: &str, pkcs1_der: &[u8]) -> Self {
        Self::new(SigningAlg::Rs256, kid, EncodingKey::from_rsa_der(pkcs1_der))
    }

    /// `pkcs8_der`: the PKCS#8 P-256 private key, as stored.
    pub fn es256(kid: &str, pkcs8_der: &[u8]) -> Self {
        Self::new(SigningAlg::Es256, kid, EncodingKey::from_ec_der(pkcs8_der))
    }

    fn new(alg: SigningAlg, kid: &str, key: EncodingKey) -> Self {
        super::jwt_provider::install();
        let mut header = Header::new(alg.jwt_algorithm());
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(kid.to_owned());
        Self { alg, header, key }
    }

    pub fn kid(&self) -> &str {
        self.header.kid.as_deref().unwrap_or_default()
    }

    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, SignError> {
        Ok(jsonwebtoken::encode(&self.header, claims, &self.key)?)
    }
}

/// A published public key that tokens may be verified with.
pub struct Verifier {
    pub kid: String,
    pub org_id: String,
    pub alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("kid", &self.kid)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Not three base64url parts, bad JSON, unknown or `none` algorithm.
    Malformed,
    /// `typ` is not `at+jwt` (RFC 9068 §4: a different kind of JWT must not pass as a token).
    WrongType,
    NoKid,
    /// Header `alg` differs from the key's algorithm (RFC 8725 §3.1).
    WrongAlgorithm,
    BadSignature,
    Expired,
    WrongIssuer,
    MissingClaim,
}

impl Verifier {
    /// From the members of the key's public JWK (RFC 8037 §2, RFC 7518 §6.2.1 and §6.3.1);
    /// `None` when a member the algorithm needs is missing or not base64url.
    pub fn from_jwk(
        kid: &str,
        org_id: &str,
        alg: SigningAlg,
        jwk: &serde_json::Value,
    ) -> Option<Self> {
        let member = |name: &str| jwk.get(name).and_then(serde_json::Value::as_str);
        match alg {
            SigningAlg::EdDsa => Self::ed25519(kid, org_id, member("x")?),
            SigningAlg::Rs256 => Self::rsa(kid, org_id, member("n")?, member("e")?),
            SigningAlg::Es256 => Self::p256(kid, org_id, member("x")?, member("y")?),
        }
    }

    pub fn ed25519(kid: &str, org_id: &str, x_b64url: &str) -> Option<Self> {
        let key = DecodingKey::from_ed_components(x_b64url).ok()?;
        Some(Self::new(kid, org_id, Algorithm::EdDSA, key))
    }

    pub fn rsa(kid: &str, org_id: &str, n_b64url: &str, e_b64url: &str) -> Option<Self> {
        let key = DecodingKey::from_rsa_components(n_b64url, e_b64url).ok()?;
        Some(Self::new(kid, org_id, Algorithm::RS256, key))
    }

    pub fn p256(kid: &str, org_id: &str, x_b64url: &str, y_b64url: &str) -> Option<Self> {
        let key = DecodingKey::from_ec_components(x_b64url, y_b64url).ok()?;
        Some(Self::new(kid, org_id, Algorithm::ES256, key))
    }

    fn new(kid: &str, org_id: &str, alg: Algorithm, key: DecodingKey) -> Self {
        super::jwt_provider::install();
        Self {
            kid: kid.to_owned(),
            org_id: org_id.to_owned(),
            alg,
            key,
        }
    }

    /// Signature, algorithm, `iss`, and `exp` against `now` (Unix seconds; no leeway: we
    /// issued it, on our clock). The caller's `now` rather than jsonwebtoken's own clock, so
    /// that every time decision of a request is made at one instant (and tests can set it).
    pub fn verify<C: DeserializeOwned + Expiring>(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<C, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != self.alg {
            return Err(VerifyError::WrongAlgorithm);
        }
        let mut validation = Validation::new(self.alg);
        validation.leeway = 0;
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
        let claims = jsonwebtoken::decode::<C>(token, &self.key, &validation)
            .map(|d| d.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => VerifyError::Expired,
                    K::InvalidIssuer => VerifyError::WrongIssuer,
                    K::InvalidSignature => VerifyError::BadSignature,
                    K::MissingRequiredClaim(_) => VerifyError::MissingClaim,
                    K::InvalidAlgorithm => VerifyError::WrongAlgorithm,
                    _ => VerifyError::Malformed,
                }
            })?;
        // jsonwebtoken's own rule (`exp < now` is expired), on our clock.
        match claims.exp() {
            Some(exp) if exp >= now => Ok(claims),
            Some(_) => Err(VerifyError::Expired),
            None => Err(VerifyError::MissingClaim),
        }
    }
}

/// Claims that carry an `exp` (RFC 7519 §4.1.4) for [`Verifier::verify`] to check.
pub trait Expiring {
    /// `None` when the claim is absent or not a number.
    fn exp(&self) -> Option<i64>;
}

impl Expiring for crate::domain::token::AccessClaims {
    fn exp(&self) -> Option<i64> {
        Some(self.exp)
    }
}

impl Expiring for serde_json::Value {
    fn exp(&self) -> Option<i64> {
        self.get("exp").and_then(serde_json::Value::as_i64)
    }
}

/// The parts of a JWS header needed to pick a verifier, checked before any signature work.
pub fn peek_header(token: &str) -> Result<(String, Algorithm), VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    match header.typ.as_deref() {
        Some(t)
            if t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
                || t.eq_ignore_ascii_case("application/at+jwt") => {}
        _ => return Err(VerifyError::WrongType),
    }
    let kid = header.kid.ok_or(VerifyError::NoKid)?;
    Ok((kid, header.alg))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::signing::generate;
    use crate::domain::token::AccessClaims;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "http://issuer".into(),
            sub: "key_a".into(),
            client_id: "key_a".into(),
            org_id: "org_a".into(),
            aud: "http://issuer".into(),
            iat: chrono::Utc::now().timestamp(),
            exp,
            jti: "jti1".into(),
            scope: "read:*".into(),
        }
    }

    fn pair_for(alg: SigningAlg) -> (Signer, Verifier) {
        let g = generate(alg).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&g.public_jwk).unwrap();
        let signer = Signer::from_pkcs8(alg, &g.kid, &g.private_pkcs8).unwrap();
        let verifier = Verifier::from_jwk(&g.kid, "org_a", alg, &jwk).unwrap();
        (signer, verifier)
    }

    fn pair() -> (Signer, Verifier) {
        pair_for(SigningAlg::EdDsa)
    }

    fn future() -> i64 {
        chrono::Utc::now().timestamp() + 60
    }

    #[test]
    fn jsonwebtoken_accepts_what_we_sign() {
        for alg in SigningAlg::ALL {
            let (signer, verifier) = pair_for(alg);
            assert!(matches!(
                (alg, &signer),
                (SigningAlg::EdDsa, Signer::EdDsa(_)) | (_, Signer::Jwt(_))
            ));
            let c = claims(future());
            let token = signer.sign(&c).unwrap();
            assert_eq!(
                peek_header(&token).unwrap(),
                (signer.kid().to_owned(), alg.jwt_algorithm()),
                "{alg}"
            );
            let header: serde_json::Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                header,
                serde_json::json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": signer.kid()}),
                "{alg}: exactly the RFC 9068 header"
            );
            let back: AccessClaims = verifier
                .verify(&token, "http://issuer", chrono::Utc::now().timestamp())
                .unwrap();
            assert_eq!(back, c, "{alg}");
        }
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused() {
        for alg in SigningAlg::ALL {
            let (signer, verifier) = pair_for(alg);
            let (other_signer, _) = pair_for(alg);
            let token = signer.sign(&claims(future())).unwrap();

            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            let mut forged = claims(future());
            forged.scope = "*:*".into();
            parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
            assert_eq!(
                verifier
                    .verify::<AccessClaims>(
                        &parts.join("."),
                        "http://issuer",
                        chrono::Utc::now().timestamp()
                    )
                    .unwrap_err(),
                VerifyError::BadSignature,
                "{alg}"
            );

            let expired = signer
                .sign(&claims(chrono::Utc::now().timestamp() - 1))
                .unwrap();
            assert_eq!(
                verifier
                    .verify::<AccessClaims>(
                        &expired,
                        "http://issuer",
                        chrono::Utc::now().timestamp()
                    )
                    .unwrap_err(),
                VerifyError::Expired
            );
            assert_eq!(
                verifier
                    .verify::<AccessClaims>(&token, "http://other", chrono::Utc::now().timestamp())
                    .unwrap_err(),
                VerifyError::WrongIssuer
            );
            let foreign = other_signer.sign(&claims(future())).unwrap();
            assert_eq!(
                verifier
                    .verify::<AccessClaims>(
                        &foreign,
                        "http://issuer",
                        chrono::Utc::now().timestamp()
                    )
                    .unwrap_err(),
                VerifyError::BadSignature,
                "{alg}"
            );
        }
    }

    #[test]
    fn a_token_must_use_its_keys_algorithm() {
        let (rsa_signer, rsa_verifier) = pair_for(SigningAlg::Rs256);
        let (ec_signer, ec_verifier) = pair_for(SigningAlg::Es256);
        let (ed_signer, ed_verifier) = pair_for(SigningAlg::EdDsa);
        for (token, verifier) in [
            (ec_signer.sign(&claims(future())).unwrap(), &rsa_verifier),
            (ed_signer.sign(&claims(future())).unwrap(), &ec_verifier),
            (rsa_signer.sign(&claims(future())).unwrap(), &ed_verifier),
        ] {
            assert_eq!(
                verifier
                    .verify::<AccessClaims>(&token, "http://issuer", chrono::Utc::now().timestamp())
                    .unwrap_err(),
                VerifyError::WrongAlgorithm
            );
        }
        // RFC 8725 §2.1: an RS256 key's public half used as an HMAC secret.
        let g = generate(SigningAlg::Rs256).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&g.public_jwk).unwrap();
        let verifier = Verifier::from_jwk(&g.kid, "org_a", SigningAlg::Rs256, &jwk).unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(g.kid.clone());
        let hs = jsonwebtoken::encode(
            &header,
            &claims(future()),
            &EncodingKey::from_secret(g.public_jwk.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&hs, "http://issuer", chrono::Utc::now().timestamp())
                .unwrap_err(),
            VerifyError::WrongAlgorithm
        );
    }

    #[test]
    fn a_jwk_without_its_members_builds_no_verifier() {
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AAAA"});
        assert!(Verifier::from_jwk("k", "org_a", SigningAlg::Es256, &jwk).is_none());
        let jwk = serde_json::json!({"kty": "RSA", "n": "!!", "e": "AQAB"});
        assert!(Verifier::from_jwk("k", "org_a", SigningAlg::Rs256, &jwk).is_none());
        assert!(
            Verifier::from_jwk("k", "org_a", SigningAlg::EdDsa, &serde_json::json!({})).is_none()
        );
    }

    #[test]
    fn a_stored_key_of_another_algorithm_does_not_open() {
        let g = generate(SigningAlg::EdDsa).unwrap();
        for alg in [SigningAlg::Rs256, SigningAlg::Es256] {
            assert!(Signer::from_pkcs8(alg, &g.kid, &g.private_pkcs8).is_err());
        }
    }

    #[test]
    fn alg_none_and_other_typ_are_refused_before_verification() {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(i64::MAX)).unwrap());
        let none = format!(
            "{}.{body}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt","kid":"k"}"#)
        );
        assert_eq!(peek_header(&none).unwrap_err(), VerifyError::Malformed);
        let jwt = format!(
            "{}.{body}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"EdDSA","typ":"JWT","kid":"k"}"#)
        );
        assert_eq!(peek_header(&jwt).unwrap_err(), VerifyError::WrongType);
        let hs = format!(
            "{}.{body}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"at+jwt","kid":"k"}"#)
        );
        let (_, verifier) = pair();
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&hs, "http://issuer", chrono::Utc::now().timestamp())
                .unwrap_err(),
            VerifyError::WrongAlgorithm
        );
        assert!(peek_header("a.b").is_err());
        assert!(peek_header("").is_err());
    }
}
