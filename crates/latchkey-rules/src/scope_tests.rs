//! Unit tests of `scope.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use proptest::prelude::*;
#[cfg(feature = "serde")]
use serde::{
    Deserialize,
    de::{
        IntoDeserializer,
        value::{Error, StrDeserializer},
    },
};

fn f(s: &str) -> ResourceFilter {
    ResourceFilter::parse(s).unwrap()
}

fn sc(s: &str) -> Scope {
    Scope::parse(s).unwrap()
}

#[test]
fn actions() {
    for (s, a) in [
        ("read", Action::Read),
        ("write", Action::Write),
        ("admin", Action::Admin),
        ("*", Action::Any),
    ] {
        assert_eq!(Action::parse(s).unwrap(), a);
        assert_eq!(a.as_str(), s);
        #[cfg(feature = "serde")]
        {
            let d: StrDeserializer<'_, Error> = s.into_deserializer();
            assert_eq!(Action::deserialize(d).unwrap(), a);
        }
    }
    assert!(Action::parse("Read").is_err());
    assert!(Action::parse("").is_err());
    assert!(Action::Any.covers(Action::Admin));
    assert!(Action::Read.covers(Action::Read));
    assert!(!Action::Write.covers(Action::Read));
    assert!(!Action::Admin.covers(Action::Write));
    assert!(!Action::Read.covers(Action::Any));
}

#[test]
fn matches_table() {
    let table: &[(&str, &str, bool)] = &[
        ("*", "projects", true),
        ("*", "projects/1/x", true),
        ("", "a", true),
        ("**", "a/b", true),
        ("projects/**", "projects", true),
        ("projects/**", "projects/1", true),
        ("projects/**", "projects/1/x", true),
        ("projects/**", "project", false),
        ("projects/**", "projectsx/1", false),
        ("projects/*", "projects/1", true),
        ("projects/*", "projects", false),
        ("projects/*", "projects/1/x", false),
        ("projects/42", "projects/42", true),
        ("projects/42", "projects/43", false),
        ("a/*/c", "a/b/c", true),
        ("a/*/c", "a/b/d", false),
        ("*/x", "a/x", true),
        ("*/x", "x", false),
        // Invalid resources never match, even `*`.
        ("*", "", false),
        ("*", "a//b", false),
        ("*", "/a", false),
        ("*", "a/", false),
        ("*", "a b", false),
        ("*", "a/*", false),
        ("projects/*", "projects/*", false),
        ("projects/**", "projects/**", false),
    ];
    for (filter, res, want) in table {
        assert_eq!(f(filter).matches(res), *want, "{filter} vs {res}");
    }
    assert!(!f("*").matches(&"a".repeat(129)));
    assert!(f("*").matches(&"a".repeat(128)));
}

#[test]
fn covers_table() {
    let table: &[(&str, &str, bool)] = &[
        ("projects/**", "projects/42/**", true),
        ("projects/42/**", "projects/**", false),
        ("projects/*", "projects/x", true),
        ("projects/*", "projects/**", false),
        ("projects/*", "projects", false),
        ("projects/**", "projects", true),
        ("projects/**", "projects/*/x", true),
        ("*", "projects/**", true),
        ("*", "*", true),
        ("*", "a/*/c", true),
        ("**", "*", true),
        ("projects/**", "*", false),
        ("projects/42", "projects/*", false),
        ("projects/42", "projects/42", true),
        ("a/*/c", "a/b/c", true),
        ("a/b/c", "a/*/c", false),
        ("a/**", "a/*/c/**", true),
        ("a/*/c/**", "a/**", false),
        ("a/*", "a/*", true),
        ("*/*", "a/b", true),
        ("*/*", "a/b/c", false),
        ("*/**", "a", true),
        ("*/*/**", "a", false),
    ];
    for (a, b, want) in table {
        assert_eq!(f(a).covers(&f(b)), *want, "{a} covers {b}");
    }
}

#[test]
fn overlaps_table() {
    let table: &[(&str, &str, bool)] = &[
        ("*", "keys/**", true),
        ("*/x", "keys/**", true),
        ("*/x", "keys", false),
        ("keys", "keys/**", true),
        ("keys/*/usage", "keys/**", true),
        ("keys/**", "keys/**", true),
        ("projects/**", "keys/**", false),
        ("key", "keys/**", false),
        ("keysx/**", "keys/**", false),
        ("*/*/*", "keys/a", false),
        ("*/*/**", "keys/a", true),
        ("a/*", "*/b", true),
        ("a/*", "b/*", false),
        ("a", "a/*", false),
        ("a/**", "a/*", true),
    ];
    for (a, b, want) in table {
        assert_eq!(f(a).overlaps(&f(b)), *want, "{a} overlaps {b}");
        assert_eq!(f(b).overlaps(&f(a)), *want, "{b} overlaps {a}");
    }
}

