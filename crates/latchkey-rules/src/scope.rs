//! Actions, resource filters and scopes (`ACTION:FILTER`), and the coverage rules behind the
//! no-escalation check: a key may only grant or request what its own scopes cover.
//!
//! The server decides with these whether a key may grant a scope and which scopes a token
//! carries; a resource server decides with the same code whether a token's scopes allow a
//! request.
//!
//! ```
//! use latchkey_rules::scope::{Action, Scope, parse_scope_list};
//!
//! // The `scope` claim of an access token, and the request it must allow.
//! let granted = parse_scope_list("read:projects/** write:projects/42")?;
//! assert!(granted.iter().any(|s| s.allows(Action::Read, "projects/7/files")));
//! assert!(!granted.iter().any(|s| s.allows(Action::Write, "projects/7")));
//! # Ok::<(), String>(())
//! ```

use std::fmt;

/// What a scope permits. Actions are independent: `write` does not imply `read`, and `admin`
/// implies neither; only `*` stands for every action.
///
/// ```
/// use latchkey_rules::scope::Action;
///
/// assert_eq!(Action::parse("write")?, Action::Write);
/// assert!(Action::Any.covers(Action::Admin));
/// assert!(!Action::Write.covers(Action::Read));
/// assert_eq!(Action::Any.to_string(), "*");
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
// The schema's description is the first paragraph above, given here so that the examples stay
// out of the OpenAPI document.
#[cfg_attr(
    feature = "schema",
    derive(utoipa::ToSchema),
    schema(
        description = "What a scope permits. Actions are independent: `write` does not imply `read`, and `admin`\nimplies neither; only `*` stands for every action."
    )
)]
pub enum Action {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `admin`: manage the resource (for Latchkey's own resources, its keys and settings).
    Admin,
    /// `*`: every action.
    #[cfg_attr(feature = "serde", serde(rename = "*"))]
    Any,
}

impl Action {
    /// Case-sensitive, like every other token of the wire form.
    ///
    /// ```
    /// use latchkey_rules::scope::Action;
    ///
    /// assert_eq!(Action::parse("admin"), Ok(Action::Admin));
    /// assert_eq!(Action::parse("*"), Ok(Action::Any));
    /// assert!(Action::parse("Read").is_err());
    /// ```
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

