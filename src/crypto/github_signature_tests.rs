//! Unit tests of `github_signature.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::elliptic_curve::rand_core::OsRng;
use p256::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

use super::*;

/// The example of GitHub's partner-program documentation (github/docs, "Validation sample in
/// Python"): a published key, a payload and GitHub's signature of it.
const DOCS_KEY_ID: &str = "90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a";
const DOCS_KEY: &str = "-----BEGIN PUBLIC KEY-----\n\
    MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9MJJHnMfn2+H4xL4YaPDA4RpJqUq\n\
    kCmRCBnYERxZanmcpzQSXs1X/AljlKkbJ8qpVIW4clayyef9gWhFbNHWAA==\n\
    -----END PUBLIC KEY-----\n";
const DOCS_PAYLOAD: &str = r#"[{"token":"some_token","type":"some_type","url":"some_url"}]"#;
const DOCS_SIGNATURE: &str = "MEUCIQDKZokqnCjrRtw0tni+2Ltvl/uiMJ1EGumEsp1BsNr32AIgQY1YXD2nlj+XNfGK4rBfkMJ1JDOQcYXxa2sY8FNkrKc=";

const BODY: &[u8] = br#"[{"token":"acme_0000","type":"latchkey_api_key","url":"https://github.com/o/r/blob/x/f","source":"content"}]"#;

/// A key file as GitHub publishes it, of these keys under these identifiers.
fn key_file(keys: &[(&str, &SigningKey)]) -> Vec<u8> {
    let list: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, (id, key))| {
            let pem = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap();
            json!({"key_identifier": id, "key": pem, "is_current": i == 0})
        })
        .collect();
    serde_json::to_vec(&json!({ "public_keys": list })).unwrap()
}

/// A file of one entry with this PEM text as its key.
fn file_with_key(pem: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"public_keys": [{"key_identifier": "k1", "key": pem, "is_current": true}]}),
    )
    .unwrap()
}

