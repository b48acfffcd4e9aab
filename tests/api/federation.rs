//! Keys without shared secrets, the fetched half (issue 17): a key's `jwks_uri`, and workload
//! identity federation (tokens shaped like GitHub Actions' and Kubernetes service accounts',
//! minted by a fake OpenID issuer on loopback: `tests/support/issuer.rs`). Over real HTTP, both
//! ways: the server fetches the issuer's discovery document and JWKS as it would in production,
//! opened to plain http on loopback by `--allow-http-issuers` and `--allow-private-issuers`.

use latchkey::crypto::signing::SigningAlg;
use std::time::Duration;

use latchkey::outbound::key_sets::{KeySets, Lookup, Source};
use latchkey::outbound::{Outbound, Reach};
use serde_json::{Value, json};

use crate::fake_issuer::{FakeIssuer, Signer};
use crate::helpers::{Backend, TestApp, error_fields, spawn_app, spawn_app_with, status_json};

pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A server that may fetch plain http on loopback, as the fake issuer serves.
pub(crate) async fn open_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.reach = Reach {
            http: true,
            private: true,
        };
    })
    .await
}

/// A GitHub Actions ID token's claims (the shape GitHub documents), for `sub`.
fn github_claims(issuer: &str, sub: &str) -> Value {
    json!({
        "iss": issuer, "aud": "latchkey", "sub": sub,
        "jti": "6f0ab25c-5b4e-4d5a-8a0c-0d2a0d1c3c11",
        "repository": "acme/app", "repository_owner": "acme", "ref": "refs/heads/main",
        "workflow": "deploy", "event_name": "push", "runner_environment": "github-hosted",
        "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300,
    })
}

/// A Kubernetes projected service-account token's claims.
fn kubernetes_claims(issuer: &str, namespace: &str, account: &str) -> Value {
    json!({
        "iss": issuer, "aud": ["latchkey", "https://kubernetes.default.svc"],
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account, "uid": "1d2c"},
                          "pod": {"name": "worker-7d9", "uid": "9a8b"}},
        "iat": now(), "nbf": now(), "exp": now() + 3607,
    })
}

pub(crate) async fn create_key(app: &TestApp, body: Value) -> (u16, Value) {
    status_json(app.post("/v1/keys", &app.admin_secret, &body).await).await
}

pub(crate) async fn token(app: &TestApp, client_id: Option<&str>, assertion: &str) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    status_json(r).await
}

/// The key's usage totals once `done` holds (usage is flushed every second).
async fn usage_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let r = app
            .get(&format!("/v1/keys/{id}/usage"), &app.admin_secret)
            .await;
        let (_, v) = status_json(r).await;
        if done(&v["totals"]) {
            return v["totals"].clone();
        }
        assert!(start.elapsed().as_secs() < 10, "usage never got there: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn refused_because(answer: &(u16, Value), status: u16, words: &str) {
    assert_eq!(answer.0, status, "{}", answer.1);
    let code = if status == 503 {
        "temporarily_unavailable"
    } else {
        "invalid_client"
    };
    assert_eq!(answer.1["error"], code, "{}", answer.1);
    let description = answer.1["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(words),
        "`{description}` should say `{words}`"
    );
}