    /// The wire form, which [`Action::parse`] reads back.
    ///
    /// ```
    /// use latchkey_rules::scope::Action;
    ///
    /// assert_eq!(Action::Read.as_str(), "read");
    /// assert_eq!(Action::Any.as_str(), "*");
    /// ```
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::Any => "*",
        }
    }

    /// `self` grants `other`: equal, or `self` is `*` (actions are independent, no hierarchy).
    ///
    /// ```
    /// use latchkey_rules::scope::Action;
    ///
    /// assert!(Action::Read.covers(Action::Read));
    /// assert!(Action::Any.covers(Action::Write));
    /// assert!(!Action::Admin.covers(Action::Write));
    /// assert!(!Action::Read.covers(Action::Any));
    /// ```
    #[inline]
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
///
/// ```
/// use latchkey_rules::scope::ResourceFilter;
///
/// let filter = ResourceFilter::parse("projects/*/files/**")?;
/// assert!(filter.matches("projects/42/files/a.txt"));
/// assert!(!filter.matches("projects/42"));
/// assert_eq!(filter.to_string(), "projects/*/files/**");
/// assert_eq!(ResourceFilter::parse("*/**")?, ResourceFilter::all());
/// # Ok::<(), String>(())
/// ```
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
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// let all = ResourceFilter::all();
    /// assert!(all.matches("anything/at/all"));
    /// assert_eq!(all.to_string(), "*");
    /// assert_eq!(ResourceFilter::parse("")?, all);
    /// # Ok::<(), String>(())
    /// ```
    pub fn all() -> Self {
        Self {
            segs: Vec::new(),
            rest: true,
        }
    }

    /// Parses the filter grammar; `""` means [`ResourceFilter::all`]. Errors are one sentence
    /// naming the offending segment, because they are shown verbatim to API callers.
    ///
    /// Segments are separated by `/`; each is a literal of 1–128 characters of
    /// `[A-Za-z0-9._~-]`, `*` (exactly one segment) or, last only, `**` (zero or more
    /// segments). At most 32 segments and 512 characters.
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// assert!(ResourceFilter::parse("projects/42/**").is_ok());
    /// assert_eq!(
    ///     ResourceFilter::parse("a/**/b").unwrap_err(),
    ///     "'**' may only be the last segment"
    /// );
    /// ```
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

    /// The filter matches every resource (however it was spelled: `*`, `**`, `*/**`, `""`).
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// assert!(ResourceFilter::parse("**")?.is_all());
    /// assert!(!ResourceFilter::parse("*/*")?.is_all());
    /// # Ok::<(), String>(())
    /// ```
    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    /// An invalid resource (empty, empty segment, bad character, over-long segment) never
    /// matches, so a malformed request path cannot slip through a wildcard.
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// let filter = ResourceFilter::parse("projects/*")?;
    /// assert!(filter.matches("projects/42"));
    /// assert!(!filter.matches("projects/42/files"));
    /// assert!(!filter.matches("projects/"));
    /// assert!(!ResourceFilter::all().matches("a//b"));
    /// # Ok::<(), String>(())
    /// ```
    #[inline]
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
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// let f = |s| ResourceFilter::parse(s);
    /// assert!(f("projects/**")?.covers(&f("projects/42/**")?));
    /// assert!(!f("projects/42/**")?.covers(&f("projects/**")?));
    /// assert!(!f("projects/42")?.covers(&f("projects/*")?));
    /// # Ok::<(), String>(())
    /// ```
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
    ///
    /// ```
    /// use latchkey_rules::scope::ResourceFilter;
    ///
    /// let f = |s| ResourceFilter::parse(s);
    /// assert!(f("*/x")?.overlaps(&f("keys/**")?)); // keys/x
    /// assert!(!f("projects/**")?.overlaps(&f("keys/**")?));
    /// # Ok::<(), String>(())
    /// ```
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

/// A filter is (de)serialized as its text, `"projects/*/**"`, parsed on the way in.
#[cfg(feature = "serde")]
mod serde_impls {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::ResourceFilter;

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
}

/// One permission: an action on a set of resources.
///
/// ```
/// use latchkey_rules::scope::{Action, ResourceFilter, Scope};
///
/// let scope = Scope::new(Action::Read, ResourceFilter::parse("projects/**")?);
/// assert_eq!(scope.to_string(), "read:projects/**");
/// assert_eq!(Scope::parse("read:projects/**")?, scope);
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// What the scope permits.
    pub action: Action,
    /// On which resources.
    pub resource: ResourceFilter,
}

impl Scope {
    /// The scope of `action` on `resource`.
    ///
    /// ```
    /// use latchkey_rules::scope::{Action, ResourceFilter, Scope};
    ///
    /// let everything = Scope::new(Action::Any, ResourceFilter::all());
    /// assert_eq!(everything.to_string(), "*:*");
    /// ```
    pub fn new(action: Action, resource: ResourceFilter) -> Self {
        Self { action, resource }
    }

