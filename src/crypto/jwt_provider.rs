//! jsonwebtoken's RustCrypto provider with one change: an EdDSA verifier reuses the decoded
//! public key. RustCrypto's decodes (decompresses) the org's 32-byte key on every verification,
//! 7.5 % of the instructions of an introspection (bench/instructions.sh). Everything else stays
//! jsonwebtoken's: parsing, the algorithm check, claims validation, and the signature check
//! itself (`VerifyingKey::verify`, as its own EdDSA verifier calls it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use ed25519_dalek::{Signature, VerifyingKey};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, rust_crypto};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{self, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// Decoded keys held per thread: a few per org (current and retired); all dropped when full.
const MAX_DECODED: usize = 256;

thread_local! {
    static DECODED: RefCell<HashMap<[u8; 32], VerifyingKey>> = RefCell::new(HashMap::new());
}

/// Makes this the process's provider. Called before any signing or verification
/// (`jws::Verifier` and `jws::JwtSigner` constructors); once jsonwebtoken has settled on a
/// provider, later calls change nothing.
pub fn install() {
    static PROVIDER: OnceLock<CryptoProvider> = OnceLock::new();
    let provider = PROVIDER.get_or_init(|| CryptoProvider {
        verifier_factory: new_verifier,
        ..rust_crypto::DEFAULT_PROVIDER.clone()
    });
    let _ = provider.install_default();
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::EdDSA {
        return (rust_crypto::DEFAULT_PROVIDER.verifier_factory)(algorithm, key);
    }
    if key.family() != AlgorithmFamily::Ed {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let bytes: [u8; 32] = key
        .try_get_as_bytes()?
        .get(..32)
        .and_then(|b| b.try_into().ok())
        .ok_or(ErrorKind::InvalidEddsaKey)?;
    let key = DECODED.with(|cache| -> Result<VerifyingKey> {
        let mut cache = cache.borrow_mut();
        if let Some(key) = cache.get(&bytes) {
            return Ok(*key);
        }
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| ErrorKind::InvalidEddsaKey)?;
        if cache.len() >= MAX_DECODED {
            cache.clear();
        }
        cache.insert(bytes, key);
        Ok(key)
    })?;
    Ok(Box::new(EdDsaVerifier(key)))
}

/// The same check as jsonwebtoken's own EdDSA verifier, on a key decoded once.
struct EdDsaVerifier(VerifyingKey);

impl Verifier<Vec<u8>> for EdDsaVerifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.0.verify(msg, &Signature::from_slice(sig)?)
    }
}

impl JwtVerifier for EdDsaVerifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::EdDSA
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;

    fn decoding_key(key: &SigningKey) -> DecodingKey {
        DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()))
            .unwrap()
    }

    #[test]
    fn eddsa_verifiers_decode_each_key_once_and_check_like_jsonwebtoken() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let msg = b"header.payload";
        let sig = key.sign(msg).to_bytes().to_vec();
        let before = DECODED.with(|c| c.borrow().len());
        for _ in 0..3 {
            let v = new_verifier(&Algorithm::EdDSA, &decoding_key(&key)).unwrap();
            assert_eq!(v.algorithm(), Algorithm::EdDSA);
            assert!(v.verify(msg, &sig).is_ok());
            assert!(v.verify(b"header.payloaD", &sig).is_err());
            let mut bad = sig.clone();
            bad[5] ^= 1;
            assert!(v.verify(msg, &bad).is_err());
            assert!(v.verify(msg, &sig[..63].to_vec()).is_err());
        }
        assert_eq!(DECODED.with(|c| c.borrow().len()), before + 1);
        // Another key is another entry, and does not verify the first key's signature.
        let v = new_verifier(&Algorithm::EdDSA, &decoding_key(&other)).unwrap();
        assert!(v.verify(msg, &sig).is_err());
        assert_eq!(DECODED.with(|c| c.borrow().len()), before + 2);
    }

    #[test]
    fn other_algorithms_and_mismatched_keys_are_jsonwebtokens_business() {
        let hmac = DecodingKey::from_secret(b"secret");
        assert!(new_verifier(&Algorithm::EdDSA, &hmac).is_err());
        let v = new_verifier(&Algorithm::HS256, &hmac).unwrap();
        assert_eq!(v.algorithm(), Algorithm::HS256);
    }
}