backend_tests! {
    async fn a_github_actions_token_is_exchanged_for_an_access_token(backend) {
        let app = open_app(backend).await;
        let github = FakeIssuer::start();
        let signer = Signer::new(SigningAlg::Rs256);
        github.publish(&signer);
        let (status, created) = create_key(&app, json!({
            "name": "deploy from CI", "scopes": ["write:deployments/**"], "secret": false,
            "federated_credentials": [{"issuer": github.url, "subject": "repo:acme/app:ref:refs/heads/*", "audience": "latchkey"}],
        })).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["secret"], Value::Null);
        assert_eq!(created["key"]["federated_credentials"][0]["subject"], "repo:acme/app:ref:refs/heads/*");
        assert_eq!(created["warnings"].as_array().unwrap().iter().filter(|w| w["code"] == "http_url").count(), 1);
        let id = created["key"]["id"].as_str().unwrap().to_owned();

        let jwt = signer.sign(&github_claims(&github.url, "repo:acme/app:ref:refs/heads/main"), None);
        let (status, v) = token(&app, Some(&id), &jwt).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["scope"], "write:deployments/**");
        // The same token again: federated tokens are reused by design.
        let (status, v) = token(&app, Some(&id), &jwt).await;
        assert_eq!(status, 200, "{v}");
        // One discovery and one JWKS fetch served both.
        assert_eq!(github.fetches(), (1, 1));

        // Another branch's pattern matches; a tag, another repository, a wrong audience do not.
        let feature = signer.sign(&github_claims(&github.url, "repo:acme/app:ref:refs/heads/feature/x"), None);
        assert_eq!(token(&app, Some(&id), &feature).await.0, 200);
        let tag = signer.sign(&github_claims(&github.url, "repo:acme/app:ref:refs/tags/v1"), None);
        refused_because(&token(&app, Some(&id), &tag).await, 401, "repo:acme/app:ref:refs/tags/v1");
        let other = signer.sign(&github_claims(&github.url, "repo:evil/app:ref:refs/heads/main"), None);
        refused_because(&token(&app, Some(&id), &other).await, 401, "matches no subject");
        let mut claims = github_claims(&github.url, "repo:acme/app:ref:refs/heads/main");
        claims["aud"] = json!("https://github.com/acme");
        refused_because(&token(&app, Some(&id), &signer.sign(&claims, None)).await, 401, "aud");
        // Expired, and a lifetime over the cap.
        let mut claims = github_claims(&github.url, "repo:acme/app:ref:refs/heads/main");
        claims["exp"] = json!(now() - 60);
        refused_because(&token(&app, Some(&id), &signer.sign(&claims, None)).await, 401, "expired");
        let mut claims = github_claims(&github.url, "repo:acme/app:ref:refs/heads/main");
        claims["exp"] = json!(now() + 86_400);
        refused_because(&token(&app, Some(&id), &signer.sign(&claims, None)).await, 401, "3600 s");
        // Signed by a key the issuer never published, or with the issuer's kid but another key.
        let stranger = Signer::new(SigningAlg::Rs256);
        let forged = stranger.sign(&github_claims(&github.url, "repo:acme/app:ref:refs/heads/main"), Some(&signer.kid));
        refused_because(&token(&app, Some(&id), &forged).await, 401, "signature");
        // An issuer the key does not trust (its iss), and no client_id.
        let mut claims = github_claims(&github.url, "repo:acme/app:ref:refs/heads/main");
        claims["iss"] = json!("https://token.actions.githubusercontent.com");
        refused_because(&token(&app, Some(&id), &signer.sign(&claims, None)).await, 401, "trusts the issuer");
        refused_because(&token(&app, None, &jwt).await, 401, "client authentication failed");

        // Usage tells federated tokens apart.
        let totals = usage_until(&app, &id, |t| t["tokens_issued"] == 3).await;
        assert_eq!(totals["tokens_by_auth_method"], json!({"client_secret": 0, "private_key_jwt": 0, "federated": 3}));

        // Revoked: refused at once, the token still valid.
        let r = app.post(&format!("/v1/keys/{id}/revoke"), &app.admin_secret, &json!({})).await;
        assert_eq!(r.status(), 200);
        refused_because(&token(&app, Some(&id), &jwt).await, 401, "revoked");
    }
}

