//! Verification of an EdDSA access token with a warm key cache: the cost a resource server
//! pays per request. `cargo bench -p latchkey-verify --bench verify`.

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use latchkey_verify::scope::Action;
use latchkey_verify::{Verifier, doc_example};

fn verify(c: &mut Criterion) {
    let Ok(verifier) = Verifier::builder(doc_example::ISSUER)
        .static_jwks(doc_example::JWKS)
        .build()
    else {
        panic!("the doc example's key set builds");
    };
    // A warm cache never awaits: the future is ready at its first poll. The same token each
    // time: after the first, a repeat (as a client reuses its token for its whole life).
    c.bench_function("verify EdDSA, warm cache", |b| {
        b.iter(|| {
            let claims = verifier.verify(doc_example::TOKEN).now_or_never();
            assert!(matches!(claims, Some(Ok(_))));
        })
    });
    c.bench_function("verify EdDSA + allows, warm cache", |b| {
        b.iter(|| {
            let claims = verifier.verify(doc_example::TOKEN).now_or_never();
            assert!(matches!(claims, Some(Ok(c)) if c.allows(Action::Read, "projects/42")));
        })
    });
}

/// The signature check alone, the floor of any verification: ed25519-dalek's strict verify of
/// the same token with the key decoded beforehand.
fn signature_alone(c: &mut Criterion) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).unwrap_or_default();
    let Ok(x) = <[u8; 32]>::try_from(decode("6kpsY-KcUgq-9VB7Ey7F-ZVHdq6-vnuSQh7qaRRG0iw")) else {
        panic!("a 32-byte key");
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&x) else {
        panic!("an Ed25519 key");
    };
    let Some((signed, signature)) = doc_example::TOKEN.rsplit_once('.') else {
        panic!("a JWS");
    };
    let Ok(signature) = <[u8; 64]>::try_from(decode(signature)) else {
        panic!("a 64-byte signature");
    };
    let signature = ed25519_dalek::Signature::from_bytes(&signature);
    c.bench_function("ed25519-dalek verify_strict alone", |b| {
        b.iter(|| assert!(key.verify_strict(signed.as_bytes(), &signature).is_ok()))
    });
}

/// A token seen for the first time: distinct tokens (a new `jti` each), so each verification
/// checks the signature; 50,000 of them, more than the verifier remembers.
fn first_sight(c: &mut Criterion) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
    let jwks = format!(
        r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"bench","alg":"EdDSA"}}]}}"#
    );
    let Ok(der) = signing.to_pkcs8_der() else {
        panic!("a PKCS#8 key");
    };
    let key = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench".into());
    let tokens: Vec<String> = (0..50_000)
        .map(|i| {
            let claims = serde_json::json!({
                "iss": doc_example::ISSUER, "sub": "key_b", "client_id": "key_b", "org_id": "org_b",
                "aud": doc_example::ISSUER, "iat": 1_767_225_600, "exp": 4_102_444_800_i64,
                "jti": format!("bench-{i}.0"), "scope": "read:projects/** write:projects/42",
            });
            jsonwebtoken::encode(&header, &claims, &key).unwrap_or_default()
        })
        .collect();
    let Ok(verifier) = Verifier::builder(doc_example::ISSUER)
        .static_jwks(&jwks)
        .build()
    else {
        panic!("the bench's key set builds");
    };
    let mut next = 0;
    c.bench_function("verify EdDSA, first sight of the token", |b| {
        b.iter(|| {
            next = (next + 1) % tokens.len();
            let claims = verifier.verify(&tokens[next]).now_or_never();
            assert!(matches!(claims, Some(Ok(_))));
        })
    });
}

criterion_group!(benches, verify, first_sight, signature_alone);
criterion_main!(benches);
