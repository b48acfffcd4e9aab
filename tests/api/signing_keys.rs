//! Signing-key rotation and per-org algorithms: `GET /v1/signing-keys`,
//! `POST /v1/signing-keys/rotate`, and what a rotation means for tokens, JWKS and introspection.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, spawn_app, spawn_app_with, status_json};

pub(crate) const ROTATE: &str = "/v1/signing-keys/rotate";

/// An access token for `(id, secret)` by HTTP Basic, asserting success.
async fn token_for(app: &TestApp, id: &str, secret: &str) -> String {
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

async fn admin_token(app: &TestApp) -> String {
    token_for(app, &app.admin_key_id, &app.admin_secret).await
}

fn header(token: &str) -> Value {
    let part = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn kid(token: &str) -> String {
    header(token)["kid"].as_str().unwrap().to_owned()
}

/// RFC 7662 introspection as the default org's admin; returns `active`.
async fn active(app: &TestApp, token: &str) -> bool {
    let r = app
        .client
        .post(app.url("/oauth/introspect"))
        .basic_auth(&app.admin_key_id, Some(&app.admin_secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let (status, v) = status_json(r).await;
    assert_eq!(status, 200, "{v}");
    v["active"].as_bool().unwrap()
}

pub(crate) async fn jwks(app: &TestApp) -> Value {
    let r = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    status_json(r).await.1
}

pub(crate) fn jwks_kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// `POST /v1/signing-keys/rotate` as `secret`, with `body` (`None`: no body at all).
pub(crate) async fn rotate(app: &TestApp, secret: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = app.client.post(app.url(ROTATE)).bearer_auth(secret);
    if let Some(b) = body {
        r = r.json(&b);
    }
    status_json(r.send().await.unwrap()).await
}

/// Rotates the default org to a fresh key of `alg` at once (`immediate`) as its admin, asserting
/// success; returns the response.
async fn rotate_to(app: &TestApp, alg: &str) -> Value {
    let body = json!({"alg": alg, "immediate": true});
    let (status, v) = rotate(app, &app.admin_secret, Some(body)).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["signing_key"]["alg"], alg);
    v
}

pub(crate) async fn listing(app: &TestApp, secret: &str) -> (u16, Value) {
    status_json(app.get("/v1/signing-keys", secret).await).await
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// What a resource server does: the JWKS from discovery, `jsonwebtoken`, the header's kid, the
/// expected algorithm only, issuer and audience.
async fn verify_offline(app: &TestApp, token: &str, alg: Algorithm) -> Value {
    let set: JwkSet = serde_json::from_value(jwks(app).await).unwrap();
    let h = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(h.alg, alg);
    assert_eq!(h.typ.as_deref(), Some("at+jwt"));
    let jwk = set.find(h.kid.as_deref().unwrap()).expect("kid in JWKS");
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&[&app.address]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .unwrap()
        .claims
}

backend_tests! {
async fn rotation_switches_the_kid_and_earlier_tokens_keep_working(backend) {
    let app = spawn_app(backend).await;
    let before = admin_token(&app).await;
    let old_kid = kid(&before);
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(listed["signing_keys"][0]["status"], "next");
    let next_kid = listed["signing_keys"][0]["kid"].as_str().unwrap().to_owned();

    let (status, rotated) = rotate(&app, &app.admin_secret, None).await;
    assert_eq!(status, 201, "{rotated}");
    let new_kid = rotated["signing_key"]["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(new_kid, next_kid, "the next key is promoted");
    assert_eq!(
        rotated["signing_key"]["alg"], "EdDSA",
        "the current key's alg by default"
    );
    assert_eq!(rotated["signing_key"]["status"], "current");
    assert_eq!(rotated["retired"]["kid"], old_kid.as_str());
    assert_eq!(rotated["retired"]["status"], "retired");
    // Default TTL 600 s + default leeway 60 s.
    let window =
        time(&rotated["retired"]["unpublish_at"]) - time(&rotated["retired"]["retired_at"]);
    assert_eq!(window.num_seconds(), 660);

    // The very next token carries the new kid (this node reloads at once).
    let after = admin_token(&app).await;
    assert_eq!(kid(&after), new_kid);
    let published = jwks_kids(&jwks(&app).await);
    assert!(
        published.contains(&old_kid) && published.contains(&new_kid),
        "{published:?}"
    );

    // The token signed before the rotation is still good everywhere.
    for token in [&before, &after] {
        assert!(active(&app, token).await);
        assert_eq!(app.get("/v1/keys", token).await.status(), 200);
        verify_offline(&app, token, Algorithm::EdDSA).await;
    }

    let (status, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(status, 200);
    let seen: Vec<(&str, &str)> = listed["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    let next_kid = rotated["next"]["kid"].as_str().unwrap();
    assert_eq!(
        seen,
        vec![
            (next_kid, "next"),
            (new_kid.as_str(), "current"),
            (old_kid.as_str(), "retired")
        ]
    );
    assert!(published.contains(&next_kid.to_owned()), "{published:?}");
}

async fn a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(backend) {
    let app = spawn_app_with(backend, |s| {
        s.token_ttl = Duration::from_secs(1);
        s.rotation_leeway = Duration::from_secs(1);
    })
    .await;
    let before = admin_token(&app).await;
    let old_kid = kid(&before);
    let (status, rotated) = rotate(&app, &app.admin_secret, Some(json!({"alg": "EdDSA"}))).await;
    assert_eq!(status, 201, "{rotated}");
    let unpublish_at = time(&rotated["retired"]["unpublish_at"]);
    assert_eq!(
        (unpublish_at - time(&rotated["retired"]["retired_at"])).num_seconds(),
        2,
        "token TTL + leeway"
    );
    assert!(jwks_kids(&jwks(&app).await).contains(&old_kid));

    // Due 2 s after the rotation; the deadline is only there to end a broken run.
    let start = Instant::now();
    while jwks_kids(&jwks(&app).await).contains(&old_kid) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the retired key is still published"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(Utc::now() >= unpublish_at, "not before its unpublish time");
    assert!(!active(&app, &before).await);
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(listed["signing_keys"][2]["kid"], old_kid.as_str());
    assert_eq!(listed["signing_keys"][2]["status"], "unpublished");
    // The org keeps signing with, and publishing, its new key, and publishing its next key.
    let after = admin_token(&app).await;
    assert_eq!(kid(&after), rotated["signing_key"]["kid"].as_str().unwrap());
    let next_kid = rotated["next"]["kid"].as_str().unwrap().to_owned();
    assert_eq!(jwks_kids(&jwks(&app).await), vec![next_kid, kid(&after)]);
    assert!(active(&app, &after).await);
}

/// A node remembers the tokens it verified (their signature is not checked again), but only
/// while the key that verified them is published: once it is not, the token is refused like any
/// token of an unknown key, however long before it was checked.
async fn a_remembered_token_ends_with_the_publication_of_its_key(backend) {
    let app = spawn_app_with(backend, |s| s.key_refresh = Duration::from_millis(100)).await;
    let token = admin_token(&app).await;
    assert!(active(&app, &token).await, "verified once, and remembered");
    assert!(active(&app, &token).await);
    // The key is taken out of publication (as a compromise would take it) behind the server.
    {
        use diesel::prelude::*;
        use latchkey::store::schema::signing_keys::dsl as sk;
        let mut conn = app.pool.get().unwrap();
        let past = (Utc::now() - chrono::Duration::seconds(1)).naive_utc();
        let n = diesel::update(sk::signing_keys.filter(sk::kid.eq(kid(&token))))
            .set((sk::retired_at.eq(Some(past)), sk::unpublish_at.eq(Some(past))))
            .execute(&mut *conn)
            .unwrap();
        assert_eq!(n, 1);
    }
    let start = Instant::now();
    while jwks_kids(&jwks(&app).await).contains(&kid(&token)) {
        assert!(start.elapsed() < Duration::from_secs(15), "still published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!active(&app, &token).await, "the remembered token outlived its key");
    assert_eq!(app.get("/v1/keys", &token).await.status(), 401);
}

async fn rs256_and_es256_orgs_issue_tokens_that_verify_against_the_jwks(backend) {
    let app = spawn_app(backend).await;
    for (alg, algorithm) in [("RS256", Algorithm::RS256), ("ES256", Algorithm::ES256)] {
        let rotated = rotate_to(&app, alg).await;
        let token = admin_token(&app).await;
        assert_eq!(header(&token)["alg"], alg);
        assert_eq!(kid(&token), rotated["signing_key"]["kid"].as_str().unwrap());
        let claims = verify_offline(&app, &token, algorithm).await;
        assert_eq!(claims["client_id"], app.admin_key_id.as_str());
        assert!(active(&app, &token).await, "{alg}");
        assert_eq!(app.get("/v1/keys", &token).await.status(), 200, "{alg}");

        let jwks = jwks(&app).await;
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == rotated["signing_key"]["kid"])
            .unwrap()
            .clone();
        let mut members: Vec<&str> = jwk
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        members.sort_unstable();
        match alg {
            "RS256" => {
                assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
                assert_eq!(
                    (jwk["kty"].as_str(), jwk["e"].as_str()),
                    (Some("RSA"), Some("AQAB"))
                );
                let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
                assert_eq!(n.len() * 8, 2048);
            }
            _ => {
                assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
                assert_eq!(
                    (jwk["kty"].as_str(), jwk["crv"].as_str()),
                    (Some("EC"), Some("P-256"))
                );
            }
        }
        assert_eq!(jwk, rotated["signing_key"]["public_jwk"]);
    }
    // Rotating without a body keeps the current algorithm.
    let (status, v) = rotate(&app, &app.admin_secret, None).await;
    assert_eq!(
        (status, v["signing_key"]["alg"].as_str()),
        (201, Some("ES256"))
    );

    let (_, md) = status_json(
        app.client
            .get(app.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        md["id_token_signing_alg_values_supported"],
        json!(["EdDSA", "RS256", "ES256"])
    );
}

async fn a_token_must_be_signed_with_the_algorithm_of_its_kid(backend) {
    let app = spawn_app(backend).await;
    let rotated = rotate_to(&app, "RS256").await;
    let token = admin_token(&app).await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let jwk = &rotated["signing_key"]["public_jwk"];
    // RFC 8725 §2.1: the RSA public key (as the JWK text, and as the modulus) used as an HMAC
    // secret under the RS256 key's kid.
    let mut hs = jsonwebtoken::Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = Some(kid(&token));
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let mut forged = Vec::new();
    for secret in [jwk.to_string().into_bytes(), n] {
        forged.push(
            jsonwebtoken::encode(
                &hs,
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(&secret),
            )
            .unwrap(),
        );
    }
    // The same RS256 signature under a header that claims another algorithm.
    let parts: Vec<&str> = token.split('.').collect();
    for alg in ["ES256", "EdDSA", "PS256"] {
        let h = json!({"alg": alg, "typ": "at+jwt", "kid": kid(&token)});
        forged.push(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            parts[1],
            parts[2]
        ));
    }
    for f in &forged {
        assert!(!active(&app, f).await, "{}", header(f));
        assert_eq!(app.get("/v1/keys", f).await.status(), 401);
    }
    assert!(active(&app, &token).await);
}

async fn signing_keys_need_admin_over_signing_keys(backend) {
    let app = spawn_app(backend).await;
    for scopes in [
        json!(["admin:keys/**"]),
        json!(["read:signing-keys"]),
        json!(["write:*"]),
    ] {
        let (_, secret) = app.create_key("narrow", scopes.clone()).await;
        let r = app.get("/v1/signing-keys", &secret).await;
        assert_eq!(r.status(), 403, "{scopes}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let (status, v) = rotate(&app, &secret, Some(json!({"alg": "RS256"}))).await;
        assert_eq!(
            (status, v["type"].as_str()),
            (403, Some("insufficient_scope")),
            "{scopes}"
        );
    }
    assert_eq!(
        listing(&app, &app.admin_secret).await.1["signing_keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let (id, secret) = app
        .create_key("rotator", json!(["admin:signing-keys"]))
        .await;
    assert_eq!(listing(&app, &secret).await.0, 200);
    assert_eq!(rotate(&app, &secret, None).await.0, 201);
    // The same through an access token carrying that scope.
    let token = token_for(&app, &id, &secret).await;
    assert_eq!(listing(&app, &token).await.0, 200);
    assert_eq!(rotate(&app, &token, None).await.0, 201);
    assert_eq!(app.get("/v1/signing-keys", "nope").await.status(), 401);
    assert_eq!(
        app.client
            .post(app.url(ROTATE))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        app.delete("/v1/signing-keys", &app.admin_secret)
            .await
            .status(),
        405
    );
}

async fn another_orgs_signing_keys_are_invisible_and_untouched(backend) {
    let app = spawn_app(backend).await;
    let (theirs, _) = app.other_org("acme");
    let (_, mine) = listing(&app, &app.admin_secret).await;
    let (_, other) = listing(&app, &theirs).await;
    let my_kid = mine["signing_keys"][1]["kid"].as_str().unwrap().to_owned();
    let their_kid = other["signing_keys"][1]["kid"].as_str().unwrap().to_owned();
    assert_eq!(mine["signing_keys"].as_array().unwrap().len(), 2);
    assert_eq!(other["signing_keys"].as_array().unwrap().len(), 2);
    assert_ne!(my_kid, their_kid);

    for body in [json!({"alg": "ES256", "immediate": true}), json!({}), json!({"alg": "RS256"})] {
        let (status, v) = rotate(&app, &theirs, Some(body.clone())).await;
        assert!(status == 201 || status == 202, "{body}: {v}");
    }
    let (_, other_after) = listing(&app, &theirs).await;
    let retired: Vec<&Value> = other_after["signing_keys"].as_array().unwrap().iter().filter(|k| k["status"] == "retired").collect();
    assert!(retired.iter().any(|k| k["kid"] == their_kid.as_str()), "{other_after}");
    let (_, mine_after) = listing(&app, &app.admin_secret).await;
    assert_eq!(mine_after, mine, "our keys did not change");
    let token = admin_token(&app).await;
    assert_eq!(kid(&token), my_kid);
    assert_eq!(header(&token)["alg"], "EdDSA");
}

async fn a_bad_rotation_request_is_refused_and_changes_nothing(backend) {
    let app = spawn_app(backend).await;
    let (_, before) = listing(&app, &app.admin_secret).await;
    for (body, field) in [
        (json!({"alg": "HS256"}), "alg"),
        (json!({"alg": "none"}), "alg"),
        (json!({"alg": "rs256"}), "alg"),
        (json!({"alg": 256}), "alg"),
        (json!({"algorithm": "RS256"}), "algorithm"),
        (json!({"immediate": "yes"}), "immediate"),
        (json!({"immediate": 1}), "immediate"),
        (json!({"alg": "HS256", "immediate": true}), "alg"),
    ] {
        let (status, v) = rotate(&app, &app.admin_secret, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(v["type"], "validation_failed");
        assert_eq!(error_fields(&v), vec![field.to_owned()], "{body}");
    }
    let r = app
        .client
        .post(app.url(ROTATE))
        .bearer_auth(&app.admin_secret)
        .header("content-type", "application/json")
        .body("{\"alg\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (_, after) = listing(&app, &app.admin_secret).await;
    assert_eq!(after, before);
}

async fn the_listing_never_shows_private_key_material(backend) {
    let app = spawn_app(backend).await;
    let mut responses = Vec::new();
    for alg in ["RS256", "ES256", "EdDSA"] {
        responses.push(rotate_to(&app, alg).await.to_string());
    }
    let text = app
        .get("/v1/signing-keys", &app.admin_secret)
        .await
        .text()
        .await
        .unwrap();
    let listed: Value = serde_json::from_str(&text).unwrap();
    let keys = listed["signing_keys"].as_array().unwrap();
    // Bootstrap made two keys; each immediate rotation two more (and unpublished a next key).
    assert_eq!(keys.len(), 8);
    for k in keys {
        let mut fields: Vec<&str> = k.as_object().unwrap().keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "activates_at",
                "alg",
                "created_at",
                "kid",
                "public_jwk",
                "retired_at",
                "status",
                "unpublish_at"
            ]
        );
        assert_eq!(k["public_jwk"]["kid"], k["kid"]);
        assert_eq!(k["public_jwk"]["alg"], k["alg"]);
    }
    responses.push(text);
    for body in &responses {
        for private in [
            "\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\"", "private", "sealed",
        ] {
            assert!(!body.contains(private), "{private} in {body}");
        }
    }
}

async fn concurrent_rotations_queue_and_leave_one_current_key(backend) {
    let app = spawn_app(backend).await;
    let results = futures_util::future::join_all(
        (0..4).map(|_| rotate(&app, &app.admin_secret, None)),
    )
    .await;
    for (status, v) in &results {
        assert_eq!(*status, 201, "{v}");
    }
    let (_, listed) = listing(&app, &app.admin_secret).await;
    let keys = listed["signing_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "bootstrap's two and one next key per promotion");
    let with = |status: &str| -> Vec<&Value> { keys.iter().filter(|k| k["status"] == status).collect() };
    assert_eq!(with("current").len(), 1, "{listed}");
    assert_eq!(with("next").len(), 1, "{listed}");
    // Each rotation promoted the next key the previous one published and retired the key the
    // previous one made current: a chain, with no kid twice.
    let field = |name: &str| -> Vec<&str> {
        let mut kids: Vec<&str> = results.iter().map(|(_, v)| v[name]["kid"].as_str().unwrap()).collect();
        kids.sort_unstable();
        kids.dedup();
        kids
    };
    assert_eq!(field("retired").len(), 4);
    assert_eq!(field("signing_key").len(), 4);
    for (_, v) in &results {
        let promoted = &v["signing_key"]["kid"];
        let chained = results.iter().any(|(_, w)| &w["next"]["kid"] == promoted)
            || keys.iter().any(|k| &k["kid"] == promoted && k["created_at"] == keys.last().unwrap()["created_at"]);
        assert!(chained, "{promoted} was neither a rotation's next key nor bootstrap's");
    }
    assert_eq!(
        kid(&admin_token(&app).await),
        with("current")[0]["kid"].as_str().unwrap()
    );
}
}
