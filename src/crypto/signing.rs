//! Org signing keys: the algorithms an org may sign with, key generation, the RFC 7638 thumbprint
//! used as `kid`, the public JWK, and opening a private key from its PKCS#8 form.
//!
//! Every algorithm's private key is stored the same way: PKCS#8 DER (RFC 5958), sealed with the
//! master key (AAD = kid). Only the public JWK is ever served.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::rand_core::OsRng;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// JWS algorithm names as they appear in JWT headers and JWKs (RFC 7518 §3.1, RFC 8037 §3.1).
pub const ALG_EDDSA: &str = "EdDSA";
pub const ALG_RS256: &str = "RS256";
pub const ALG_ES256: &str = "ES256";

/// RSA modulus size. RFC 7518 §3.3 requires at least 2048 bits; larger keys only cost signing
/// time (RS256 is for verifiers without EdDSA, not for extra strength).
pub const RSA_BITS: usize = 2048;

/// The algorithms an org may sign its access tokens with. EdDSA is the default (small, fast,
/// deterministic); RS256 is the one RFC 9068 §2.1 says every implementation must support; ES256
/// for verifiers that have ECDSA but not EdDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    EdDsa,
    Rs256,
    Es256,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::EdDsa, SigningAlg::Rs256, SigningAlg::Es256];

    /// Exact JWS names only: `alg` values are case-sensitive (RFC 7515 §4.1.1).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a supported signing algorithm; use one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::EdDsa => ALG_EDDSA,
            SigningAlg::Rs256 => ALG_RS256,
            SigningAlg::Es256 => ALG_ES256,
        }
    }

    pub fn jwt_algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlg::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            SigningAlg::Rs256 => jsonwebtoken::Algorithm::RS256,
            SigningAlg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A freshly generated key: the public JWK (JSON text) and the PKCS#8 private key to seal.
pub struct GeneratedKey {
    pub kid: String,
    pub alg: &'static str,
    pub public_jwk: String,
    pub private_pkcs8: Vec<u8>,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("private key is not valid PKCS#8 Ed25519")]
    BadPrivateKey,
    #[error("private key is not valid PKCS#8 {0}")]
    BadPrivateKeyFor(SigningAlg),
    #[error("{0} key generation failed")]
    Generation(SigningAlg),
}

/// A new key pair for `alg`, with its kid and public JWK.
pub fn generate(alg: SigningAlg) -> Result<GeneratedKey, SigningKeyError> {
    match alg {
        SigningAlg::EdDsa => generate_ed25519(),
        SigningAlg::Rs256 => generate_rs256(),
        SigningAlg::Es256 => generate_es256(),
    }
}

pub fn generate_ed25519() -> Result<GeneratedKey, SigningKeyError> {
    // ed25519-dalek 2 wants a rand_core 0.6 RNG; a 32-byte seed from rand 0.10 is equivalent.
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let der = key
        .to_pkcs8_der()
        .map_err(|_| SigningKeyError::BadPrivateKey)?;
    let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let kid = okp_thumbprint(&x);
    Ok(GeneratedKey {
        public_jwk: ed25519_jwk(&kid, &x).to_string(),
        kid,
        alg: ALG_EDDSA,
        private_pkcs8: der.as_bytes().to_vec(),
    })
}

/// RSA 2048 with e = 65537, from the operating system's RNG.
pub fn generate_rs256() -> Result<GeneratedKey, SigningKeyError> {
    let alg = SigningAlg::Rs256;
    let key = rsa::RsaPrivateKey::new(&mut OsRng, RSA_BITS)
        .map_err(|_| SigningKeyError::Generation(alg))?;
    let der = rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
        .map_err(|_| SigningKeyError::Generation(alg))?;
    // RFC 7518 §6.3.1: unsigned big-endian in the fewest octets, base64url.
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let kid = rsa_thumbprint(&e, &n);
    Ok(GeneratedKey {
        public_jwk: rsa_jwk(&kid, &n, &e).to_string(),
        kid,
        alg: ALG_RS256,
        private_pkcs8: der.as_bytes().to_vec(),
    })
}

/// A P-256 key from the operating system's RNG.
pub fn generate_es256() -> Result<GeneratedKey, SigningKeyError> {
    let alg = SigningAlg::Es256;
    let key = p256::SecretKey::random(&mut OsRng);
    let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&key)
        .map_err(|_| SigningKeyError::Generation(alg))?;
    let point = key.public_key().to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err(SigningKeyError::Generation(alg));
    };
    // RFC 7518 §6.2.1.2: full-length (32-octet) coordinates, which the encoded point has.
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    let kid = ec_thumbprint(&x, &y);
    Ok(GeneratedKey {
        public_jwk: p256_jwk(&kid, &x, &y).to_string(),
        kid,
        alg: ALG_ES256,
        private_pkcs8: der.as_bytes().to_vec(),
    })
}

pub fn ed25519_from_pkcs8(der: &[u8]) -> Result<SigningKey, SigningKeyError> {
    SigningKey::from_pkcs8_der(der).map_err(|_| SigningKeyError::BadPrivateKey)
}

/// The PKCS#1 `RSAPrivateKey` DER that `jsonwebtoken::EncodingKey::from_rsa_der` expects, from
/// the PKCS#8 form we store. Parsing also checks the key is consistent.
pub fn rsa_pkcs1_from_pkcs8(der: &[u8]) -> Result<Vec<u8>, SigningKeyError> {
    let bad = || SigningKeyError::BadPrivateKeyFor(SigningAlg::Rs256);
    let key = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
        .map_err(|_| bad())?;
    Ok(key.to_pkcs1_der().map_err(|_| bad())?.as_bytes().to_vec())
}

