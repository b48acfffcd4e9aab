//! API-key secrets and public ids.
//!
//! The secret's format, checksum, generation and digest are the `latchkey-rules` crate's
//! (`latchkey_rules::secret`), re-exported here: one copy, shared with resource servers, which
//! recognise a secret by it. The public ids (`key_…`, `org_…`, `jti`s) are the server's own.

use std::fmt;

use latchkey_rules::secret::BASE62;
pub use latchkey_rules::secret::{
    DEFAULT_SECRET_PREFIX, Secret, SecretDigest, SecretError, SecretPrefix, SecretPrefixError,
};
use rand::RngExt;

/// Public key id, the OAuth `client_id`. Not a secret: it appears in URLs and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

/// The id is not `key_` followed by 16..=64 characters of `[A-Za-z0-9_-]`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a key id: expected 'key_' followed by 16 to 64 characters of [A-Za-z0-9_-]")]
pub struct KeyIdError;

const KEY_ID_PREFIX: &str = "key_";
const KEY_ID_RANDOM_LEN: usize = 22;

impl KeyId {
    /// `key_` + 22 random alphanumerics (≈131 bits): unguessable enough that ids cannot be
    /// enumerated, and URL-safe without encoding.
    pub fn generate() -> Self {
        Self(random_id(KEY_ID_PREFIX, KEY_ID_RANDOM_LEN))
    }

    /// Accepts a wider alphabet and length range than [`KeyId::generate`] produces, so ids
    /// imported from elsewhere (or a future format) still parse; still URL-safe.
    pub fn parse(s: &str) -> Result<Self, KeyIdError> {
        let rest = s.strip_prefix(KEY_ID_PREFIX).ok_or(KeyIdError)?;
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        if (16..=64).contains(&rest.len()) && rest.bytes().all(ok_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(KeyIdError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `prefix` + `len` uniformly random `[A-Za-z0-9]` characters from the CSPRNG. Shared by key
/// ids, org ids (`org_`) and JWT `jti`s so every public id has the same URL-safe shape.
pub fn random_id(prefix: &str, len: usize) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    s.extend((0..len).map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())])));
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn key_id_rules() {
        let k = KeyId::generate();
        assert_eq!(k.as_str().len(), 4 + 22);
        assert!(k.as_str().starts_with("key_"));
        assert_eq!(KeyId::parse(k.as_str()).unwrap(), k);
        assert_eq!(k.to_string(), k.as_str());
        assert!(KeyId::parse(&format!("key_{}", "a".repeat(16))).is_ok());
        assert!(KeyId::parse(&format!("key_{}", "a-_Z9".repeat(12) + "abcd")).is_ok());
        for bad in [
            format!("key_{}", "a".repeat(15)),
            format!("key_{}", "a".repeat(65)),
            format!("kez_{}", "a".repeat(20)),
            format!("KEY_{}", "a".repeat(20)),
            format!("key_{}.", "a".repeat(20)),
            format!("key_{}é", "a".repeat(20)),
            String::new(),
        ] {
            assert_eq!(KeyId::parse(&bad), Err(KeyIdError), "{bad:?}");
        }
        assert_ne!(KeyId::generate(), KeyId::generate());
    }

    #[test]
    fn random_id_shape() {
        let id = random_id("org_", 10);
        assert_eq!(id.len(), 14);
        assert!(id.starts_with("org_"));
        assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(random_id("x", 0), "x");
    }
}
