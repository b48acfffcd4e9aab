//! Federated credentials (workload identity federation, issue 17): a key trusts tokens that
//! another OpenID issuer minted for a workload (a GitHub Actions job, a Kubernetes service
//! account), by issuer, audience and subject. Which credentials a key may hold, and which one
//! (if any) a verified external token matches. Pure; the token's signature is checked with the
//! issuer's keys before these rules run.
//!
//! A subject is exact or a glob in which `*` stands for any run of characters, `/` and `:`
//! included (`repo:acme/app:ref:refs/heads/*` trusts every branch of `acme/app`). A glob must
//! fix at least two whole segments (ended by `:` or `/`) before its first `*`: `repo:acme/*`
//! (one GitHub organisation) is the widest GitHub pattern accepted, while `repo:*`, `*:*` or
//! `repo:a*` would trust workloads of every owner the issuer serves.
//!
//! Tokens of this server itself are never federated credentials: an access token (`typ:
//! at+jwt`) is refused as any client assertion (`crypto::client_assertion`), and a token whose
//! `iss` is this server's issuer is refused on the federated path, since neither the denylist
//! nor its key's state would be consulted there.
//!
//! Such tokens are reused by design (a job presents its token more than once), so there is no
//! replay rule; their lifetime is capped as an assertion's is (`assertion::check_times`: an
//! hour; Kubernetes' default 3,607 s fits in the leeway).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::assertion::{AssertionFault, check_times};
use super::{FieldError, Warning};

/// Most federated credentials one key may hold.
pub const MAX_FEDERATED: usize = 10;
/// Longest issuer, audience, subject or `jwks_uri`.
pub const MAX_FIELD_CHARS: usize = 512;
/// Longest `sub` of a presented token that is matched against the globs at all.
pub const MAX_SUBJECT_BYTES: usize = 1024;
/// Whole segments a glob must fix before its first `*`.
const FIXED_SEGMENTS: usize = 2;

/// A workload a key trusts: tokens of `issuer` for `audience` about a matching `subject`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FederatedCredential {
    /// The issuer's URL, exactly as its tokens' `iss` (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    /// The token's `sub`: exact, or a glob with `*` (`repo:acme/app:ref:refs/heads/*`).
    pub subject: String,
    /// A value the token's `aud` must contain.
    pub audience: String,
    /// Where the issuer's keys are; when absent, its OpenID discovery document says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

/// `federated_credentials` of a create or PATCH body: `null` or a list of at most
/// [`MAX_FEDERATED`]. Every problem is reported with its field path; an `http` URL is accepted
/// with a warning (fetched only by a server that allows it).
pub fn check_federated(
    value: &Value,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<FederatedCredential>> {
    let items = match value {
        Value::Null => return Some(Vec::new()),
        Value::Array(items) if items.len() <= MAX_FEDERATED => items,
        Value::Array(items) => {
            errors.push(FieldError::new(
                "federated_credentials",
                format!(
                    "has {} credentials; a key may hold at most {MAX_FEDERATED}",
                    items.len()
                ),
            ));
            return None;
        }
        _ => {
            errors.push(FieldError::new(
                "federated_credentials",
                "must be a list of {issuer, subject, audience, jwks_uri?}",
            ));
            return None;
        }
    };
    let before = errors.len();
    let mut found: Vec<FederatedCredential> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("federated_credentials[{i}]");
        let Some(credential) = check_one(item, &at, errors, warnings) else {
            continue;
        };
        if let Some(other) = found.iter().find(|c| c.issuer == credential.issuer)
            && other.jwks_uri != credential.jwks_uri
        {
            errors.push(FieldError::new(
                format!("{at}.jwks_uri"),
                "differs from another credential of the same issuer: one issuer has one set of keys",
            ));
        }
        if found.contains(&credential) {
            errors.push(FieldError::new(at, "repeats another credential"));
            continue;
        }
        found.push(credential);
    }
    (errors.len() == before).then_some(found)
}

