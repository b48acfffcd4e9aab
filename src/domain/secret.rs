//! API-key secrets and public ids.
//!
//! Format rule: a secret is `lk_` + 43 random base62 characters + a 6-character base62
//! CRC32 of those 43 characters (52 characters in all). Only its SHA-256 digest is stored.

use std::fmt;

use rand::RngExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Prefix of every secret. NEVER change it: secret scanners (GitHub push protection and
/// similar) recognise leaked Latchkey keys by it, and existing keys carry it forever.
pub const SECRET_PREFIX: &str = "lk_";

/// Total length of a secret: prefix (3) + random body (43) + checksum (6).
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + BODY_LEN + CHECKSUM_LEN;

/// 43 base62 characters carry 43 * log2(62) ≈ 256.03 bits, the ≥256-bit entropy rule.
const BODY_LEN: usize = 43;
/// 62^6 ≈ 5.7e10 > 2^32, so any CRC32 fits in six base62 digits.
const CHECKSUM_LEN: usize = 6;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext API-key secret.
///
/// Deliberately has no `Display` and a redacted `Debug`, so it cannot leak through logs or
/// `format!` by accident; [`Secret::expose`] is the single, greppable way to read it.
#[derive(Clone)]
pub struct Secret(String);

/// Why a presented string is not a secret. Both variants are reported to the caller the same
/// way as an unknown key; the split only exists for metrics and tests.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("not a Latchkey secret: expected 'lk_' followed by 49 characters of [0-9A-Za-z]")]
    Format,
    #[error("the secret's checksum does not match; it was probably mistyped or truncated")]
    Checksum,
}

impl Secret {
    /// Draws a new secret from the thread-local CSPRNG (ChaCha12, OS-seeded).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let body: String = (0..BODY_LEN)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        let mut s = String::with_capacity(SECRET_LEN);
        s.push_str(SECRET_PREFIX);
        s.push_str(&body);
        s.push_str(&checksum(&body));
        Self(s)
    }

    /// Format + checksum check, no I/O: a malformed secret never reaches the database, so
    /// typos and random scanning traffic are rejected without a lookup.
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        let rest = s.strip_prefix(SECRET_PREFIX).ok_or(SecretError::Format)?;
        // Byte length equals char length here because non-base62 input is rejected below.
        if s.len() != SECRET_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SecretError::Format);
        }
        let (body, check) = rest.split_at(BODY_LEN);
        if checksum(body) != check {
            return Err(SecretError::Checksum);
        }
        Ok(Self(s.to_owned()))
    }

    /// The plaintext. Call it only to show the secret once at creation time.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the whole secret string: the only form that is stored. A plain hash (no
    /// salt, no KDF) is enough because the input already has 256 bits of entropy, and it
    /// lets the database index the digest for lookup.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// `lk_…` + last four characters, safe to store and display so users can tell keys apart.
    /// The last four are checksum characters, so they reveal nothing about the random body.
    pub fn hint(&self) -> String {
        let tail = &self.0[self.0.len().saturating_sub(4)..];
        format!("{SECRET_PREFIX}\u{2026}{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

/// CRC32 of the random body, base62 big-endian, left-padded with '0' to six characters.
fn checksum(body: &str) -> String {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// SHA-256 digest of a secret, as stored.
///
/// Compare with [`SecretDigest::ct_eq`] when checking a presented secret against a stored
/// digest, so response timing does not reveal how many leading bytes matched.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// `None` unless exactly 32 bytes (a corrupt database column must not panic).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    // A digest is not secret, but printing it invites offline guessing and log correlation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

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
    use std::collections::HashSet;

    fn flip(c: u8) -> u8 {
        if c == b'a' { b'b' } else { b'a' }
    }

    #[test]
    fn generate_parse_round_trip() {
        for _ in 0..200 {
            let s = Secret::generate();
            let p = Secret::parse(s.expose()).unwrap();
            assert_eq!(p.expose(), s.expose());
        }
    }

    #[test]
    fn generated_shape() {
        let s = Secret::generate();
        let e = s.expose();
        assert_eq!(e.len(), SECRET_LEN);
        assert_eq!(SECRET_LEN, 52);
        assert!(e.starts_with("lk_"));
        assert!(e[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn checksum_is_padded_base62_crc32() {
        let body = "0".repeat(BODY_LEN);
        let mut n = crc32fast::hash(body.as_bytes()) as u64;
        let mut expected = Vec::new();
        while n > 0 {
            expected.push(BASE62[(n % 62) as usize]);
            n /= 62;
        }
        while expected.len() < 6 {
            expected.push(b'0');
        }
        expected.reverse();
        assert_eq!(checksum(&body).as_bytes(), &expected[..]);
        let full = format!("lk_{body}{}", checksum(&body));
        assert!(Secret::parse(&full).is_ok());
    }

    #[test]
    fn every_flipped_character_fails_checksum() {
        let s = Secret::generate();
        let bytes = s.expose().as_bytes();
        for i in 3..SECRET_LEN {
            let mut b = bytes.to_vec();
            b[i] = flip(b[i]);
            let t = String::from_utf8(b).unwrap();
            assert_eq!(
                Secret::parse(&t).unwrap_err(),
                SecretError::Checksum,
                "index {i}"
            );
        }
    }

    #[test]
    fn format_errors() {
        let good = Secret::generate().expose().to_owned();
        let cases = [
            String::new(),
            format!("lx_{}", &good[3..]),
            format!("LK_{}", &good[3..]),
            good[..SECRET_LEN - 1].to_owned(),
            format!("{good}0"),
            format!("{}-{}", &good[..10], &good[11..]),
            format!("{}é{}", &good[..10], &good[12..]),
            format!(" {}", &good[..SECRET_LEN - 1]),
            "lk_".to_owned(),
        ];
        for c in cases {
            assert_eq!(Secret::parse(&c).unwrap_err(), SecretError::Format, "{c:?}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::generate();
        let dbg = format!("{s:?}");
        assert_eq!(dbg, format!("Secret({})", s.hint()));
        assert!(!dbg.contains(&s.expose()[3..46]));
        assert!(!dbg.contains(&s.expose()[3..10]));
        assert_eq!(format!("{:?}", s.digest()), "SecretDigest(..)");
    }

    #[test]
    fn hint_format() {
        let s = Secret::generate();
        let h = s.hint();
        assert!(h.starts_with("lk_\u{2026}"));
        assert_eq!(h.chars().count(), 8);
        assert!(h.ends_with(&s.expose()[SECRET_LEN - 4..]));
    }

    #[test]
    fn digest_stable_and_distinct() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert_eq!(a.digest(), a.clone().digest());
        assert_eq!(a.digest(), Secret::parse(a.expose()).unwrap().digest());
        assert_ne!(a.digest(), b.digest());
        let expected: [u8; 32] = Sha256::digest(a.expose().as_bytes()).into();
        assert_eq!(a.digest().as_bytes(), &expected);
        assert!(a.digest().ct_eq(&a.digest()));
        assert!(!a.digest().ct_eq(&b.digest()));
    }

    #[test]
    fn digest_from_bytes() {
        let d = Secret::generate().digest();
        assert_eq!(SecretDigest::from_bytes(d.as_bytes()), Some(d));
        assert_eq!(SecretDigest::from_bytes(&[0; 31]), None);
        assert_eq!(SecretDigest::from_bytes(&[0; 33]), None);
    }

    #[test]
    fn many_secrets_distinct() {
        let set: HashSet<String> = (0..10_000)
            .map(|_| Secret::generate().expose().to_owned())
            .collect();
        assert_eq!(set.len(), 10_000);
    }

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
