//! Actions, resource filters and scopes (`ACTION:FILTER`), and the coverage rules behind the
//! no-escalation check: a key may only grant or request what its own scopes cover.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a scope permits. Actions are independent: `write` does not imply `read`, and `admin`
/// implies neither; only `*` stands for every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    Write,
    Admin,
    #[serde(rename = "*")]
    Any,
}

impl Action {
    /// Case-sensitive, like every other token of the wire form.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            "*" => Ok(Self::Any),
            "" => Err("the action is empty; expected one of read, write, admin, *".into()),
            _ => Err(format!(
                "unknown action '{s}'; expected one of read, write, admin, *"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::Any => "*",
        }
    }

    /// `self` grants `other`: equal, or `self` is `*` (actions are independent, no hierarchy).
    pub fn covers(&self, other: Action) -> bool {
        *self == Self::Any || *self == other
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const MAX_FILTER_LEN: usize = 512;
const MAX_SEGMENTS: usize = 32;
const MAX_SEGMENT_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    Lit(String),
    /// `*`: exactly one segment.
    One,
}

/// A set of resource paths, e.g. `projects/42/**`.
///
/// Stored canonically so that derived equality is meaningful for the spellings the spec
/// calls equal: `*`, `**` and `*/**` all match every resource (resources have at least one
/// segment) and are all stored as [`ResourceFilter::all`], displayed `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceFilter {
    segs: Vec<Seg>,
    /// Trailing `**`: zero or more further segments.
    rest: bool,
}

fn valid_segment_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-')
}

/// A concrete resource segment: 1–128 characters of `[A-Za-z0-9._~-]`, no wildcards.
fn valid_resource_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_SEGMENT_LEN && s.bytes().all(valid_segment_char)
}

impl ResourceFilter {
    /// Every resource: the meaning of `*`, and of an empty or missing filter.
    pub fn all() -> Self {
        Self {
            segs: Vec::new(),
            rest: true,
        }
    }

    /// Parses the filter grammar; `""` means [`ResourceFilter::all`]. Errors are one sentence
    /// naming the offending segment, because they are shown verbatim to API callers.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() || s == "*" {
            return Ok(Self::all());
        }
        // Counted in characters so the message is true for non-ASCII input too (which is
        // then rejected by the alphabet check with a clearer message).
        let chars = s.chars().count();
        if chars > MAX_FILTER_LEN {
            return Err(format!(
                "the filter is {chars} characters; the maximum is {MAX_FILTER_LEN}"
            ));
        }
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > MAX_SEGMENTS {
            return Err(format!(
                "the filter has {} segments; the maximum is {MAX_SEGMENTS}",
                parts.len()
            ));
        }
        let mut segs = Vec::with_capacity(parts.len());
        let mut rest = false;
        for (i, part) in parts.iter().enumerate() {
            let pos = i + 1;
            let last = pos == parts.len();
            match *part {
                "" => {
                    return Err(format!(
                        "empty segment at position {pos} (segments are separated by a single '/')"
                    ));
                }
                "**" if last => rest = true,
                "**" => return Err("'**' may only be the last segment".into()),
                "*" => segs.push(Seg::One),
                p if p.chars().count() > MAX_SEGMENT_LEN => {
                    return Err(format!(
                        "segment {pos} is {} characters; the maximum is {MAX_SEGMENT_LEN}",
                        p.chars().count()
                    ));
                }
                p if !p.bytes().all(valid_segment_char) => {
                    let hint = if p.contains('*') {
                        "; '*' must be a whole segment"
                    } else {
                        ""
                    };
                    return Err(format!(
                        "segment '{p}' has a character outside [A-Za-z0-9._~-]{hint}"
                    ));
                }
                p => segs.push(Seg::Lit(p.to_owned())),
            }
        }
        // `*/**` is one-or-more segments, i.e. every valid resource.
        if rest && segs.len() <= 1 && segs.iter().all(|s| *s == Seg::One) {
            return Ok(Self::all());
        }
        Ok(Self { segs, rest })
    }

    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    /// An invalid resource (empty, empty segment, bad character, over-long segment) never
    /// matches, so a malformed request path cannot slip through a wildcard.
    pub fn matches(&self, resource: &str) -> bool {
        if resource.is_empty() {
            return false;
        }
        let parts: Vec<&str> = resource.split('/').collect();
        if !parts.iter().all(|p| valid_resource_segment(p)) {
            return false;
        }
        let n = self.segs.len();
        let len_ok = if self.rest {
            parts.len() >= n
        } else {
            parts.len() == n
        };
        len_ok
            && self.segs.iter().zip(&parts).all(|(seg, part)| match seg {
                Seg::One => true,
                Seg::Lit(l) => l == part,
            })
    }

    /// Every resource matching `other` matches `self`.
    ///
    /// Decided structurally rather than by enumeration: with wildcards only as whole
    /// segments and `**` only at the end, `self` covers `other` exactly when `self`'s fixed
    /// prefix is no longer than `other`'s, each of `self`'s segments is `*` or the same
    /// literal, and the lengths agree unless `self` ends in `**` (an open-ended `other` also
    /// needs an open-ended `self`). A literal never covers `*`, since names are unbounded.
    /// `all()` is handled by the same rule (empty prefix + `**`). That is exact only because
    /// parsing canonicalises `*/**` (which also matches everything) to `all()`.
    pub fn covers(&self, other: &ResourceFilter) -> bool {
        let (a, b) = (&self.segs, &other.segs);
        let length_ok = if self.rest {
            a.len() <= b.len()
        } else {
            !other.rest && a.len() == b.len()
        };
        length_ok
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Seg::One, _) => true,
                (Seg::Lit(l), Seg::Lit(m)) => l == m,
                (Seg::Lit(_), Seg::One) => false,
            })
    }
}

