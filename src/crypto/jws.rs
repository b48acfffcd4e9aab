//! Compact JWS (RFC 7515) signing with a cached Ed25519 key, and verification.
//!
//! Signing is done by hand: `jsonwebtoken::encode` re-parses the PKCS#8 key and re-derives the
//! public key on every call (34.9 µs against 18.5 µs here, research/dependencies.md §6).
//! Verification goes through `jsonwebtoken`, and a test proves it accepts what we sign.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::signing::ALG_EDDSA;
use crate::domain::token::ACCESS_TOKEN_TYP;

/// An org's current signing key, with its JWS header already serialised.
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
    pub fn ed25519(kid: &str, org_id: &str, x_b64url: &str) -> Option<Self> {
        let key = DecodingKey::from_ed_components(x_b64url).ok()?;
        Some(Self {
            kid: kid.to_owned(),
            org_id: org_id.to_owned(),
            alg: Algorithm::EdDSA,
            key,
        })
    }

    /// Signature, algorithm, `exp` (no leeway: we issued it, on our clock) and `iss`.
    pub fn verify<C: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<C, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != self.alg {
            return Err(VerifyError::WrongAlgorithm);
        }
        let mut validation = Validation::new(self.alg);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "iat"]);
        jsonwebtoken::decode::<C>(token, &self.key, &validation)
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
            })
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
    use crate::crypto::signing::{ed25519_from_pkcs8, generate_ed25519};
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

    fn pair() -> (EdDsaSigner, Verifier) {
        let g = generate_ed25519().unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&g.public_jwk).unwrap();
        let signer = EdDsaSigner::new(&g.kid, ed25519_from_pkcs8(&g.private_pkcs8).unwrap());
        let verifier = Verifier::ed25519(&g.kid, "org_a", jwk["x"].as_str().unwrap()).unwrap();
        (signer, verifier)
    }

    #[test]
    fn jsonwebtoken_accepts_what_we_sign() {
        let (signer, verifier) = pair();
        let c = claims(chrono::Utc::now().timestamp() + 60);
        let token = signer.sign(&c).unwrap();
        assert_eq!(
            peek_header(&token).unwrap(),
            (signer.kid().to_owned(), Algorithm::EdDSA)
        );
        let back: AccessClaims = verifier.verify(&token, "http://issuer").unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn tampered_expired_and_foreign_tokens_are_refused() {
        let (signer, verifier) = pair();
        let (other_signer, _) = pair();
        let future = chrono::Utc::now().timestamp() + 60;
        let token = signer.sign(&claims(future)).unwrap();

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims(future);
        forged.scope = "*:*".into();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&parts.join("."), "http://issuer")
                .unwrap_err(),
            VerifyError::BadSignature
        );

        let expired = signer
            .sign(&claims(chrono::Utc::now().timestamp() - 1))
            .unwrap();
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&expired, "http://issuer")
                .unwrap_err(),
            VerifyError::Expired
        );
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&token, "http://other")
                .unwrap_err(),
            VerifyError::WrongIssuer
        );
        let foreign = other_signer.sign(&claims(future)).unwrap();
        assert_eq!(
            verifier
                .verify::<AccessClaims>(&foreign, "http://issuer")
                .unwrap_err(),
            VerifyError::BadSignature
        );
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
                .verify::<AccessClaims>(&hs, "http://issuer")
                .unwrap_err(),
            VerifyError::WrongAlgorithm
        );
        assert!(peek_header("a.b").is_err());
        assert!(peek_header("").is_err());
    }
}
