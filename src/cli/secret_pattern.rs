//! `latchkey secret-pattern [--secret-prefix P] [--format regex|github|gitleaks|trufflehog]`:
//! the regex of the deployment's secrets, ready to paste into a secret scanner's
//! configuration, so a leaked key is caught by the scanners the operator already runs. The
//! regex itself is the format rule's (`SecretPrefix::pattern`); this file only dresses it for
//! each scanner. Nothing is read from the database: the prefix is the one given, as `serve`
//! reads it (`--secret-prefix` or `LATCHKEY_SECRET_PREFIX`).

use clap::{Args, ValueEnum};

use crate::config::SecretPrefixArg;
use crate::domain::secret::SecretPrefix;

#[derive(Debug, Args)]
pub struct SecretPatternArgs {
    #[command(flatten)]
    pub prefix: SecretPrefixArg,
    /// What to print: the bare regex, the fields of a GitHub custom pattern, a gitleaks rule
    /// (TOML) or a trufflehog custom detector (YAML).
    #[arg(long, value_enum, default_value_t = PatternFormat::Regex)]
    pub format: PatternFormat,
}

/// The scanners' forms of the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PatternFormat {
    /// The regex alone, with word boundaries (RE2, Go, Rust, PCRE and Hyperscan read it alike).
    Regex,
    /// The fields of a GitHub secret-scanning custom pattern.
    Github,
    /// A `[[rules]]` block for `.gitleaks.toml`.
    Gitleaks,
    /// A `detectors:` entry for trufflehog's `--config` file.
    Trufflehog,
}

/// Body and checksum of the all-zero example secret: a valid secret under any prefix (the
/// checksum covers the body alone), obviously not a real one. GitHub asks for a test string.
const EXAMPLE_TAIL: &str = "00000000000000000000000000000000000000000002CZclj";

/// Before a secret: the start of the text, or a character that cannot be part of a prefix (a
/// prefix begins with a letter, and `_` would make it the tail of a longer word).
const GITHUB_BEFORE: &str = r"\A|[^0-9A-Za-z_]";
/// After a secret: the end of the text, or a character that cannot continue its tail (`_`
/// excluded too, so that the GitHub pattern finds what the `\b…\b` of the others finds).
const GITHUB_AFTER: &str = r"\z|[^0-9A-Za-z_]";

pub fn run(args: &SecretPatternArgs) -> anyhow::Result<()> {
    print!("{}", render(&args.prefix.secret_prefix, args.format));
    Ok(())
}

/// The text printed for `format`, ending with a newline.
pub fn render(prefix: &SecretPrefix, format: PatternFormat) -> String {
    // Word boundaries both sides: `_` and letters are word characters, so a secret inside a
    // longer word (`x_lk_…`, `lk_…xyz`) is not taken for one.
    let regex = format!(r"\b{}\b", prefix.pattern());
    let name = rule_id(prefix);
    match format {
        PatternFormat::Regex => format!("{regex}\n"),
        PatternFormat::Github => format!(
            "# GitHub: Settings > Advanced Security > Custom patterns > New pattern\n\
             Pattern name:   Latchkey API key ({prefix})\n\
             Secret format:  {}\n\
             Before secret:  {GITHUB_BEFORE}\n\
             After secret:   {GITHUB_AFTER}\n\
             Test string:    {prefix}{EXAMPLE_TAIL}\n",
            prefix.pattern()
        ),
        // A literal string ('''…''') keeps the backslashes as they are.
        PatternFormat::Gitleaks => format!(
            "# For .gitleaks.toml; keep gitleaks' own rules with [extend] useDefault = true\n\
             [[rules]]\n\
             id = \"{name}\"\n\
             description = \"Latchkey API key secret (prefix {prefix})\"\n\
             regex = '''{regex}'''\n\
             keywords = [\"{prefix}\"]\n"
        ),
        // Single-quoted YAML scalars keep the backslashes as they are too.
        PatternFormat::Trufflehog => format!(
            "# For trufflehog's --config file\n\
             detectors:\n\
             - name: {name}\n  \
               keywords:\n  \
               - {prefix}\n  \
               regex:\n    \
                 secret: '{regex}'\n"
        ),
    }
}

/// `latchkey-acme` for `acme_`: a rule name unique per prefix, in the characters every
/// scanner accepts in one.
fn rule_id(prefix: &SecretPrefix) -> String {
    let words = prefix.as_str().trim_end_matches('_').replace('_', "-");
    format!("latchkey-{words}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::secret::Secret;

    fn prefix(text: &str) -> SecretPrefix {
        SecretPrefix::parse(text).unwrap()
    }

    #[test]
    fn the_bare_regex_is_the_format_rule_with_word_boundaries() {
        assert_eq!(
            render(&SecretPrefix::default(), PatternFormat::Regex),
            "\\blk_[0-9A-Za-z]{43}[0-9A-Za-z]{6}\\b\n"
        );
    }

    #[test]
    fn the_example_is_a_valid_secret_under_any_prefix() {
        for p in ["lk_", "acme_", "a_", "acme_prod_2_"] {
            let text = format!("{p}{EXAMPLE_TAIL}");
            assert_eq!(Secret::parse(&text).unwrap().prefix(), p);
            let github = render(&prefix(p), PatternFormat::Github);
            assert!(
                github.contains(&format!("Test string:    {text}\n")),
                "{github}"
            );
        }
    }

    #[test]
    fn rule_ids_name_the_prefix_without_underscores() {
        assert_eq!(rule_id(&SecretPrefix::default()), "latchkey-lk");
        assert_eq!(rule_id(&prefix("acme_prod_")), "latchkey-acme-prod");
    }

    #[test]
    fn the_trufflehog_detector_is_indented_as_yaml_wants() {
        assert_eq!(
            render(&prefix("acme_"), PatternFormat::Trufflehog),
            "# For trufflehog's --config file\n\
             detectors:\n\
             - name: latchkey-acme\n  keywords:\n  - acme_\n  regex:\n    \
             secret: '\\bacme_[0-9A-Za-z]{43}[0-9A-Za-z]{6}\\b'\n"
        );
    }

    #[test]
    fn the_gitleaks_rule_is_toml_with_the_regex_unescaped() {
        let text = render(&prefix("acme_"), PatternFormat::Gitleaks);
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let rule = &doc["rules"].as_array().unwrap()[0];
        assert_eq!(rule["id"].as_str(), Some("latchkey-acme"));
        assert_eq!(
            rule["regex"].as_str(),
            Some(r"\bacme_[0-9A-Za-z]{43}[0-9A-Za-z]{6}\b")
        );
        assert_eq!(rule["keywords"][0].as_str(), Some("acme_"));
    }
}