impl ResourceFilter {
    /// Some resource matches both `self` and `other`: the filters share at least one path.
    ///
    /// Decided structurally, like [`ResourceFilter::covers`]: along the common prefix every pair
    /// of segments must be able to name the same segment (`*` names any; two literals must be
    /// equal), and the lengths must agree unless a `**` makes up the difference (each filter
    /// matches only paths at least as long as its fixed prefix; without `**` exactly that long).
    /// A path that fits is then built from the longer prefix, with any name for `*`, so it
    /// exists. Answers "could this filter reach `keys/…`?" without enumerating resources.
    pub fn overlaps(&self, other: &ResourceFilter) -> bool {
        let (a, b) = (&self.segs, &other.segs);
        let length_ok = match (self.rest, other.rest) {
            (true, true) => true,
            (true, false) => a.len() <= b.len(),
            (false, true) => b.len() <= a.len(),
            (false, false) => a.len() == b.len(),
        };
        length_ok
            && a.iter().zip(b).all(|(x, y)| match (x, y) {
                (Seg::Lit(l), Seg::Lit(m)) => l == m,
                _ => true,
            })
    }
}

impl fmt::Display for ResourceFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("*");
        }
        let mut first = true;
        let parts = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::One => "*",
                Seg::Lit(l) => l.as_str(),
            })
            .chain(self.rest.then_some("**"));
        for p in parts {
            if !first {
                f.write_str("/")?;
            }
            f.write_str(p)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for ResourceFilter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceFilter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One permission: an action on a set of resources.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub action: Action,
    pub resource: ResourceFilter,
}

impl Scope {
    pub fn new(action: Action, resource: ResourceFilter) -> Self {
        Self { action, resource }
    }

    /// Wire form `ACTION:FILTER`; `ACTION` alone (or `ACTION:`) means filter `*`. Split at
    /// the FIRST ':' — filters cannot contain ':', so any later one is reported as a bad
    /// character in the filter.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (action, filter) = s.split_once(':').unwrap_or((s, ""));
        Ok(Self::new(
            Action::parse(action)?,
            ResourceFilter::parse(filter)?,
        ))
    }

    /// Both the action and the resource set of `other` are within `self`.
    pub fn covers(&self, other: &Scope) -> bool {
        self.action.covers(other.action) && self.resource.covers(&other.resource)
    }

    /// The authorisation check for one request.
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.action.covers(action) && self.resource.matches(resource)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.action, self.resource)
    }
}

/// A concrete resource path (no wildcards) of the same alphabet as filters: what a resource
/// server may ask about at `/v1/check`.
pub fn is_valid_resource(resource: &str) -> bool {
    !resource.is_empty() && resource.len() <= 512 && resource.split('/').all(valid_resource_segment)
}

/// OAuth scope string (space-separated tokens, RFC 6749 §3.3) → scopes. Runs of spaces are
/// tolerated; an empty string is an empty list. The error names the bad item and its
/// 1-based position so a client can find it in a long list.
pub fn parse_scope_list(s: &str) -> Result<Vec<Scope>, String> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| Scope::parse(t).map_err(|e| format!("scope {} ('{t}'): {e}", i + 1)))
        .collect()
}

/// Canonical space-separated form, as returned in the token response's `scope` field.
pub fn format_scope_list(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(Scope::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// True when every scope in `wanted` is covered by some scope in `held` — the no-escalation
/// rule. Checked per scope: a wanted scope split across two held scopes (e.g. held `a/*`
/// and `a`, wanted `a/**`) is conservatively refused.
pub fn all_covered(held: &[Scope], wanted: &[Scope]) -> bool {
    wanted.iter().all(|w| held.iter().any(|h| h.covers(w)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer};

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
            let d: StrDeserializer<'_, Error> = s.into_deserializer();
            assert_eq!(Action::deserialize(d).unwrap(), a);
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
}