#[tokio::test]
async fn a_kubernetes_token_verifies_with_an_explicit_jwks_uri_and_no_discovery() {
    let app = open_app(Backend::Sqlite).await;
    let cluster = FakeIssuer::start();
    let signer = Signer::new(SigningAlg::Es256);
    cluster.publish(&signer);
    let issuer = "https://kubernetes.default.svc.cluster.local";
    let (status, created) = create_key(&app, json!({
        "name": "payments workers", "scopes": ["read:ledgers/*"], "secret": false,
        "federated_credentials": [{"issuer": issuer, "subject": "system:serviceaccount:payments:*",
                                   "audience": "latchkey", "jwks_uri": cluster.jwks_uri()}],
    }))
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let jwt = signer.sign(&kubernetes_claims(issuer, "payments", "worker"), None);
    let (status, v) = token(&app, Some(&id), &jwt).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        cluster.fetches(),
        (0, 1),
        "the jwks_uri given, discovery is never asked"
    );
    let other_ns = signer.sign(&kubernetes_claims(issuer, "default", "worker"), None);
    refused_because(
        &token(&app, Some(&id), &other_ns).await,
        401,
        "system:serviceaccount:default:worker",
    );
}

#[tokio::test]
async fn an_issuer_that_is_down_or_lies_gets_a_503_never_a_500() {
    let app = open_app(Backend::Sqlite).await;
    let issuer = FakeIssuer::start();
    let signer = Signer::new(SigningAlg::Rs256);
    issuer.publish(&signer);
    let credential =
        json!([{"issuer": issuer.url, "subject": "repo:acme/app:*", "audience": "latchkey"}]);
    let (_, created) = create_key(
        &app,
        json!({"name": "ci", "scopes": ["read:x"], "secret": false,
                                               "federated_credentials": credential}),
    )
    .await;
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let jwt = signer.sign(
        &github_claims(&issuer.url, "repo:acme/app:ref:refs/heads/main"),
        None,
    );

    // Why is the log's (and `KeySets`'s, below): the caller has proven nothing yet.
    issuer.set_down(true);
    refused_because(
        &token(&app, Some(&id), &jwt).await,
        503,
        "cannot be fetched now",
    );
    // Within the second, the failure is remembered: no second fetch.
    refused_because(
        &token(&app, Some(&id), &jwt).await,
        503,
        "cannot be fetched now",
    );
    assert_eq!(issuer.fetches(), (0, 0), "the down issuer counted nothing");

    // Back up: the next request after the second fetches and succeeds.
    issuer.set_down(false);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(token(&app, Some(&id), &jwt).await.0, 200);

    // Down again, with the keys cached: they keep working (stale-if-error).
    issuer.set_down(true);
    assert_eq!(token(&app, Some(&id), &jwt).await.0, 200);

    // An issuer nobody listens on, and one whose discovery document names someone else.
    let (_, created) = create_key(&app, json!({"name": "gone", "scopes": ["read:x"], "secret": false,
        "federated_credentials": [{"issuer": "http://127.0.0.1:9", "subject": "svc:a:*", "audience": "latchkey"}]})).await;
    let gone = created["key"]["id"].as_str().unwrap().to_owned();
    let claims = json!({"iss": "http://127.0.0.1:9", "aud": "latchkey", "sub": "svc:a:b", "iat": now(), "exp": now() + 60});
    refused_because(
        &token(&app, Some(&gone), &signer.sign(&claims, None)).await,
        503,
        "cannot be fetched now",
    );

    let liar = FakeIssuer::start();
    liar.publish(&signer);
    liar.claim_issuer("https://token.actions.githubusercontent.com");
    let (_, created) = create_key(&app, json!({"name": "liar", "scopes": ["read:x"], "secret": false,
        "federated_credentials": [{"issuer": liar.url, "subject": "svc:a:*", "audience": "latchkey"}]})).await;
    let lied = created["key"]["id"].as_str().unwrap().to_owned();
    let mut claims = github_claims(&liar.url, "svc:a:b");
    claims["iss"] = json!(liar.url);
    refused_because(
        &token(&app, Some(&lied), &signer.sign(&claims, None)).await,
        503,
        "cannot be fetched now",
    );
    assert_eq!(liar.fetches(), (1, 0), "the liar's JWKS was never fetched");

    // What the log says, from the key-set cache itself.
    let sets = KeySets::new(
        Outbound::new(
            Reach {
                http: true,
                private: true,
            },
            Duration::from_secs(2),
        )
        .unwrap(),
    );
    for (source, words) in [
        (Source::Issuer(issuer.url.clone()), "HTTP 503"),
        (Source::Issuer("http://127.0.0.1:9".into()), "127.0.0.1:9"),
        (Source::Issuer(liar.url.clone()), "names another issuer"),
    ] {
        assert_unavailable(&sets, &source, words).await;
    }
}