fn check_one(
    item: &Value,
    at: &str,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> Option<FederatedCredential> {
    let Value::Object(map) = item else {
        errors.push(FieldError::new(
            at,
            "must be an object {issuer, subject, audience, jwks_uri?}",
        ));
        return None;
    };
    let before = errors.len();
    if let Some(extra) = map
        .keys()
        .find(|k| !["issuer", "subject", "audience", "jwks_uri"].contains(&k.as_str()))
    {
        errors.push(FieldError::new(
            format!("{at}.{extra}"),
            "is not a member of a federated credential (issuer, subject, audience, jwks_uri)",
        ));
    }
    let issuer = required_text(map, at, "issuer", errors).and_then(|u| {
        check_url(
            &u,
            UrlKind::Issuer,
            &format!("{at}.issuer"),
            errors,
            warnings,
        )
        .then_some(u)
    });
    let subject = required_text(map, at, "subject", errors);
    if let Some(s) = &subject
        && !glob_is_narrow(s)
    {
        errors.push(FieldError::new(
            format!("{at}.subject"),
            "would trust workloads of every owner the issuer serves: fix at least two whole segments before the first *, e.g. repo:acme/* or repo:acme/app:ref:refs/heads/*",
        ));
    }
    let audience = required_text(map, at, "audience", errors);
    let jwks_uri = match map.get("jwks_uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            let field = format!("{at}.jwks_uri");
            (text_ok(u, &field, errors)
                && check_url(u, UrlKind::Document, &field, errors, warnings))
            .then(|| u.clone())
        }
        Some(_) => {
            errors.push(FieldError::new(format!("{at}.jwks_uri"), "must be a URL"));
            None
        }
    };
    match (issuer, subject, audience) {
        (Some(issuer), Some(subject), Some(audience)) if errors.len() == before => {
            Some(FederatedCredential {
                issuer,
                subject,
                audience,
                jwks_uri,
            })
        }
        _ => None,
    }
}

fn required_text(
    map: &Map<String, Value>,
    at: &str,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let field = format!("{at}.{name}");
    match map.get(name) {
        Some(Value::String(s)) if text_ok(s, &field, errors) => Some(s.clone()),
        Some(Value::String(_)) => None,
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

/// 1 to [`MAX_FIELD_CHARS`] characters, none of them control characters (NUL included): these
/// are compared with token claims, which never hold them.
fn text_ok(s: &str, field: &str, errors: &mut Vec<FieldError>) -> bool {
    let n = s.chars().count();
    if n == 0 || n > MAX_FIELD_CHARS {
        errors.push(FieldError::new(
            field,
            format!("must be 1 to {MAX_FIELD_CHARS} characters"),
        ));
        false
    } else if s.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
        false
    } else {
        true
    }
}

/// Whether a glob fixes at least [`FIXED_SEGMENTS`] whole segments before its first `*` (an
/// exact subject always does).
fn glob_is_narrow(pattern: &str) -> bool {
    let Some(first_star) = pattern.find('*') else {
        return true;
    };
    let fixed = &pattern[..first_star];
    let whole = fixed
        .split([':', '/'])
        .rev()
        .skip(1) // the part after the last separator is not a whole segment
        .filter(|segment| !segment.is_empty())
        .count();
    whole >= FIXED_SEGMENTS
}

/// What a URL names: an issuer (its identifier, to which the discovery path is appended) or a
/// document (a JWKS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Issuer,
    Document,
}

