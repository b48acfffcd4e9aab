//! Org signing keys: generation, the RFC 7638 thumbprint used as `kid`, and the public JWK.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha2::{Digest, Sha256};

/// JWS algorithm names as they appear in JWT headers and JWKs.
pub const ALG_EDDSA: &str = "EdDSA";

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
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("private key is not valid PKCS#8 Ed25519")]
    BadPrivateKey,
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

pub fn ed25519_from_pkcs8(der: &[u8]) -> Result<SigningKey, SigningKeyError> {
    SigningKey::from_pkcs8_der(der).map_err(|_| SigningKeyError::BadPrivateKey)
}

/// RFC 8037 §2 public JWK for an Ed25519 key.
pub fn ed25519_jwk(kid: &str, x: &str) -> serde_json::Value {
    serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": ALG_EDDSA, "use": "sig"})
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, no spaces.
pub fn okp_thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
    fn generated_keys_round_trip_through_pkcs8() {
        let g = generate_ed25519().unwrap();
        let key = ed25519_from_pkcs8(&g.private_pkcs8).unwrap();
        let jwk: serde_json::Value = serde_json::from_str(&g.public_jwk).unwrap();
        assert_eq!(
            jwk["x"],
            URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes())
        );
        assert_eq!(jwk["kid"], g.kid);
        assert!(jwk.get("d").is_none());
    }
}
