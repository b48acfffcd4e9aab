//! The layers of src/, as tests: a rule in prose drifts, a failing test does not.
//!
//! Like `openapi::no_route_is_registered_outside_the_route_table`, these read the source files
//! (comments, strings and char literals left out), so they hold for code behind any `cfg`:
//!
//! 1. `the_domain_is_pure`: src/domain/ names no actix, no diesel, and no module of the crate
//!    that adapts or orchestrates it (`service`, `store`, `http`, `usage`, `startup`, `cli`).
//! 2. `only_the_store_speaks_diesel`: diesel (and `diesel_migrations`) only under src/store/.
//! 3. `only_the_web_adapters_speak_actix`: actix only under src/http/, in src/startup.rs (which
//!    builds the server) and in src/cli/serve.rs (which starts actix's runtime for `serve`).
//! 4. `modules_import_each_other_without_cycles`: the modules of one parent never import each
//!    other in a cycle: not the top-level modules of src/ (but for the edges `KNOWN_CYCLES`
//!    names, each with its reason; one that no longer exists fails too, so the list shrinks),
//!    and not the modules of src/http/, src/service/ or any other folder.
//!
//! A file "names" a crate or module when a path in it starts there: `use` trees are spelled out
//! (`use crate::{store::Pool, http}` names `crate::store::Pool` and `crate::http`), and `super`
//! and `self` are resolved from the file's place. (`super` inside an inline `mod` of a file is
//! read as the file's parent: one level too high, which only matters if a local item bears the
//! name of a sibling module.) Tests and benches live outside src/ and are not read; inline test
//! modules are, and follow the same rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Edges of an import cycle that exist today, `(from, to, why)`, each to remove with its cause.
const KNOWN_CYCLES: &[(&str, &str, &str)] = &[];

/// One source file of src/.
struct Source {
    /// Relative to src/, e.g. `http/keys.rs`.
    file: String,
    /// Its module path, e.g. `["http", "keys"]`; empty for `lib.rs` and `main.rs`.
    module: Vec<String>,
    /// Every path the code names, with its line.
    paths: Vec<(usize, Vec<String>)>,
}

impl Source {
    fn is_under(&self, dir: &str) -> bool {
        self.file.starts_with(&format!("{dir}/"))
    }

    /// Lines naming an external crate whose name is `prefix` or starts with `{prefix}_`.
    fn names_crate(&self, prefix: &str) -> Vec<String> {
        self.paths
            .iter()
            .filter(|(_, p)| {
                let root = p[0].as_str();
                root == prefix || root.starts_with(&format!("{prefix}_"))
            })
            .map(|(line, p)| format!("src/{}:{line}: {}", self.file, p.join("::")))
            .collect()
    }

    /// The modules of the crate this file names, as absolute module paths, with their lines.
    fn named_modules(&self) -> Vec<(usize, Vec<String>)> {
        self.paths
            .iter()
            .filter_map(|(line, p)| {
                let mut base = match p[0].as_str() {
                    "crate" | "latchkey" => Vec::new(),
                    "self" | "super" => self.module.clone(),
                    _ => return None,
                };
                let mut rest = &p[1..];
                if p[0] == "super" {
                    base.pop();
                }
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                Some((*line, base))
            })
            .collect()
    }
}

/// Every `.rs` file under src/.
fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    let mut files: Vec<PathBuf> = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() > 40,
        "found only {} files under src/",
        files.len()
    );
    files
        .iter()
        .map(|path| {
            let file = path
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut module: Vec<String> = file
                .trim_end_matches(".rs")
                .split('/')
                .map(str::to_owned)
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let text = std::fs::read_to_string(path).unwrap();
            Source {
                file,
                module,
                paths: paths(&tokens(&code_only(&text))),
            }
        })
        .collect()
}

