//! Unit and property tests of `secret.rs` and `secret/prefix.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
use std::collections::HashSet;

fn flip(c: u8) -> u8 {
    if c == b'a' { b'b' } else { b'a' }
}

fn acme() -> SecretPrefix {
    SecretPrefix::parse("acme_").unwrap()
}

#[test]
fn generate_parse_round_trip() {
    for prefix in [SecretPrefix::default(), acme()] {
        for _ in 0..100 {
            let s = Secret::generate_with(&prefix);
            let p = Secret::parse(s.expose()).unwrap();
            assert_eq!(p.expose(), s.expose());
            assert_eq!(p.prefix(), prefix.as_str());
        }
    }
}

#[test]
fn generated_shape() {
    let s = Secret::generate();
    let e = s.expose();
    assert_eq!(e.len(), 52);
    assert_eq!(SecretPrefix::default().secret_len(), 52);
    assert!(e.starts_with("lk_"));
    assert!(e[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
    let s = Secret::generate_with(&acme());
    assert_eq!(s.expose().len(), 54);
    assert!(s.expose().starts_with("acme_"));
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
    for prefix in [SecretPrefix::default(), acme()] {
        let s = Secret::generate_with(&prefix);
        let bytes = s.expose().as_bytes();
        for i in prefix.as_str().len()..prefix.secret_len() {
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
}

#[test]
fn format_errors() {
    let good = Secret::generate().expose().to_owned();
    let tail = &good[3..];
    let cases = [
        String::new(),
        format!("LK_{tail}"),
        format!("lk-{tail}"),
        format!("lk{tail}"),
        format!("_{tail}"),
        format!("9k_{tail}"),
        format!("abcdefghijklmnop_{tail}"),
        tail.to_owned(),
        good[..good.len() - 1].to_owned(),
        format!("{good}0"),
        format!("{}-{}", &good[..10], &good[11..]),
        format!("{}é{}", &good[..10], &good[12..]),
        format!("é{}", &good[1..]),
        format!(" {}", &good[..good.len() - 1]),
        "lk_".to_owned(),
    ];
    for c in cases {
        assert_eq!(Secret::parse(&c).unwrap_err(), SecretError::Format, "{c:?}");
    }
}

#[test]
fn the_same_body_under_another_prefix_is_another_valid_secret() {
    let lk = Secret::generate();
    let moved = format!("acme_{}", &lk.expose()[3..]);
    let acme = Secret::parse(&moved).unwrap();
    assert_eq!(acme.prefix(), "acme_");
    #[cfg(feature = "digest")]
    assert_ne!(lk.digest(), acme.digest(), "the digest covers the prefix");
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
    assert!(h.ends_with(&s.expose()[s.expose().len() - 4..]));
    let s = Secret::generate_with(&acme());
    assert!(s.hint().starts_with("acme_\u{2026}"));
    assert_eq!(format!("{s:?}"), format!("Secret({})", s.hint()));
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

#[test]
fn prefix_errors_name_what_is_wrong() {
    let cases = [
        ("", SecretPrefixError::Length(0)),
        ("a", SecretPrefixError::Length(1)),
        ("abcdefghijklmnop_", SecretPrefixError::Length(17)),
        ("Lk_", SecretPrefixError::Character('L')),
        ("l k_", SecretPrefixError::Character(' ')),
        ("lk_é", SecretPrefixError::Character('é')),
        ("1k_", SecretPrefixError::Start),
        ("__", SecretPrefixError::Start),
        ("lk", SecretPrefixError::End),
        ("lk_1", SecretPrefixError::End),
    ];
    for (text, error) in cases {
        assert_eq!(SecretPrefix::parse(text), Err(error.clone()), "{text:?}");
        assert!(
            error.to_string().starts_with("a secret prefix is"),
            "{error}"
        );
    }
    assert!("abcdefghijklmno_".parse::<SecretPrefix>().is_ok());
}

/// The prefix rule, written independently of `prefix::check` as the regex it documents.
fn oracle_prefix(text: &str) -> bool {
    let b = text.as_bytes();
    (2..=16).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] == b'_'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Texts near the prefix rule (half of them of its characters, a letter first, up to 18
/// long, so both sides of each bound come up) and any others of a wider alphabet.
fn prefix_like() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9_]{0,17}", "[a-z0-9_A-Z.é-]{0,18}"]
}

/// Texts that satisfy the prefix rule.
fn valid_prefix() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,14}_"
}

proptest! {
    #[test]
    fn the_prefix_rule_is_the_documented_one(text in prefix_like()) {
        prop_assert_eq!(SecretPrefix::parse(&text).is_ok(), oracle_prefix(&text));
    }

    #[test]
    fn any_valid_prefix_round_trips(text in valid_prefix()) {
        let prefix = SecretPrefix::parse(&text).unwrap();
        let secret = Secret::generate_with(&prefix);
        prop_assert_eq!(secret.expose().len(), prefix.secret_len());
        let parsed = Secret::parse(secret.expose()).unwrap();
        prop_assert_eq!(parsed.expose(), secret.expose());
        prop_assert_eq!(parsed.prefix(), prefix.as_str());
        prop_assert!(parsed.hint().starts_with(prefix.as_str()));
        prop_assert!(Secret::has_prefix_shape(secret.expose()));
    }

    #[test]
    fn a_mangled_checksum_is_refused(
        text in valid_prefix(),
        pos in 0..CHECKSUM_LEN,
        digit in 0..62usize,
    ) {
        let prefix = SecretPrefix::parse(&text).unwrap();
        let secret = Secret::generate_with(&prefix);
        let mut bytes = secret.expose().as_bytes().to_vec();
        let at = bytes.len() - CHECKSUM_LEN + pos;
        prop_assume!(bytes[at] != BASE62[digit]);
        bytes[at] = BASE62[digit];
        let mangled = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(Secret::parse(&mangled).unwrap_err(), SecretError::Checksum);
    }

    #[test]
    fn a_secret_parses_exactly_when_its_prefix_does(
        text in prefix_like(),
    ) {
        let tail = &Secret::generate().expose()[3..].to_owned();
        let candidate = format!("{text}{tail}");
        prop_assert_eq!(Secret::parse(&candidate).is_ok(), oracle_prefix(&text));
    }

    #[test]
    fn prefix_shape_is_a_well_formed_prefix_at_the_start(text in "[a-zA-Z0-9_.é-]{0,20}") {
        let expected = (2..=16.min(text.len()))
            .any(|n| text.get(..n).is_some_and(oracle_prefix));
        prop_assert_eq!(Secret::has_prefix_shape(&text), expected);
    }
}
