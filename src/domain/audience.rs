//! Audiences: whom access tokens are for. `--audience` lists the resource servers tokens may be
//! issued for; a token request picks among them with RFC 8707 resource indicators; the token's
//! `aud` claim (RFC 7519 §4.1.3, RFC 9068 §3) says which it got.

use serde::{Deserialize, Serialize};

use super::oauth::{OAuthError, OAuthErrorCode};

/// The `aud` claim: a string for one audience, an array for several (RFC 7519 §4.1.3). A token
/// requested for one resource (or none) carries a string, as tokens always did. The token
/// endpoint signs `Audience<&str>`, borrowing the configured audiences; verified tokens decode
/// into `Audience<String>`, whichever form they carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience<S = String> {
    One(S),
    Many(Vec<S>),
}

impl<S: AsRef<str>> Audience<S> {
    /// Every value, in order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Audience::One(value) => (Some(value), &[][..]),
            Audience::Many(values) => (None, &values[..]),
        };
        one.into_iter().chain(many).map(AsRef::as_ref)
    }
}

impl From<&str> for Audience {
    fn from(value: &str) -> Self {
        Audience::One(value.to_owned())
    }
}

/// Which of the configured audiences a token request asked for: their places in `Audiences`,
/// in the order asked, each once; none for the default. Cheap to carry to the grant (no
/// allocation when no `resource` was sent), which turns it back into an `Audience`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target(Vec<usize>);

/// The audiences tokens may be issued for: `--audience`, in order, or the issuer when none is
/// given. Never empty; the first is the default `aud` (RFC 9068 §3: a token requested without
/// `resource` must still carry one). Every audience after the first is an absolute URI, since
/// it can only be reached by naming it in `resource` (RFC 8707 §2); the first may be any
/// non-empty string, as `--audience` always allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audiences(Vec<String>);

impl Audiences {
    /// `Err` is one sentence saying what is wrong.
    pub fn parse(list: Vec<String>) -> Result<Self, String> {
        if list.is_empty() {
            return Err("at least one audience is needed".into());
        }
        for (i, audience) in list.iter().enumerate() {
            if audience.trim().is_empty() {
                return Err("an audience is empty".into());
            }
            if audience.trim() != audience {
                return Err(format!("audience {audience:?} has surrounding spaces"));
            }
            if list[..i].contains(audience) {
                return Err(format!("audience {audience} is given twice"));
            }
            if i > 0 && !is_resource_indicator(audience) {
                return Err(format!(
                    "audience {audience} is not an absolute URI without a fragment, so no \
                     `resource` could ask for it (RFC 8707 §2); only the first, the default, \
                     may be another string"
                ));
            }
        }
        Ok(Audiences(list))
    }

    /// The `aud` of a token requested without `resource`.
    pub fn default_audience(&self) -> &str {
        &self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// RFC 8707 §2: each requested `resource` must be an absolute URI without a fragment and,
    /// byte for byte, one of these audiences; else `invalid_target`. Empty values count as
    /// omitted (RFC 6749 §3.2), repeats once.
    pub fn target<'r>(
        &self,
        requested: impl IntoIterator<Item = &'r str>,
    ) -> Result<Target, OAuthError> {
        let mut target = Target::default();
        for resource in requested.into_iter().filter(|r| !r.is_empty()) {
            if !is_resource_indicator(resource) {
                return Err(invalid_target(format!(
                    "resource `{resource}` is not an absolute URI without a fragment (RFC 8707 §2)"
                )));
            }
            let Some(place) = self.0.iter().position(|a| a == resource) else {
                return Err(invalid_target(format!(
                    "resource `{resource}` is not an audience of this server"
                )));
            };
            if !target.0.contains(&place) {
                target.0.push(place);
            }
        }
        Ok(target)
    }

    /// The `aud` of a token for `target`: the default for none, a string for one, an array for
    /// several. A place this list does not have (a target of another list) is left out.
    pub fn audience(&self, target: &Target) -> Audience<&str> {
        let mut values: Vec<&str> = target
            .0
            .iter()
            .filter_map(|&place| self.0.get(place).map(String::as_str))
            .collect();
        match values.len() {
            0 => Audience::One(self.default_audience()),
            1 => Audience::One(values.remove(0)),
            _ => Audience::Many(values),
        }
    }

