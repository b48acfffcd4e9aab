//! API-key secrets: their format, checksum and, for the issuer, generation and digest.
//!
//! Format rule: a secret is a prefix + 43 random base62 characters + a 6-character base62
//! CRC32 of those 43 characters. The prefix is the deployment's (`--secret-prefix`, default
//! [`DEFAULT_SECRET_PREFIX`], `lk_`), so each operator can register a pattern of their own with
//! secret scanners; any well-formed prefix ([`SecretPrefix`]: 2 to 16 characters of
//! `[a-z0-9_]`, a letter first, `_` last) parses, so secrets issued before a deployment changed
//! its prefix keep working. Only the SHA-256 digest of the whole secret, prefix included, is
//! stored: the same body under another prefix is another secret, unknown.
//!
//! The format and checksum need no feature: anyone can tell a Latchkey secret from other
//! text without a lookup, for example a resource server refusing a secret sent by mistake as
//! a Bearer token, where an access token belongs. Generation (feature `generate`) and the
//! stored digest (feature `digest`) are for the issuer.
//!
//! ```
//! use latchkey_rules::secret::{Secret, SecretError};
//!
//! // What came as `Authorization: Bearer …`: Latchkey secrets (the default prefix and a
//! // deployment's own), a mistyped one, a JWT.
//! let secret = "lk_00000000000000000000000000000000000000000002CZclj";
//! assert!(Secret::parse(secret).is_ok());
//! let own = "acme_00000000000000000000000000000000000000000002CZclj";
//! assert!(Secret::parse(own).is_ok());
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

mod prefix;

pub use prefix::{DEFAULT_SECRET_PREFIX, SecretPrefix, SecretPrefixError};

/// 43 base62 characters carry 43 * log2(62) ≈ 256.03 bits, the ≥256-bit entropy rule.
const BODY_LEN: usize = 43;
/// 62^6 ≈ 5.7e10 > 2^32, so any CRC32 fits in six base62 digits.
const CHECKSUM_LEN: usize = 6;
/// What follows the prefix: the body, then the checksum.
const TAIL_LEN: usize = BODY_LEN + CHECKSUM_LEN;

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
    /// Not a well-formed prefix (such as `lk_`) followed by 49 base62 characters.
    Format,
    /// The right shape, but the last six characters are not the checksum of the body.
    Checksum,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Format => {
                "not a Latchkey secret: expected a prefix such as 'lk_' followed by 49 characters of [0-9A-Za-z]"
            }
            Self::Checksum => {
                "the secret's checksum does not match; it was probably mistyped or truncated"
            }
        })
    }
}

impl std::error::Error for SecretError {}

impl Secret {
    /// A new secret with the default prefix, `lk_`: [`Secret::generate_with`] the default.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let secret = Secret::generate();
    /// assert!(secret.expose().starts_with("lk_"));
    /// assert_eq!(secret.expose().len(), 52);
    /// assert!(Secret::parse(secret.expose()).is_ok());
    /// ```
    #[cfg(feature = "generate")]
    pub fn generate() -> Self {
        Self::generate_with(&SecretPrefix::default())
    }

    /// Draws a new secret with the deployment's prefix from the thread-local CSPRNG
    /// (ChaCha12, OS-seeded).
    ///
    /// ```
    /// use latchkey_rules::secret::{Secret, SecretPrefix};
    ///
    /// let prefix = SecretPrefix::parse("acme_")?;
    /// let secret = Secret::generate_with(&prefix);
    /// assert!(secret.expose().starts_with("acme_"));
    /// assert_eq!(secret.expose().len(), prefix.secret_len());
    /// assert_eq!(Secret::parse(secret.expose())?.prefix(), "acme_");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "generate")]
    pub fn generate_with(prefix: &SecretPrefix) -> Self {
        let mut rng = rand::rng();
        let body: String = (0..BODY_LEN)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        let mut s = String::with_capacity(prefix.secret_len());
        s.push_str(prefix.as_str());
        s.push_str(&body);
        s.push_str(&checksum(&body));
        Self(s)
    }

