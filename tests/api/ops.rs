//! Operational endpoints: metrics.

use serde_json::json;

use crate::helpers::spawn_app;

backend_tests! {
    async fn metrics_count_requests_tokens_and_denials_in_prometheus_text(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("m", json!(["read:projects/**"])).await;
        let token = |id: String, secret: String, scope: &'static str| {
            let app = &app;
            async move {
                app.client
                    .post(app.url("/oauth/token"))
                    .basic_auth(id, Some(secret))
                    .form(&[("grant_type", "client_credentials"), ("scope", scope)])
                    .send()
                    .await
                    .unwrap()
                    .status()
            }
        };
        assert_eq!(token(id.clone(), secret.clone(), "read:projects/1").await, 200);
        assert_eq!(token(id.clone(), secret.clone(), "read:projects/2").await, 200);
        assert_eq!(token(id.clone(), secret.clone(), "write:projects/1").await, 400);
        assert_eq!(token(id.clone(), "lk_wrong".into(), "read").await, 401);
        app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await;

        let r = app.client.get(app.url("/metrics")).send().await.unwrap();
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        for line in [
            "latchkey_tokens_issued_total 2",
            "latchkey_token_denials_total{reason=\"scope_not_allowed\"} 1",
            "latchkey_token_denials_total{reason=\"bad_secret\"} 1",
            "http_requests_total{route=\"/oauth/token\",method=\"POST\",status=\"200\"} 2",
            "http_requests_total{route=\"/v1/keys/{id}\",method=\"GET\",status=\"200\"} 1",
            "# TYPE http_request_duration_seconds histogram",
            "http_request_duration_seconds_count{route=\"/oauth/token\",method=\"POST\"} 4",
            "latchkey_db_pool_max_connections 4",
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
        assert!(!text.contains(&id), "ids are not labels: the route pattern is");
    }
}
