//! A deployment's own secret prefix (`--secret-prefix`): new secrets carry it and work
//! everywhere a secret is taken, and secrets issued under an earlier prefix keep working.

use latchkey::domain::secret::SecretPrefix;
use serde_json::{Value, json};

use crate::cache::second_node_with;
use crate::helpers::{TestApp, spawn_app, spawn_app_with, status_json};

fn acme(s: &mut latchkey::config::Settings) {
    s.secret_prefix = SecretPrefix::parse("acme_").unwrap();
}

/// `/v1/check` of `credential` for `read` on `projects/1`, asked by `caller`.
async fn check(app: &TestApp, caller: &str, credential: &str) -> Value {
    let body = json!({"token": credential, "action": "read", "resource": "projects/1"});
    let (status, v) = status_json(app.post("/v1/check", caller, &body).await).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// Creates a key as `admin` on `app`; returns its id and secret.
async fn create(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let body = json!({"name": name, "scopes": ["read:projects/**"]});
    let (status, v) = status_json(app.post("/v1/keys", admin, &body).await).await;
    assert_eq!(status, 201, "{v}");
    let id = v["key"]["id"].as_str().unwrap().to_owned();
    (id, v["secret"].as_str().unwrap().to_owned())
}

/// The key's secret works at the token endpoint and at `/v1/check`, and so does its token.
async fn assert_works(app: &TestApp, caller: &str, id: &str, secret: &str) {
    let (status, v) = status_json(app.token_request(id, secret).await).await;
    assert_eq!(status, 200, "{secret}: {v}");
    let token = v["access_token"].as_str().unwrap();
    for credential in [secret, token] {
        let v = check(app, caller, credential).await;
        assert_eq!(
            (v["allowed"].as_bool(), v["key_id"].as_str()),
            (Some(true), Some(id)),
            "{v}"
        );
    }
}

fn assert_prefixed(secret: &str, prefix: &str) {
    assert!(secret.starts_with(prefix), "{secret}");
    assert_eq!(secret.len(), prefix.len() + 49, "{secret}");
}

backend_tests! {
    async fn a_server_with_its_own_prefix_issues_secrets_with_it_that_work_everywhere(backend) {
        let app = spawn_app_with(backend, acme).await;

        let (id, secret) = create(&app, &app.admin_secret, "acme").await;

        // The bootstrap admin's secret too, and it authenticates the admin API as a Bearer.
        assert_prefixed(&app.admin_secret, "acme_");
        assert_eq!(app.get("/v1/keys", &app.admin_secret).await.status(), 200);
        assert_prefixed(&secret, "acme_");
        assert_works(&app, &app.admin_secret, &id, &secret).await;
        let (_, key) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!(key["secret_hint"], format!("acme_…{}", &secret[secret.len() - 4..]));
        // A mistyped one is refused like any unknown secret.
        let mistyped = format!("{}x", &secret[..secret.len() - 1]);
        assert_eq!(app.token_request(&id, &mistyped).await.status(), 401);
        assert_eq!(check(&app, &app.admin_secret, &mistyped).await["allowed"], false);
    }

    async fn secrets_issued_under_an_earlier_prefix_keep_working_after_it_changes(backend) {
        let before = spawn_app(backend).await;
        let admin = before.admin_secret.clone();
        let (id, old) = create(&before, &admin, "from before").await;
        assert_prefixed(&admin, "lk_");
        assert_prefixed(&old, "lk_");

        // The same database served with another prefix (a restart with the new setting).
        let after = second_node_with(&before, backend, acme).await;

        assert_eq!(after.get("/v1/keys", &admin).await.status(), 200);
        assert_works(&after, &admin, &id, &old).await;
        let (new_id, new) = create(&after, &admin, "from after").await;
        assert_prefixed(&new, "acme_");
        assert_works(&after, &admin, &new_id, &new).await;
        // Rolled on the new server, a key from before gets a secret with the new prefix; the
        // old one works through the grace period.
        let (status, rolled) = status_json(
            after.post(&format!("/v1/keys/{id}/roll"), &admin, &json!({"grace_seconds": 3600})).await,
        )
        .await;
        assert_eq!(status, 200, "{rolled}");
        let rolled_secret = rolled["secret"].as_str().unwrap();
        assert_prefixed(rolled_secret, "acme_");
        assert_eq!(rolled["key"]["secret_hint"], format!("acme_…{}", &rolled_secret[rolled_secret.len() - 4..]));
        assert_works(&after, &admin, &id, rolled_secret).await;
        assert_works(&after, &admin, &id, &old).await;
    }
}
