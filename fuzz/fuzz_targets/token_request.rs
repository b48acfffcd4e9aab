//! The token request's form body and client authentication (`src/domain/oauth.rs`).
//!
//! Input, split at the first three newlines: the `Authorization` header value (empty = no
//! header), a client id and a client secret (the harness encodes these itself into a Basic
//! header and a form body; skipped when either is empty), then the raw form body (any bytes).
//!
//! Checks: `Params::parse`, `check_grant_type`, `parse_basic` and `client_credentials` never
//! panic on any body or header; a body is refused exactly when a parameter name other than
//! `resource` (RFC 8707, `REPEATABLE`) repeats, and `get_all` returns every non-empty value;
//! any accepted Basic credential round-trips when re-encoded per RFC 6749 §2.3.1
//! (form-urlencode each half, join with `:`, base64), and so does any non-empty id and secret
//! the harness encodes itself (including `:`, `+`, `%`, `&`, `=`, spaces and non-ASCII);
//! the method reported and the values returned match what the request carried.

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey::domain::assertion::ASSERTION_TYPE;
use latchkey::domain::oauth::{
    AuthMethod, CLIENT_CREDENTIALS, ClientAuth, OAuthErrorCode, Params, REPEATABLE,
    check_grant_type, client_auth, client_credentials, parse_basic,
};
use libfuzzer_sys::fuzz_target;

fn form_encode(v: &str) -> String {
    serde_urlencoded::to_string([("v", v)]).unwrap()[2..].to_owned()
}

fn basic_header(id: &str, secret: &str) -> String {
    let joined = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", STANDARD.encode(joined))
}

fn check_request(body: &[u8], authorization: Option<&str>) {
    let params = match Params::parse(body) {
        Ok(p) => p,
        Err(e) => {
            assert_eq!(e.code, OAuthErrorCode::InvalidRequest);
            return;
        }
    };
    // The same decoder, read without the repetition rule: names must have been unique, but
    // the repeatable one, whose values `get_all` gives back in order.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if k == REPEATABLE {
            continue;
        }
        assert!(
            !pairs[..i].iter().any(|(j, _)| j == k),
            "repeated {k:?} accepted"
        );
        assert_eq!(params.get(k), (!v.is_empty()).then_some(v.as_str()));
    }
    let repeatable: Vec<&str> = pairs
        .iter()
        .filter(|(k, v)| k == REPEATABLE && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(params.get_all(REPEATABLE).collect::<Vec<_>>(), repeatable);

    match check_grant_type(&params) {
        Ok(()) => assert_eq!(params.get("grant_type"), Some(CLIENT_CREDENTIALS)),
        Err(e) => assert!(matches!(
            e.code,
            OAuthErrorCode::InvalidRequest | OAuthErrorCode::UnsupportedGrantType
        )),
    }

    let basic = authorization.map(parse_basic);
    match client_credentials(authorization, &params) {
        Ok(c) => match c.method {
            AuthMethod::ClientSecretBasic => {
                let Some(Ok(b)) = basic else {
                    panic!("Basic credentials without a valid Basic header")
                };
                assert_eq!(c, b);
                assert_eq!(params.get("client_secret"), None);
                if let Some(id) = params.get("client_id") {
                    assert_eq!(id, c.client_id);
                }
            }
            AuthMethod::ClientSecretPost => {
                assert!(authorization.is_none());
                assert_eq!(params.get("client_id"), Some(c.client_id.as_str()));
                assert_eq!(params.get("client_secret"), Some(c.client_secret.as_str()));
            }
            AuthMethod::PrivateKeyJwt => panic!("a secret parsed as an assertion"),
        },
        Err(e) => {
            if let Some(Err(_)) = basic {
                assert_eq!(e.code, OAuthErrorCode::InvalidClient, "a bad Basic header");
            }
        }
    }

    // With assertions in the picture: exactly one method, and an assertion only of the one type.
    match client_auth(authorization, &params) {
        Ok(ClientAuth::Assertion(a)) => {
            assert!(authorization.is_none() && params.get("client_secret").is_none());
            assert_eq!(params.get("client_assertion_type"), Some(ASSERTION_TYPE));
            assert_eq!(params.get("client_assertion"), Some(a.assertion.as_str()));
        }
        Ok(ClientAuth::Secret(_)) => {
            assert!(params.get("client_assertion").is_none());
            assert!(params.get("client_assertion_type").is_none());
        }
        Err(_) => {}
    }
}

struct Input<'a> {
    authorization: Option<String>,
    id: String,
    secret: String,
    body: &'a [u8],
}

fn split(data: &[u8]) -> Input<'_> {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut line = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (authorization, id, secret) = (line(), line(), line());
    Input {
        authorization: (!authorization.is_empty()).then_some(authorization),
        id,
        secret,
        body: parts.next().unwrap_or_default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let input = split(data);
    // Whatever arrives.
    check_request(input.body, input.authorization.as_deref());
    if let Some(h) = &input.authorization
        && let Ok(c) = parse_basic(h)
    {
        assert_eq!(c.method, AuthMethod::ClientSecretBasic);
        assert!(!c.client_id.is_empty() && !c.client_secret.is_empty());
        let again = parse_basic(&basic_header(&c.client_id, &c.client_secret))
            .expect("a re-encoded accepted credential parses");
        assert_eq!(again, c, "Basic credentials round-trip");
    }

    // Well-formed requests built from the input: both authentication methods.
    if !input.id.is_empty() && !input.secret.is_empty() {
        let header = basic_header(&input.id, &input.secret);
        let c = parse_basic(&header).expect("a correctly encoded Basic header parses");
        assert_eq!(
            (c.client_id.as_str(), c.client_secret.as_str()),
            (&*input.id, &*input.secret)
        );

        let form = [
            ("grant_type", CLIENT_CREDENTIALS),
            ("client_id", input.id.as_str()),
            ("client_secret", input.secret.as_str()),
        ];
        let body = serde_urlencoded::to_string(form).unwrap();
        check_request(body.as_bytes(), None);
        let params = Params::parse(body.as_bytes()).expect("a unique-name form parses");
        let post = client_credentials(None, &params).expect("client_secret_post");
        assert_eq!(post.method, AuthMethod::ClientSecretPost);
        assert_eq!(
            (post.client_id.as_str(), post.client_secret.as_str()),
            (&*input.id, &*input.secret)
        );
        assert!(check_grant_type(&params).is_ok());
        // Both methods at once is a request error, never a silent choice.
        assert_eq!(
            client_credentials(Some(&header), &params).unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
        check_request(body.as_bytes(), Some(&header));
    }
});