/// An absolute `https` URL without credentials, fragment or control characters (the URL parser
/// would drop or encode them, so the URL fetched would not be the text stored and shown); an
/// issuer without a query either (OpenID Connect Discovery §3: the discovery path is appended
/// to it). `http` is accepted with a warning.
pub fn check_url(
    text: &str,
    kind: UrlKind,
    field: &str,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> bool {
    if text.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
        return false;
    }
    let Ok(url) = url::Url::parse(text) else {
        errors.push(FieldError::new(field, "must be an absolute https URL"));
        return false;
    };
    let problem = match url.scheme() {
        "https" | "http" if url.host().is_none() => Some("must name a host"),
        "https" | "http" if !url.username().is_empty() || url.password().is_some() => {
            Some("must not carry credentials")
        }
        "https" | "http" if url.fragment().is_some() => Some("must not have a #fragment"),
        "https" | "http" if kind == UrlKind::Issuer && url.query().is_some() => {
            Some("must not have a ?query: an issuer is the URL the discovery path is added to")
        }
        "https" | "http" => None,
        _ => Some("must be an https URL"),
    };
    if let Some(problem) = problem {
        errors.push(FieldError::new(field, problem));
        return false;
    }
    if url.scheme() == "http" {
        warnings.push(Warning {
            code: "http_url",
            field: field.to_owned(),
            message: "is plain http: it is fetched only by a server started with \
                      --allow-http-issuers (tests and closed networks), and refused otherwise"
                .into(),
        });
    }
    true
}

/// Whether `subject` matches `pattern`, in which `*` stands for any run of characters.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    // Greedy matching with one backtrack point (the last `*`): linear in practice, and never
    // worse than the product of the lengths, both bounded by MAX_FIELD_CHARS.
    let (p, s) = (pattern.as_bytes(), subject.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((star_p, star_s)) = star {
            pi = star_p + 1;
            si = star_s + 1;
            star = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|b| *b == b'*')
}

/// Why an external token was refused: which check failed, for the workload's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FederationFault {
    Times(AssertionFault),
    /// No credential of the key names this issuer.
    Issuer(String),
    /// The issuer is trusted, but for another audience.
    Audience,
    /// Issuer and audience fit, the subject matches no pattern.
    Subject(String),
}

impl FederationFault {
    pub fn describe(&self) -> String {
        match self {
            FederationFault::Times(fault) => fault
                .describe()
                .replace("the client assertion", "the federated token"),
            FederationFault::Issuer(iss) => {
                format!("no federated credential of this key trusts the issuer `{iss}`")
            }
            FederationFault::Audience => {
                "the federated token's aud is not the audience this key's credentials expect".into()
            }
            FederationFault::Subject(sub) => format!(
                "the federated token's subject `{sub}` matches no subject this key trusts for its issuer"
            ),
        }
    }
}

/// The credentials of `credentials` that trust this token's issuer (read before the
/// signature is checked, to know whose keys to check it with).
pub fn of_issuer<'a>(
    credentials: &'a [FederatedCredential],
    issuer: &str,
) -> Option<&'a FederatedCredential> {
    credentials.iter().find(|c| c.issuer == issuer)
}

