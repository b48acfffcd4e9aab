//! API-key secrets: their format, checksum and, for the issuer, generation and digest.
//!
//! Format rule: a secret is `lk_` + 43 random base62 characters + a 6-character base62
//! CRC32 of those 43 characters (52 characters in all). Only its SHA-256 digest is stored.
//!
//! The format and checksum need no feature: anyone can tell a Latchkey secret from other
//! text without a lookup, for example a resource server refusing a secret sent by mistake as
//! a Bearer token, where an access token belongs. Generation (feature `generate`) and the
//! stored digest (feature `digest`) are for the issuer.
//!
//! ```
//! use latchkey_rules::secret::{Secret, SecretError};
//!
//! // What came as `Authorization: Bearer …`: a Latchkey secret, a mistyped one, a JWT.
//! let secret = "lk_00000000000000000000000000000000000000000002CZclj";
//! assert!(Secret::parse(secret).is_ok());
//! let mistyped = "lk_00000000000000000000000000000000000000000002CZclk";
//! assert_eq!(Secret::parse(mistyped).unwrap_err(), SecretError::Checksum);
//! let jwt = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.e30.c2ln";
//! assert_eq!(Secret::parse(jwt).unwrap_err(), SecretError::Format);
//! ```

use std::fmt;

#[cfg(feature = "generate")]
use rand::RngExt;
#[cfg(feature = "digest")]
use sha2::{Digest, Sha256};
#[cfg(feature = "digest")]
use subtle::ConstantTimeEq;

/// Prefix of every secret. NEVER change it: secret scanners (GitHub push protection and
/// similar) recognise leaked Latchkey keys by it, and existing keys carry it forever.
///
/// ```
/// use latchkey_rules::secret::SECRET_PREFIX;
///
/// assert_eq!(SECRET_PREFIX, "lk_");
/// ```
pub const SECRET_PREFIX: &str = "lk_";

/// Total length of a secret: prefix (3) + random body (43) + checksum (6).
///
/// ```
/// use latchkey_rules::secret::SECRET_LEN;
///
/// assert_eq!(SECRET_LEN, 52);
/// ```
pub const SECRET_LEN: usize = SECRET_PREFIX.len() + BODY_LEN + CHECKSUM_LEN;

/// 43 base62 characters carry 43 * log2(62) ≈ 256.03 bits, the ≥256-bit entropy rule.
const BODY_LEN: usize = 43;
/// 62^6 ≈ 5.7e10 > 2^32, so any CRC32 fits in six base62 digits.
const CHECKSUM_LEN: usize = 6;

/// The base62 digits in order: the alphabet of a secret's body and of its checksum, whose
/// value is written in these digits. NEVER reorder it: every existing secret's checksum would
/// stop matching.
///
/// ```
/// use latchkey_rules::secret::BASE62;
///
/// assert_eq!(BASE62[0], b'0');
/// assert_eq!(BASE62[10], b'A');
/// assert_eq!(BASE62[61], b'z');
/// ```
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plaintext API-key secret.
///
/// Deliberately has no `Display` and a redacted `Debug`, so it cannot leak through logs or
/// `format!` by accident; [`Secret::expose`] is the single, greppable way to read it.
///
/// ```
/// use latchkey_rules::secret::Secret;
///
/// let secret = Secret::parse("lk_00000000000000000000000000000000000000000002CZclj")?;
/// assert_eq!(format!("{secret:?}"), "Secret(lk_…Zclj)");
/// # Ok::<(), latchkey_rules::secret::SecretError>(())
/// ```
#[derive(Clone)]
pub struct Secret(String);

/// Why a presented string is not a secret. Both variants are reported to the caller the same
/// way as an unknown key; the split only exists for metrics and tests.
///
/// ```
/// use latchkey_rules::secret::{Secret, SecretError};
///
/// let e = Secret::parse("lk_tooshort").unwrap_err();
/// assert_eq!(e, SecretError::Format);
/// assert!(e.to_string().starts_with("not a Latchkey secret"));
/// ```
#[derive(Debug, PartialEq, Eq)]
pub enum SecretError {
    /// Not `lk_` followed by 49 base62 characters.
    Format,
    /// The right shape, but the last six characters are not the checksum of the body.
    Checksum,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Format => {
                "not a Latchkey secret: expected 'lk_' followed by 49 characters of [0-9A-Za-z]"
            }
            Self::Checksum => {
                "the secret's checksum does not match; it was probably mistyped or truncated"
            }
        })
    }
}

