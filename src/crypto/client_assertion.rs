//! The signature of an RFC 7523 client assertion, checked against the public keys the client's
//! key holds (`domain::public_jwk`). The claims are the domain's (`domain::assertion`).
//!
//! The header is read by hand before jsonwebtoken sees the token, so that an algorithm outside
//! the allowed four (`none`, any HMAC: "HS256 with the public key as the secret") is refused by
//! name, and the key is chosen by `kid` and must itself allow the algorithm (RFC 8725 §3.1: the
//! key decides the algorithm, never the token alone).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::domain::public_jwk::{AssertionAlg, KeyKind, PublicJwk};

/// Why an assertion's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureFault {
    /// Not a compact JWS with a JSON header.
    Malformed,
    /// `alg` is not EdDSA, ES256, RS256 or PS256 (the header's value, for the message).
    Algorithm(String),
    /// No key of the client has this `kid` (or, without a `kid`, none takes the algorithm).
    UnknownKey,
    /// The key named does not sign with the header's algorithm.
    KeyAlgorithm,
    /// `typ: at+jwt`: an access token (this server's, or another's), never a client assertion
    /// (RFC 8725 §3.11: a JWT of one kind must not pass for another).
    AccessToken,
    BadSignature,
}

impl SignatureFault {
    pub fn describe(&self) -> String {
        match self {
            SignatureFault::Malformed => "the client assertion is not a compact JWS".into(),
            SignatureFault::Algorithm(alg) => format!(
                "the client assertion's alg `{alg}` is not allowed: use EdDSA, ES256, RS256 or PS256"
            ),
            SignatureFault::UnknownKey => {
                "no public key of this client has the client assertion's kid".into()
            }
            SignatureFault::KeyAlgorithm => {
                "the client assertion's alg is not one its key signs with".into()
            }
            SignatureFault::AccessToken => {
                "an access token (typ at+jwt) is not a client assertion".into()
            }
            SignatureFault::BadSignature => {
                "the client assertion's signature does not verify".into()
            }
        }
    }
}

/// The `kid` of a token's header, unverified: which key of a fetched set it wants.
pub fn kid(token: &str) -> Option<String> {
    header(token).ok()?.1
}

/// The assertion's claims once its signature verifies with one of `keys`.
pub fn verify(token: &str, keys: &[PublicJwk]) -> Result<Value, SignatureFault> {
    let (alg_text, kid) = header(token)?;
    let alg = AssertionAlg::parse(&alg_text).ok_or(SignatureFault::Algorithm(alg_text))?;
    let candidates: Vec<&PublicJwk> = match &kid {
        Some(kid) => keys.iter().filter(|k| &k.kid == kid).collect(),
        None => keys.iter().filter(|k| k.kind.allows(alg)).collect(),
    };
    if candidates.is_empty() {
        return Err(SignatureFault::UnknownKey);
    }
    let mut fault = SignatureFault::KeyAlgorithm;
    for key in candidates {
        if !key.accepts(alg) {
            continue;
        }
        match check(token, key, alg) {
            Ok(claims) => return Ok(claims),
            Err(f) => fault = f,
        }
    }
    Err(fault)
}

/// Ed25519 by hand (ed25519-dalek's strict verification, as jsonwebtoken's own EdDSA verifier
/// does): jsonwebtoken refuses a header whose `alg` is RFC 9864's `Ed25519`, which WebCrypto
/// clients send, before it looks at the signature.
fn check_ed25519(token: &str, key: &PublicJwk) -> Result<Value, SignatureFault> {
    let x = key.jwk.get("x").and_then(Value::as_str).unwrap_or_default();
    let public: [u8; 32] = URL_SAFE_NO_PAD
        .decode(x)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureFault::BadSignature)?;
    let verifying = ed25519_dalek::VerifyingKey::from_bytes(&public)
        .map_err(|_| SignatureFault::BadSignature)?;
    let (signed, signature) = token.rsplit_once('.').ok_or(SignatureFault::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureFault::BadSignature)?;
    verifying
        .verify_strict(
            signed.as_bytes(),
            &ed25519_dalek::Signature::from_bytes(&signature),
        )
        .map_err(|_| SignatureFault::BadSignature)?;
    let payload = signed.split('.').nth(1).ok_or(SignatureFault::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| SignatureFault::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| SignatureFault::Malformed)
}