/// The credential a verified external token matches, at `now` (Unix seconds).
pub fn check_external<'a>(
    claims: &Value,
    credentials: &'a [FederatedCredential],
    now: i64,
) -> Result<&'a FederatedCredential, FederationFault> {
    let Value::Object(claims) = claims else {
        return Err(FederationFault::Times(AssertionFault::NotClaims));
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str).unwrap_or_default();
    let (iss, sub) = (text("iss"), text("sub"));
    if sub.len() > MAX_SUBJECT_BYTES {
        return Err(FederationFault::Subject(format!(
            "{}…",
            sub.chars().take(64).collect::<String>()
        )));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let of_issuer: Vec<&FederatedCredential> =
        credentials.iter().filter(|c| c.issuer == iss).collect();
    if of_issuer.is_empty() {
        return Err(FederationFault::Issuer(iss.to_owned()));
    }
    let for_audience: Vec<&&FederatedCredential> = of_issuer
        .iter()
        .filter(|c| audiences.contains(&c.audience.as_str()))
        .collect();
    if for_audience.is_empty() {
        return Err(FederationFault::Audience);
    }
    let Some(credential) = for_audience
        .into_iter()
        .find(|c| subject_matches(&c.subject, sub))
    else {
        return Err(FederationFault::Subject(sub.to_owned()));
    };
    check_times(claims, now).map_err(FederationFault::Times)?;
    Ok(credential)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const GITHUB: &str = "https://token.actions.githubusercontent.com";

    fn credential(subject: &str) -> FederatedCredential {
        FederatedCredential {
            issuer: GITHUB.into(),
            subject: subject.into(),
            audience: "latchkey".into(),
            jwks_uri: None,
        }
    }

    fn github_token(sub: &str) -> Value {
        json!({"iss": GITHUB, "aud": "latchkey", "sub": sub,
               "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 290,
               "repository": "acme/app", "ref": "refs/heads/main"})
    }

    #[test]
    fn globs_match_any_run_of_characters() {
        let p = "repo:acme/app:ref:refs/heads/*";
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/main"));
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/feature/x"));
        assert!(subject_matches(p, "repo:acme/app:ref:refs/heads/"));
        assert!(!subject_matches(p, "repo:acme/app:ref:refs/tags/v1"));
        assert!(!subject_matches(
            p,
            "repo:acme/app-evil:ref:refs/heads/main"
        ));
        assert!(!subject_matches(
            p,
            "repo:evil/acme/app:ref:refs/heads/main"
        ));
        assert!(subject_matches("a*b*c", "a--b--c"));
        assert!(subject_matches("a*b*c", "abc"));
        assert!(!subject_matches("a*b*c", "a--c--b"));
        assert!(subject_matches("exact", "exact"));
        assert!(!subject_matches("exact", "exact2"));
        assert!(!subject_matches("exact", "exac"));
        assert!(subject_matches("*:prod", "system:serviceaccount:ns:prod"));
    }

    #[test]
    fn a_glob_must_fix_two_whole_segments_before_its_first_star() {
        for narrow in [
            "repo:acme/*",
            "repo:acme/app:*",
            "repo:acme/app:ref:refs/heads/release-*",
            "system:serviceaccount:payments:*",
            "system:serviceaccount:*",
            "exact-subject",
            "repo:acme/app:ref:refs/heads/main",
        ] {
            assert!(glob_is_narrow(narrow), "{narrow}");
        }
        for wide in [
            "*",
            "**",
            "repo:*",
            "*:*",
            "repo:*:*",
            "repo:a*",
            "repo:acme*",
            "*/*",
            "repo::*",
            "a*b:c/*",
        ] {
            assert!(!glob_is_narrow(wide), "{wide}");
        }
    }

    proptest! {
        /// Glob matching agrees with the obvious (exponential) recursive definition.
        #[test]
        fn glob_matches_its_definition(pattern in "[ab*]{0,8}", subject in "[ab]{0,10}") {
            fn reference(p: &[u8], s: &[u8]) -> bool {
                match (p.first(), s.first()) {
                    (None, _) => s.is_empty(),
                    (Some(b'*'), _) => reference(&p[1..], s) || (!s.is_empty() && reference(p, &s[1..])),
                    (Some(c), Some(d)) if c == d => reference(&p[1..], &s[1..]),
                    _ => false,
                }
            }
            prop_assert_eq!(subject_matches(&pattern, &subject), reference(pattern.as_bytes(), subject.as_bytes()));
        }
    }

    #[test]
    fn a_token_matches_issuer_audience_and_subject() {
        let creds = [credential("repo:acme/app:ref:refs/heads/*")];
        let ok = github_token("repo:acme/app:ref:refs/heads/main");
        assert_eq!(check_external(&ok, &creds, NOW), Ok(&creds[0]));

        let mut other_sub = ok.clone();
        other_sub["sub"] = json!("repo:acme/other:ref:refs/heads/main");
        assert!(matches!(
            check_external(&other_sub, &creds, NOW),
            Err(FederationFault::Subject(_))
        ));
        let mut other_aud = ok.clone();
        other_aud["aud"] = json!(["https://github.com/acme"]);
        assert_eq!(
            check_external(&other_aud, &creds, NOW),
            Err(FederationFault::Audience)
        );
        let mut list_aud = ok.clone();
        list_aud["aud"] = json!(["x", "latchkey"]);
        assert!(check_external(&list_aud, &creds, NOW).is_ok());
        let mut other_iss = ok.clone();
        other_iss["iss"] = json!("https://evil.example");
        assert!(matches!(
            check_external(&other_iss, &creds, NOW),
            Err(FederationFault::Issuer(_))
        ));
        assert_eq!(
            check_external(&ok, &creds, NOW + 400),
            Err(FederationFault::Times(AssertionFault::Expired))
        );
        let mut long = ok.clone();
        long["exp"] = json!(NOW + 24 * 3600);
        assert_eq!(
            check_external(&long, &creds, NOW),
            Err(FederationFault::Times(AssertionFault::TooLong))
        );
        let mut no_exp = ok;
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            check_external(&no_exp, &creds, NOW),
            Err(FederationFault::Times(AssertionFault::NoExpiry))
        );
    }

    #[test]
    fn a_kubernetes_token_of_3607_seconds_fits() {
        let creds = [FederatedCredential {
            issuer: "https://kubernetes.default.svc".into(),
            subject: "system:serviceaccount:payments:*".into(),
            audience: "latchkey".into(),
            jwks_uri: Some("https://kubernetes.default.svc/openid/v1/jwks".into()),
        }];
        let token = json!({"iss": "https://kubernetes.default.svc", "aud": ["latchkey"],
            "sub": "system:serviceaccount:payments:worker", "iat": NOW, "nbf": NOW, "exp": NOW + 3607,
            "kubernetes.io": {"namespace": "payments"}});
        assert!(check_external(&token, &creds, NOW).is_ok());
    }

    #[test]
    fn credentials_are_checked_member_by_member() {
        let check = |v: Value| {
            let (mut e, mut w) = (Vec::new(), Vec::new());
            let r = check_federated(&v, &mut e, &mut w);
            (r, e, w)
        };
        let (ok, e, w) = check(
            json!([{"issuer": GITHUB, "subject": "repo:acme/app:*", "audience": "latchkey"}]),
        );
        assert!(e.is_empty() && w.is_empty());
        assert_eq!(ok.unwrap().len(), 1);

        let (r, e, _) = check(
            json!([{"issuer": "ftp://x", "subject": "*", "audience": "", "extra": 1, "jwks_uri": 3}]),
        );
        assert!(r.is_none());
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "federated_credentials[0].extra",
                "federated_credentials[0].issuer",
                "federated_credentials[0].subject",
                "federated_credentials[0].audience",
                "federated_credentials[0].jwks_uri"
            ]
        );
        let (_, e, _) = check(json!([{"issuer": GITHUB, "subject": "a\u{0}b", "audience": "x"}]));
        assert_eq!(e[0].field, "federated_credentials[0].subject");
        let (_, e, _) =
            check(json!([{"issuer": "https://u:p@x.example", "subject": "a", "audience": "x"}]));
        assert_eq!(e[0].message, "must not carry credentials");

        let (r, e, w) =
            check(json!([{"issuer": "http://127.0.0.1:9/", "subject": "a", "audience": "x"}]));
        assert!(r.is_some() && e.is_empty());
        assert_eq!(w[0].code, "http_url");

        let eleven: Vec<Value> = (0..11)
            .map(|i| json!({"issuer": GITHUB, "subject": format!("s{i}"), "audience": "x"}))
            .collect();
        let (_, e, _) = check(Value::Array(eleven));
        assert_eq!(e[0].field, "federated_credentials");

        let (_, e, _) = check(json!([
            {"issuer": GITHUB, "subject": "a", "audience": "x"},
            {"issuer": GITHUB, "subject": "a", "audience": "x"},
        ]));
        assert_eq!(e[0].message, "repeats another credential");
        let (_, e, _) = check(json!([
            {"issuer": GITHUB, "subject": "a", "audience": "x"},
            {"issuer": GITHUB, "subject": "b", "audience": "x", "jwks_uri": "https://x.example/j"},
        ]));
        assert_eq!(e[0].field, "federated_credentials[1].jwks_uri");
        assert_eq!(check(Value::Null).0, Some(Vec::new()));
        assert!(check(json!("x")).0.is_none());
    }
}