    /// Format + checksum check, no I/O: a malformed secret never reaches the database, so
    /// typos and random scanning traffic are rejected without a lookup. Any well-formed prefix
    /// is accepted, not only the deployment's current one: secrets issued under an earlier
    /// prefix keep working (their stored digest covers the prefix they were issued with).
    ///
    /// ```
    /// use latchkey_rules::secret::{Secret, SecretError};
    ///
    /// let good = "lk_00000000000000000000000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(good)?.expose(), good);
    /// let other_prefix = "acme_prod_00000000000000000000000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(other_prefix)?.prefix(), "acme_prod_");
    /// let typo = "lk_00000000000000000O00000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(typo).unwrap_err(), SecretError::Checksum);
    /// let bad_prefix = "LK-00000000000000000000000000000000000000000002CZclj";
    /// assert_eq!(Secret::parse(bad_prefix).unwrap_err(), SecretError::Format);
    /// # Ok::<(), SecretError>(())
    /// ```
    #[inline]
    pub fn parse(s: &str) -> Result<Self, SecretError> {
        // The body and checksum are base62, so the prefix is whatever precedes the last 49
        // characters; `get` refuses a split inside a multi-byte character.
        let split = s.len().checked_sub(TAIL_LEN).ok_or(SecretError::Format)?;
        let (Some(prefix), Some(tail)) = (s.get(..split), s.get(split..)) else {
            return Err(SecretError::Format);
        };
        if prefix::check(prefix).is_err() || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SecretError::Format);
        }
        let (body, check) = tail.split_at(BODY_LEN);
        if checksum(body) != check {
            return Err(SecretError::Checksum);
        }
        Ok(Self(s.to_owned()))
    }

    /// Whether `text` begins with a well-formed prefix, of this deployment or any other: how a
    /// credential meant as a secret (even a mangled one) is told from an access token without
    /// a lookup. Never true of a JWS, which begins with `eyJ`, base64url of `{"`.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// assert!(Secret::has_prefix_shape("lk_00000000000000000000000000000000000000000002CZclj"));
    /// assert!(Secret::has_prefix_shape("acme_truncated"));
    /// assert!(Secret::has_prefix_shape("lk_not.a.token"));
    /// assert!(!Secret::has_prefix_shape("eyJhbGciOiJFZERTQSJ9.e30.c2ln"));
    /// assert!(!Secret::has_prefix_shape("LK_shouting"));
    /// ```
    #[inline]
    pub fn has_prefix_shape(text: &str) -> bool {
        prefix::leads(text)
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

    /// The secret's own prefix, `_` included: the one it was issued with.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let secret = Secret::parse("acme_00000000000000000000000000000000000000000002CZclj")?;
    /// assert_eq!(secret.prefix(), "acme_");
    /// # Ok::<(), latchkey_rules::secret::SecretError>(())
    /// ```
    pub fn prefix(&self) -> &str {
        // Parsed or generated: the prefix is everything before the 49-character tail.
        &self.0[..self.0.len().saturating_sub(TAIL_LEN)]
    }

    /// The secret's own prefix + `…` + its last four characters, safe to store and display so
    /// users can tell keys apart. The last four are checksum characters, so they reveal nothing
    /// about the random body.
    ///
    /// ```
    /// use latchkey_rules::secret::Secret;
    ///
    /// let secret = Secret::parse("lk_00000000000000000000000000000000000000000002CZclj")?;
    /// assert_eq!(secret.hint(), "lk_…Zclj");
    /// let secret = Secret::parse("acme_00000000000000000000000000000000000000000002CZclj")?;
    /// assert_eq!(secret.hint(), "acme_…Zclj");
    /// # Ok::<(), latchkey_rules::secret::SecretError>(())
    /// ```
    pub fn hint(&self) -> String {
        let tail = &self.0[self.0.len().saturating_sub(4)..];
        format!("{}\u{2026}{tail}", self.prefix())
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
mod tests;