#[test]
fn scope_covers_and_allows() {
    assert!(sc("read:projects/**").covers(&sc("read:projects/42/**")));
    assert!(!sc("read:projects/**").covers(&sc("write:projects/42")));
    assert!(sc("*:*").covers(&sc("admin:x/y")));
    assert!(sc("*").covers(&sc("read")));
    assert!(!sc("write:*").covers(&sc("read:a")));
    assert!(sc("read:projects/*").allows(Action::Read, "projects/7"));
    assert!(!sc("read:projects/*").allows(Action::Write, "projects/7"));
    assert!(!sc("read:projects/*").allows(Action::Read, "projects/7/x"));
}

#[test]
fn scope_parse_and_display() {
    assert_eq!(sc("read"), Scope::new(Action::Read, ResourceFilter::all()));
    assert_eq!(sc("read:"), Scope::new(Action::Read, ResourceFilter::all()));
    assert_eq!(sc("*:*").to_string(), "*:*");
    assert_eq!(sc("read:projects/**").to_string(), "read:projects/**");
    assert_eq!(sc("admin:**").to_string(), "admin:*");
    assert_eq!(sc("admin:*/**").to_string(), "admin:*");
    assert!(Scope::parse("").is_err());
    assert!(Scope::parse(":a").is_err());
    assert!(Scope::parse("readx:a").is_err());
    let e = Scope::parse("read:a:b").unwrap_err();
    assert!(e.contains("'a:b'"), "{e}");
}

#[test]
fn scope_lists() {
    let l = parse_scope_list("read:projects/** write:projects/42").unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(format_scope_list(&l), "read:projects/** write:projects/42");
    assert_eq!(parse_scope_list("").unwrap(), vec![]);
    assert_eq!(parse_scope_list("  read  ").unwrap(), vec![sc("read")]);
    let e = parse_scope_list("read bogus:x").unwrap_err();
    assert!(
        e.contains("scope 2") && e.contains("'bogus:x'") && e.contains("unknown action"),
        "{e}"
    );
    assert_eq!(format_scope_list(&[]), "");
}

#[test]
fn all_covered_rule() {
    let held = parse_scope_list("read:projects/** write:projects/42").unwrap();
    assert!(all_covered(
        &held,
        &parse_scope_list("read:projects/1 write:projects/42").unwrap()
    ));
    assert!(!all_covered(
        &held,
        &parse_scope_list("write:projects/43").unwrap()
    ));
    assert!(!all_covered(&held, &parse_scope_list("read:*").unwrap()));
    assert!(all_covered(&held, &[]));
    assert!(!all_covered(&[], &[sc("read:a")]));
}

#[test]
fn invalid_filters() {
    let cases: Vec<(String, &str)> = vec![
        (
            "a//b".into(),
            "empty segment at position 2 (segments are separated by a single '/')",
        ),
        (
            "/a".into(),
            "empty segment at position 1 (segments are separated by a single '/')",
        ),
        (
            "a/".into(),
            "empty segment at position 2 (segments are separated by a single '/')",
        ),
        (
            "/".into(),
            "empty segment at position 1 (segments are separated by a single '/')",
        ),
        ("**/x".into(), "'**' may only be the last segment"),
        ("a/**/b".into(), "'**' may only be the last segment"),
        (
            format!("x/{}", "a".repeat(129)),
            "segment 2 is 129 characters; the maximum is 128",
        ),
        (
            vec!["a"; 33].join("/"),
            "the filter has 33 segments; the maximum is 32",
        ),
        (
            vec!["a".repeat(100); 6].join("/"),
            "the filter is 605 characters; the maximum is 512",
        ),
        (
            "a*".into(),
            "segment 'a*' has a character outside [A-Za-z0-9._~-]; '*' must be a whole segment",
        ),
        (
            "a/***".into(),
            "segment '***' has a character outside [A-Za-z0-9._~-]; '*' must be a whole segment",
        ),
        (
            "a b".into(),
            "segment 'a b' has a character outside [A-Za-z0-9._~-]",
        ),
        (
            "a/é".into(),
            "segment 'é' has a character outside [A-Za-z0-9._~-]",
        ),
        (
            "a:b".into(),
            "segment 'a:b' has a character outside [A-Za-z0-9._~-]",
        ),
        (
            "a/%2F".into(),
            "segment '%2F' has a character outside [A-Za-z0-9._~-]",
        ),
    ];
    for (input, msg) in cases {
        assert_eq!(ResourceFilter::parse(&input).unwrap_err(), msg, "{input}");
    }
    let e = ResourceFilter::parse(&"é".repeat(100)).unwrap_err();
    assert!(e.contains("outside [A-Za-z0-9._~-]"), "{e}");
    // Lengths are reported in characters, not UTF-8 bytes.
    let e = ResourceFilter::parse(&"é".repeat(300)).unwrap_err();
    assert_eq!(e, "segment 1 is 300 characters; the maximum is 128");
    // Limits are inclusive.
    assert!(ResourceFilter::parse(&vec!["a"; 32].join("/")).is_ok());
    assert!(ResourceFilter::parse(&"a".repeat(128)).is_ok());
    let s512 = [vec!["a".repeat(128); 3], vec!["a".repeat(125)]]
        .concat()
        .join("/");
    assert_eq!(s512.len(), 512);
    assert!(ResourceFilter::parse(&s512).is_ok());
    assert!(ResourceFilter::parse("A.b_c~d-9/*/**").is_ok());
}