/// The source with comments, string literals and char literals blanked (newlines kept, so line
/// numbers hold): what is left is what the compiler reads as code.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, ch)| c.get(i + k) == Some(&ch))
    };
    let ident_char = |i: usize| c[i].is_alphanumeric() || c[i] == '_';
    let mut i = 0;
    while i < c.len() {
        if at(i, "//") {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut depth = 0;
            while i < c.len() {
                if at(i, "/*") {
                    depth += 1;
                    i += 2;
                } else if at(i, "*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if c[i] == 'r'
            && (i == 0 || !ident_char(i - 1) || (c[i - 1] == 'b' && (i < 2 || !ident_char(i - 2))))
            && {
                let mut j = i + 1;
                while c.get(j) == Some(&'#') {
                    j += 1;
                }
                c.get(j) == Some(&'"')
            }
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut hashes = 0;
            i += 1;
            while c[i] == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            let end = format!("\"{}", "#".repeat(hashes));
            while i < c.len() && !at(i, &end) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i += end.len();
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 1) == Some(&'\\') {
            // An escaped char literal: '\'', '\\', '\u{…}'.
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' && c.get(i + 2) == Some(&'\'') {
            i += 3;
        } else {
            // Code, or the quote of a lifetime.
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    Sep,
    Open,
    Close,
    Other(char),
}

/// The tokens of `code_only` output, each with its line.
fn tokens(code: &str) -> Vec<(usize, Token)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((line, Token::Ident(c[start..i].iter().collect())));
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push((line, Token::Other('0')));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            out.push((line, Token::Sep));
            i += 2;
        } else {
            out.push((
                line,
                match ch {
                    '{' => Token::Open,
                    '}' => Token::Close,
                    _ => Token::Other(ch),
                },
            ));
            i += 1;
        }
    }
    out
}

/// Every path in the tokens, `use` groups spelled out.
fn paths(tokens: &[(usize, Token)]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_path = matches!(tokens[i].1, Token::Ident(_))
            && match i.checked_sub(1).map(|p| &tokens[p].1) {
                // `::diesel::…` starts a path; `a::b` continues one.
                Some(Token::Sep) => !matches!(
                    i.checked_sub(2).map(|p| &tokens[p].1),
                    Some(Token::Ident(_) | Token::Other('>'))
                ),
                _ => true,
            };
        if starts_path {
            i = path(tokens, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out
}

/// Reads the path starting at the identifier `tokens[i]`, after `prefix`; returns where it ends.
fn path(
    tokens: &[(usize, Token)],
    mut i: usize,
    mut prefix: Vec<String>,
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    let line = tokens[i].0;
    while let Some((_, Token::Ident(name))) = tokens.get(i) {
        prefix.push(name.clone());
        i += 1;
        if tokens.get(i).map(|t| &t.1) != Some(&Token::Sep) {
            break;
        }
        match tokens.get(i + 1).map(|t| &t.1) {
            Some(Token::Ident(_)) => i += 1,
            Some(Token::Open) => return group(tokens, i + 2, &prefix, out),
            _ => break,
        }
    }
    out.push((line, prefix));
    i
}

/// Reads a `use` group (`{a, b::c, d::{e}}`) after its `{`; returns where it ends.
fn group(
    tokens: &[(usize, Token)],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<(usize, Vec<String>)>,
) -> usize {
    while let Some((_, token)) = tokens.get(i) {
        match token {
            Token::Ident(_) => i = path(tokens, i, prefix.to_vec(), out),
            Token::Open => i = group(tokens, i + 1, prefix, out),
            Token::Close => return i + 1,
            _ => i += 1,
        }
    }
    i
}

#[test]
fn the_domain_is_pure() {
    const ABOVE: [&str; 6] = ["service", "store", "http", "usage", "startup", "cli"];
    let mut offending = Vec::new();
    for source in sources().iter().filter(|s| s.is_under("domain")) {
        offending.extend(source.names_crate("actix"));
        offending.extend(source.names_crate("diesel"));
        for (line, module) in source.named_modules() {
            if module.first().is_some_and(|m| ABOVE.contains(&m.as_str())) {
                offending.push(format!(
                    "src/{}:{line}: crate::{}",
                    source.file,
                    module.join("::")
                ));
            }
        }
    }
    assert!(
        offending.is_empty(),
        "src/domain/ holds the pure rules: no actix, no diesel, no {ABOVE:?}:\n{}",
        offending.join("\n")
    );
}

#[test]
fn only_the_store_speaks_diesel() {
    let offending: Vec<String> = sources()
        .iter()
        .filter(|s| !s.is_under("store"))
        .flat_map(|s| s.names_crate("diesel"))
        .collect();
    assert!(
        offending.is_empty(),
        "only src/store/ uses diesel; call the store instead:\n{}",
        offending.join("\n")
    );
}

#[test]
fn only_the_web_adapters_speak_actix() {
    // startup.rs builds the actix server; cli/serve.rs starts actix's runtime
    // (`actix_web::rt::System`) to run it.
    const ALSO: [&str; 2] = ["startup.rs", "cli/serve.rs"];
    let offending: Vec<String> = sources()
        .iter()
        .filter(|s| !s.is_under("http") && !ALSO.contains(&s.file.as_str()))
        .flat_map(|s| s.names_crate("actix"))
        .collect();
    assert!(
        offending.is_empty(),
        "only src/http/, src/startup.rs and src/cli/serve.rs use actix:\n{}",
        offending.join("\n")
    );
}

/// `from → to` edges between the children of module `parent`, each with its first evidence.
fn edges(sources: &[Source], parent: &[&str]) -> BTreeMap<(String, String), String> {
    let depth = parent.len();
    let within = |m: &[String]| m.len() > depth && m.iter().zip(parent).all(|(a, b)| a == b);
    // The children are the modules that have a file of their own below `parent`.
    let children: BTreeSet<&String> = sources
        .iter()
        .filter(|s| within(&s.module) && s.file != "main.rs")
        .map(|s| &s.module[depth])
        .collect();
    let mut edges = BTreeMap::new();
    for source in sources
        .iter()
        .filter(|s| within(&s.module) && s.file != "main.rs")
    {
        let from = &source.module[depth];
        for (line, module) in source.named_modules() {
            if within(&module) && children.contains(&module[depth]) && module[depth] != *from {
                edges
                    .entry((from.clone(), module[depth].clone()))
                    .or_insert_with(|| format!("src/{}:{line}", source.file));
            }
        }
    }
    edges
}

/// The edges that lie on a cycle: both ends reach each other.
fn cyclic(edges: &BTreeMap<(String, String), String>) -> Vec<String> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::from([from]);
        let mut stack = vec![from];
        while let Some(node) = stack.pop() {
            for (a, b) in edges.keys() {
                if a.as_str() == node && seen.insert(b.as_str()) {
                    stack.push(b.as_str());
                }
            }
        }
        seen.contains(to)
    };
    edges
        .iter()
        .filter(|((a, b), _)| reaches(b.as_str(), a.as_str()))
        .map(|((a, b), at)| format!("{a} → {b} ({at})"))
        .collect()
}

