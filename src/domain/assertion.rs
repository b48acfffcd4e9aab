//! RFC 7523 §3 client assertions (`private_key_jwt`, RFC 7521 §4.2), the claim rules: who may
//! sign for whom, for which audience, for how long, and the `jti` that makes it single-use.
//! Pure; the signature is checked against the key's public keys elsewhere, and the `jti` is
//! remembered across nodes by the caller.
//!
//! Each refusal is one [`AssertionFault`], which says which check failed (the client holds the
//! private key: telling it why costs nothing, and debugging a client assertion without that is
//! miserable).

use serde_json::Value;

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime an assertion may have: `exp` at most this long after `iat` (or now). An
/// hour, as Okta allows and as authlib's `PrivateKeyJWT` signs by default (with no way to ask it
/// for less): five minutes, as first specified, refused stock authlib. A `jti` is single-use
/// whatever the lifetime, so a longer one does not make an assertion reusable.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew allowed between the client and the server, both ways.
pub const LEEWAY_SECS: i64 = 30;
/// Longest `jti` remembered.
pub const MAX_JTI_CHARS: usize = 256;

/// Why a client assertion's claims were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionFault {
    /// Not a JSON object of claims.
    NotClaims,
    /// `iss` is not the client id.
    Issuer,
    /// `sub` is not the client id.
    Subject,
    /// `aud` names neither the token endpoint nor the issuer.
    Audience,
    /// No `exp`, or not a number.
    NoExpiry,
    Expired,
    /// `nbf` or `iat` in the future beyond the leeway.
    NotYetValid,
    /// `exp` more than [`MAX_LIFETIME_SECS`] after `iat` or now.
    TooLong,
    /// No `jti`, or an unusable one.
    Jti,
}

impl AssertionFault {
    /// One sentence for the client's `error_description`.
    pub fn describe(&self) -> String {
        match self {
            AssertionFault::NotClaims => {
                "the client assertion's payload is not a JSON object".into()
            }
            AssertionFault::Issuer => "the client assertion's iss must be the client id".into(),
            AssertionFault::Subject => "the client assertion's sub must be the client id".into(),
            AssertionFault::Audience => {
                "the client assertion's aud must contain the token endpoint URL or the issuer"
                    .into()
            }
            AssertionFault::NoExpiry => "the client assertion has no exp".into(),
            AssertionFault::Expired => "the client assertion has expired".into(),
            AssertionFault::NotYetValid => {
                "the client assertion is not valid yet (nbf or iat in the future)".into()
            }
            AssertionFault::TooLong => format!(
                "the client assertion's exp is more than {MAX_LIFETIME_SECS} s after its iat (or now): ask your library for a shorter assertion"
            ),
            AssertionFault::Jti => format!(
                "the client assertion needs a jti of 1 to {MAX_JTI_CHARS} characters, used once"
            ),
        }
    }
}

/// What a valid assertion leaves to remember: its `jti` until its `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleUse {
    pub jti: String,
    pub exp: i64,
}

/// Checks an assertion's claims for `client_id`, against the audiences the server answers to
/// (its token endpoint URL, its issuer), at `now` (Unix seconds).
pub fn check_claims(
    claims: &Value,
    client_id: &str,
    audiences: &[&str],
    now: i64,
) -> Result<SingleUse, AssertionFault> {
    let Value::Object(claims) = claims else {
        return Err(AssertionFault::NotClaims);
    };
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err(AssertionFault::Issuer);
    }
    if claims.get("sub").and_then(Value::as_str) != Some(client_id) {
        return Err(AssertionFault::Subject);
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.contains(&a.as_str()),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|a| audiences.contains(&a)),
        _ => false,
    };
    if !aud_ok {
        return Err(AssertionFault::Audience);
    }
    let exp = check_times(claims, now)?;
    match claims.get("jti") {
        Some(Value::String(jti)) if (1..=MAX_JTI_CHARS).contains(&jti.chars().count()) => {
            Ok(SingleUse {
                jti: jti.clone(),
                exp,
            })
        }
        _ => Err(AssertionFault::Jti),
    }
}

