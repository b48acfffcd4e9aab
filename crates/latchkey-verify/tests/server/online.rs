//! Online mode: `/v1/check` asked per request, revocation at once.

use std::time::Duration;

use latchkey_verify::scope::Action;
use latchkey_verify::{AuthzError, FailMode, OnlineCheck, VerifyError};
use serde_json::json;

use crate::helpers::{Proxy, spawn};

#[tokio::test]
async fn online_mode_refuses_a_revoked_keys_token_at_once() {
    let server = spawn().await;
    let (_, api_secret) = server.create_key(json!(["read:nothing"])).await;
    let check = OnlineCheck::new(api_secret, FailMode::Closed).positive_ttl(Duration::ZERO);
    let verifier = server.verifier().online(check).build().unwrap();
    let (id, secret) = server.create_key(json!(["read:projects/**"])).await;
    let token = server.token_for(&id, &secret).await;
    verifier
        .authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();

    server.revoke(&id).await;
    let refused = verifier
        .authorize(&token, Action::Read, "projects/1", None)
        .await;
    assert!(
        matches!(&refused, Err(AuthzError::Token(VerifyError::Refused(r))) if r == "revoked"),
        "{refused:?}"
    );
    // Offline, the same token still verifies (until its exp).
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_allowed_answer_is_reused_for_its_ttl_only() {
    let server = spawn().await;
    let (_, api_secret) = server.create_key(json!(["read:nothing"])).await;
    let check =
        OnlineCheck::new(api_secret, FailMode::Closed).positive_ttl(Duration::from_millis(800));
    let verifier = server.verifier().online(check).build().unwrap();
    let (id, secret) = server.create_key(json!(["read:projects/**"])).await;
    let token = server.token_for(&id, &secret).await;
    verifier
        .authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();
    server.revoke(&id).await;
    verifier
        .authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        verifier
            .authorize(&token, Action::Read, "projects/1", None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_scope_is_checked_locally_before_asking() {
    let server = spawn().await;
    // A secret the server refuses: any question asked would fail closed with 503.
    let check = OnlineCheck::new("lk_wrong", FailMode::Closed);
    let verifier = server.verifier().online(check).build().unwrap();
    let (id, secret) = server.create_key(json!(["read:projects/*"])).await;
    let token = server.token_for(&id, &secret).await;
    let refused = verifier
        .authorize(&token, Action::Write, "projects/1", None)
        .await;
    assert!(
        matches!(&refused, Err(AuthzError::InsufficientScope { scope }) if scope == "write:projects/1")
    );
    let unasked = verifier
        .authorize(&token, Action::Read, "projects/1", None)
        .await;
    assert!(
        matches!(
            &unasked,
            Err(AuthzError::Token(VerifyError::Unavailable(_)))
        ),
        "{unasked:?}"
    );
}

#[tokio::test]
async fn fail_open_allows_on_local_verification_when_latchkey_is_down_and_fail_closed_refuses() {
    let server = spawn().await;
    let proxy = Proxy::start(&server.address).await;
    let (_, api_secret) = server.create_key(json!(["read:nothing"])).await;
    let (id, secret) = server.create_key(json!(["read:projects/**"])).await;
    let token = server.token_for(&id, &secret).await;
    let endpoint = format!("{}/v1/check", proxy.address);
    let open = server
        .verifier()
        .online(
            OnlineCheck::new(&api_secret, FailMode::Open)
                .endpoint(&endpoint)
                .positive_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    let closed = server
        .verifier()
        .online(
            OnlineCheck::new(&api_secret, FailMode::Closed)
                .endpoint(&endpoint)
                .positive_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    open.authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();
    closed
        .authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();
    proxy.set_up(false);
    open.authorize(&token, Action::Read, "projects/1", None)
        .await
        .unwrap();
    let refused = closed
        .authorize(&token, Action::Read, "projects/1", None)
        .await;
    assert!(
        matches!(
            &refused,
            Err(AuthzError::Token(VerifyError::Unavailable(_)))
        ),
        "{refused:?}"
    );
}