/// `alg` and `kid` of the JWS header; an access token (`typ: at+jwt`) goes no further.
fn header(token: &str) -> Result<(String, Option<String>), SignatureFault> {
    let encoded = token.split('.').next().ok_or(SignatureFault::Malformed)?;
    if token.split('.').count() != 3 {
        return Err(SignatureFault::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| SignatureFault::Malformed)?;
    let header: Value = serde_json::from_slice(&bytes).map_err(|_| SignatureFault::Malformed)?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(SignatureFault::Malformed)?
        .to_owned();
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt") {
        return Err(SignatureFault::AccessToken);
    }
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok((alg, kid))
}

fn check(token: &str, key: &PublicJwk, alg: AssertionAlg) -> Result<Value, SignatureFault> {
    if key.kind == KeyKind::Ed25519 {
        return check_ed25519(token, key);
    }
    super::jwt_provider::install();
    let member = |name: &str| {
        key.jwk
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let decoding = match key.kind {
        KeyKind::Ed25519 => DecodingKey::from_ed_components(member("x")),
        KeyKind::P256 => DecodingKey::from_ec_components(member("x"), member("y")),
        KeyKind::Rsa(_) => DecodingKey::from_rsa_components(member("n"), member("e")),
    }
    .map_err(|_| SignatureFault::BadSignature)?;
    let algorithm = match alg {
        AssertionAlg::EdDSA => Algorithm::EdDSA,
        AssertionAlg::ES256 => Algorithm::ES256,
        AssertionAlg::RS256 => Algorithm::RS256,
        AssertionAlg::PS256 => Algorithm::PS256,
    };
    // The signature only: every claim is `domain::assertion`'s to check, on the request's clock.
    let mut validation = Validation::new(algorithm);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &decoding, &validation)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => SignatureFault::BadSignature,
            _ => SignatureFault::Malformed,
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::crypto::signing::{SigningAlg, generate};
    use crate::domain::public_jwk::check_public_keys;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    struct Client {
        keys: Vec<PublicJwk>,
        private: Vec<(String, SigningAlg, Vec<u8>)>,
    }

    fn client() -> Client {
        let mut jwks = Vec::new();
        let mut private = Vec::new();
        for alg in [SigningAlg::EdDsa, SigningAlg::Es256, SigningAlg::Rs256] {
            let g = generate(alg).unwrap();
            let mut jwk: Value = serde_json::from_str(&g.public_jwk).unwrap();
            // Not pinned: an RSA key then verifies RS256 and PS256 alike.
            jwk.as_object_mut().unwrap().remove("alg");
            jwks.push(jwk);
            private.push((g.kid.clone(), alg, g.private_pkcs8.clone()));
        }
        let mut errors = Vec::new();
        let keys = check_public_keys(&Value::Array(jwks), &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        Client { keys, private }
    }

    fn sign(kid: Option<&str>, alg: Algorithm, der: &[u8], family: SigningAlg) -> String {
        let key = match family {
            SigningAlg::EdDsa => EncodingKey::from_ed_der(der),
            SigningAlg::Es256 => EncodingKey::from_ec_der(der),
            SigningAlg::Rs256 => {
                let pkcs1 = crate::crypto::signing::rsa_pkcs1_from_pkcs8(der).unwrap();
                EncodingKey::from_rsa_der(&pkcs1)
            }
        };
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, &json!({"iss": "key_a", "jti": "1"}), &key).unwrap()
    }

    #[test]
    fn an_access_token_is_never_a_client_assertion() {
        let c = client();
        let (kid, family, der) = &c.private[0];
        let key = EncodingKey::from_ed_der(der);
        for typ in ["at+jwt", "AT+JWT", "application/at+jwt"] {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.clone());
            header.typ = Some(typ.to_owned());
            let token = jsonwebtoken::encode(&header, &json!({"iss": "key_a"}), &key).unwrap();
            assert_eq!(
                verify(&token, &c.keys),
                Err(SignatureFault::AccessToken),
                "{typ}"
            );
        }
        assert_eq!(*family, SigningAlg::EdDsa);
    }

    #[test]
    fn each_key_type_verifies_its_algorithms_and_only_them() {
        let c = client();
        for (kid, family, der) in &c.private {
            let algs: &[Algorithm] = match family {
                SigningAlg::EdDsa => &[Algorithm::EdDSA],
                SigningAlg::Es256 => &[Algorithm::ES256],
                SigningAlg::Rs256 => &[Algorithm::RS256, Algorithm::PS256],
            };
            for alg in algs {
                let token = sign(Some(kid), *alg, der, *family);
                assert_eq!(verify(&token, &c.keys).unwrap()["iss"], "key_a", "{alg:?}");
                // Without a kid, the key is found by what it signs with.
                let token = sign(None, *alg, der, *family);
                assert!(verify(&token, &c.keys).is_ok(), "{alg:?} without kid");
            }
        }
        // RFC 9864's `Ed25519` for EdDSA, as WebCrypto clients send it.
        let (ed_kid, _, ed_der) = &c.private[0];
        let eddsa = sign(Some(ed_kid), Algorithm::EdDSA, ed_der, SigningAlg::EdDsa);
        let (h, rest) = eddsa.split_once('.').unwrap();
        let mut header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
        header["alg"] = json!("Ed25519");
        let relabelled = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
        // The signature covers the header: relabelled, it no longer verifies...
        assert_eq!(
            verify(&relabelled, &c.keys),
            Err(SignatureFault::BadSignature)
        );
        // ...but one signed over the `Ed25519` header does.
        let signing = crate::crypto::signing::ed25519_from_pkcs8(ed_der).unwrap();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            rest.split('.').next().unwrap()
        );
        let sig = ed25519_dalek::Signer::sign(&signing, signed.as_bytes());
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()));
        assert_eq!(verify(&token, &c.keys).unwrap()["iss"], "key_a");
        // A key whose JWK pins RS256 refuses PS256.
        let (rsa_kid, _, rsa_der) = &c.private[2];
        let mut pinned = c.keys.clone();
        pinned[2].alg = Some(AssertionAlg::RS256);
        let ps = sign(Some(rsa_kid), Algorithm::PS256, rsa_der, SigningAlg::Rs256);
        assert_eq!(verify(&ps, &pinned), Err(SignatureFault::KeyAlgorithm));
        // The RSA key's kid on an Ed25519 signature: the key does not sign with EdDSA.
        let (_, _, ed_der) = &c.private[0];
        let token = sign(Some(rsa_kid), Algorithm::EdDSA, ed_der, SigningAlg::EdDsa);
        assert_eq!(verify(&token, &c.keys), Err(SignatureFault::KeyAlgorithm));
    }

    #[test]
    fn none_hmac_unknown_keys_and_tampering_are_refused() {
        let c = client();
        let (kid, family, der) = &c.private[0];
        let good = sign(Some(kid), Algorithm::EdDSA, der, *family);
        let parts: Vec<&str> = good.split('.').collect();
        // alg none, with or without a signature.
        let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{kid}"}}"#));
        assert_eq!(
            verify(&format!("{none}.{}.", parts[1]), &c.keys),
            Err(SignatureFault::Algorithm("none".into()))
        );
        // HS256 keyed with the public key's bytes.
        let x = c.keys[0].jwk["x"].as_str().unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.clone());
        let hs = jsonwebtoken::encode(
            &header,
            &json!({"iss": "key_a"}),
            &EncodingKey::from_secret(x.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verify(&hs, &c.keys),
            Err(SignatureFault::Algorithm("HS256".into()))
        );
        let other = sign(Some("nobody"), Algorithm::EdDSA, der, *family);
        assert_eq!(verify(&other, &c.keys), Err(SignatureFault::UnknownKey));
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(r#"{"iss":"key_b"}"#),
            parts[2]
        );
        assert_eq!(verify(&forged, &c.keys), Err(SignatureFault::BadSignature));
        for junk in [
            "",
            "a.b",
            "a.b.c",
            "..",
            &format!("{}.{}", parts[0], parts[1]),
        ] {
            assert_eq!(
                verify(junk, &c.keys),
                Err(SignatureFault::Malformed),
                "{junk}"
            );
        }
        assert!(
            !SignatureFault::Algorithm("none".into())
                .describe()
                .is_empty()
        );
    }
}
