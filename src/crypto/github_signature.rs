//! The signature GitHub's secret-scanning partner program puts on its alerts: ECDSA on P-256
//! with SHA-256 (`ECDSA-NIST-P256V1-SHA256`) over the raw request body, with the key named by
//! the `Github-Public-Key-Identifier` header and the signature in `Github-Public-Key-Signature`
//! (base64 of an ASN.1 DER `ECDSA-Sig-Value`). The public keys are GitHub's, in the form it
//! publishes them at `https://api.github.com/meta/public_keys/secret_scanning`:
//!
//! ```json
//! {"public_keys": [{"key_identifier": "90a4…", "key": "-----BEGIN PUBLIC KEY-----\n…", "is_current": true}]}
//! ```
//!
//! Pure: no HTTP and no fetching. The caller reads the key file (the operator downloads it), and
//! hands over the two headers and the body exactly as received: the signature covers the bytes,
//! so the body must never be re-serialised first. Every key of the file is used, current or not:
//! GitHub names the key it signed with, and during a rotation that may be the older one.

use std::collections::HashMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::der::{Decode, Document};
use p256::pkcs8::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use p256::pkcs8::{AssociatedOid, DecodePublicKey};
use serde::Deserialize;

/// GitHub's secret-scanning public keys, by `key_identifier`.
#[derive(Clone)]
pub struct GithubKeys {
    keys: HashMap<String, VerifyingKey>,
}

/// Why a key file was refused; its message names the key and says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// Not JSON of the published shape (serde's message, with the line and column).
    #[error(
        "the GitHub key file is not of the form {{\"public_keys\": [{{\"key_identifier\": …, \"key\": …}}, …]}} as https://api.github.com/meta/public_keys/secret_scanning serves it: {0}"
    )]
    Shape(String),
    /// `public_keys` is empty: every alert would be refused.
    #[error("the GitHub key file lists no public keys: every alert would be refused")]
    NoKeys,
    /// A key without an identifier (its position in the list).
    #[error("public key #{0} of the GitHub key file has an empty key_identifier")]
    EmptyIdentifier(usize),
    /// Two keys under one identifier: which one signs would be a guess.
    #[error("the GitHub key file lists key_identifier {0} twice")]
    DuplicateIdentifier(String),
    /// A key that is not a PEM P-256 public key.
    #[error("GitHub key {key_identifier}: {problem}")]
    Key {
        key_identifier: String,
        problem: KeyProblem,
    },
}

/// What is wrong with one key of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not a PEM document.
    NotPem,
    /// A PEM document of another kind (its label, e.g. `PRIVATE KEY`).
    NotPublicKey(String),
    /// The PEM body is not a DER `SubjectPublicKeyInfo`.
    NotSpki,
    /// A public key of another algorithm than EC (RSA, Ed25519…), by OID.
    NotEc(String),
    /// An EC public key on another curve than P-256 (its curve's OID, if it names one).
    NotP256(Option<String>),
    /// A P-256 key whose point is not on the curve.
    BadPoint,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPem => f.write_str("its key is not PEM (-----BEGIN PUBLIC KEY-----…)"),
            Self::NotPublicKey(label) => write!(
                f,
                "its key is a PEM {label}, not a PUBLIC KEY (-----BEGIN PUBLIC KEY-----)"
            ),
            Self::NotSpki => f.write_str("its key is not a DER SubjectPublicKeyInfo"),
            Self::NotEc(oid) => write!(
                f,
                "its key is not an elliptic-curve key (algorithm {oid}); GitHub signs with ECDSA P-256"
            ),
            Self::NotP256(Some(oid)) => write!(
                f,
                "its key is on the curve {oid}, not P-256 (1.2.840.10045.3.1.7); GitHub signs with ECDSA P-256"
            ),
            Self::NotP256(None) => f.write_str(
                "its key names no named curve; GitHub signs with ECDSA P-256 (1.2.840.10045.3.1.7)",
            ),
            Self::BadPoint => f.write_str("its key is not a point on the P-256 curve"),
        }
    }
}

/// Why an alert's signature was refused. Every variant means the same to GitHub (401): the
/// split is for the log, so an operator can tell a stale key file from a forgery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureRefused {
    /// `Github-Public-Key-Identifier` is missing or empty.
    #[error("no Github-Public-Key-Identifier")]
    NoIdentifier,
    /// `Github-Public-Key-Signature` is missing or empty.
    #[error("no Github-Public-Key-Signature")]
    NoSignature,
    /// The key file has no key by this identifier (a key GitHub added since it was downloaded,
    /// or a forgery).
    #[error(
        "GitHub key {0} is not in the key file: download https://api.github.com/meta/public_keys/secret_scanning again if GitHub added it"
    )]
    UnknownKey(String),
    /// The signature header is not base64.
    #[error("the Github-Public-Key-Signature is not base64")]
    NotBase64,
    /// The decoded signature is neither DER nor the 64-byte fixed form.
    #[error("the Github-Public-Key-Signature is not an ECDSA signature (DER)")]
    NotASignature,
    /// A well-formed signature that does not verify over this body with this key.
    #[error("the signature does not verify over the request body with GitHub key {0}")]
    Mismatch(String),
}