/// A PUBLIC KEY PEM document of these bytes, in lines of 64 characters as PEM wants.
fn pem(der: &[u8]) -> String {
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// `Github-Public-Key-Signature` of `body`: base64 of the DER signature, as GitHub sends it.
fn sign(key: &SigningKey, body: &[u8]) -> String {
    let signature: Signature = key.sign(body);
    STANDARD.encode(signature.to_der())
}

fn problem(json: &[u8]) -> KeyProblem {
    match GithubKeys::parse(json).unwrap_err() {
        KeyFileError::Key {
            key_identifier,
            problem,
        } => {
            assert_eq!(key_identifier, "k1");
            problem
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_example_of_githubs_documentation_verifies() {
    let keys = GithubKeys::parse(
        &serde_json::to_vec(&json!({"public_keys": [
            {"key_identifier": DOCS_KEY_ID, "key": DOCS_KEY, "is_current": true}
        ]}))
        .unwrap(),
    )
    .unwrap();

    assert_eq!(
        keys.verify(DOCS_KEY_ID, DOCS_SIGNATURE, DOCS_PAYLOAD.as_bytes()),
        Ok(())
    );
    let reformatted = DOCS_PAYLOAD.replace(',', ", ");
    assert_eq!(
        keys.verify(DOCS_KEY_ID, DOCS_SIGNATURE, reformatted.as_bytes()),
        Err(SignatureRefused::Mismatch(DOCS_KEY_ID.to_owned()))
    );
}

#[test]
fn a_body_signed_with_a_listed_key_verifies_with_either_key_of_the_file() {
    let (old, current) = (
        SigningKey::random(&mut OsRng),
        SigningKey::random(&mut OsRng),
    );
    let keys = GithubKeys::parse(&key_file(&[("current", &current), ("old", &old)])).unwrap();

    assert_eq!(keys.verify("current", &sign(&current, BODY), BODY), Ok(()));
    assert_eq!(keys.verify("old", &sign(&old, BODY), BODY), Ok(()));
    // Headers arrive with surrounding whitespace at times.
    assert_eq!(
        keys.verify(" current\t", &format!("{}\n", sign(&current, BODY)), BODY),
        Ok(())
    );
    assert_eq!(keys.key_identifiers(), ["current", "old"]);
    assert!(format!("{keys:?}").contains("current"));
}

#[test]
fn the_fixed_64_byte_encoding_is_accepted_too() {
    let key = SigningKey::random(&mut OsRng);
    let keys = GithubKeys::parse(&key_file(&[("k", &key)])).unwrap();
    let signature: Signature = key.sign(BODY);

    let fixed = STANDARD.encode(signature.to_bytes());

    assert_eq!(keys.verify("k", &fixed, BODY), Ok(()));
}

#[test]
fn a_tampered_body_is_refused() {
    let key = SigningKey::random(&mut OsRng);
    let keys = GithubKeys::parse(&key_file(&[("k", &key)])).unwrap();
    let signature = sign(&key, BODY);

    let mut tampered = BODY.to_vec();
    tampered[12] ^= 1;

    for body in [&tampered[..], &BODY[..BODY.len() - 1], b""] {
        assert_eq!(
            keys.verify("k", &signature, body),
            Err(SignatureRefused::Mismatch("k".into()))
        );
    }
}

#[test]
fn an_unknown_identifier_or_another_keys_signature_is_refused() {
    let (listed, other) = (
        SigningKey::random(&mut OsRng),
        SigningKey::random(&mut OsRng),
    );
    let keys = GithubKeys::parse(&key_file(&[("k", &listed)])).unwrap();

    assert_eq!(
        keys.verify("K", &sign(&listed, BODY), BODY),
        Err(SignatureRefused::UnknownKey("K".into()))
    );
    assert_eq!(
        keys.verify("k", &sign(&other, BODY), BODY),
        Err(SignatureRefused::Mismatch("k".into()))
    );
}

#[test]
fn empty_headers_and_garbage_signatures_are_refused() {
    let key = SigningKey::random(&mut OsRng);
    let keys = GithubKeys::parse(&key_file(&[("k", &key)])).unwrap();
    let good = sign(&key, BODY);
    let der = STANDARD.decode(&good).unwrap();

    let cases = [
        ("", good.as_str().to_owned(), SignatureRefused::NoIdentifier),
        ("  ", good.clone(), SignatureRefused::NoIdentifier),
        ("k", String::new(), SignatureRefused::NoSignature),
        ("k", " \t".to_owned(), SignatureRefused::NoSignature),
        ("k", "not base64!".to_owned(), SignatureRefused::NotBase64),
        ("k", format!("{good}=="), SignatureRefused::NotBase64),
        (
            "k",
            STANDARD.encode(b"garbage"),
            SignatureRefused::NotASignature,
        ),
        (
            "k",
            STANDARD.encode(&der[..der.len() - 1]),
            SignatureRefused::NotASignature,
        ),
        (
            "k",
            STANDARD.encode([0u8; 64]),
            SignatureRefused::NotASignature,
        ),
        (
            "k",
            STANDARD.encode([7u8; 65]),
            SignatureRefused::NotASignature,
        ),
    ];
    for (id, signature, refused) in cases {
        assert_eq!(
            keys.verify(id, &signature, BODY),
            Err(refused.clone()),
            "{id:?} {signature:?}"
        );
        assert!(!refused.to_string().is_empty());
    }
}

#[test]
fn a_file_not_of_the_published_shape_is_refused() {
    for text in [
        "",
        "not json",
        "{}",
        "[]",
        r#"{"public_keys": {}}"#,
        r#"{"public_keys": [{"key_identifier": "k1"}]}"#,
        r#"{"public_keys": [{"key_identifier": 7, "key": "x"}]}"#,
    ] {
        let e = GithubKeys::parse(text.as_bytes()).unwrap_err();
        assert!(matches!(e, KeyFileError::Shape(_)), "{text}: {e:?}");
        assert!(e.to_string().contains("public_keys"), "{e}");
    }
}

#[test]
fn a_file_without_keys_or_with_unusable_identifiers_is_refused() {
    let key = SigningKey::random(&mut OsRng);

    assert_eq!(
        GithubKeys::parse(br#"{"public_keys": []}"#).unwrap_err(),
        KeyFileError::NoKeys
    );
    assert_eq!(
        GithubKeys::parse(&key_file(&[("k", &key), (" ", &key)])).unwrap_err(),
        KeyFileError::EmptyIdentifier(1)
    );
    assert_eq!(
        GithubKeys::parse(&key_file(&[("k", &key), ("k", &key)])).unwrap_err(),
        KeyFileError::DuplicateIdentifier("k".into())
    );
}

#[test]
fn keys_that_are_not_pem_p256_public_keys_are_refused_by_name() {
    let key = SigningKey::random(&mut OsRng);
    let private = p256::pkcs8::EncodePrivateKey::to_pkcs8_pem(&key, LineEnding::LF).unwrap();
    // Generated with openssl: a P-384 key, an RSA key, a P-256 key with explicit parameters.
    let p384 = "-----BEGIN PUBLIC KEY-----\n\
        MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEJWSV0rpS0fDBZBCofcUs0CGBcQadiZFY\n\
        fX878x0ZyfWY/IkgbC2TiUPimfwSDrAunY+6BrCzypJHKzDvtwAZm+6Z9l8whUrE\n\
        6W++5obMOXQVbJR9xBediADKDiCtKRBJ\n\
        -----END PUBLIC KEY-----\n";
    let rsa = "-----BEGIN PUBLIC KEY-----\n\
        MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCpBiogVECj2ODQB5jDc5o//IRe\n\
        EJiJ6YzY6HUTJk/7rWzWt3jtzr4OilVTGf380WaOQlYfNhdxFmZyNzp5ElOhn5fV\n\
        f4RPmR88aINARqgiMG1AGrMWtc1iB6jHOQhkMhJh+8Erv1L4Ih4E/OMEYjFZ1CHN\n\
        Mop/FsL5V9bZtL/GWwIDAQAB\n\
        -----END PUBLIC KEY-----\n";
    let ed25519 = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
        -----END PUBLIC KEY-----\n";
    let explicit = "-----BEGIN PUBLIC KEY-----\n\
        MIIBSzCCAQMGByqGSM49AgEwgfcCAQEwLAYHKoZIzj0BAQIhAP////8AAAABAAAA\n\
        AAAAAAAAAAAA////////////////MFsEIP////8AAAABAAAAAAAAAAAAAAAA////\n\
        ///////////8BCBaxjXYqjqT57PrvVV2mIa8ZR0GsMxTsPY7zjw+J9JgSwMVAMSd\n\
        NgiG5wSTamZ44ROdJreBn36QBEEEaxfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5\n\
        RdiYwpZP40Li/hp/m47n60p8D54WK84zV2sxXs7LtkBoN79R9QIhAP////8AAAAA\n\
        //////////+85vqtpxeehPO5ysL8YyVRAgEBA0IABFdLYCTPSEk94CgmAkuyiV/b\n\
        Q8xD/xUDX/A7wZzK8BfoiMfpZ5efhsCwp3If9FluDA1nSQr7QlptdFvcfYyWl6c=\n\
        -----END PUBLIC KEY-----\n";
    // A P-256 key whose point was changed: no longer on the curve.
    let der = key.verifying_key().to_public_key_der().unwrap();
    let mut bytes = der.as_bytes().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let off_curve = pem(&bytes);
    // DER, but a SEQUENCE of one INTEGER; and not DER at all.
    let not_spki = pem(&[0x30, 0x03, 0x02, 0x01, 0x01]);
    let not_der = pem(b"not der");

    let cases = [
        ("", KeyProblem::NotPem),
        ("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE", KeyProblem::NotPem),
        (not_der.as_str(), KeyProblem::NotPem),
        (
            private.as_str(),
            KeyProblem::NotPublicKey("PRIVATE KEY".into()),
        ),
        (not_spki.as_str(), KeyProblem::NotSpki),
        (rsa, KeyProblem::NotEc("1.2.840.113549.1.1.1".into())),
        (ed25519, KeyProblem::NotEc("1.3.101.112".into())),
        (p384, KeyProblem::NotP256(Some("1.3.132.0.34".into()))),
        (explicit, KeyProblem::NotP256(None)),
        (off_curve.as_str(), KeyProblem::BadPoint),
    ];
    for (pem, expected) in cases {
        let found = problem(&file_with_key(pem));
        assert_eq!(found, expected, "{pem}");
        let message = KeyFileError::Key {
            key_identifier: "k1".into(),
            problem: found,
        }
        .to_string();
        assert!(message.starts_with("GitHub key k1: its key"), "{message}");
    }
}