/// `source` fetched by `sets` ends `Unavailable` with a reason saying `words`.
async fn assert_unavailable(sets: &KeySets, source: &Source, words: &str) {
    sets.refresh(source).await;
    match sets.lookup(source, Some("kid"), std::time::Instant::now()) {
        Lookup::Unavailable(why) => assert!(why.contains(words), "`{why}` should say `{words}`"),
        other => panic!("{source:?}: {other:?}"),
    }
}

#[tokio::test]
async fn a_jwks_uri_key_picks_up_a_new_key_and_a_flood_of_unknown_kids_fetches_little() {
    // The failed-authentication throttle would stop the flood first (each unknown kid is a
    // guess); opened here so that every assertion reaches the key-set cache.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.reach = Reach {
            http: true,
            private: true,
        };
        s.auth_throttle = latchkey::domain::bucket::Rate {
            burst: 100_000,
            per_sec: 100_000.0,
        };
    })
    .await;
    let client = FakeIssuer::start();
    client.cache_control("max-age=600");
    let first = Signer::new(SigningAlg::EdDsa);
    client.publish(&first);
    let (status, created) = create_key(&app, json!({
        "name": "jwks client", "scopes": ["read:x"], "secret": false, "jwks_uri": client.jwks_uri(),
    }))
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"]["jwks_uri"], client.jwks_uri());
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let claims = |jti: &str| json!({"iss": id, "sub": id, "aud": app.url("/oauth/token"), "iat": now(), "exp": now() + 60, "jti": jti});
    assert_eq!(
        token(&app, None, &first.sign(&claims("a"), None)).await.0,
        200
    );
    assert_eq!(client.fetches(), (0, 1));
    // A cached key needs no fetch, within its max-age.
    assert_eq!(
        token(&app, None, &first.sign(&claims("b"), None)).await.0,
        200
    );
    assert_eq!(client.fetches(), (0, 1));

    // The client rotates: its next key is published and used at once.
    let next = Signer::new(SigningAlg::Es256);
    client.publish(&next);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, v) = token(&app, None, &next.sign(&claims("c"), None)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(client.fetches(), (0, 2));

    let totals = usage_until(&app, &id, |t| t["tokens_issued"] == 3).await;
    assert_eq!(
        totals["tokens_by_auth_method"]["private_key_jwt"], 3,
        "{totals}"
    );

    // 200 assertions naming random kids, as fast as they come: a fetch a second at most.
    let started = std::time::Instant::now();
    for i in 0..200 {
        let kid = format!("unknown-{i}");
        let answer = token(
            &app,
            None,
            &first.sign(&claims(&format!("flood-{i}")), Some(&kid)),
        )
        .await;
        refused_because(&answer, 401, "kid");
    }
    let seconds = started.elapsed().as_secs() as usize;
    let (_, fetched) = client.fetches();
    assert!(
        fetched - 2 <= seconds + 1,
        "{} fetches for 200 unknown kids in {seconds} s",
        fetched - 2
    );
}