/// The file as GitHub serves it; other members (`is_current`, anything added later) are not
/// needed: every listed key may have signed.
#[derive(Deserialize)]
struct KeyFile {
    public_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
struct KeyEntry {
    key_identifier: String,
    key: String,
}

/// id-ecPublicKey (RFC 5480 §2.1.1).
const EC_PUBLIC_KEY: ObjectIdentifier = p256::elliptic_curve::ALGORITHM_OID;

impl GithubKeys {
    /// Reads a key file in GitHub's published format. Refused as a whole, naming the culprit,
    /// if it lists no key or any key is not a PEM P-256 public key: a file that half loads
    /// would refuse alerts later, far from the cause.
    pub fn parse(json: &[u8]) -> Result<GithubKeys, KeyFileError> {
        let file: KeyFile =
            serde_json::from_slice(json).map_err(|e| KeyFileError::Shape(e.to_string()))?;
        if file.public_keys.is_empty() {
            return Err(KeyFileError::NoKeys);
        }
        let mut keys = HashMap::with_capacity(file.public_keys.len());
        for (i, entry) in file.public_keys.into_iter().enumerate() {
            let id = entry.key_identifier.trim().to_owned();
            if id.is_empty() {
                return Err(KeyFileError::EmptyIdentifier(i));
            }
            let key = p256_key(&entry.key).map_err(|problem| KeyFileError::Key {
                key_identifier: id.clone(),
                problem,
            })?;
            if keys.insert(id.clone(), key).is_some() {
                return Err(KeyFileError::DuplicateIdentifier(id));
            }
        }
        Ok(GithubKeys { keys })
    }

    /// The identifiers of the keys held, sorted (for a startup log line).
    pub fn key_identifiers(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Checks an alert: the two headers as received (surrounding whitespace ignored) and the
    /// raw body. The signature may be DER, as GitHub sends it, or the 64-byte `r‖s` form.
    pub fn verify(
        &self,
        key_identifier: &str,
        signature_b64: &str,
        body: &[u8],
    ) -> Result<(), SignatureRefused> {
        let id = key_identifier.trim();
        if id.is_empty() {
            return Err(SignatureRefused::NoIdentifier);
        }
        let encoded = signature_b64.trim();
        if encoded.is_empty() {
            return Err(SignatureRefused::NoSignature);
        }
        let key = self
            .keys
            .get(id)
            .ok_or_else(|| SignatureRefused::UnknownKey(id.to_owned()))?;
        let raw = STANDARD
            .decode(encoded)
            .map_err(|_| SignatureRefused::NotBase64)?;
        let signature = Signature::from_der(&raw)
            .or_else(|_| match raw.len() {
                64 => Signature::from_slice(&raw),
                _ => Err(p256::ecdsa::Error::new()),
            })
            .map_err(|_| SignatureRefused::NotASignature)?;
        key.verify(body, &signature)
            .map_err(|_| SignatureRefused::Mismatch(id.to_owned()))
    }
}

/// Key material is public, but a listing of identifiers is all a log needs.
impl fmt::Debug for GithubKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubKeys")
            .field("key_identifiers", &self.key_identifiers())
            .finish()
    }
}

/// A PEM `SubjectPublicKeyInfo` of a P-256 key, each other case named.
fn p256_key(pem: &str) -> Result<VerifyingKey, KeyProblem> {
    let (label, der) = Document::from_pem(pem.trim()).map_err(|_| KeyProblem::NotPem)?;
    if label != "PUBLIC KEY" {
        return Err(KeyProblem::NotPublicKey(label.to_owned()));
    }
    let spki =
        SubjectPublicKeyInfoRef::from_der(der.as_bytes()).map_err(|_| KeyProblem::NotSpki)?;
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return Err(KeyProblem::NotEc(spki.algorithm.oid.to_string()));
    }
    match spki.algorithm.parameters_oid() {
        Ok(curve) if curve == p256::NistP256::OID => {}
        Ok(other) => return Err(KeyProblem::NotP256(Some(other.to_string()))),
        Err(_) => return Err(KeyProblem::NotP256(None)),
    }
    VerifyingKey::from_public_key_der(der.as_bytes()).map_err(|_| KeyProblem::BadPoint)
}

#[cfg(test)]
#[path = "github_signature_tests.rs"]
mod tests;
