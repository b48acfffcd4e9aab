//! The client-credentials grant's request rules (RFC 6749 §2.3.1, §3.2, §4.4, §5.2), free of
//! HTTP types: the adapter hands over the form pairs and the `Authorization` header.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::usage::TokenAuth;

/// RFC 6749 §5.2 error codes. No `unsupported_token_type` (RFC 7009 §2.2.1): revocation takes
/// every kind of token this server issues, and a `token_type_hint` is only a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// The request is missing a required parameter, includes an unsupported parameter value,
    /// repeats a parameter, includes multiple credentials, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, no client authentication included, or
    /// unsupported authentication method).
    InvalidClient,
    /// The authorization grant type is not supported by the authorization server.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds the scope granted.
    InvalidScope,
    /// RFC 8707 §2: the requested resource is invalid, missing, unknown, or malformed.
    InvalidTarget,
    /// The authenticated client is not authorized for this (RFC 7009 §2.1: revoking a token
    /// issued to another client).
    UnauthorizedClient,
    /// The server cannot handle the request now (RFC 6749 §4.1.2.1, used here for the token
    /// endpoint when the database is unavailable: fail closed).
    TemporarilyUnavailable,
    /// Not an RFC 6749 code: sent with `429` when failed client authentications from this
    /// address, or for this client id, are throttled.
    TooManyRequests,
    /// Not an RFC 6749 code: `429`, the client's key is over one of its rate limits.
    RateLimited,
    /// Not an RFC 6749 code: `429`, the client's key has no quota credit left.
    QuotaExhausted,
}

impl OAuthErrorCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::InvalidScope => "invalid_scope",
            OAuthErrorCode::InvalidTarget => "invalid_target",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            OAuthErrorCode::TooManyRequests => "too_many_requests",
            OAuthErrorCode::RateLimited => "rate_limited",
            OAuthErrorCode::QuotaExhausted => "quota_exhausted",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidClient, d)
    }
}

/// How the client authenticated; the same rules serve the token, introspection and revocation
/// endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2: a JWT signed with the client's private key.
    PrivateKeyJwt,
}

/// How a client authenticated: with its secret, or with a signed assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    Secret(ClientCredentials),
    Assertion(ClientAssertion),
}

impl ClientAuth {
    /// The client id the request names, before anything is verified: the secret's, or the
    /// assertion's `client_id` parameter, else its (unverified) `sub`. `None` when there is none.
    pub fn claimed_id(&self) -> Option<&str> {
        match self {
            ClientAuth::Secret(c) => Some(&c.client_id),
            ClientAuth::Assertion(a) => a.client_id.as_deref().or(a.subject.as_deref()),
        }
    }

    /// How a client that authenticated this way, as key `key_id`, is counted: the assertion's
    /// unverified `iss` is the key itself (`private_key_jwt`) or a federated issuer. The
    /// authority takes the same branch (`service::authority::assertion`).
    pub fn token_auth(&self, key_id: &str) -> TokenAuth {
        match self {
            ClientAuth::Secret(_) => TokenAuth::ClientSecret,
            ClientAuth::Assertion(a) if a.is_federated(key_id) => TokenAuth::Federated,
            ClientAuth::Assertion(_) => TokenAuth::PrivateKeyJwt,
        }
    }

