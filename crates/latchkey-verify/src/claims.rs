//! A verified access token's claims (RFC 9068 §2.2, as Latchkey issues them), with the
//! `scope` claim parsed once by `latchkey_rules::scope`, the server's own grammar.

use latchkey_rules::scope::{Action, Scope, parse_scope_list};
use serde::Deserialize;

use crate::error::VerifyError;

/// The claims of a verified Latchkey access token.
///
/// For the client-credentials grant `sub` and `client_id` are both the API key's id.
///
/// ```
/// use latchkey_verify::Claims;
/// use latchkey_verify::scope::{Action, parse_scope_list};
///
/// let claims = Claims {
///     iss: "https://auth.example.com".into(),
///     sub: "key_1".into(),
///     client_id: "key_1".into(),
///     org_id: "org_1".into(),
///     aud: vec!["https://auth.example.com".into()],
///     iat: 1_700_000_000,
///     exp: 1_700_000_600,
///     jti: "abc.0".into(),
///     scope: parse_scope_list("read:projects/**")?,
/// };
/// assert!(claims.allows(Action::Read, "projects/42"));
/// assert!(!claims.allows(Action::Write, "projects/42"));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The issuer, exactly as configured on the server.
    pub iss: String,
    /// The subject: the API key's id.
    pub sub: String,
    /// The OAuth client: the API key's id.
    pub client_id: String,
    /// The organisation that owns the key.
    pub org_id: String,
    /// The audiences (one, or several RFC 8707 resources).
    pub aud: Vec<String>,
    /// Issued at, in seconds since the epoch.
    pub iat: i64,
    /// Expires at, in seconds since the epoch.
    pub exp: i64,
    /// The token's unique id (what `POST /oauth/revoke` denies).
    pub jti: String,
    /// The granted scopes, parsed.
    pub scope: Vec<Scope>,
}

impl Claims {
    /// Whether the token's scopes allow `action` on the concrete `resource`: the same rule as
    /// the server's `/v1/check` (`Scope::allows`, any scope suffices).
    ///
    /// ```
    /// use latchkey_verify::Claims;
    /// use latchkey_verify::scope::{Action, parse_scope_list};
    ///
    /// # let mut claims = Claims { iss: String::new(), sub: String::new(), client_id: String::new(),
    /// #     org_id: String::new(), aud: vec![], iat: 0, exp: 0, jti: String::new(), scope: vec![] };
    /// claims.scope = parse_scope_list("read:projects/* write:projects/42")?;
    /// assert!(claims.allows(Action::Read, "projects/7"));
    /// assert!(claims.allows(Action::Write, "projects/42"));
    /// assert!(!claims.allows(Action::Read, "projects/7/files"));
    /// # Ok::<(), String>(())
    /// ```
    pub fn allows(&self, action: Action, resource: &str) -> bool {
        self.scope.iter().any(|s| s.allows(action, resource))
    }
}

/// The wire form, as `jsonwebtoken` deserialises it; [`Claims`] is built from it once.
#[derive(Deserialize)]
pub(crate) struct WireClaims {
    pub(crate) iss: String,
    sub: String,
    client_id: String,
    org_id: String,
    aud: OneOrMany,
    iat: i64,
    pub(crate) exp: i64,
    /// Not in Latchkey's tokens; checked when present.
    #[serde(default)]
    pub(crate) nbf: Option<i64>,
    jti: String,
    scope: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl WireClaims {
    pub(crate) fn audiences(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match &self.aud {
            OneOrMany::One(a) => (Some(a.as_str()), &[][..]),
            OneOrMany::Many(list) => (None, list.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

impl TryFrom<WireClaims> for Claims {
    type Error = VerifyError;

    fn try_from(w: WireClaims) -> Result<Self, VerifyError> {
        let scope = parse_scope_list(&w.scope).map_err(VerifyError::BadClaims)?;
        Ok(Claims {
            iss: w.iss,
            sub: w.sub,
            client_id: w.client_id,
            org_id: w.org_id,
            aud: match w.aud {
                OneOrMany::One(a) => vec![a],
                OneOrMany::Many(a) => a,
            },
            iat: w.iat,
            exp: w.exp,
            jti: w.jti,
            scope,
        })
    }
}
