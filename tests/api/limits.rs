//! Rate limits and quotas of a key (issue 16) on one node, over HTTP, on both databases: what
//! the token endpoint and `/v1/check` spend and refuse, the headers and answers that say where
//! a key stands, the quota's credit changes, and the validation of it all. The bounds across
//! nodes are tested in `tests/limits_nodes.rs`; node-level sequences and refills at a month's
//! end in `tests/limits_model.rs`.

use std::time::{Duration, Instant};

use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_fields, spawn_app, status_json};

async fn token(app: &TestApp, id: &str, secret: &str) -> Response {
    app.token_request(id, secret).await
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn check(app: &TestApp, subject: &str, resource: &str, cost: Value) -> Value {
    let mut body = json!({"token": subject, "action": "read", "resource": resource});
    if !cost.is_null() {
        body["cost"] = cost;
    }
    let (status, v) = status_json(app.post("/v1/check", &app.admin_secret, &body).await).await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn create(app: &TestApp, body: Value) -> (String, String, Value) {
    let (status, v) = status_json(app.post("/v1/keys", &app.admin_secret, &body).await).await;
    assert_eq!(status, 201, "{v}");
    (
        v["key"]["id"].as_str().unwrap().to_owned(),
        v["secret"].as_str().unwrap().to_owned(),
        v["key"].clone(),
    )
}

async fn remaining_until(app: &TestApp, id: &str, want: u64) {
    let start = Instant::now();
    loop {
        let (_, v) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        if v["quota"]["remaining"] == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "remaining never got to {want}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn usage_until(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let (_, v) = status_json(
            app.get(&format!("/v1/keys/{id}/usage"), &app.admin_secret)
                .await,
        )
        .await;
        if done(&v["totals"]) {
            return v["totals"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "usage never got there: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

backend_tests! {
    async fn the_token_endpoint_spends_one_of_every_limit_and_says_where_the_key_stands(backend) {
        let app = spawn_app(backend).await;
        let (id, secret, key) = create(&app, json!({
            "name": "limited", "scopes": ["read:projects/**"],
            "rate_limits": [{"limit": 3, "window_seconds": 3600}, {"name": "burst", "limit": 50, "window_seconds": 1}],
        })).await;
        assert_eq!(key["rate_limits"], json!([
            {"name": "default", "limit": 3, "window_seconds": 3600},
            {"name": "burst", "limit": 50, "window_seconds": 1},
        ]));
        assert_eq!(key["quota"], Value::Null);
        for left in [2, 1, 0] {
            let r = token(&app, &id, &secret).await;
            assert_eq!(r.status(), 200);
            assert_eq!(header(&r, "ratelimit-policy").as_deref(), Some("\"default\";q=3;w=3600"));
            let state = header(&r, "ratelimit").unwrap();
            assert!(state.starts_with(&format!("\"default\";r={left};t=")), "{state}");
        }
        let r = token(&app, &id, &secret).await;
        assert_eq!(r.status(), 429);
        let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert!(header(&r, "ratelimit").unwrap().starts_with("\"default\";r=0;t="));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("default"), "{body}");

        // A key without limits carries no headers; a bad secret for the limited key spends
        // nothing and is a 401, not a 429.
        let (plain_id, plain_secret, _) = create(&app, json!({"name": "plain", "scopes": ["read"]})).await;
        let r = token(&app, &plain_id, &plain_secret).await;
        assert_eq!(r.status(), 200);
        assert!(header(&r, "ratelimit").is_none() && header(&r, "ratelimit-policy").is_none());
        assert_eq!(token(&app, &id, "lk_wrong").await.status(), 401);

        // Raising the limit applies at once: one more fits.
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"rate_limits": [{"limit": 4, "window_seconds": 3600}]})).await).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        assert_eq!(token(&app, &id, &secret).await.status(), 429);
        // Removing the limits lifts them.
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"rate_limits": null})).await).await;
        assert_eq!((status, v["key"]["rate_limits"].clone()), (200, json!([])));
        assert_eq!(token(&app, &id, &secret).await.status(), 200);

        // Denials by a limit are counted by reason.
        let totals = usage_until(&app, &id, |t| t["denied_by_reason"]["rate_limited"] == 2).await;
        assert_eq!(totals["denied_by_reason"]["quota_exhausted"], 0, "{totals}");
        let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("reason=\"rate_limited\""), "no rate_limited denial in the metrics");
    }

    async fn a_quota_is_spent_by_tokens_and_checks_and_topped_up_atomically(backend) {
        let app = spawn_app(backend).await;
        let (id, secret, key) = create(&app, json!({
            "name": "metered", "scopes": ["read:projects/**"],
            "quota": {"remaining": 2, "refill": null},
        })).await;
        assert_eq!(key["quota"], json!({"remaining": 2, "refill": null}));
        for _ in 0..2 {
            assert_eq!(token(&app, &id, &secret).await.status(), 200);
        }
        let r = token(&app, &id, &secret).await;
        assert_eq!(r.status(), 429);
        // No refill: nothing to wait for.
        assert!(header(&r, "retry-after").is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "quota_exhausted", "{body}");
        // Views count what nodes hold as they last reported it (within a second).
        remaining_until(&app, &id, 0).await;

        // A top-up is atomic and audited; the next token spends from it.
        let path = format!("/v1/keys/{id}/quota");
        let (status, v) = status_json(app.post(&path, &app.admin_secret, &json!({"add": 10})).await).await;
        assert_eq!((status, v), (200, json!({"remaining": 10})));
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        remaining_until(&app, &id, 9).await;
        let (_, listed) = status_json(app.get("/v1/keys?search=metered", &app.admin_secret).await).await;
        assert_eq!(listed["keys"][0]["quota"]["remaining"], 9, "{listed}");

        // /v1/check spends its cost; a check that does not fit spends nothing.
        let d = check(&app, &secret, "projects/1", json!(4)).await;
        assert_eq!((d["allowed"].clone(), d["quota_remaining"].clone(), d["ratelimit"].clone()), (json!(true), json!(5), Value::Null), "{d}");
        let d = check(&app, &secret, "projects/1", json!(6)).await;
        assert_eq!((d["allowed"].clone(), d["reason"].clone()), (json!(false), json!("quota_exhausted")), "{d}");
        // Refused for its scope: spends nothing either.
        let d = check(&app, &secret, "billing/1", json!(5)).await;
        assert_eq!(d["reason"], "scope_not_allowed", "{d}");
        let d = check(&app, &secret, "projects/1", json!(0)).await;
        assert_eq!((d["allowed"].clone(), d["quota_remaining"].clone()), (json!(true), json!(5)), "{d}");
        let d = check(&app, &secret, "projects/1", json!(5)).await;
        assert_eq!((d["allowed"].clone(), d["quota_remaining"].clone()), (json!(true), json!(0)), "{d}");
        let d = check(&app, &secret, "projects/1", Value::Null).await;
        assert_eq!(d["reason"], "quota_exhausted", "{d}");

        // A set replaces what is left, on the node that set it at once.
        let (status, v) = status_json(app.post(&path, &app.admin_secret, &json!({"set": 1})).await).await;
        assert_eq!((status, v), (200, json!({"remaining": 1})));
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        assert_eq!(token(&app, &id, &secret).await.status(), 429);
        let (_, audit) = status_json(app.get(&format!("/v1/audit?target={id}"), &app.admin_secret).await).await;
        let changes: Vec<Value> = audit["events"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "key.quota_changed").map(|e| e["details"].clone()).collect();
        assert_eq!(changes.len(), 2, "{audit}");
        assert!(changes.contains(&json!({"add": 10, "remaining": 10})), "{changes:?}");
        assert!(changes.contains(&json!({"set": 1, "remaining": 1})), "{changes:?}");

        // PATCH may change the refill alone (credits kept), set the credits, or remove the quota.
        let refill = json!({"amount": 100, "interval": "monthly", "day_of_month": 31});
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"quota": {"refill": refill}})).await).await;
        assert_eq!((status, v["key"]["quota"].clone()), (200, json!({"remaining": 0, "refill": refill})), "{v}");
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"quota": {"remaining": 3, "refill": null}})).await).await;
        assert_eq!((status, v["key"]["quota"].clone()), (200, json!({"remaining": 3, "refill": null})), "{v}");
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"quota": null})).await).await;
        assert_eq!((status, v["key"]["quota"].clone()), (200, Value::Null));
        for _ in 0..5 {
            assert_eq!(token(&app, &id, &secret).await.status(), 200);
        }
        // A key without a quota: a conflict with the key's state, not a bad body.
        let (status, v) = status_json(app.post(&path, &app.admin_secret, &json!({"add": 1})).await).await;
        assert_eq!((status, v["type"].as_str().map(|t| t.ends_with("no_quota"))), (409, Some(true)), "{v}");

        let totals = usage_until(&app, &id, |t| t["denied_by_reason"]["quota_exhausted"] == 4).await;
        assert_eq!(totals["denied_by_reason"]["rate_limited"], 0, "{totals}");
    }

    async fn check_reports_the_most_restrictive_limit_and_refuses_over_it(backend) {
        let app = spawn_app(backend).await;
        let (id, secret, _) = create(&app, json!({
            "name": "checked", "scopes": ["read:projects/**"],
            "rate_limits": [{"name": "hour", "limit": 100, "window_seconds": 3600}, {"name": "day", "limit": 10, "window_seconds": 86400}],
            "quota": {"remaining": 1000, "refill": {"amount": 1000, "interval": "daily"}},
        })).await;
        let jwt = app.access_token(&id, &secret).await;
        let d = check(&app, &jwt, "projects/1", json!(3)).await;
        assert_eq!(d["allowed"], true, "{d}");
        // The day limit has 10 - 1 (the token) - 3 left; the hour limit 96.
        assert_eq!((d["ratelimit"]["name"].clone(), d["ratelimit"]["limit"].clone(), d["ratelimit"]["remaining"].clone()),
            (json!("day"), json!(10), json!(6)), "{d}");
        let reset = d["ratelimit"]["reset_seconds"].as_u64().unwrap();
        assert!((1..=86400).contains(&reset), "{d}");
        assert_eq!(d["quota_remaining"], 996, "{d}");
        let d = check(&app, &jwt, "projects/1", json!(7)).await;
        assert_eq!((d["allowed"].clone(), d["reason"].clone(), d["ratelimit"]["remaining"].clone()),
            (json!(false), json!("rate_limited"), json!(6)), "{d}");
        let d = check(&app, &jwt, "projects/1", json!(6)).await;
        assert_eq!((d["allowed"].clone(), d["ratelimit"]["remaining"].clone(), d["quota_remaining"].clone()),
            (json!(true), json!(0), json!(990)), "{d}");
        // Refused by a limit: a valid holder is told, and the daily refill says when to retry.
        let r = token(&app, &id, &secret).await;
        assert_eq!(r.status(), 429);
        let got: Value = r.json().await.unwrap();
        assert_eq!(got["error"], "rate_limited");
    }

    /// Found driving the console: an edit of a limited key (a rename, even a dry run, as the edit
    /// dialog sends while one types) or a credit top-up made the node drop what it held of the
    /// window and the lease, which the database still counted as handed out: the key was
    /// refused until the window ended, and credits vanished.
    async fn editing_a_limited_key_loses_nothing_it_holds(backend) {
        let app = spawn_app(backend).await;
        let (id, secret, _) = create(&app, json!({
            "name": "edited", "scopes": ["read:projects/**"],
            "rate_limits": [{"limit": 5, "window_seconds": 3600}],
            "quota": {"remaining": 50},
        })).await;
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let (status, _) = status_json(app.patch(&format!("/v1/keys/{id}?dry_run=true"), &app.admin_secret,
            &json!({"name": "renamed"})).await).await;
        assert_eq!(status, 200);
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let (status, _) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"name": "renamed"})).await).await;
        assert_eq!(status, 200);
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let (status, v) = status_json(app.post(&format!("/v1/keys/{id}/quota"), &app.admin_secret, &json!({"add": 5})).await).await;
        assert_eq!((status, v), (200, json!({"remaining": 52})));
        let r = token(&app, &id, &secret).await;
        assert_eq!(r.status(), 200);
        assert!(header(&r, "ratelimit").unwrap().starts_with("\"default\";r=1;"), "{:?}", header(&r, "ratelimit"));
        remaining_until(&app, &id, 51).await;
    }

    /// A limit changed within a window (raised or lowered) counts what the window admitted so
    /// far: raising 3 to 5 after one token leaves 4, not the 2 that the node's dropped share
    /// left; lowering 5 to 2 after those leaves none more than 2 in all.
    async fn a_limit_changed_within_its_window_counts_what_it_admitted(backend) {
        let app = spawn_app(backend).await;
        let (id, secret, _) = create(&app, json!({
            "name": "raised", "scopes": ["read:projects/**"],
            "rate_limits": [{"limit": 3, "window_seconds": 3600}],
        })).await;
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let set_limit = |limit: u32| {
            let (app, id) = (&app, &id);
            async move {
                let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
                    &json!({"rate_limits": [{"limit": limit, "window_seconds": 3600}]})).await).await;
                assert_eq!(status, 200, "{v}");
            }
        };
        set_limit(5).await;
        for left in [3, 2, 1, 0] {
            let r = token(&app, &id, &secret).await;
            assert_eq!(r.status(), 200, "{left} should be left");
            let state = header(&r, "ratelimit").unwrap();
            assert!(state.starts_with(&format!("\"default\";r={left};t=")), "{state}");
        }
        assert_eq!(token(&app, &id, &secret).await.status(), 429);

        let (id, secret, _) = create(&app, json!({
            "name": "lowered", "scopes": ["read:projects/**"],
            "rate_limits": [{"limit": 5, "window_seconds": 3600}],
        })).await;
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        let (status, v) = status_json(app.patch(&format!("/v1/keys/{id}"), &app.admin_secret,
            &json!({"rate_limits": [{"limit": 2, "window_seconds": 3600}]})).await).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(token(&app, &id, &secret).await.status(), 200);
        assert_eq!(token(&app, &id, &secret).await.status(), 429);
    }

    /// The OpenAPI document states the bounds the server checks, so that a client generated
    /// from it (or schemathesis) knows them.
    async fn the_openapi_document_states_the_bounds_of_limits_and_quotas(backend) {
        let app = spawn_app(backend).await;
        let doc: Value = app.client.get(app.url("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
        let schema = |name: &str| doc["components"]["schemas"][name]["properties"].clone();
        let (limit, refill, quota) = (schema("RateLimit"), schema("Refill"), schema("Quota"));
        assert_eq!((limit["limit"]["minimum"].clone(), limit["limit"]["maximum"].clone()), (json!(1), json!(1_000_000_000)), "{limit}");
        assert_eq!(limit["name"]["pattern"], "^[A-Za-z0-9._-]{1,64}$", "{limit}");
        assert_eq!((refill["amount"]["minimum"].clone(), refill["amount"]["maximum"].clone()), (json!(1), json!(1_000_000_000_000_000_u64)), "{refill}");
        assert_eq!((quota["remaining"]["minimum"].clone(), quota["remaining"]["maximum"].clone()), (json!(0), json!(1_000_000_000_000_000_u64)), "{quota}");
    }

    async fn limits_and_quotas_are_validated_with_field_paths(backend) {
        let app = spawn_app(backend).await;
        let base = json!({"name": "v", "scopes": ["read"]});
        let with = |extra: Value| {
            let mut b = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        for (body, fields) in [
            (json!({"rate_limits": [{"limit": 0, "window_seconds": 60}]}), vec!["rate_limits[0].limit"]),
            (json!({"rate_limits": [{"limit": 1, "window_seconds": 86401}]}), vec!["rate_limits[0].window_seconds"]),
            (json!({"rate_limits": [{"limit": 1.5, "window_seconds": 60, "burst": 2}]}), vec!["rate_limits[0].burst", "rate_limits[0].limit"]),
            (json!({"rate_limits": [{"limit": 1, "window_seconds": 60}, {"limit": 2, "window_seconds": 1}]}), vec!["rate_limits[1].name"]),
            (json!({"rate_limits": [{"name": "a\u{0}b", "limit": 1, "window_seconds": 60}]}), vec!["rate_limits[0].name"]),
            (json!({"rate_limits": [{"name": "a", "limit": 1, "window_seconds": 1}, {"name": "b", "limit": 1, "window_seconds": 1}, {"name": "c", "limit": 1, "window_seconds": 1}, {"name": "d", "limit": 1, "window_seconds": 1}, {"name": "e", "limit": 1, "window_seconds": 1}, {"name": "f", "limit": 1, "window_seconds": 1}]}), vec!["rate_limits"]),
            (json!({"rate_limits": "100/60s"}), vec!["rate_limits"]),
            (json!({"quota": {"refill": null}}), vec!["quota.remaining"]),
            (json!({"quota": {"remaining": -1}}), vec!["quota.remaining"]),
            (json!({"quota": {"remaining": 1, "refill": {"amount": 0, "interval": "weekly"}}}), vec!["quota.refill.amount", "quota.refill.interval"]),
            (json!({"quota": {"remaining": 1, "refill": {"amount": 5, "interval": "daily", "day_of_month": 3}}}), vec!["quota.refill.day_of_month"]),
            (json!({"quota": {"remaining": 1, "refill": {"amount": 5, "interval": "monthly", "day_of_month": 32}}}), vec!["quota.refill.day_of_month"]),
            (json!({"quota": 5}), vec!["quota"]),
        ] {
            let (status, problem) = status_json(app.post("/v1/keys", &app.admin_secret, &with(body.clone())).await).await;
            assert_eq!(status, 422, "{body}: {problem}");
            let mut got = error_fields(&problem);
            got.sort();
            assert_eq!(got, fields, "{body}: {problem}");
        }
        // Nothing was created.
        let (_, page) = status_json(app.get("/v1/keys?search=v", &app.admin_secret).await).await;
        assert_eq!(page["keys"], json!([]), "{page}");

        let (id, secret, _) = create(&app, with(json!({"quota": {"remaining": 5}}))).await;
        let (plain, _, _) = create(&app, json!({"name": "plain", "scopes": ["read"]})).await;
        // A refill alone needs a quota to keep.
        let (status, problem) = status_json(app.patch(&format!("/v1/keys/{plain}"), &app.admin_secret,
            &json!({"quota": {"refill": {"amount": 5, "interval": "daily"}}})).await).await;
        assert_eq!((status, error_fields(&problem)), (422, vec!["quota.remaining".to_owned()]), "{problem}");
        let path = format!("/v1/keys/{id}/quota");
        for body in [json!({}), json!({"add": 1, "set": 2}), json!({"add": -1}), json!({"set": "9"}), json!({"add": 1e30})] {
            let (status, problem) = status_json(app.post(&path, &app.admin_secret, &body).await).await;
            assert_eq!(status, 422, "{body}: {problem}");
        }
        let (status, _) = status_json(app.post(&path, &app.admin_secret, &json!({"take": 1})).await).await;
        assert_eq!(status, 422);
        let (status, _) = status_json(app.post("/v1/keys/key_nosuchkey0000000/quota", &app.admin_secret, &json!({"add": 1})).await).await;
        assert_eq!(status, 404);
        for cost in [json!(-1), json!(10001), json!("1"), json!(0.5)] {
            let (status, problem) = status_json(app.post("/v1/check", &app.admin_secret,
                &json!({"token": secret, "action": "read", "resource": "a", "cost": cost})).await).await;
            assert_eq!((status, error_fields(&problem)), (422, vec!["cost".to_owned()]), "{cost}: {problem}");
        }
        // Still 5 credits: none of the refused requests spent any.
        let (_, got) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert_eq!(got["quota"]["remaining"], 5, "{got}");
    }
}
