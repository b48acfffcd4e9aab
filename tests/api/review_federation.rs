//! An attacker's review of keys without shared secrets (`jwks_uri`, federated credentials).
//! Each test is a finding, written to fail before its fix. Over real HTTP, with the fake
//! OpenID issuer of `tests/support/issuer.rs`.

use base64::Engine;
use latchkey::crypto::signing::SigningAlg;
use latchkey::outbound::Reach;
use serde_json::{Value, json};

use crate::fake_issuer::{FakeIssuer, Signer};
use crate::helpers::{Backend, spawn_app_with, status_json};

use crate::federation::{ASSERTION_TYPE, create_key, now, open_app, token};

/// The payload of a compact JWS, unverified.
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Finding: docs/security.md promises that "a subject of wildcards only is refused (`repo:*` on
/// GitHub would trust every repository in the world)", but `check_one` refuses only subjects
/// made of `*` alone. Attack (or an admin's slip the guard exists for): `repo:*` or `*:*` is
/// accepted, and then every GitHub Actions job of every repository in the world, asking for
/// the audience (any workflow may choose its audience), authenticates as the key.
/// Expected: 422 on `federated_credentials[0].subject` for subjects that match every subject
/// of the issuer's format (`repo:*`, `*:*`, `*/*`, ...), as the documentation says.
#[tokio::test]
async fn a_subject_glob_trusting_every_repository_is_refused() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    for subject in ["repo:*", "*:*", "repo:*:*"] {
        let (status, v) = create_key(
            &app,
            json!({"name": "ci", "scopes": ["read:x"], "secret": false,
                   "federated_credentials": [{"issuer": "https://token.actions.githubusercontent.com",
                                              "subject": subject, "audience": "latchkey"}]}),
        )
        .await;
        assert_eq!(
            status, 422,
            "subject `{subject}` trusts every repository on GitHub, yet was accepted: {v}"
        );
    }
    // And the attack it allows, on the fake issuer: a token of a stranger's repository.
    let app = open_app(Backend::Sqlite).await;
    let github = FakeIssuer::start();
    let signer = Signer::new(SigningAlg::Rs256);
    github.publish(&signer);
    let (status, created) = create_key(
        &app,
        json!({"name": "ci", "scopes": ["read:x"], "secret": false,
               "federated_credentials": [{"issuer": github.url, "subject": "repo:*", "audience": "latchkey"}]}),
    )
    .await;
    if status == 201 {
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let stranger = signer.sign(
            &json!({"iss": github.url, "aud": "latchkey",
                    "sub": "repo:anyone/anything:ref:refs/heads/main",
                    "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300}),
            None,
        );
        let (status, v) = token(&app, Some(&id), &stranger).await;
        assert_ne!(status, 200, "any repository's job got a token: {v}");
    }
}

/// Finding: a federated credential may name this server's own issuer (nothing refuses it), and
/// the federated path checks only signature, times, issuer, audience and subject. Latchkey's
/// own access tokens are then accepted as client assertions: an access token of key X (RFC 9068,
/// `typ: at+jwt`) authenticates as key A, and it keeps doing so after X is revoked (and after
/// the token itself is revoked through RFC 7009), since neither the denylist nor X's state is
/// consulted on this path. That breaks "a revoked key never authenticates by any path".
/// Expected: a federated credential naming the server's own issuer is refused (422), or, if it
/// is allowed, a Latchkey access token presented as an assertion is checked as a Latchkey token
/// (denylist, key state) — a revoked key's token must not authenticate.
#[tokio::test]
async fn a_revoked_keys_access_token_authenticates_through_a_federated_credential_naming_this_server()
 {
    let app = open_app(Backend::Sqlite).await;
    let (_, discovery) = status_json(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let issuer = discovery["issuer"].as_str().unwrap().to_owned();
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap().to_owned();

    // Key X, a holder of a secret, and one of its access tokens.
    let (x_id, x_secret) = app.create_key("x", json!(["read:x"])).await;
    let x_token = app.access_token(&x_id, &x_secret).await;
    let aud = match &payload(&x_token)["aud"] {
        Value::String(a) => a.clone(),
        Value::Array(list) => list[0].as_str().unwrap().to_owned(),
        other => panic!("aud {other}"),
    };

    // Key A trusts key X's tokens, via a federated credential on this very server.
    let (status, created) = create_key(
        &app,
        json!({"name": "a", "scopes": ["write:y"], "secret": false,
               "federated_credentials": [{"issuer": issuer, "subject": x_id, "audience": aud,
                                          "jwks_uri": jwks_uri}]}),
    )
    .await;
    if status == 422 {
        // Fixed by refusing the server's own issuer.
        return;
    }
    assert_eq!(status, 201, "{created}");
    let a_id = created["key"]["id"].as_str().unwrap().to_owned();

    // X's token revoked (RFC 7009), then X itself revoked.
    let r = app
        .client
        .post(app.url("/oauth/revoke"))
        .basic_auth(&x_id, Some(&x_secret))
        .form(&[("token", x_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .post(
            &format!("/v1/keys/{x_id}/revoke"),
            &app.admin_secret,
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // The token is dead as a token...
    let r = app.get("/v1/keys", &x_token).await;
    assert_eq!(r.status(), 401);
    // ... but still authenticates as key A.
    let (status, v) = token(&app, Some(&a_id), &x_token).await;
    assert_ne!(
        status, 200,
        "a revoked key's revoked access token was exchanged for a token of another key: {v}"
    );
}

/// Finding: before any signature is checked, the federated path answers a `503` whose
/// description names the credential's configured `jwks_uri` and the fetch error chain (and for
/// a name, what it resolves to). The code's own rule ("before any signature is checked, only
/// what the request itself said is told back") is broken: anyone who knows a client id and the
/// issuer (both public for a CI workload) learns internal URLs and resolution results of a
/// key's configuration, and these 503s are not counted by the failed-authentication throttle.
/// Expected: an unauthenticated caller gets a generic "the issuer's keys are unavailable"; the
/// URL and the cause go to the log (and to the key's admins).
#[tokio::test]
async fn keys_unavailable_tells_an_unauthenticated_caller_the_configured_jwks_uri() {
    let app = open_app(Backend::Sqlite).await;
    let issuer = "https://kubernetes.default.svc.cluster.local";
    let internal = "http://127.0.0.1:9/internal/cluster-7/openid/v1/jwks";
    let (status, created) = create_key(
        &app,
        json!({"name": "workers", "scopes": ["read:x"], "secret": false,
               "federated_credentials": [{"issuer": issuer, "subject": "system:serviceaccount:payments:*",
                                          "audience": "latchkey", "jwks_uri": internal}]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    // Signed by nobody the key trusts: the caller has proven nothing.
    let forged = Signer::new(SigningAlg::Es256).sign(
        &json!({"iss": issuer, "aud": "latchkey", "sub": "system:serviceaccount:x:y",
                "iat": now(), "exp": now() + 60}),
        None,
    );
    let (status, v) = token(&app, Some(&id), &forged).await;
    let description = v["error_description"].as_str().unwrap_or_default();
    assert!(
        !description.contains("cluster-7") && !description.contains("127.0.0.1"),
        "an unauthenticated caller was told the configured jwks_uri or the fetch error ({status}): `{description}`"
    );
}

backend_tests! {
    /// Finding: a key's own `jwks_uri` is checked for length and URL syntax only, while every
    /// field of a federated credential (its `jwks_uri` included) refuses control characters.
    /// The URL parser silently drops tabs and newlines and percent-encodes NUL, so the stored
    /// text (shown in the API and the console) is not the URL fetched: `https://evil.exa\nmple`
    /// is stored with its newline and fetches `https://evil.example`.
    /// Expected: 422 on `jwks_uri` for NUL, newline and tab, on both databases, as for a
    /// credential's `jwks_uri`.
    async fn a_jwks_uri_with_control_characters_is_refused(backend) {
        let app = spawn_app_with(backend, |_| {}).await;
        for uri in [
            "https://keys.example/a\u{0}b/jwks",
            "https://keys.exa\nmple/jwks",
            "https://keys.example/\tjwks",
        ] {
            let (status, v) = create_key(&app, json!({
                "name": "ctl", "scopes": ["read:x"], "secret": false, "jwks_uri": uri,
            })).await;
            assert_eq!(status, 422, "jwks_uri {uri:?} was accepted: {v}");
        }
    }
}

/// Finding: `federation::check_url` says an issuer is "an absolute https URL without
/// credentials, query or fragment" (OpenID Connect Discovery §3), but never checks the query.
/// An issuer `https://idp.example/?x=` is accepted, and discovery then fetches
/// `https://idp.example/?x=/.well-known/openid-configuration` — the query swallows the
/// well-known path, so a server answering every query with a document of its choosing serves
/// the "discovery document".
/// Expected: 422 on `federated_credentials[0].issuer`.
#[tokio::test]
async fn an_issuer_with_a_query_is_refused() {
    let app = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let (status, v) = create_key(
        &app,
        json!({"name": "q", "scopes": ["read:x"], "secret": false,
               "federated_credentials": [{"issuer": "https://idp.example/?tenant=",
                                          "subject": "svc:a", "audience": "latchkey"}]}),
    )
    .await;
    assert_eq!(status, 422, "an issuer with a query was accepted: {v}");
}

/// Finding: the throttle's rule (authority/mod.rs, throttle.rs) is that a throttled address
/// loses only database lookups of unknown secrets, "a credential that verifies without the
/// database (a cached key's secret, a valid token) is still served, so one guesser behind a NAT
/// does not lock out everyone there". The assertion path calls `refuse_lookup` before anything
/// is verified, so a valid federated token — a cached key, the issuer's keys cached, no `jti`
/// to write — is answered 429 from a blocked address. Attack: anyone sharing the workloads'
/// egress address (every pod of a cluster behind its NAT, CI runners) sends a handful of junk
/// assertions and locks every federated workload there out of Latchkey, while the same
/// address's secret holders keep working.
/// Expected: a valid federated token for a cached key, verifiable from cached keys, is served
/// from a throttled address (what needs a fetch or the database may still be refused).
#[tokio::test]
async fn a_throttled_address_locks_out_valid_federated_tokens_that_verify_from_memory() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.reach = Reach {
            http: true,
            private: true,
        };
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.auth_throttle.burst = 5;
        s.auth_throttle.per_sec = 1.0 / 600.0;
    })
    .await;
    let github = FakeIssuer::start();
    let signer = Signer::new(SigningAlg::Rs256);
    github.publish(&signer);
    let (status, created) = create_key(
        &app,
        json!({"name": "ci", "scopes": ["read:x"], "secret": false,
               "federated_credentials": [{"issuer": github.url, "subject": "repo:acme/app:*", "audience": "latchkey"}]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let jwt = signer.sign(
        &json!({"iss": github.url, "aud": "latchkey", "sub": "repo:acme/app:ref:refs/heads/main",
                "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300}),
        None,
    );
    let (secret_id, secret) = app.create_key("neighbour", json!(["read:x"])).await;

    let send = |from: &'static str, form: Vec<(&'static str, String)>| {
        let request = app
            .client
            .post(app.url("/oauth/token"))
            .header("X-Forwarded-For", from)
            .form(&form);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let federated = |assertion: &str| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion.to_owned()),
            ("client_id", id.clone()),
        ]
    };
    let with_secret = || {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", secret_id.clone()),
            ("client_secret", secret.clone()),
        ]
    };
    // Both work from the shared egress address; the key and the issuer's keys are now cached.
    assert_eq!(send("203.0.113.7", federated(&jwt)).await, 200);
    assert_eq!(send("203.0.113.7", with_secret()).await, 200);

    // A neighbour behind the same address sends junk assertions.
    let junk = Signer::new(SigningAlg::Rs256).sign(&json!({"iss": id, "sub": id}), None);
    for _ in 0..6 {
        send("203.0.113.7", federated(&junk)).await;
    }
    // The secret holder there is still served, from memory, as the throttle promises ...
    assert_eq!(send("203.0.113.7", with_secret()).await, 200);
    // ... and so must be the federated workload whose token verifies from memory.
    assert_eq!(
        send("203.0.113.7", federated(&jwt)).await,
        200,
        "a valid federated token was refused because a neighbour failed from the same address"
    );
}
