//! The prefix a deployment gives its secrets, and the rule any prefix follows.
//!
//! Rule: 2 to 16 characters of `[a-z0-9_]`, the first a letter, the last `_`. The secret's body
//! and checksum are base62 (no `_`), so the prefix is exactly what precedes the last 49
//! characters, and a scanner's regex built from it is unambiguous; none of its characters has a
//! meaning in a regex, so it is written into one as it is.

use std::fmt;
use std::str::FromStr;

use super::{BODY_LEN, CHECKSUM_LEN};

/// The prefix of secrets when a deployment configures none. NEVER change it: secret scanners
/// (GitHub push protection and similar) recognise leaked Latchkey keys by it, and every secret
/// issued under it carries it forever.
///
/// ```
/// use latchkey_rules::secret::{DEFAULT_SECRET_PREFIX, SecretPrefix};
///
/// assert_eq!(DEFAULT_SECRET_PREFIX, "lk_");
/// assert_eq!(SecretPrefix::default().as_str(), DEFAULT_SECRET_PREFIX);
/// ```
pub const DEFAULT_SECRET_PREFIX: &str = "lk_";

/// The shortest prefix: a letter and `_`.
const MIN_LEN: usize = 2;
/// The longest prefix: long enough for `company_env_`, short enough to keep secrets short.
const MAX_LEN: usize = 16;

/// A well-formed secret prefix, such as `lk_` or `acme_prod_`: what a deployment's new secrets
/// begin with. Secrets issued under another prefix still parse, whatever this one is.
///
/// ```
/// use latchkey_rules::secret::SecretPrefix;
///
/// let prefix = SecretPrefix::parse("acme_")?;
/// assert_eq!(prefix.as_str(), "acme_");
/// assert_eq!(prefix.to_string(), "acme_");
/// assert_eq!(SecretPrefix::default().as_str(), "lk_");
/// # Ok::<(), latchkey_rules::secret::SecretPrefixError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretPrefix(String);

/// Why a text is not a secret prefix. Its message states the whole rule, for an operator who
/// mistyped `--secret-prefix`.
///
/// ```
/// use latchkey_rules::secret::{SecretPrefix, SecretPrefixError};
///
/// assert_eq!(SecretPrefix::parse("acme"), Err(SecretPrefixError::End));
/// let e = SecretPrefix::parse("Acme_").unwrap_err();
/// assert_eq!(e, SecretPrefixError::Character('A'));
/// assert!(e.to_string().contains("2 to 16 characters of [a-z0-9_]"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPrefixError {
    /// Shorter than 2 or longer than 16 characters (the count given).
    Length(usize),
    /// A character outside `[a-z0-9_]`.
    Character(char),
    /// The first character is not a letter `a`–`z`.
    Start,
    /// The last character is not `_`.
    End,
}

impl fmt::Display for SecretPrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a secret prefix is 2 to 16 characters of [a-z0-9_], starting with a letter and ending with '_' (such as 'lk_' or 'acme_'): ",
        )?;
        match self {
            Self::Length(n) => write!(f, "this one has {n}"),
            Self::Character(c) => write!(f, "{c:?} is not allowed"),
            Self::Start => f.write_str("this one does not start with a letter"),
            Self::End => f.write_str("this one does not end with '_'"),
        }
    }
}

impl std::error::Error for SecretPrefixError {}

/// The prefix rule, without allocating: `Secret::parse` runs it on every presented secret.
#[inline]
pub(super) fn check(text: &str) -> Result<(), SecretPrefixError> {
    let n = text.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&n) {
        return Err(SecretPrefixError::Length(n));
    }
    if let Some(c) = text.chars().find(|&c| !allowed(c)) {
        return Err(SecretPrefixError::Character(c));
    }
    let bytes = text.as_bytes();
    if !bytes[0].is_ascii_lowercase() {
        return Err(SecretPrefixError::Start);
    }
    if bytes[bytes.len() - 1] != b'_' {
        return Err(SecretPrefixError::End);
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
}