/// The time claims of an assertion (ours or, for federation, another issuer's): an `exp` not
/// passed, no `nbf` or `iat` in the future, and at most [`MAX_LIFETIME_SECS`] from `iat` (or
/// now) to `exp`, each with [`LEEWAY_SECS`] of clock skew. The `exp`, when they pass.
pub fn check_times(
    claims: &serde_json::Map<String, Value>,
    now: i64,
) -> Result<i64, AssertionFault> {
    let time = |name: &str| claims.get(name).and_then(Value::as_i64);
    let exp = time("exp").ok_or(AssertionFault::NoExpiry)?;
    if exp <= now - LEEWAY_SECS {
        return Err(AssertionFault::Expired);
    }
    let iat = time("iat");
    if [time("nbf"), iat]
        .into_iter()
        .flatten()
        .any(|t| t > now + LEEWAY_SECS)
    {
        return Err(AssertionFault::NotYetValid);
    }
    if exp - iat.unwrap_or(now).min(now) > MAX_LIFETIME_SECS + LEEWAY_SECS {
        return Err(AssertionFault::TooLong);
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const AUD: [&str; 2] = ["https://auth.example/oauth/token", "https://auth.example"];

    fn good() -> Value {
        json!({"iss": "key_a", "sub": "key_a", "aud": AUD[0], "iat": NOW, "exp": NOW + 60, "jti": "j1"})
    }

    fn with(change: Value) -> Value {
        let mut v = good();
        for (k, val) in change.as_object().into_iter().flatten() {
            if val.is_null() {
                v.as_object_mut().map(|o| o.remove(k));
            } else {
                v[k] = val.clone();
            }
        }
        v
    }

    #[test]
    fn a_good_assertion_is_single_use_until_its_exp() {
        assert_eq!(
            check_claims(&good(), "key_a", &AUD, NOW),
            Ok(SingleUse {
                jti: "j1".into(),
                exp: NOW + 60
            })
        );
        // The issuer as audience, in an array among others; no iat at all.
        let v = with(json!({"aud": ["https://other", AUD[1]], "iat": null}));
        assert!(check_claims(&v, "key_a", &AUD, NOW).is_ok());
    }

    #[test]
    fn each_failed_check_is_named() {
        for (change, fault) in [
            (json!({"iss": "key_b"}), AssertionFault::Issuer),
            (json!({"sub": null}), AssertionFault::Subject),
            (
                json!({"aud": "https://auth.example/oauth/introspect"}),
                AssertionFault::Audience,
            ),
            (json!({"aud": [1, 2]}), AssertionFault::Audience),
            (json!({"exp": null}), AssertionFault::NoExpiry),
            (json!({"exp": "soon"}), AssertionFault::NoExpiry),
            (json!({"exp": NOW - LEEWAY_SECS}), AssertionFault::Expired),
            (
                json!({"iat": NOW + LEEWAY_SECS + 1}),
                AssertionFault::NotYetValid,
            ),
            (json!({"nbf": NOW + 3600}), AssertionFault::NotYetValid),
            (
                json!({"exp": NOW + MAX_LIFETIME_SECS + LEEWAY_SECS + 1}),
                AssertionFault::TooLong,
            ),
            (
                json!({"iat": NOW - 3700, "exp": NOW + 60}),
                AssertionFault::TooLong,
            ),
            (json!({"jti": null}), AssertionFault::Jti),
            (json!({"jti": ""}), AssertionFault::Jti),
            (
                json!({"jti": "x".repeat(MAX_JTI_CHARS + 1)}),
                AssertionFault::Jti,
            ),
        ] {
            let v = with(change.clone());
            assert_eq!(
                check_claims(&v, "key_a", &AUD, NOW),
                Err(fault.clone()),
                "{change}"
            );
            assert!(!fault.describe().is_empty());
        }
        assert_eq!(
            check_claims(&json!([1]), "key_a", &AUD, NOW),
            Err(AssertionFault::NotClaims)
        );
    }
}