#[tokio::test]
async fn without_the_flags_no_private_address_or_plain_http_is_fetched() {
    let app = spawn_app(Backend::Sqlite).await;
    let target = FakeIssuer::start();
    let signer = Signer::new(SigningAlg::EdDsa);
    target.publish(&signer);
    let port = target.url.rsplit(':').next().unwrap().to_owned();
    let sets = KeySets::new(Outbound::new(Reach::default(), Duration::from_secs(2)).unwrap());
    for (uri, words) in [
        (target.jwks_uri(), "must be an https URL"),
        (format!("https://127.0.0.1:{port}/jwks"), "loopback"),
        (format!("https://[::1]:{port}/jwks"), "loopback"),
        (
            format!("https://[::ffff:127.0.0.1]:{port}/jwks"),
            "loopback",
        ),
        (
            format!("https://localhost:{port}/jwks"),
            "resolves to a loopback address",
        ),
        ("https://10.0.0.1/jwks".to_owned(), "private"),
        (
            "https://169.254.169.254/latest/meta-data".to_owned(),
            "link-local",
        ),
        (
            "https://[64:ff9b:1::a9fe:a9fe]/jwks".to_owned(),
            "link-local",
        ),
    ] {
        let (status, created) = create_key(
            &app,
            json!({
                "name": "ssrf", "scopes": ["read:x"], "secret": false, "jwks_uri": uri,
            }),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let jwt = signer.sign(
            &json!({"iss": id, "sub": id, "aud": app.url("/oauth/token"), "iat": now(), "exp": now() + 60, "jti": "x"}),
            None,
        );
        refused_because(&token(&app, None, &jwt).await, 503, "cannot be fetched now");
        assert_unavailable(&sets, &Source::Jwks(uri.clone()), words).await;
    }
    assert_eq!(
        target.fetches(),
        (0, 0),
        "nothing reached the loopback server"
    );
}

#[tokio::test]
async fn federated_credentials_are_validated_and_need_standing() {
    let app = spawn_app(Backend::Sqlite).await;
    let (status, v) = create_key(&app, json!({
        "name": "bad", "scopes": ["read:x"],
        "federated_credentials": [{"issuer": "ftp://x", "subject": "**", "audience": "a\u{0}b"}],
        "jwks_uri": "file:///etc/passwd",
    }))
    .await;
    assert_eq!(status, 422, "{v}");
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "federated_credentials[0].issuer",
        "federated_credentials[0].subject",
        "federated_credentials[0].audience",
        "jwks_uri",
    ] {
        assert!(fields.contains(&field), "{field} in {v}");
    }
    // A key without a secret needs some way to authenticate.
    let (status, v) = create_key(
        &app,
        json!({"name": "nothing", "scopes": ["read:x"], "secret": false}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    // Removing the last credential of a secretless key is refused.
    let (_, created) = create_key(&app, json!({"name": "fed", "scopes": ["read:x"], "secret": false,
        "federated_credentials": [{"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:a/b:*", "audience": "x"}]})).await;
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/v1/keys/{id}"),
            &app.admin_secret,
            &json!({"federated_credentials": null}),
        )
        .await;
    let (status, v) = status_json(r).await;
    assert_eq!(status, 422, "{v}");
    // A key admin without standing over a wider key cannot add a federated credential or a
    // JWKS URL to it (it would become that key).
    let (wide, _) = app.create_key("wide", json!(["*:*"])).await;
    let (_, admin_secret) = app.create_key("key admin", json!(["admin:keys/**"])).await;
    for body in [
        json!({"federated_credentials": [{"issuer": "https://evil.example", "subject": "me", "audience": "x"}]}),
        json!({"jwks_uri": "https://evil.example/jwks"}),
    ] {
        let r = app
            .patch(&format!("/v1/keys/{wide}"), &admin_secret, &body)
            .await;
        let (status, v) = status_json(r).await;
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!((status, error_fields(&v)), (403, vec![field]), "{v}");
        let r = app
            .patch(&format!("/v1/keys/{wide}"), &app.admin_secret, &body)
            .await;
        assert_eq!(r.status(), 200);
    }
}