/// Whether `text` begins with a well-formed prefix (any deployment's): what a credential meant
/// as a secret looks like, even when the rest of it is mangled. Never true of a JWS, whose
/// first characters are base64url of `{"`, `eyJ`.
#[inline]
pub(super) fn leads(text: &str) -> bool {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_lowercase) {
        return false;
    }
    // The shortest well-formed prefix ends at the first `_`; it must come within MAX_LEN.
    for &b in bytes.iter().take(MAX_LEN).skip(1) {
        if b == b'_' {
            return true;
        }
        if !(b.is_ascii_lowercase() || b.is_ascii_digit()) {
            return false;
        }
    }
    false
}

impl SecretPrefix {
    /// Checks the prefix rule (see the module doc).
    ///
    /// ```
    /// use latchkey_rules::secret::{SecretPrefix, SecretPrefixError};
    ///
    /// for good in ["lk_", "a_", "acme_prod_", "k8s_", "a_b_c_"] {
    ///     assert!(SecretPrefix::parse(good).is_ok(), "{good}");
    /// }
    /// assert_eq!(SecretPrefix::parse("_"), Err(SecretPrefixError::Length(1)));
    /// assert_eq!(SecretPrefix::parse("abcdefghijklmnop_"), Err(SecretPrefixError::Length(17)));
    /// assert_eq!(SecretPrefix::parse("lk-"), Err(SecretPrefixError::Character('-')));
    /// assert_eq!(SecretPrefix::parse("9lk_"), Err(SecretPrefixError::Start));
    /// assert_eq!(SecretPrefix::parse("_lk_"), Err(SecretPrefixError::Start));
    /// assert_eq!(SecretPrefix::parse("lk"), Err(SecretPrefixError::End));
    /// ```
    pub fn parse(text: &str) -> Result<Self, SecretPrefixError> {
        check(text).map(|()| Self(text.to_owned()))
    }

    /// The prefix as written, `_` included.
    ///
    /// ```
    /// use latchkey_rules::secret::SecretPrefix;
    ///
    /// assert_eq!(SecretPrefix::parse("acme_")?.as_str(), "acme_");
    /// # Ok::<(), latchkey_rules::secret::SecretPrefixError>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of a secret with this prefix: the prefix, 43 random characters and a 6-character
    /// checksum.
    ///
    /// ```
    /// use latchkey_rules::secret::SecretPrefix;
    ///
    /// assert_eq!(SecretPrefix::default().secret_len(), 52);
    /// assert_eq!(SecretPrefix::parse("acme_")?.secret_len(), 54);
    /// # Ok::<(), latchkey_rules::secret::SecretPrefixError>(())
    /// ```
    pub fn secret_len(&self) -> usize {
        self.0.len() + BODY_LEN + CHECKSUM_LEN
    }

    /// The regular expression of this prefix's secrets: the prefix as it is (its characters
    /// need no escaping), the 43-character random body, then the 6-character checksum. No
    /// anchors or word boundaries: each scanner has its own way to add them.
    ///
    /// ```
    /// use latchkey_rules::secret::SecretPrefix;
    ///
    /// assert_eq!(
    ///     SecretPrefix::parse("acme_")?.pattern(),
    ///     "acme_[0-9A-Za-z]{43}[0-9A-Za-z]{6}"
    /// );
    /// # Ok::<(), latchkey_rules::secret::SecretPrefixError>(())
    /// ```
    pub fn pattern(&self) -> String {
        format!(
            "{}[0-9A-Za-z]{{{BODY_LEN}}}[0-9A-Za-z]{{{CHECKSUM_LEN}}}",
            self.0
        )
    }
}

/// `lk_`, [`DEFAULT_SECRET_PREFIX`].
impl Default for SecretPrefix {
    fn default() -> Self {
        Self(DEFAULT_SECRET_PREFIX.to_owned())
    }
}

/// The prefix as written.
impl fmt::Display for SecretPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// [`SecretPrefix::parse`].
///
/// ```
/// use latchkey_rules::secret::SecretPrefix;
///
/// let prefix: SecretPrefix = "acme_".parse()?;
/// assert_eq!(prefix.as_str(), "acme_");
/// # Ok::<(), latchkey_rules::secret::SecretPrefixError>(())
/// ```
impl FromStr for SecretPrefix {
    type Err = SecretPrefixError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}
