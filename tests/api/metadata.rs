//! Key `metadata`: a free-form JSON object set on create and PATCH, returned with the key, by
//! `/v1/check` and by introspection, never put in tokens; on both databases.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, spawn_app, status_json};

async fn introspect(app: &TestApp, subject: &str) -> Value {
    app.client
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&app.admin_secret)
        .form(&[("token", subject)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

backend_tests! {
    async fn metadata_round_trips_and_reaches_check_and_introspection_but_never_tokens(backend) {
        let app = spawn_app(backend).await;
        // Any JSON, NUL and other control characters included, stores and comes back as sent.
        let metadata = json!({"team": "billing\u{0}ops", "tier": 2, "tags": ["a", {"b": null}], "": "empty name"});
        let (status, created) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
            "name": "with metadata", "scopes": ["read:projects/**"], "metadata": metadata
        })).await).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["key"]["metadata"], metadata);
        let id = created["key"]["id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        let (_, got) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!(got["metadata"], metadata);
        let (_, page) = status_json(app.get("/v1/keys?search=with%20metadata", &app.admin_secret).await).await;
        assert_eq!(page["keys"][0]["metadata"], metadata);

        // /v1/check, for the secret and for a token; introspection, for both.
        let jwt = app.access_token(&id, &secret).await;
        for subject in [&secret, &jwt] {
            let (_, d) = status_json(app.post("/v1/check", &app.admin_secret,
                &json!({"token": subject, "action": "read", "resource": "projects/1"})).await).await;
            assert_eq!((d["allowed"].clone(), d["metadata"].clone()), (json!(true), metadata.clone()), "{d}");
            let v = introspect(&app, subject).await;
            assert_eq!((v["active"].clone(), v["metadata"].clone()), (json!(true), metadata.clone()), "{v}");
        }
        // Never in the token itself.
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        assert!(claims.get("metadata").is_none() && !claims.to_string().contains("billing"), "{claims}");

        // PATCH replaces it whole; other edits leave it; null clears it.
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"metadata": {"tier": 3}})).await).await;
        assert_eq!((status, v["key"]["metadata"].clone()), (200, json!({"tier": 3})));
        let (_, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"name": "renamed"})).await).await;
        assert_eq!(v["key"]["metadata"], json!({"tier": 3}));
        // The change applies to the very next check on this node (the cache holds the key).
        let (_, d) = status_json(app.post("/v1/check", &app.admin_secret,
            &json!({"token": secret, "action": "read", "resource": "projects/1"})).await).await;
        assert_eq!(d["metadata"], json!({"tier": 3}));
        let (_, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret, &json!({"metadata": null})).await).await;
        assert_eq!(v["key"]["metadata"], json!({}));
        assert!(introspect(&app, &secret).await.get("metadata").is_none(), "no member when empty");

        // The audit trail records it like any other field.
        let (_, audit) = status_json(app.get(&format!("/v1/audit?target={id}&action=key.updated"), &app.admin_secret).await).await;
        let first = &audit["events"].as_array().unwrap().last().unwrap()["details"];
        assert_eq!(first["before"]["metadata"], metadata, "{first}");
        assert_eq!(first["after"]["metadata"], json!({"tier": 3}));
    }

    async fn bad_metadata_is_refused_at_its_field_and_changes_nothing(backend) {
        let app = spawn_app(backend).await;
        for bad in [json!([1, 2]), json!("team=billing"), json!(7), json!({"k": "v".repeat(4096)})] {
            let (status, v) = status_json(app.post("/v1/keys", &app.admin_secret, &json!({
                "name": "bad", "scopes": ["read"], "metadata": bad
            })).await).await;
            assert_eq!(status, 422, "{v}");
            assert_eq!(error_fields(&v), ["metadata"], "{v}");
        }
        let (_, page) = status_json(app.get("/v1/keys?search=bad", &app.admin_secret).await).await;
        assert_eq!(page["keys"], json!([]));
        let (id, _) = app.create_key_with(json!({"name": "kept", "scopes": ["read"], "metadata": {"a": 1}})).await;
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"metadata": [1], "name": "never"})).await).await;
        assert_eq!((status, error_fields(&v)), (422, vec!["metadata".to_owned()]));
        let (_, key) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!((key["name"].clone(), key["metadata"].clone()), (json!("kept"), json!({"a": 1})));
    }
}
