//! `--public-key FILE` of `keys create|update` (issue 17): a public key for RFC 7523
//! `private_key_jwt`, read from a JWK file (a JSON object) or a PEM public key (SPKI
//! `-----BEGIN PUBLIC KEY-----`, or PKCS#1 `-----BEGIN RSA PUBLIC KEY-----`) of Ed25519, P-256 or
//! RSA, and turned into the public JWK the API takes. A key without a `kid` gets its RFC 7638
//! thumbprint. Private keys are refused here, before anything is sent: they never leave the
//! client. Whether the key is acceptable (curve, size, members) is the server's judgement
//! (`domain::public_jwk`), reported with the file it came from.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::crypto::signing::{ec_thumbprint, okp_thumbprint, rsa_thumbprint};
use crate::domain::FieldError;
use crate::domain::public_jwk::{KeyKind, PublicJwk};
use crate::service::ServiceError;

/// How to get the public key out of a private one.
const TO_PUBLIC: &str = "openssl pkey -in key.pem -pubout";

/// JWK members only a private key has (as `domain::public_jwk` refuses them).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The public JWKs of `files`, in order.
pub fn read_all(files: &[PathBuf]) -> anyhow::Result<Vec<Value>> {
    files.iter().map(|f| read(f)).collect()
}

/// The public JWK in `path`.
pub fn read(path: &Path) -> anyhow::Result<Value> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| anyhow!("cannot read {shown}: {e}"))?;
    let Ok(text) = String::from_utf8(bytes) else {
        bail!("{shown} is not text: give a PEM public key or a JWK (a JSON object)");
    };
    let trimmed = text.trim_start();
    let jwk = if trimmed.starts_with('{') {
        from_jwk(trimmed).map_err(|e| anyhow!("{shown} {e}"))?
    } else if trimmed.starts_with("-----BEGIN ") {
        from_pem(trimmed).map_err(|e| anyhow!("{shown} {e}"))?
    } else {
        bail!(
            "{shown} is neither a PEM public key (-----BEGIN PUBLIC KEY-----) nor a JWK (a JSON object)"
        );
    };
    Ok(jwk)
}

/// A JWK file: the object as written, with its thumbprint as `kid` when it has none.
fn from_jwk(text: &str) -> Result<Value, String> {
    let mut map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| format!("is not a JWK (a JSON object): {e}"))?;
    if map.contains_key("keys") && !map.contains_key("kty") {
        return Err("is a JWK Set: give one key per file (repeat --public-key)".into());
    }
    let private: Vec<String> = PRIVATE_MEMBERS
        .iter()
        .filter(|m| map.contains_key(**m))
        .map(|m| format!("\"{m}\""))
        .collect();
    if !private.is_empty() {
        return Err(format!(
            "is a private JWK (it has {}), which never leaves the client: give its public key only",
            private.join(", ")
        ));
    }
    if !map.contains_key("kid")
        && let Some(kid) = thumbprint(&map)
    {
        map.insert("kid".into(), Value::String(kid));
    }
    Ok(Value::Object(map))
}

/// The RFC 7638 thumbprint of a JWK whose required members are there.
fn thumbprint(map: &Map<String, Value>) -> Option<String> {
    let member = |name: &str| map.get(name).and_then(Value::as_str);
    match (member("kty")?, member("crv")) {
        ("OKP", Some("Ed25519")) => Some(okp_thumbprint(member("x")?)),
        ("EC", Some("P-256")) => Some(ec_thumbprint(member("x")?, member("y")?)),
        ("RSA", _) => Some(rsa_thumbprint(member("e")?, member("n")?)),
        _ => None,
    }
}

/// A PEM file: its first block, which must be a public key.
fn from_pem(text: &str) -> Result<Value, String> {
    let first = text.lines().next().unwrap_or_default().trim_end();
    let label = first
        .strip_prefix("-----BEGIN ")
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("is not a PEM file: its first line is not -----BEGIN …-----")?;
    if label.contains("PRIVATE KEY") {
        return Err(format!(
            "holds a private key, which never leaves the client: give its public key ({TO_PUBLIC})"
        ));
    }
    if label != "PUBLIC KEY" && label != "RSA PUBLIC KEY" {
        return Err(format!(
            "holds a {label}, not a public key: give -----BEGIN PUBLIC KEY----- ({TO_PUBLIC})"
        ));
    }
    let end = format!("-----END {label}-----");
    let body: String = text
        .lines()
        .skip(1)
        .take_while(|l| l.trim_end() != end)
        .map(str::trim)
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| "is not valid PEM: its body is not base64".to_owned())?;
    if label == "RSA PUBLIC KEY" {
        use rsa::pkcs1::DecodeRsaPublicKey;
        return rsa::RsaPublicKey::from_pkcs1_der(&der)
            .map(|k| rsa_jwk(&k))
            .map_err(|_| "is not a valid PKCS#1 RSA public key".to_owned());
    }
    from_spki(&der)
}