/// Checks a stored P-256 key opens; `jsonwebtoken::EncodingKey::from_ec_der` takes the PKCS#8
/// form as it is.
pub fn p256_check_pkcs8(der: &[u8]) -> Result<(), SigningKeyError> {
    <p256::SecretKey as p256::pkcs8::DecodePrivateKey>::from_pkcs8_der(der)
        .map(|_| ())
        .map_err(|_| SigningKeyError::BadPrivateKeyFor(SigningAlg::Es256))
}

/// RFC 8037 §2 public JWK for an Ed25519 key.
pub fn ed25519_jwk(kid: &str, x: &str) -> serde_json::Value {
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALG_EDDSA, "use": "sig"})
}

/// RFC 7518 §6.3.1 public JWK for an RSA key.
pub fn rsa_jwk(kid: &str, n: &str, e: &str) -> serde_json::Value {
    serde_json::json!({"kty": "RSA", "n": n, "e": e, "kid": kid, "alg": ALG_RS256, "use": "sig"})
}

/// RFC 7518 §6.2.1 public JWK for a P-256 key.
pub fn p256_jwk(kid: &str, x: &str, y: &str) -> serde_json::Value {
    serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": ALG_ES256, "use": "sig"})
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
/// NEVER change these canonical forms: the kid of every stored key was derived with them.
pub fn okp_thumbprint(x: &str) -> String {
    thumbprint(&format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#))
}

/// RFC 7638 §3.2: an RSA key's required members are `e`, `kty`, `n`.
pub fn rsa_thumbprint(e: &str, n: &str) -> String {
    thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#))
}

/// RFC 7638 §3.2: an EC key's required members are `crv`, `kty`, `x`, `y`.
pub fn ec_thumbprint(x: &str, y: &str) -> String {
    thumbprint(&format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
    ))
}

fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn jwk(g: &GeneratedKey) -> serde_json::Value {
        serde_json::from_str(&g.public_jwk).unwrap()
    }

    /// The members RFC 7638 §3.2 names, serialised with sorted keys and no whitespace by
    /// serde_json (its map is ordered): an independent way to the same canonical form.
    fn canonical_thumbprint(jwk: &serde_json::Value, members: &[&str]) -> String {
        let required: serde_json::Map<String, serde_json::Value> = members
            .iter()
            .map(|m| ((*m).to_owned(), jwk[*m].clone()))
            .collect();
        thumbprint(&serde_json::Value::Object(required).to_string())
    }

    #[test]
    fn rfc_8037_thumbprint_example() {
        // RFC 8037 Appendix A.3.
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        assert_eq!(
            okp_thumbprint(x),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn rfc_7638_rsa_thumbprint_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            rsa_thumbprint("AQAB", n),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn algorithm_names_are_exact() {
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(alg.as_str()).unwrap(), alg);
        }
        for bad in ["", "eddsa", "rs256", "HS256", "none", "ES384", "RS256 "] {
            assert!(SigningAlg::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn generated_keys_round_trip_through_pkcs8() {
        let g = generate_ed25519().unwrap();
        let key = ed25519_from_pkcs8(&g.private_pkcs8).unwrap();
        let jwk = jwk(&g);
        assert_eq!(
            jwk["x"],
            URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
        );
        assert_eq!(jwk["kid"], g.kid);
        assert!(jwk.get("d").is_none());
        assert_eq!(g.kid, canonical_thumbprint(&jwk, &["crv", "kty", "x"]));
    }

    #[test]
    fn rsa_keys_have_an_rfc_7518_jwk_and_thumbprint_kid() {
        let g = generate_rs256().unwrap();
        let jwk = jwk(&g);
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["alg"].as_str(),
                jwk["use"].as_str()
            ),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().unwrap())
                .unwrap()
                .len(),
            256
        );
        assert_eq!(jwk["kid"], g.kid);
        assert_eq!(g.kid, canonical_thumbprint(&jwk, &["e", "kty", "n"]));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{private}");
        }
        let pkcs1 = rsa_pkcs1_from_pkcs8(&g.private_pkcs8).unwrap();
        assert!(!pkcs1.is_empty());
        assert!(rsa_pkcs1_from_pkcs8(&generate_es256().unwrap().private_pkcs8).is_err());
    }

    #[test]
    fn p256_keys_have_an_rfc_7518_jwk_and_thumbprint_kid() {
        let g = generate_es256().unwrap();
        let jwk = jwk(&g);
        assert_eq!(
            (
                jwk["kty"].as_str(),
                jwk["crv"].as_str(),
                jwk["alg"].as_str()
            ),
            (Some("EC"), Some("P-256"), Some("ES256"))
        );
        for coordinate in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD
                .decode(jwk[coordinate].as_str().unwrap())
                .unwrap();
            assert_eq!(bytes.len(), 32, "{coordinate} is full length");
        }
        assert_eq!(g.kid, canonical_thumbprint(&jwk, &["crv", "kty", "x", "y"]));
        assert!(jwk.get("d").is_none());
        p256_check_pkcs8(&g.private_pkcs8).unwrap();
        assert!(p256_check_pkcs8(&generate_ed25519().unwrap().private_pkcs8).is_err());
    }
}