#[test]
fn all_spellings_are_equal() {
    for s in ["", "*", "**", "*/**"] {
        assert!(f(s).is_all(), "{s}");
        assert_eq!(f(s).to_string(), "*");
    }
    assert!(!f("*/*").is_all());
    assert!(!f("a/**").is_all());
}

#[test]
#[cfg(feature = "serde")]
fn serde_as_string() {
    let d: StrDeserializer<'_, Error> = "projects/*/**".into_deserializer();
    assert_eq!(ResourceFilter::deserialize(d).unwrap(), f("projects/*/**"));
    let d: StrDeserializer<'_, Error> = "a//b".into_deserializer();
    assert!(ResourceFilter::deserialize(d).is_err());
}

// ---- properties ----

fn filter_text() -> impl Strategy<Value = String> {
    let seg = prop_oneof![Just("a"), Just("b"), Just("c"), Just("*")];
    (prop::collection::vec(seg, 0..=4), any::<bool>()).prop_map(|(mut segs, rest)| {
        if rest || segs.is_empty() {
            segs.truncate(3);
            segs.push("**");
        }
        segs.join("/")
    })
}

fn resource_text() -> impl Strategy<Value = String> {
    let seg = prop_oneof![Just("a"), Just("b"), Just("c"), Just("d")];
    prop::collection::vec(seg, 1..=5).prop_map(|s| s.join("/"))
}

/// Every path of depth 1..=6 over {a, b, c, d}.
///
/// Why this finite universe decides coverage exactly for filters of ≤4 segments over the
/// literals {a, b, c}: if B ⊄ A, a shortest counter-example path is at most one segment
/// longer than the longer filter's fixed prefix (≤ 5), since beyond that both filters are
/// either open-ended (`**`) or exhausted; depth 6 leaves a margin. And wherever B has `*`
/// but A has a literal, the counter-example needs a name A's literal does not equal —
/// `d` never appears in filters, so it stands for "any other name". It decides overlap
/// exactly too: a shared path, when there is one, needs no more segments than the longer
/// fixed prefix (at least one), and a literal or `a` serves for each segment.
fn universe() -> Vec<String> {
    let mut all = Vec::new();
    let mut level: Vec<String> = vec![String::new()];
    for _ in 1..=6 {
        let mut next = Vec::new();
        for p in &level {
            for c in ["a", "b", "c", "d"] {
                next.push(if p.is_empty() {
                    c.to_owned()
                } else {
                    format!("{p}/{c}")
                });
            }
        }
        all.extend(next.iter().cloned());
        level = next;
    }
    all
}

proptest! {
    #[test]
    fn covers_is_sound(a in filter_text(), b in filter_text(), r in resource_text()) {
        let (a, b) = (f(&a), f(&b));
        if a.covers(&b) && b.matches(&r) {
            prop_assert!(a.matches(&r), "{a} covers {b} but not {r}");
        }
    }

    #[test]
    fn covers_agrees_with_brute_force(a in filter_text(), b in filter_text()) {
        let (a, b) = (f(&a), f(&b));
        let brute = universe().iter().all(|r| !b.matches(r) || a.matches(r));
        prop_assert_eq!(a.covers(&b), brute, "{} covers {}", a, b);
    }

    #[test]
    fn overlaps_agrees_with_brute_force(a in filter_text(), b in filter_text()) {
        let (a, b) = (f(&a), f(&b));
        let brute = universe().iter().any(|r| a.matches(r) && b.matches(r));
        prop_assert_eq!(a.overlaps(&b), brute, "{} overlaps {}", a, b);
    }

    #[test]
    fn display_round_trips(t in filter_text()) {
        let x = f(&t);
        prop_assert_eq!(f(&x.to_string()), x);
    }
}
