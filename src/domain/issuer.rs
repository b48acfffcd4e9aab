//! The issuer identifier (RFC 8414 §2): the URL clients know the server by, the `iss` of every
//! token (RFC 9068 §2.2) and the base of every URL the metadata advertises.

/// A parsed `--issuer`. NEVER normalise its text: clients compare the metadata's `issuer` and
/// the tokens' `iss` with the issuer they were given, as strings (RFC 8414 §3.3, RFC 7519
/// §4.1.1), so `https://host/` and `https://host` are two issuers.
///
/// Accepted: `http://` or `https://`, a host (and port), no user information, no query or
/// fragment (RFC 8414 §2), and a path of segments of `[A-Za-z0-9._~-]` (no empty, `.` or `..`
/// segment) with an optional trailing `/`. The path is where the endpoints are served besides
/// the root, so it is held to what a route can match literally; it may not start with
/// `/.well-known` (RFC 8615 reserves that at the root, and the metadata's own URL puts it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    text: String,
    /// The path without its trailing `/`: `""` when there is none (or only `/`), else `/a/b`.
    path: String,
}

impl Issuer {
    /// `Err` is one sentence saying what is wrong (it completes "the issuer …").
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix("https://")
            .or_else(|| text.strip_prefix("http://"))
            .ok_or("must be an absolute URL starting with https:// (or http://)")?;
        if text.contains('?') {
            return Err("must have no query component (RFC 8414 §2)".into());
        }
        if text.contains('#') {
            return Err("must have no fragment component (RFC 8414 §2)".into());
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err("has no host".into());
        }
        if authority.contains('@') {
            return Err("must not carry user information".into());
        }
        let path = path.strip_suffix('/').unwrap_or(path);
        for (i, segment) in path.split('/').skip(1).enumerate() {
            match segment {
                "" => return Err("has an empty path segment (`//`)".into()),
                "." | ".." => return Err(format!("has a `{segment}` path segment")),
                ".well-known" if i == 0 => {
                    return Err(
                        "path must not start with /.well-known (RFC 8615 keeps it at the root)"
                            .into(),
                    );
                }
                _ => {}
            }
            if let Some(c) = segment
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "._~-".contains(*c)))
            {
                return Err(format!(
                    "path segment `{segment}` has the character `{c}`, outside [A-Za-z0-9._~-]"
                ));
            }
        }
        Ok(Issuer {
            text: text.to_owned(),
            path: path.to_owned(),
        })
    }

    /// Exactly as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The path the endpoints are also served under: `""` for none, else `/a/b` (never a
    /// trailing `/`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The URL of the endpoint at `path` (which starts with `/`): the issuer without its trailing
    /// `/`, then `path`, so never a `//` (RFC 8414 §3.1, OpenID Connect Discovery §4 remove it
    /// too).
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            self.text.strip_suffix('/').unwrap_or(&self.text)
        )
    }
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_is_kept_as_configured_and_joined_without_a_double_slash() {
        for (text, path, token) in [
            (
                "https://auth.example.com",
                "",
                "https://auth.example.com/oauth/token",
            ),
            (
                "https://auth.example.com/",
                "",
                "https://auth.example.com/oauth/token",
            ),
            (
                "http://127.0.0.1:8080",
                "",
                "http://127.0.0.1:8080/oauth/token",
            ),
            ("http://[::1]:8080/", "", "http://[::1]:8080/oauth/token"),
            (
                "https://h/tenant",
                "/tenant",
                "https://h/tenant/oauth/token",
            ),
            (
                "https://h/tenant/",
                "/tenant",
                "https://h/tenant/oauth/token",
            ),
            (
                "https://h/a/b.c/~d-e_f",
                "/a/b.c/~d-e_f",
                "https://h/a/b.c/~d-e_f/oauth/token",
            ),
        ] {
            let issuer = Issuer::parse(text).unwrap();
            assert_eq!(issuer.as_str(), text);
            assert_eq!(issuer.to_string(), text);
            assert_eq!(issuer.path(), path, "{text}");
            assert_eq!(issuer.url("/oauth/token"), token, "{text}");
        }
    }

    #[test]
    fn an_issuer_that_cannot_be_served_or_that_rfc_8414_forbids_is_refused() {
        for text in [
            "",
            "auth.example.com",
            "ftp://auth.example.com",
            "HTTPS://auth.example.com",
            "https://",
            "https:///tenant",
            "https://user:pw@auth.example.com",
            "https://auth.example.com?x=1",
            "https://auth.example.com/#top",
            "https://auth.example.com/a b",
            "https://auth.example.com//",
            "https://auth.example.com/a//b",
            "https://auth.example.com/a/./b",
            "https://auth.example.com/..",
            "https://auth.example.com/{tenant}",
            "https://auth.example.com/a*",
            "https://auth.example.com/caf%C3%A9",
            "https://auth.example.com/.well-known",
            "https://auth.example.com/.well-known/x",
        ] {
            assert!(Issuer::parse(text).is_err(), "{text:?} was accepted");
        }
        // `.well-known` is reserved at the root only.
        assert!(Issuer::parse("https://auth.example.com/t/.well-known").is_ok());
    }
}
