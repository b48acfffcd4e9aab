//! The pre-published next signing key (issue 15, finding 1): verifiers cache the JWKS for its
//! `max-age`, so a key is in the JWKS for that long before it signs. A promotion signs with a key
//! published since the last rotation; a rotation to another algorithm is staged and every node
//! switches at its `activates_at` with no write then; an immediate rotation is the one exception.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use latchkey::config::Settings;
use serde_json::{Value, json};

use crate::cache::second_node_with;
use crate::helpers::{TestApp, sleep_until, spawn_app, spawn_app_with, status_json, time};
use crate::signing_keys::{ROTATE, jwks, jwks_kids, listing, rotate};

/// A verifier that caches the JWKS (as Auth0's express-oauth2-jwt-bearer and oauth4webapi do):
/// `copy` is what it fetched earlier; it verifies `token` with it alone.
fn verify_with_copy(app: &TestApp, copy: &JwkSet, token: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = copy
        .find(&kid)
        .ok_or_else(|| format!("kid {kid} is not in the cached JWKS"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[&app.address]);
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|t| t.claims)
        .map_err(|e| e.to_string())
}

/// A token of the default org's admin from `node` (any node of the app).
async fn admin_token(app: &TestApp, node: &TestApp) -> String {
    let r = node
        .client
        .post(node.url("/oauth/token"))
        .basic_auth(&app.admin_key_id, Some(&app.admin_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn cached_jwks(app: &TestApp) -> JwkSet {
    serde_json::from_value(jwks(app).await).unwrap()
}

/// Short windows for the staged path: JWKS max-age 2 s and rotation leeway 2 s (at least the
/// 1 s key refresh), so a staged key signs 4 s after the rotation.
fn short_windows(s: &mut Settings) {
    s.jwks_max_age = Duration::from_secs(2);
    s.rotation_leeway = Duration::from_secs(2);
}

const STAGED_AFTER: TimeDelta = TimeDelta::seconds(4);

/// `(kid, status, activates_at, retired_at, unpublish_at)` of each listed key.
fn rows(listed: &Value) -> Vec<(String, String, Value, Value, Value)> {
    listed["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap().to_owned(),
                k["activates_at"].clone(),
                k["retired_at"].clone(),
                k["unpublish_at"].clone(),
            )
        })
        .collect()
}

fn statuses(listed: &Value) -> Vec<String> {
    rows(listed).into_iter().map(|r| r.1).collect()
}

async fn rotation_audit(app: &TestApp) -> Vec<Value> {
    let (status, v) = status_json(
        app.get(
            "/v1/audit?action=signing_key.rotated&limit=200",
            &app.admin_secret,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().clone()
}

backend_tests! {
async fn a_token_signed_right_after_a_rotation_verifies_against_a_jwks_fetched_before_it(backend) {
    let app = spawn_app(backend).await;
    let copy = cached_jwks(&app).await;
    let (status, rotated) = rotate(&app, &app.admin_secret, None).await;
    assert_eq!(status, 201, "{rotated}");
    let token = admin_token(&app, &app).await;
    assert_eq!(kid(&token), rotated["signing_key"]["kid"].as_str().unwrap());
    verify_with_copy(&app, &copy, &token).unwrap();
    // And the new next key is published at once, ready for the rotation after.
    assert!(jwks_kids(&jwks(&app).await).contains(&rotated["next"]["kid"].as_str().unwrap().to_owned()));
}

async fn a_staged_key_signs_at_its_activation_on_two_nodes_with_no_write_then(backend) {
    let a = spawn_app_with(backend, short_windows).await;
    let b = second_node_with(&a, backend, short_windows).await;
    let old_kid = kid(&admin_token(&a, &b).await);
    let copy_before = cached_jwks(&a).await;
    let copy_before_received = Utc::now();

    let before = Utc::now();
    let (status, staged) = rotate(&a, &a.admin_secret, Some(json!({"alg": "ES256"}))).await;
    let after = Utc::now();
    assert_eq!(status, 202, "{staged}");
    let members: Vec<&String> = staged.as_object().unwrap().keys().collect();
    assert_eq!(members, ["next"]);
    let next = &staged["next"];
    let staged_kid = next["kid"].as_str().unwrap().to_owned();
    assert_eq!((next["alg"].as_str(), next["status"].as_str()), (Some("ES256"), Some("next")));
    let activates_at = time(&next["activates_at"]);
    assert!(
        before + STAGED_AFTER <= activates_at && activates_at <= after + STAGED_AFTER,
        "max-age + leeway after the rotation: {activates_at}"
    );
    // The verifier's copy from before the staging expires before the staged key signs.
    assert!(copy_before_received + TimeDelta::seconds(2) <= activates_at);

    // Published on both nodes (B within its 1 s key refresh); neither signs with it yet.
    let start = Instant::now();
    while !jwks_kids(&jwks(&b).await).contains(&staged_kid) {
        assert!(start.elapsed() < Duration::from_secs(3), "B does not publish the staged key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(jwks_kids(&jwks(&a).await).contains(&staged_kid));
    let copy_from_b = cached_jwks(&b).await;
    assert!(Utc::now() < activates_at - TimeDelta::milliseconds(500), "the machine is too slow");
    for node in [&a, &b] {
        assert_eq!(kid(&admin_token(&a, node).await), old_kid);
    }
    let (_, listed) = listing(&a, &a.admin_secret).await;
    let audited = rotation_audit(&a).await.len();

    // At `activates_at` both nodes sign with the staged key, by the clock alone.
    sleep_until(activates_at).await;
    for node in [&a, &b] {
        let token = admin_token(&a, node).await;
        assert_eq!(kid(&token), staged_kid, "{}", node.address);
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
        // A verifier holding a copy fetched before the switch knows the key.
        verify_with_copy(&a, &copy_from_b, &token).unwrap();
        assert!(verify_with_copy(&a, &copy_before, &token).is_err(), "that copy had expired");
    }
    // Nothing was written at that moment: the same rows, read at another time.
    let (_, later) = listing(&a, &a.admin_secret).await;
    let unchanged = |r: Vec<(String, String, Value, Value, Value)>| -> Vec<_> {
        r.into_iter().map(|(kid, _, x, y, z)| (kid, x, y, z)).collect()
    };
    assert_eq!(unchanged(rows(&later)), unchanged(rows(&listed)));
    assert_eq!(rotation_audit(&a).await.len(), audited);
    // The old key retired at that instant, and stays published for TTL + leeway from it.
    let old = later["signing_keys"].as_array().unwrap().iter().find(|k| k["kid"] == old_kid.as_str()).unwrap().clone();
    assert_eq!(old["status"], "retired");
    assert_eq!(time(&old["retired_at"]), activates_at);
    assert_eq!(time(&old["unpublish_at"]), activates_at + TimeDelta::seconds(600 + 2));
    assert!(jwks_kids(&jwks(&b).await).contains(&old_kid));
    // The next key published with the staged one is the org's next key now.
    let next_keys: Vec<&Value> = later["signing_keys"].as_array().unwrap().iter().filter(|k| k["status"] == "next").collect();
    assert_eq!(next_keys.len(), 1, "{later}");
    assert_eq!((next_keys[0]["alg"].as_str(), next_keys[0]["activates_at"].is_null()), (Some("ES256"), true));
}

/// Another node serves a JWKS without the staged key until its next key refresh, and a verifier
/// may keep that copy for `max-age`: the staged key must not sign before that copy expires, so
/// it signs `max-age` + leeway after the rotation, not `max-age` after.
async fn a_jwks_copy_from_a_node_that_had_not_loaded_the_staged_key_expires_before_it_signs(backend) {
    let a = spawn_app_with(backend, short_windows).await;
    let b = second_node_with(&a, backend, short_windows).await;
    let r = b.client.get(b.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "public, max-age=2");

    let (status, staged) = rotate(&a, &a.admin_secret, Some(json!({"alg": "RS256"}))).await;
    assert_eq!(status, 202, "{staged}");
    let staged_kid = staged["next"]["kid"].as_str().unwrap().to_owned();
    let activates_at = time(&staged["next"]["activates_at"]);
    // Every copy B serves without the staged key, and when the verifier got it.
    let mut stale_copies: Vec<(JwkSet, DateTime<Utc>)> = Vec::new();
    loop {
        let copy = cached_jwks(&b).await;
        let received = Utc::now();
        if copy.find(&staged_kid).is_some() {
            break;
        }
        assert!(received < activates_at, "B never published the staged key");
        stale_copies.push((copy, received));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sleep_until(activates_at).await;
    let token = admin_token(&a, &b).await;
    assert_eq!(kid(&token), staged_kid);
    for (copy, received) in &stale_copies {
        // A verifier honouring max-age uses that copy until `received + 2 s`, then refetches.
        assert!(
            *received + TimeDelta::seconds(2) <= activates_at,
            "a copy without the staged key, received at {received}, is still fresh at its activation {activates_at}"
        );
        assert!(verify_with_copy(&a, copy, &token).is_err());
    }
    verify_with_copy(&a, &cached_jwks(&b).await, &token).unwrap();
}

async fn an_immediate_rotation_signs_with_a_fresh_key_at_once_and_says_caching_verifiers_may_refuse_it(backend) {
    let app = spawn_app(backend).await;
    let copy = cached_jwks(&app).await;
    let (_, listed) = listing(&app, &app.admin_secret).await;
    let before: Vec<String> = rows(&listed).into_iter().map(|r| r.0).collect();
    let (old_next, old_current) = (before[0].clone(), before[1].clone());

    let (status, r) = rotate(&app, &app.admin_secret, Some(json!({"immediate": true}))).await;
    assert_eq!(status, 201, "{r}");
    let fresh = r["signing_key"]["kid"].as_str().unwrap().to_owned();
    let next = r["next"]["kid"].as_str().unwrap().to_owned();
    assert!(!before.contains(&fresh) && !before.contains(&next), "never an existing key");
    assert_eq!(r["signing_key"]["alg"], "EdDSA", "the current key's alg by default");
    assert_eq!(r["retired"]["kid"], old_current.as_str());
    assert_eq!(r["warnings"][0]["code"], "verifiers_may_refuse");
    assert!(r["warnings"][0]["message"].as_str().unwrap().contains("300 s"), "{r}");
    // The token signs with the fresh key at once: a caching verifier does not know it yet.
    let token = admin_token(&app, &app).await;
    assert_eq!(kid(&token), fresh);
    assert!(verify_with_copy(&app, &copy, &token).is_err());
    verify_with_copy(&app, &cached_jwks(&app).await, &token).unwrap();
    // The replaced next key never signed: it is simply unpublished.
    let (_, listed) = listing(&app, &app.admin_secret).await;
    let gone = listed["signing_keys"].as_array().unwrap().iter().find(|k| k["kid"] == old_next.as_str()).unwrap().clone();
    assert_eq!((gone["status"].as_str(), gone["activates_at"].is_null()), (Some("unpublished"), true));
    let mut served = jwks_kids(&jwks(&app).await);
    served.sort_unstable();
    let mut expected = vec![next.clone(), fresh.clone(), old_current.clone()];
    expected.sort_unstable();
    assert_eq!(served, expected);

    // Of another alg: the fresh key and its next key both of it.
    let (status, r) = rotate(&app, &app.admin_secret, Some(json!({"alg": "ES256", "immediate": true}))).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!((r["signing_key"]["alg"].as_str(), r["next"]["alg"].as_str()), (Some("ES256"), Some("ES256")));
    assert_ne!(r["signing_key"]["kid"], next.as_str());
}

async fn the_listing_shows_next_current_retired_and_unpublished_keys(backend) {
    let app = spawn_app(backend).await;
    let (status, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(status, 200);
    assert_eq!(statuses(&listed), ["next", "current"]);
    assert!(listed["signing_keys"][0]["activates_at"].is_null());
    assert!(!listed["signing_keys"][1]["activates_at"].is_null());

    assert_eq!(rotate(&app, &app.admin_secret, None).await.0, 201);
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(statuses(&listed), ["next", "current", "retired"]);

    // Staged: the next key for after it, the staged key (with its time), the next key it
    // replaced, the current key (with its retirement at that time).
    let (status, staged) = rotate(&app, &app.admin_secret, Some(json!({"alg": "ES256"}))).await;
    assert_eq!(status, 202, "{staged}");
    let (_, listed) = listing(&app, &app.admin_secret).await;
    // (Newest first: the replaced next key was published by the promotion, after the current
    // key, which was published by bootstrap.)
    assert_eq!(statuses(&listed), ["next", "next", "unpublished", "current", "retired"]);
    let keys = listed["signing_keys"].as_array().unwrap();
    assert_eq!(keys[1]["kid"], staged["next"]["kid"]);
    assert_eq!(keys[3]["retired_at"], staged["next"]["activates_at"]);
    assert!(keys[0]["activates_at"].is_null());
}

async fn every_rotation_is_audited_with_what_it_did(backend) {
    let app = spawn_app(backend).await;
    let (_, promoted) = rotate(&app, &app.admin_secret, None).await;
    let (_, staged) = rotate(&app, &app.admin_secret, Some(json!({"alg": "RS256"}))).await;
    let (_, immediate) = rotate(&app, &app.admin_secret, Some(json!({"immediate": true}))).await;
    let events = rotation_audit(&app).await;
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["details"]["outcome"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("immediate", immediate["signing_key"]["kid"].as_str().unwrap()),
            ("staged", staged["next"]["kid"].as_str().unwrap()),
            ("promoted", promoted["signing_key"]["kid"].as_str().unwrap()),
        ]
    );
    let staged_event = &events[1]["details"];
    assert_eq!(staged_event["alg"], "RS256");
    assert_eq!(staged_event["activates_at"], staged["next"]["activates_at"]);
    assert_eq!(staged_event["retired_kid"], promoted["signing_key"]["kid"]);
    assert_eq!(staged_event["replaced_kids"], json!([promoted["next"]["kid"]]));
    let immediate_event = &events[0]["details"];
    assert_eq!(immediate_event["retired_kid"], promoted["signing_key"]["kid"]);
    assert_eq!(immediate_event["next_kid"], immediate["next"]["kid"]);
    assert_eq!(immediate_event["replaced_kids"].as_array().unwrap().len(), 2, "the staged key and the one after it");
    assert_eq!(immediate_event["unpublished_early"], json!([]));
}

/// A database from before next keys: after the migration each org has its current key only;
/// the first node to start publishes a next key for each (of its current key's alg).
async fn a_database_from_before_next_keys_gets_a_next_key_per_org_at_startup(backend) {
    use diesel::prelude::*;
    use latchkey::store::schema::signing_keys::dsl as sk;
    let a = spawn_app(backend).await;
    let (theirs, _) = a.other_org("acme");
    assert_eq!(rotate(&a, &theirs, Some(json!({"alg": "ES256", "immediate": true}))).await.0, 201);
    {
        let mut conn = a.pool.get().unwrap();
        let n = diesel::delete(sk::signing_keys.filter(sk::activates_at.is_null()))
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(n, 3, "each org's next key, and the next key the rotation replaced");
    }
    for secret in [&a.admin_secret, &theirs] {
        assert!(!statuses(&listing(&a, secret).await.1).contains(&"next".to_owned()));
    }
    let b = second_node_with(&a, backend, |_| {}).await;
    for (secret, alg) in [(&a.admin_secret, "EdDSA"), (&theirs, "ES256")] {
        let (_, listed) = listing(&b, secret).await;
        let keys = listed["signing_keys"].as_array().unwrap();
        assert_eq!(keys[0]["status"], "next", "{listed}");
        assert_eq!(keys[0]["alg"], alg);
        assert_eq!(keys.iter().filter(|k| k["status"] == "next").count(), 1);
    }
    // A third node finds nothing to do.
    let c = second_node_with(&a, backend, |_| {}).await;
    let (_, listed) = listing(&c, &a.admin_secret).await;
    assert_eq!(statuses(&listed).iter().filter(|s| *s == "next").count(), 1);
    assert_eq!(rotate(&b, &a.admin_secret, None).await.0, 201);
}

async fn the_rotation_documents_both_answers(backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.client.get(app.url("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let responses = &doc["paths"][ROTATE]["post"]["responses"];
    for (status, schema) in [("201", "Rotated"), ("202", "Staged")] {
        let body = &responses[status]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(body, &json!(format!("#/components/schemas/{schema}")), "{responses}");
        assert!(responses[status]["headers"].get("Location").is_some());
    }
    let staged = &doc["components"]["schemas"]["Staged"]["required"];
    assert_eq!(staged, &json!(["next"]));
    let request = &doc["components"]["schemas"]["RotateRequest"]["properties"];
    assert_eq!(request["immediate"]["type"], "boolean", "{request}");
}
}