    /// Whether a token for `aud` is for this server: one of its values is one of these
    /// audiences (RFC 7519 §4.1.3, a recipient must identify itself with one of the values).
    pub fn accepts<S: AsRef<str>>(&self, aud: &Audience<S>) -> bool {
        aud.values().any(|v| self.0.iter().any(|a| a == v))
    }
}

fn invalid_target(description: String) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidTarget, description)
}

/// An RFC 3986 §4.3 absolute URI without a fragment (RFC 8707 §2): a scheme (a letter, then
/// letters, digits, `+`, `-`, `.`), `:`, then only characters a URI may hold, none of them `#`.
pub fn is_resource_indicator(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    scheme_ok
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~:/?[]@!$&'()*+,;=%".contains(c))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const API: &str = "https://api.example.com";
    const BILLING: &str = "https://billing.example.com/v2";

    fn audiences() -> Audiences {
        Audiences::parse(vec![API.into(), BILLING.into()]).unwrap()
    }

    #[test]
    fn a_request_gets_what_it_names_or_the_default() {
        let a = audiences();
        let aud = |requested: &[&str]| a.audience(&a.target(requested.iter().copied()).unwrap());
        assert_eq!(aud(&[]), Audience::One(API));
        assert_eq!(aud(&[""]), Audience::One(API));
        assert_eq!(aud(&[BILLING]), Audience::One(BILLING));
        assert_eq!(aud(&[BILLING, API]), Audience::Many(vec![BILLING, API]));
        assert_eq!(aud(&[API, "", API]), Audience::One(API));
        assert_eq!(Target::default(), a.target([]).unwrap());
    }

    #[test]
    fn anything_else_is_invalid_target() {
        let a = audiences();
        for bad in [
            "https://other.example.com",
            "https://api.example.com/",
            "HTTPS://api.example.com",
            "api.example.com",
            "https://api.example.com#frag",
            "https://api.example.com/a b",
            "1https://x",
            ":x",
            "https://api.example.com/\u{e9}",
        ] {
            let err = a.target([API, bad]).unwrap_err();
            assert_eq!(err.code, OAuthErrorCode::InvalidTarget, "{bad}");
            assert!(err.description.contains("resource"), "{bad}");
        }
    }

    #[test]
    fn the_aud_claim_is_a_string_for_one_and_an_array_for_several() {
        let one = serde_json::to_string(&Audience::One(API)).unwrap();
        assert_eq!(one, format!("\"{API}\""));
        let many = serde_json::to_string(&Audience::Many(vec![API, BILLING])).unwrap();
        assert_eq!(many, format!("[\"{API}\",\"{BILLING}\"]"));
        let back: Audience = serde_json::from_str(&many).unwrap();
        assert_eq!(back.values().collect::<Vec<_>>(), [API, BILLING]);
        let back: Audience = serde_json::from_str(&one).unwrap();
        assert_eq!(back, Audience::from(API));
        assert!(serde_json::from_str::<Audience>("7").is_err());
    }

    #[test]
    fn a_token_is_accepted_when_one_of_its_audiences_is_configured() {
        let a = audiences();
        assert!(a.accepts(&Audience::from(API)));
        assert!(a.accepts(&Audience::Many(vec![
            "https://x".to_owned(),
            BILLING.to_owned()
        ])));
        assert!(!a.accepts(&Audience::from("https://x")));
        assert!(!a.accepts(&Audience::<String>::Many(vec![])));
    }

    #[test]
    fn the_configured_audiences_are_checked() {
        assert!(
            Audiences::parse(vec!["my-api".into()]).is_ok(),
            "the default may be any string"
        );
        assert!(Audiences::parse(vec![API.into(), "my-api".into()]).is_err());
        assert!(Audiences::parse(vec![]).is_err());
        assert!(Audiences::parse(vec![API.into(), API.into()]).is_err());
        assert!(Audiences::parse(vec![" ".into()]).is_err());
        assert!(Audiences::parse(vec![format!(" {API}")]).is_err());
        assert!(Audiences::parse(vec![API.into(), format!("{BILLING}#x")]).is_err());
        assert_eq!(audiences().iter().collect::<Vec<_>>(), [API, BILLING]);
    }
}
