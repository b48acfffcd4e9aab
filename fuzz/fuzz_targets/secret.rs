//! Secret parsing (`crates/latchkey-rules/src/secret.rs`) and key-id parsing
//! (`src/domain/secret.rs`, which also re-exports the secret rules).
//!
//! Checks, for any input: parsing never panics; an accepted secret has the documented shape
//! (any well-formed prefix, then 49 base62 characters), round-trips to the same text, and its
//! digest is the SHA-256 of that text, stable across re-parses; an accepted key id
//! round-trips. A random input almost never carries a valid CRC32, so the input also seeds a
//! prefix and a body for which the harness computes the checksum itself (an independent
//! implementation of the format rule): that secret must be accepted, and any one-character
//! change of its body or checksum refused.

#![no_main]

use latchkey::domain::secret::{KeyId, Secret, SecretDigest, SecretError, SecretPrefix};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 43;
/// Body and checksum.
const TAIL_LEN: usize = BODY_LEN + 6;

/// The spec's checksum: CRC32 of the body, six base62 digits, big-endian, zero-padded.
fn checksum(body: &str) -> String {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).unwrap()
}

/// The spec's prefix rule: 2 to 16 of `[a-z0-9_]`, a letter first, `_` last.
fn well_formed_prefix(prefix: &[u8]) -> bool {
    (2..=16).contains(&prefix.len())
        && prefix[0].is_ascii_lowercase()
        && prefix[prefix.len() - 1] == b'_'
        && prefix
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

/// The length of the prefix of a well-shaped secret (any well-formed prefix, then 49 base62
/// characters), or `None`.
fn well_shaped(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let split = bytes.len().checked_sub(TAIL_LEN)?;
    let (prefix, tail) = bytes.split_at(split);
    (well_formed_prefix(prefix) && tail.iter().all(u8::is_ascii_alphanumeric)).then_some(split)
}

fn check_accepted(text: &str, s: &Secret) {
    assert_eq!(s.expose(), text, "a parsed secret is the text it came from");
    let Some(p) = well_shaped(text) else {
        panic!("accepted a malformed secret: {text:?}");
    };
    let body = &text[p..p + BODY_LEN];
    assert_eq!(&text[p + BODY_LEN..], checksum(body));
    assert_eq!(s.prefix(), &text[..p]);

    let again = Secret::parse(s.expose()).expect("an accepted secret re-parses");
    assert_eq!(again.expose(), text);
    let d = s.digest();
    assert!(d.ct_eq(&again.digest()), "digest is stable across parses");
    assert_eq!(d, s.clone().digest());
    let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    assert_eq!(d.as_bytes(), &expected, "digest is SHA-256 of the text");
    assert_eq!(SecretDigest::from_bytes(d.as_bytes()), Some(d));

    let hint = s.hint();
    assert!(hint.starts_with(&text[..p]) && text.ends_with(&hint[hint.len() - 4..]));
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(body), "Debug must not show the random body");
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as presented text.
    if let Ok(text) = std::str::from_utf8(data) {
        match Secret::parse(text) {
            Ok(s) => check_accepted(text, &s),
            Err(SecretError::Checksum) => {
                assert!(
                    well_shaped(text).is_some(),
                    "Checksum error only for well-shaped input"
                );
            }
            Err(SecretError::Format) => assert!(well_shaped(text).is_none()),
        }
        if let Ok(id) = KeyId::parse(text) {
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(KeyId::parse(id.as_str()), Ok(id));
            let rest = &text[4..];
            assert!(text.starts_with("key_") && (16..=64).contains(&rest.len()));
            assert!(
                rest.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            );
        }
    }

    // 2. A well-formed secret whose body comes from the input, under the prefix that the up
    // to 16 bytes after those the body and the change below use make, or else `lk_`.
    let body: String = (0..BODY_LEN)
        .map(|i| char::from(BASE62[usize::from(data.get(i).copied().unwrap_or(0)) % 62]))
        .collect();
    let prefix = data
        .len()
        .checked_sub(BODY_LEN + 2)
        .and_then(|n| std::str::from_utf8(&data[BODY_LEN + 2..BODY_LEN + 2 + n.min(16)]).ok())
        .filter(|p| well_formed_prefix(p.as_bytes()))
        .unwrap_or("lk_");
    assert_eq!(
        SecretPrefix::parse(prefix).map(|p| p.as_str().to_owned()),
        Ok(prefix.to_owned())
    );
    let text = format!("{prefix}{body}{}", checksum(&body));
    let s = Secret::parse(&text).expect("a secret with a correct checksum is accepted");
    check_accepted(&text, &s);

    // Any single-character change (to another base62 character) is refused: a CRC32 detects
    // every single-symbol error in a message this short.
    if let (Some(&pos), Some(&sub)) = (data.get(BODY_LEN), data.get(BODY_LEN + 1)) {
        let pos = prefix.len() + usize::from(pos) % TAIL_LEN;
        let mut bytes = text.clone().into_bytes();
        let new = BASE62[usize::from(sub) % 62];
        if bytes[pos] != new {
            bytes[pos] = new;
            let changed = String::from_utf8(bytes).unwrap();
            assert_eq!(
                Secret::parse(&changed).unwrap_err(),
                SecretError::Checksum,
                "{changed}"
            );
        }
    }
});
