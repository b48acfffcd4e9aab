//! Tokens of every algorithm, rotations with a warm cache, expiry.

use std::time::Duration;

use latchkey_verify::VerifyError;
use latchkey_verify::scope::Action;
use serde_json::json;

use crate::helpers::{kid, short_windows, spawn, spawn_with};

#[tokio::test]
async fn tokens_of_every_algorithm_verify_through_discovery() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    for alg in ["EdDSA", "RS256", "ES256"] {
        if alg != "EdDSA" {
            let (status, v) = server.rotate(json!({"alg": alg, "immediate": true})).await;
            assert_eq!(status, 201, "{v}");
            // An unknown kid refetches at most once a second after the last fetch.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let token = server.admin_token().await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims.sub, server.admin_key_id);
        assert_eq!(claims.client_id, server.admin_key_id);
        assert_eq!(claims.iss, server.address);
        assert_eq!(claims.aud, vec![server.address.clone()]);
        assert!(claims.exp > claims.iat);
        assert!(!claims.org_id.is_empty() && !claims.jti.is_empty());
        assert!(claims.allows(Action::Admin, "keys/anything"), "{alg}: *:*");
    }
}

#[tokio::test]
async fn a_token_for_another_audience_or_issuer_is_refused() {
    let server = spawn().await;
    let token = server.admin_token().await;
    let other_aud = server
        .verifier()
        .audience("https://api.example.com")
        .build()
        .unwrap();
    assert!(matches!(
        other_aud.verify(&token).await,
        Err(VerifyError::WrongAudience)
    ));
    // Another issuer: discovery itself refuses (RFC 8414 §3.3), so no key is trusted.
    let other_iss = latchkey_verify::Verifier::builder(format!("{}/", server.address))
        .jwks_url(server.url("/.well-known/jwks.json"))
        .audience(&server.address)
        .build()
        .unwrap();
    assert!(matches!(
        other_iss.verify(&token).await,
        Err(VerifyError::WrongIssuer)
    ));
}

#[tokio::test]
async fn a_promotion_needs_no_fetch_as_the_next_key_was_published_before_it_signs() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    verifier.verify(&server.admin_token().await).await.unwrap();
    let fetches = verifier.jwks_fetches();
    let (status, v) = server.rotate(json!({})).await;
    assert_eq!(status, 201, "{v}");
    let token = server.admin_token().await;
    assert_eq!(kid(&token), v["signing_key"]["kid"].as_str().unwrap());
    verifier.verify(&token).await.unwrap();
    assert_eq!(
        verifier.jwks_fetches(),
        fetches,
        "the warm cache had the key"
    );
}

#[tokio::test]
async fn a_staged_rotation_to_another_algorithm_never_refuses_a_token() {
    let server = spawn_with(short_windows).await;
    let verifier = server.verifier().build().unwrap();
    verifier.verify(&server.admin_token().await).await.unwrap();
    let (status, v) = server.rotate(json!({"alg": "ES256"})).await;
    assert_eq!(status, 202, "{v}");
    let staged = v["next"]["kid"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let token = server.admin_token().await;
        verifier.verify(&token).await.unwrap();
        if kid(&token) == staged {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the staged key never signed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn an_immediate_rotation_is_picked_up_by_one_refetch() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    let before = server.admin_token().await;
    verifier.verify(&before).await.unwrap();
    let fetches = verifier.jwks_fetches();
    let (status, v) = server.rotate(json!({"immediate": true})).await;
    assert_eq!(status, 201, "{v}");
    // The refetch on an unknown kid is allowed once a second after the last fetch.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&server.admin_token().await).await.unwrap();
    assert_eq!(verifier.jwks_fetches(), fetches + 1);
    verifier.verify(&before).await.unwrap();
}

#[tokio::test]
async fn a_revoked_keys_token_is_refused_offline_at_its_exp() {
    let server = spawn_with(|s| s.token_ttl = Duration::from_secs(2)).await;
    let verifier = server.verifier().leeway(Duration::ZERO).build().unwrap();
    let (id, secret) = server.create_key(json!(["read:projects/**"])).await;
    let token = server.token_for(&id, &secret).await;
    server.revoke(&id).await;
    let claims = verifier.verify(&token).await.unwrap();
    assert!(
        claims.allows(Action::Read, "projects/1"),
        "offline: valid until exp"
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(matches!(
        verifier.verify(&token).await,
        Err(VerifyError::Expired)
    ));
}

#[tokio::test]
async fn a_token_signed_with_another_algorithm_than_its_keys_is_refused() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    let token = server.admin_token().await;
    // Same kid, header claiming HS256: the key (EdDSA) decides.
    let (_, rest) = token.split_once('.').unwrap();
    let header = serde_json::json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(&token)});
    let forged = format!("{}.{rest}", b64(&header.to_string()));
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(VerifyError::WrongAlgorithm)
    ));
    // Not an access token.
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid(&token)});
    let forged = format!("{}.{rest}", b64(&header.to_string()));
    assert!(matches!(
        verifier.verify(&forged).await,
        Err(VerifyError::NotAnAccessToken)
    ));
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}
