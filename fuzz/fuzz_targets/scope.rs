//! Scopes and resource filters (`crates/latchkey-rules/src/scope.rs`, which the server
//! re-exports as `domain::scope`): parsing, matching and coverage.
//!
//! Input, one item a line: scope A (`ACTION:FILTER`), scope B, an OAuth scope string, then
//! any number of resources. Text keeps the seed corpus readable and lets libFuzzer's
//! mutations and comparison tracing build filters that share literals.
//!
//! Checks: parsing never panics; parse → display → parse gives the same value (filters,
//! scopes and scope lists); a filter only matches valid resources; `covers` is reflexive and
//! `*` covers everything; and the coverage oracle: `A.covers(B)` holds exactly when every
//! sampled resource matched by B is matched by A. The samples are instances of B's pattern
//! (each `*` replaced by the name A has at that position, or by a name neither filter uses;
//! `**` by 0, 1 or enough extra segments to outrun A) plus the input's resources. Those
//! instances contain a counter-example whenever one exists, so the oracle checks coverage
//! in both directions (sound and exact), as the spec defines it.

#![no_main]

use latchkey::domain::scope::{
    Action, ResourceFilter, Scope, all_covered, format_scope_list, is_valid_resource,
    parse_scope_list,
};
use libfuzzer_sys::fuzz_target;

/// A filter's pattern, read back from its canonical text (the type keeps its parts private).
struct Pattern {
    segs: Vec<Option<String>>, // None = `*`
    rest: bool,
}

fn pattern(f: &ResourceFilter) -> Pattern {
    if f.is_all() {
        return Pattern {
            segs: Vec::new(),
            rest: true,
        };
    }
    let text = f.to_string();
    let mut parts: Vec<&str> = text.split('/').collect();
    let rest = parts.last() == Some(&"**");
    if rest {
        parts.pop();
    }
    Pattern {
        segs: parts
            .into_iter()
            .map(|p| (p != "*").then(|| p.to_owned()))
            .collect(),
        rest,
    }
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// Resources matched by `b`, chosen to find a counter-example to "`a` covers `b`" if any.
fn instances(a: &Pattern, b: &Pattern) -> Vec<String> {
    // A name no literal of either filter equals.
    let mut fresh = String::from("zz0");
    while a
        .segs
        .iter()
        .chain(&b.segs)
        .any(|s| s.as_deref() == Some(&fresh))
    {
        fresh.push('0');
    }
    let a_lit = |i: usize| a.segs.get(i).cloned().flatten();
    let mut extras = vec![0];
    if b.rest {
        extras.push(1);
        extras.push(a.segs.len().saturating_sub(b.segs.len()) + 1);
    }
    let mut out = Vec::new();
    for extra in extras {
        for prefer_a in [false, true] {
            let segs: Vec<String> = (0..b.segs.len() + extra)
                .map(|i| match b.segs.get(i) {
                    Some(Some(lit)) => lit.clone(),
                    _ if prefer_a => a_lit(i).unwrap_or_else(|| fresh.clone()),
                    _ => fresh.clone(),
                })
                .collect();
            if !segs.is_empty() {
                out.push(segs.join("/"));
            }
        }
    }
    out
}

fn check_filter(text: &str) -> Option<ResourceFilter> {
    let f = ResourceFilter::parse(text).ok()?;
    let shown = f.to_string();
    let back = ResourceFilter::parse(&shown).expect("a displayed filter re-parses");
    assert_eq!(back, f, "{text:?} → {shown:?}");
    assert_eq!(back.to_string(), shown, "display is canonical");
    assert!(f.covers(&f), "covers is reflexive: {shown}");
    assert!(ResourceFilter::all().covers(&f));
    assert_eq!(f.covers(&ResourceFilter::all()), f.is_all(), "{shown}");
    for action in [Action::Read, Action::Any] {
        let s = Scope::new(action, f.clone());
        let wire = s.to_string();
        assert_eq!(Scope::parse(&wire).as_ref(), Ok(&s), "{wire}");
    }
    Some(f)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let line_a = lines.next().unwrap_or("");
    let line_b = lines.next().unwrap_or("");
    let scope_list = lines.next().unwrap_or("");
    let resources: Vec<&str> = lines.collect();

    // Each scope line is also tried as a bare filter.
    check_filter(line_a);
    check_filter(line_b);
    let sa = Scope::parse(line_a).ok();
    let sb = Scope::parse(line_b).ok();
    for (line, s) in [(line_a, &sa), (line_b, &sb)] {
        if let Some(s) = s {
            let filter = line.split_once(':').map_or("", |(_, f)| f);
            let f = check_filter(filter).expect("a parsed scope's filter parses");
            assert_eq!(f, s.resource);
            assert_eq!(Scope::parse(&s.to_string()).as_ref(), Ok(s));
        }
    }

    for r in &resources {
        let valid = !r.is_empty() && r.split('/').all(valid_segment);
        assert_eq!(ResourceFilter::all().matches(r), valid, "{r:?}");
        if is_valid_resource(r) {
            assert!(valid);
        }
        for s in sa.iter().chain(&sb) {
            assert!(
                !s.resource.matches(r) || valid,
                "{s} matched invalid resource {r:?}"
            );
        }
    }

    if let (Some(sa), Some(sb)) = (&sa, &sb) {
        let (a, b) = (&sa.resource, &sb.resource);
        let samples = instances(&pattern(a), &pattern(b));
        for r in &samples {
            assert!(b.matches(r), "{r} is an instance of {b}");
        }
        let brute = samples.iter().all(|r| a.matches(r));
        assert_eq!(a.covers(b), brute, "{a} covers {b}? samples {samples:?}");
        if a.covers(b) {
            for r in &resources {
                assert!(!b.matches(r) || a.matches(r), "{a} covers {b} but not {r}");
            }
        }
        if a.covers(b) && b.covers(a) {
            assert_eq!(a, b, "mutual coverage means the same canonical filter");
        }

        let (x, y) = (sa.action, sb.action);
        assert_eq!(x.covers(y), x == Action::Any || x == y);
        assert_eq!(sa.covers(sb), x.covers(y) && a.covers(b));
        assert_eq!(
            all_covered(std::slice::from_ref(sa), std::slice::from_ref(sb)),
            sa.covers(sb)
        );
        for r in samples
            .iter()
            .map(String::as_str)
            .chain(resources.iter().copied())
        {
            assert_eq!(sa.allows(y, r), x.covers(y) && a.matches(r));
        }
    }

    // Whole OAuth scope strings.
    if let Ok(list) = parse_scope_list(scope_list) {
        let shown = format_scope_list(&list);
        assert_eq!(parse_scope_list(&shown).as_ref(), Ok(&list), "{shown}");
        assert!(all_covered(&list, &list));
        assert!(all_covered(&[Scope::parse("*:*").unwrap()], &list));
        for s in &list {
            assert!(list.iter().any(|t| t.covers(s)));
        }
    }
});