impl std::error::Error for SecretError {}

impl Secret {
    /// Draws a new secret from the thread-local CSPRNG (ChaCha12, OS-seeded).
    ///
    /// ```
    /// use latchkey_rules::secret::{SECRET_LEN, Secret};
    ///
    /// let secret = Secret::generate();
    /// assert_eq!(secret.expose().len(), SECRET_LEN);
    /// assert!(Secret::parse(secret.expose()).is_ok());
    /// ```
    #[cfg(feature = "generate")]
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
    ///
    /// ```
    /// use latchkey_rules::secret::{Secret, SecretError};
    ///
    /// let good = "lk_00000000000000000000000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(good)?.expose(), good);
    /// let typo = "lk_00000000000000000O00000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(typo).unwrap_err(), SecretError::Checksum);
    /// # Ok::<(), SecretError>(())
    /// ```
    #[inline]
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
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let text = "lk_00000000000000000000000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(text)?.expose(), text);
    /// # Ok::<(), latchkey_rules::secret::SecretError>(())
    /// ```
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the whole secret string: the only form that is stored. A plain hash (no
    /// salt, no KDF) is enough because the input already has 256 bits of entropy, and it
    /// lets the database index the digest for lookup.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let text = "lk_00000000000000000000000000000000000000000002CZclj";
    /// let stored = Secret::parse(text)?.digest();
    /// assert!(Secret::parse(text)?.digest().ct_eq(&stored));
    /// # Ok::<(), latchkey_rules::secret::SecretError>(())
    /// ```
    #[cfg(feature = "digest")]
    #[inline]
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// `lk_…` + last four characters, safe to store and display so users can tell keys apart.
    /// The last four are checksum characters, so they reveal nothing about the random body.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let secret = Secret::parse("lk_00000000000000000000000000000000000000000002CZclj")?;
    /// assert_eq!(secret.hint(), "lk_…Zclj");
    /// # Ok::<(), latchkey_rules::secret::SecretError>(())
    /// ```
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
#[inline]
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
///
/// ```
/// use latchkey_rules::secret::{Secret, SecretDigest};
///
/// let digest = Secret::parse("lk_00000000000000000000000000000000000000000002CZclj")?.digest();
/// assert_eq!(format!("{digest:?}"), "SecretDigest(..)");
/// # Ok::<(), latchkey_rules::secret::SecretError>(())
/// ```
#[cfg(feature = "digest")]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretDigest([u8; 32]);

#[cfg(feature = "digest")]
impl SecretDigest {
    /// `None` unless exactly 32 bytes (a corrupt database column must not panic).
    ///
    /// ```
    /// use latchkey_rules::secret::SecretDigest;
    ///
    /// assert!(SecretDigest::from_bytes(&[7; 32]).is_some());
    /// assert!(SecretDigest::from_bytes(&[7; 31]).is_none());
    /// ```
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(b).ok().map(Self)
    }

    /// The 32 bytes, as stored.
    ///
    /// ```
    /// use latchkey_rules::secret::SecretDigest;
    ///
    /// let digest = SecretDigest::from_bytes(&[7; 32]).expect("32 bytes");
    /// assert_eq!(digest.as_bytes(), &[7; 32]);
    /// ```
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    ///
    /// ```
    /// use latchkey_rules::secret::SecretDigest;
    ///
    /// let a = SecretDigest::from_bytes(&[7; 32]).expect("32 bytes");
    /// let b = SecretDigest::from_bytes(&[8; 32]).expect("32 bytes");
    /// assert!(a.ct_eq(&a));
    /// assert!(!a.ct_eq(&b));
    /// ```
    #[inline]
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

#[cfg(feature = "digest")]
impl fmt::Debug for SecretDigest {
    // A digest is not secret, but printing it invites offline guessing and log correlation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(all(test, feature = "generate"))]
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
    #[cfg(feature = "digest")]
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
    #[cfg(feature = "digest")]
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
    #[cfg(feature = "digest")]
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
}