/// A DER `SubjectPublicKeyInfo` of Ed25519, P-256 or RSA, as a public JWK.
fn from_spki(der: &[u8]) -> Result<Value, String> {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        return Ok(json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": okp_thumbprint(&x)}));
    }
    if let Ok(key) = <p256::PublicKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(der) {
        let point = key.to_encoded_point(false);
        if let (Some(x), Some(y)) = (point.x(), point.y()) {
            let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
            let kid = ec_thumbprint(&x, &y);
            return Ok(json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid}));
        }
    }
    if let Ok(key) = <rsa::RsaPublicKey as rsa::pkcs8::DecodePublicKey>::from_public_key_der(der) {
        return Ok(rsa_jwk(&key));
    }
    Err("is not an Ed25519, P-256 or RSA public key".into())
}

/// RFC 7518 §6.3.1: unsigned big-endian in the fewest octets, base64url. No `alg`, so that the
/// key verifies both RS256 and PS256.
fn rsa_jwk(key: &rsa::RsaPublicKey) -> Value {
    use rsa::traits::PublicKeyParts;
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    let kid = rsa_thumbprint(&e, &n);
    json!({"kty": "RSA", "n": n, "e": e, "kid": kid})
}

/// The server's field errors about `public_keys[i]…`, each naming the file key `i` came from.
pub fn name_the_files(e: ServiceError, files: &[PathBuf]) -> ServiceError {
    let name = |errors: Vec<FieldError>| -> Vec<FieldError> {
        errors
            .into_iter()
            .map(|mut error| {
                if let Some(file) = index_in(&error.field).and_then(|i| files.get(i)) {
                    error.message = format!("{} (in {})", error.message, file.display());
                }
                error
            })
            .collect()
    };
    match e {
        ServiceError::Validation(errors) => ServiceError::Validation(name(errors)),
        ServiceError::Escalation(errors) => ServiceError::Escalation(name(errors)),
        other => other,
    }
}

/// `i` of a field `public_keys[i]…`.
fn index_in(field: &str) -> Option<usize> {
    let rest = field.strip_prefix("public_keys[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// `KID (Ed25519)`, `KID (RSA 2048)`: a public key, for people.
pub fn describe(key: &PublicJwk) -> String {
    let kind = match key.kind {
        KeyKind::Ed25519 => "Ed25519".to_owned(),
        KeyKind::P256 => "P-256".to_owned(),
        KeyKind::Rsa(bits) => format!("RSA {bits}"),
    };
    match key.alg {
        Some(alg) => format!("{} ({kind}, {} only)", key.kid, alg.as_str()),
        None => format!("{} ({kind})", key.kid),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 8037 appendix A.2's public key, as `openssl pkey -pubout` writes it.
    const RFC_8037_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn an_ed25519_pem_becomes_the_rfc_8037_jwk_with_its_thumbprint_kid() {
        let jwk = from_pem(RFC_8037_PEM).unwrap();
        assert_eq!(
            jwk,
            json!({"kty": "OKP", "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"})
        );
    }

    #[test]
    fn private_keys_and_other_blocks_are_refused_by_name() {
        for label in [
            "PRIVATE KEY",
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
        ] {
            let text = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
            let e = from_pem(&text).unwrap_err();
            assert!(e.contains("private key") && e.contains(TO_PUBLIC), "{e}");
        }
        let e =
            from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").unwrap_err();
        assert!(e.contains("CERTIFICATE"), "{e}");
        let e = from_jwk(r#"{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}"#).unwrap_err();
        assert!(e.contains("\"d\""), "{e}");
        let e = from_jwk(r#"{"keys":[]}"#).unwrap_err();
        assert!(e.contains("JWK Set"), "{e}");
    }

    #[test]
    fn field_errors_about_a_public_key_name_its_file() {
        let files = [PathBuf::from("a.pem"), PathBuf::from("b.jwk")];
        let e = ServiceError::Validation(vec![
            FieldError::new("public_keys[1].kid", "is taken"),
            FieldError::new("name", "is empty"),
        ]);
        let ServiceError::Validation(errors) = name_the_files(e, &files) else {
            panic!()
        };
        assert_eq!(errors[0].message, "is taken (in b.jwk)");
        assert_eq!(errors[1].message, "is empty");
    }
}