    /// Wire form `ACTION:FILTER`; `ACTION` alone (or `ACTION:`) means filter `*`. Split at
    /// the FIRST ':' — filters cannot contain ':', so any later one is reported as a bad
    /// character in the filter.
    ///
    /// ```
    /// use latchkey_rules::scope::{Action, ResourceFilter, Scope};
    ///
    /// assert_eq!(Scope::parse("read")?, Scope::new(Action::Read, ResourceFilter::all()));
    /// assert_eq!(Scope::parse("admin:keys/*")?.to_string(), "admin:keys/*");
    /// assert!(Scope::parse("read:a:b").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn parse(s: &str) -> Result<Self, String> {
        let (action, filter) = s.split_once(':').unwrap_or((s, ""));
        Ok(Self::new(
            Action::parse(action)?,
            ResourceFilter::parse(filter)?,
        ))
    }

    /// Both the action and the resource set of `other` are within `self`.
    ///
    /// ```
    /// use latchkey_rules::scope::Scope;
    ///
    /// let held = Scope::parse("read:projects/**")?;
    /// assert!(held.covers(&Scope::parse("read:projects/42/**")?));
    /// assert!(!held.covers(&Scope::parse("write:projects/42")?));
    /// # Ok::<(), String>(())
    /// ```
    pub fn covers(&self, other: &Scope) -> bool {
        self.action.covers(other.action) && self.resource.covers(&other.resource)
    }

    /// The authorisation check for one request.
    ///
    /// ```
    /// use latchkey_rules::scope::{Action, Scope};
    ///
    /// let scope = Scope::parse("read:projects/*")?;
    /// assert!(scope.allows(Action::Read, "projects/7"));
    /// assert!(!scope.allows(Action::Write, "projects/7"));
    /// assert!(!scope.allows(Action::Read, "projects/7/x"));
    /// # Ok::<(), String>(())
    /// ```
    #[inline]
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
///
/// ```
/// use latchkey_rules::scope::is_valid_resource;
///
/// assert!(is_valid_resource("projects/42/files"));
/// assert!(!is_valid_resource("projects/*"));
/// assert!(!is_valid_resource("projects//42"));
/// assert!(!is_valid_resource(""));
/// ```
pub fn is_valid_resource(resource: &str) -> bool {
    !resource.is_empty() && resource.len() <= 512 && resource.split('/').all(valid_resource_segment)
}

/// OAuth scope string (space-separated tokens, RFC 6749 §3.3) → scopes. Runs of spaces are
/// tolerated; an empty string is an empty list. The error names the bad item and its
/// 1-based position so a client can find it in a long list.
///
/// ```
/// use latchkey_rules::scope::parse_scope_list;
///
/// assert_eq!(parse_scope_list("read:a  write:b")?.len(), 2);
/// assert_eq!(parse_scope_list("")?, vec![]);
/// let e = parse_scope_list("read bogus:x").unwrap_err();
/// assert!(e.starts_with("scope 2 ('bogus:x'): unknown action"));
/// # Ok::<(), String>(())
/// ```
pub fn parse_scope_list(s: &str) -> Result<Vec<Scope>, String> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| Scope::parse(t).map_err(|e| format!("scope {} ('{t}'): {e}", i + 1)))
        .collect()
}

/// Canonical space-separated form, as returned in the token response's `scope` field.
///
/// ```
/// use latchkey_rules::scope::{format_scope_list, parse_scope_list};
///
/// let scopes = parse_scope_list("read  admin:**")?;
/// assert_eq!(format_scope_list(&scopes), "read:* admin:*");
/// # Ok::<(), String>(())
/// ```
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
///
/// ```
/// use latchkey_rules::scope::{all_covered, parse_scope_list};
///
/// let held = parse_scope_list("read:projects/** write:projects/42")?;
/// assert!(all_covered(&held, &parse_scope_list("read:projects/1 write:projects/42")?));
/// assert!(!all_covered(&held, &parse_scope_list("write:projects/43")?));
/// assert!(!all_covered(&parse_scope_list("read:a/* read:a")?, &parse_scope_list("read:a/**")?));
/// # Ok::<(), String>(())
/// ```
pub fn all_covered(held: &[Scope], wanted: &[Scope]) -> bool {
    wanted.iter().all(|w| held.iter().any(|h| h.covers(w)))
}

#[cfg(test)]
#[path = "scope_tests.rs"]
mod tests;