#[test]
fn modules_import_each_other_without_cycles() {
    let sources = sources();
    let mut top = edges(&sources, &[]);
    assert!(
        top.contains_key(&("http".into(), "service".into())),
        "the scan sees no http → service: {top:?}"
    );
    for (from, to, why) in KNOWN_CYCLES {
        assert!(
            top.remove(&((*from).into(), (*to).into())).is_some(),
            "{from} → {to} no longer exists: remove it from KNOWN_CYCLES ({why})"
        );
    }
    let mut cycles = cyclic(&top);
    // The same below: between the modules of src/http/, of src/service/, and so on down.
    let parents: BTreeSet<&[String]> = sources
        .iter()
        .filter(|s| s.file != "main.rs")
        .flat_map(|s| (1..s.module.len()).map(|n| &s.module[..n]))
        .collect();
    assert!(parents.len() >= 8, "{parents:?}");
    for parent in parents {
        let parent: Vec<&str> = parent.iter().map(String::as_str).collect();
        let edges = edges(&sources, &parent);
        if parent == ["http"] {
            assert!(
                edges.contains_key(&("keys".into(), "router".into())),
                "the scan sees no http::keys → http::router: {edges:?}"
            );
        }
        cycles.extend(
            cyclic(&edges)
                .into_iter()
                .map(|edge| format!("in {}: {edge}", parent.join("::"))),
        );
    }
    assert!(
        cycles.is_empty(),
        "import cycles between the modules of one parent (src/ or below):\n{}",
        cycles.join("\n")
    );
}

#[test]
fn the_scan_reads_use_trees_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{store::{self, Pool}, http};\n\
         // use diesel::prelude::*;\n\
         let s = \"actix_web::App\"; let r = r#\"diesel::x\"#; let q = '\"';\n\
         /* actix_rt::System */ ::diesel::insert_into(t);\n",
    );
    let found: Vec<String> = paths(&tokens(&code))
        .into_iter()
        .filter(|(_, p)| p.len() > 1)
        .map(|(line, p)| format!("{line}:{}", p.join("::")))
        .collect();
    assert_eq!(
        found,
        [
            "1:crate::store::self",
            "1:crate::store::Pool",
            "1:crate::http",
            "4:diesel::insert_into"
        ]
    );
}
