//! The JWKS cache against the real server: outages and floods of unknown kids.

use std::time::Duration;

use futures_util::future::join_all;
use latchkey_verify::{CachePolicy, FetchError, Verifier, VerifyError};

use crate::helpers::{Proxy, kid, spawn};
use crate::tokens::b64;

#[tokio::test]
async fn cached_keys_keep_working_while_the_jwks_is_down_then_a_clear_error() {
    let server = spawn().await;
    let proxy = Proxy::start(&server.address).await;
    let policy = CachePolicy {
        min_ttl: Duration::from_secs(1),
        max_ttl: Duration::from_secs(1),
        stale_for: Duration::from_secs(2),
        ..CachePolicy::default()
    };
    let verifier = Verifier::builder(&server.address)
        .jwks_url(format!("{}/.well-known/jwks.json", proxy.address))
        .cache_policy(policy)
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let token = server.admin_token().await;
    verifier.verify(&token).await.unwrap();

    proxy.set_up(false);
    // Past freshness, within stale-if-error: the fetch fails, the cached key verifies.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    verifier.verify(&token).await.unwrap();
    // Past the bound: refused, saying why.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(&err, VerifyError::Unavailable(e) if matches!(**e, FetchError::Unreachable(_))),
        "{err}"
    );
    assert!(!err.is_token_error());
    assert!(
        err.to_string()
            .starts_with("the signing keys are unavailable: unreachable"),
        "{err}"
    );

    proxy.set_up(true);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_verifier_that_never_reached_the_jwks_says_so() {
    let server = spawn().await;
    let proxy = Proxy::start(&server.address).await;
    proxy.set_up(false);
    let verifier = Verifier::builder(&server.address)
        .jwks_url(format!("{}/.well-known/jwks.json", proxy.address))
        .build()
        .unwrap();
    let err = verifier
        .verify(&server.admin_token().await)
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::Unavailable(_)), "{err}");
    assert!(verifier.refresh().await.is_err());
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_a_handful_of_jwks_fetches() {
    let server = spawn().await;
    let verifier = server.verifier().build().unwrap();
    let token = server.admin_token().await;
    verifier.verify(&token).await.unwrap();
    let before = server.requests_to("/.well-known/jwks.json").await;
    let (_, rest) = token.split_once('.').unwrap();
    let forged: Vec<String> = (0..1000)
        .map(|i| {
            let header = serde_json::json!({"alg": "EdDSA", "typ": "at+jwt", "kid": format!("random-{i}-{}", kid(&token))});
            format!("{}.{rest}", b64(&header.to_string()))
        })
        .collect();
    let started = std::time::Instant::now();
    // Half at once (single flight), half one after the other.
    let results = join_all(forged[..500].iter().map(|t| verifier.verify(t))).await;
    for t in &forged[500..] {
        assert!(matches!(
            verifier.verify(t).await,
            Err(VerifyError::UnknownKey)
        ));
    }
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(VerifyError::UnknownKey)))
    );
    let seconds = started.elapsed().as_secs() + 1;
    let fetched = server.requests_to("/.well-known/jwks.json").await - before;
    assert!(
        fetched <= seconds.min(5),
        "{fetched} fetches in {seconds} s"
    );
    assert!(verifier.jwks_fetches() <= 1 + seconds.min(5));
    // The real key still verifies.
    verifier.verify(&token).await.unwrap();
}