    pub fn method(&self) -> AuthMethod {
        match self {
            ClientAuth::Secret(c) => c.method,
            ClientAuth::Assertion(_) => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// RFC 7521 §4.2 client authentication by assertion. `Debug` leaves the assertion out.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientAssertion {
    /// The `client_id` parameter, optional (RFC 7521 §4.2).
    pub client_id: Option<String>,
    /// The assertion's `iss`, read without verifying anything: the client itself, or the
    /// federated issuer whose keys verify it.
    pub issuer: Option<String>,
    /// The assertion's `sub`, read without verifying anything: which key to verify it with.
    pub subject: Option<String>,
    pub assertion: String,
}

impl ClientAssertion {
    /// Whether the assertion is another issuer's token about a workload (its `iss` is not the
    /// key it authenticates as), rather than one the client signed itself.
    pub fn is_federated(&self, key_id: &str) -> bool {
        self.issuer.as_deref().is_some_and(|iss| iss != key_id)
    }
}

impl std::fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("client_id", &self.client_id)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Credentials presented by a client. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub method: AuthMethod,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

/// Most parameters an OAuth form may carry: the endpoints use at most six, and a repeated-name
/// check over a longer list would be quadratic work chosen by the client.
pub const MAX_FORM_FIELDS: usize = 32;

/// The one parameter that may be repeated: RFC 8707 §2 `resource`, once per resource.
pub const REPEATABLE: &str = "resource";

/// Form parameters with RFC 6749 §3.2's rules applied: a repeated parameter is an error (but
/// `REPEATABLE`) and an empty value counts as omitted.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let fields = body.split(|b| *b == b'&').filter(|f| !f.is_empty()).count();
        if fields > MAX_FORM_FIELDS {
            return Err(OAuthError::invalid_request(format!(
                "the form has {fields} parameters; the maximum is {MAX_FORM_FIELDS}"
            )));
        }
        // The form decoding never fails: bytes that are not UTF-8 after percent-decoding become
        // U+FFFD (WHATWG URL), which no client id, secret or scope contains.
        let mut seen: Vec<(String, String)> = Vec::with_capacity(fields);
        for (k, v) in form_urlencoded::parse(body) {
            if k != REPEATABLE && seen.iter().any(|(s, _)| *s == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{k}` is repeated"
                )));
            }
            seen.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(seen))
    }

    /// The value of a parameter that cannot repeat.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a parameter, in order: for `REPEATABLE`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Client authentication: a JWT assertion (`client_assertion_type` and `client_assertion`), or
/// the secret by HTTP Basic XOR `client_id`+`client_secret` in the body. Two methods at once is
/// `invalid_request` (oxide-auth's rule); none is `invalid_client`.
pub fn client_auth(authorization: Option<&str>, params: &Params) -> Result<ClientAuth, OAuthError> {
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if assertion_type.is_none() && assertion.is_none() {
        return client_credentials(authorization, params).map(ClientAuth::Secret);
    }
    if authorization.is_some() || params.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "the client authenticated twice (a client assertion and a secret); use one",
        ));
    }
    match (assertion_type, assertion) {
        (Some(t), Some(jwt)) if t == crate::domain::assertion::ASSERTION_TYPE => {
            let (issuer, subject) = unverified_claims(jwt);
            Ok(ClientAuth::Assertion(ClientAssertion {
                client_id: params.get("client_id").map(str::to_owned),
                issuer,
                subject,
                assertion: jwt.to_owned(),
            }))
        }
        (Some(t), Some(_)) => Err(OAuthError::invalid_client(format!(
            "client_assertion_type `{t}` is not supported: use {}",
            crate::domain::assertion::ASSERTION_TYPE
        ))),
        _ => Err(OAuthError::invalid_request(
            "client_assertion_type and client_assertion go together",
        )),
    }
}

/// The `iss` and `sub` of a JWT's payload, unverified: they only say whose keys to verify the
/// JWT with (the client key's own, or a federated issuer's).
fn unverified_claims(jwt: &str) -> (Option<String>, Option<String>) {
    let claims: Option<serde_json::Value> = jwt
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let claim = |name: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(name))
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    (claim("iss"), claim("sub"))
}

/// Client authentication by HTTP Basic XOR `client_id`+`client_secret` in the body. Both at once
/// is `invalid_request` (oxide-auth's rule); neither is `invalid_client`.
pub fn client_credentials(
    authorization: Option<&str>,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let basic = match authorization {
        Some(h) => Some(parse_basic(h)?),
        None => None,
    };
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    match (basic, body_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "the client authenticated twice (Authorization header and client_secret in the body); use one",
        )),
        (Some(creds), Some(id), None) if id != creds.client_id => Err(OAuthError::invalid_request(
            "client_id in the body differs from the one in the Authorization header",
        )),
        (Some(creds), _, None) => Ok(creds),
        (None, Some(id), Some(secret)) => Ok(ClientCredentials {
            client_id: id.to_owned(),
            client_secret: secret.to_owned(),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, _, _) => Err(OAuthError::invalid_client(
            "client authentication is required: HTTP Basic or client_id and client_secret in the body",
        )),
    }
}

/// RFC 6749 §2.3.1: the id and secret are form-urlencoded before being joined with `:` and
/// base64-encoded, so `+` means space and `%3A` a literal colon.
pub fn parse_basic(header: &str) -> Result<ClientCredentials, OAuthError> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "the Authorization header must use the Basic scheme",
        ));
    }
    let bad = || {
        OAuthError::invalid_client(
            "the Basic credentials are not base64 of `client_id:client_secret`, each form-encoded UTF-8 (RFC 6749 §2.3.1)",
        )
    };
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = form_decode(id).ok_or_else(bad)?;
    let secret = form_decode(secret).ok_or_else(bad)?;
    if id.is_empty() || secret.is_empty() {
        return Err(bad());
    }
    Ok(ClientCredentials {
        client_id: id,
        client_secret: secret,
        method: AuthMethod::ClientSecretBasic,
    })
}

/// application/x-www-form-urlencoded decoding of one value.
fn form_decode(text: &str) -> Option<String> {
    let plus_as_space: Vec<u8> = text
        .bytes()
        .map(|b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(percent_encoding::percent_decode(&plus_as_space).collect()).ok()
}

/// The grant this server issues.
pub const CLIENT_CREDENTIALS: &str = "client_credentials";

/// `grant_type` present and supported.
pub fn check_grant_type(params: &Params) -> Result<(), OAuthError> {
    match params.get("grant_type") {
        None => Err(OAuthError::invalid_request("grant_type is required")),
        Some(CLIENT_CREDENTIALS) => Ok(()),
        Some(other) => Err(OAuthError::new(
            OAuthErrorCode::UnsupportedGrantType,
            format!("grant_type {other:?} is not supported; use client_credentials"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // A client that encodes per §2.3.1: '+' → %2B, '%' → %25, ':' → %3A, ' ' → '+'.
        let c = parse_basic(&basic("key_abc", "a%2Bb%25c%3Ad+e")).unwrap();
        assert_eq!(c.client_id, "key_abc");
        assert_eq!(c.client_secret, "a+b%c:d e");
        assert_eq!(c.method, AuthMethod::ClientSecretBasic);
        // The first ':' separates; an unencoded ':' in the secret survives.
        assert_eq!(
            parse_basic(&basic("id", "x:y")).unwrap().client_secret,
            "x:y"
        );
        assert_eq!(
            parse_basic(&basic("id", "a&b=c")).unwrap().client_secret,
            "a&b=c"
        );
        assert_eq!(
            parse_basic(&format!("basic {}", STANDARD.encode("id:s")))
                .unwrap()
                .client_id,
            "id"
        );
    }

    #[test]
    fn malformed_basic_headers_are_invalid_client() {
        for h in [
            "Bearer x",
            "Basic",
            "Basic !!!",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &basic("", "s"),
            &basic("id", ""),
        ] {
            assert_eq!(
                parse_basic(h).unwrap_err().code,
                OAuthErrorCode::InvalidClient,
                "{h}"
            );
        }
    }

    #[test]
    fn repeated_parameters_are_refused_and_empty_ones_ignored() {
        let err = Params::parse(b"grant_type=client_credentials&grant_type=client_credentials")
            .unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidRequest);
        let p = Params::parse(b"scope=&grant_type=client_credentials&unknown=1").unwrap();
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        // Invalid UTF-8 is decoded lossily, never a panic.
        assert!(Params::parse(&[0xff, 0xfe]).is_ok());
    }

    #[test]
    fn only_resource_may_repeat() {
        let p =
            Params::parse(b"resource=https%3A%2F%2Fa&scope=x&resource=&resource=urn%3Ab").unwrap();
        assert_eq!(
            p.get_all("resource").collect::<Vec<_>>(),
            ["https://a", "urn:b"]
        );
        assert_eq!(p.get_all("scope").collect::<Vec<_>>(), ["x"]);
        assert_eq!(p.get_all("nothing").count(), 0);
        for repeated in ["scope=a&scope=b", "client_id=a&resource=x&client_id=a"] {
            let err = Params::parse(repeated.as_bytes()).unwrap_err();
            assert_eq!(err.code, OAuthErrorCode::InvalidRequest, "{repeated}");
        }
    }

    #[test]
    fn one_client_authentication_method_at_a_time() {
        let both = Params::parse(b"client_id=a&client_secret=b").unwrap();
        assert_eq!(
            client_credentials(Some(&basic("a", "b")), &both)
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidRequest
        );
        let body = client_credentials(None, &both).unwrap();
        assert_eq!(
            (body.client_id.as_str(), body.method),
            ("a", AuthMethod::ClientSecretPost)
        );
        let none = Params::parse(b"grant_type=client_credentials").unwrap();
        assert_eq!(
            client_credentials(None, &none).unwrap_err().code,
            OAuthErrorCode::InvalidClient
        );
        let id_only = Params::parse(b"client_id=a").unwrap();
        assert_eq!(
            client_credentials(None, &id_only).unwrap_err().code,
            OAuthErrorCode::InvalidClient
        );
        // Basic plus a matching client_id in the body is allowed (some libraries send both).
        assert!(client_credentials(Some(&basic("a", "b")), &id_only).is_ok());
        let other_id = Params::parse(b"client_id=z").unwrap();
        assert_eq!(
            client_credentials(Some(&basic("a", "b")), &other_id)
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn grant_type_is_required_and_only_client_credentials() {
        assert_eq!(
            check_grant_type(&Params::parse(b"").unwrap())
                .unwrap_err()
                .code,
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            check_grant_type(&Params::parse(b"grant_type=password").unwrap())
                .unwrap_err()
                .code,
            OAuthErrorCode::UnsupportedGrantType
        );
        assert!(
            check_grant_type(&Params::parse(b"grant_type=client_credentials").unwrap()).is_ok()
        );
    }
}
