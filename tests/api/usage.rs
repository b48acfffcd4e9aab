//! Usage metering: exact counts, denial reasons, buckets, roll-up, tenant isolation.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use latchkey::domain::usage::{DenyReason, TokenAuth, UsageEvent};
use latchkey::service::usage::{UsageParams, key_usage, org_usage};
use latchkey::usage::UsageRecorder;
use serde_json::{Value, json};

use crate::helpers::{TestApp, sleep_until, spawn_app, status_json};

async fn token(app: &TestApp, id: &str, secret: &str, scope: Option<&str>) -> u16 {
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if let Some(s) = scope {
        form.push(("scope", s.to_owned()));
    }
    app.client
        .post(app.url("/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls a usage report until `done` holds; returns it, and how long after the start the last
/// request that did not see it yet was *sent* (zero when the first one saw it): how long the
/// data took to become visible, not counting how long a busy machine took to answer.
async fn usage_until(
    app: &TestApp,
    path: &str,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let start = Instant::now();
    let mut not_yet = Duration::ZERO;
    loop {
        let sent = start.elapsed();
        let (status, v) = status_json(app.get(path, &app.admin_secret).await).await;
        assert_eq!(status, 200, "{v}");
        if done(&v) {
            return (v, not_yet);
        }
        not_yet = sent;
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "usage never reached the expected state: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

backend_tests! {
    async fn token_counts_are_exact_under_concurrency_and_visible_within_two_seconds(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("busy", json!(["read"])).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, url, id, secret) = (app.client.clone(), app.url("/oauth/token"), id.clone(), secret.clone());
                tokio::spawn(async move {
                    for _ in 0..500 {
                        let r = client.post(&url).basic_auth(&id, Some(&secret)).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
                        assert_eq!(r.status(), 200);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let (v, not_yet) = usage_until(&app, &format!("/v1/keys/{id}/usage"), |v| v["totals"]["tokens_issued"] == 4000).await;
        assert!(not_yet < Duration::from_secs(2) + Duration::from_millis(500), "not visible to a request sent {not_yet:?} after the burst");
        assert_eq!(v["totals"]["requests"], 0);
        let in_buckets: u64 = v["buckets"].as_array().unwrap().iter().map(|b| b["tokens_issued"].as_u64().unwrap()).sum();
        assert_eq!(in_buckets, 4000);
        assert_eq!(v["last_used_ip"], "127.0.0.1");
        let (_, key) = status_json(app.get(&format!("/v1/keys/{id}"), &app.admin_secret).await).await;
        assert!(key["last_used_at"].is_string(), "the key object shows last use");
    }

    async fn denials_are_counted_by_reason(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("k", json!(["read:projects/**"])).await;
        let (fenced, fenced_secret) = app.create_key_with(json!({"name": "f", "scopes": ["read"], "allowed_cidrs": ["10.0.0.0/8"]})).await;
        let (gone, gone_secret) = app.create_key("g", json!(["read"])).await;
        let (brief, brief_secret, brief_expires) = app.create_expiring_key(&app.admin_secret, json!({"name": "b", "scopes": ["read"]})).await;
        app.delete(&format!("/v1/keys/{gone}"), &app.admin_secret).await;
        let wrong = latchkey::domain::secret::Secret::generate().expose().to_owned();

        assert_eq!(token(&app, &id, &wrong, None).await, 401);
        assert_eq!(token(&app, &id, &secret, Some("write:projects/1")).await, 400);
        assert_eq!(token(&app, &fenced, &fenced_secret, None).await, 401);
        assert_eq!(token(&app, &gone, &gone_secret, None).await, 401);
        assert_eq!(app.get("/v1/keys", &gone_secret).await.status(), 401);
        sleep_until(brief_expires).await;
        assert_eq!(token(&app, &brief, &brief_secret, None).await, 401);
        assert_eq!(token(&app, &id, &secret, None).await, 200);

        let (v, _) = usage_until(&app, "/v1/usage", |v| v["totals"]["denied"] == 6 && v["totals"]["tokens_issued"] == 1).await;
        assert_eq!(
            v["totals"]["denied_by_reason"],
            json!({"bad_secret": 1, "revoked": 2, "expired": 1, "ip_not_allowed": 1, "scope_not_allowed": 1, "rate_limited": 0, "quota_exhausted": 0})
        );
        let (k, _) = usage_until(&app, &format!("/v1/keys/{id}/usage"), |v| v["totals"]["denied"] == 2).await;
        assert_eq!(k["totals"]["denied_by_reason"]["bad_secret"], 1);
        assert_eq!(k["totals"]["denied_by_reason"]["scope_not_allowed"], 1);
        let top: Vec<&str> = v["top_keys"].as_array().unwrap().iter().map(|k| k["key_id"].as_str().unwrap()).collect();
        assert!(top.contains(&id.as_str()));
    }

    async fn direct_key_authentications_count_as_requests(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("direct", json!(["admin:keys", "read"])).await;
        assert_eq!(app.get("/v1/keys", &secret).await.status(), 200);
        assert_eq!(app.get("/v1/keys", &secret).await.status(), 200);
        let r = app.client.post(app.url("/oauth/introspect")).basic_auth(&id, Some(&secret)).form(&[("token", "x")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (v, _) = usage_until(&app, &format!("/v1/keys/{id}/usage"), |v| v["totals"]["requests"] == 3).await;
        assert_eq!(v["totals"]["tokens_issued"], 0);
    }

    async fn another_orgs_usage_is_invisible(backend) {
        let app = spawn_app(backend).await;
        let (theirs, their_id) = app.other_org("acme");
        assert_eq!(app.get("/v1/keys", &theirs).await.status(), 200);
        let start = Instant::now();
        loop {
            let (_, report) = status_json(app.get("/v1/usage", &theirs).await).await;
            if report["top_keys"][0]["key_id"] == their_id.as_str() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{report}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (_, mine) = status_json(app.get("/v1/usage", &app.admin_secret).await).await;
        assert!(!mine.to_string().contains(&their_id), "{mine}");
        assert_eq!(app.get(&format!("/v1/keys/{their_id}/usage"), &app.admin_secret).await.status(), 404);
    }

    async fn usage_needs_admin_over_its_path_and_valid_parameters(backend) {
        let app = spawn_app(backend).await;
        let (id, secret) = app.create_key("reader", json!(["read:*", {"action": "admin", "resource": "keys/*/usage"}])).await;
        assert_eq!(app.get(&format!("/v1/keys/{id}/usage"), &secret).await.status(), 200);
        assert_eq!(app.get("/v1/usage", &secret).await.status(), 403);
        for q in ["granularity=week", "from=yesterday", "from=2020-01-01T00:00:00Z&to=2020-06-01T00:00:00Z", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"] {
            let (status, _) = status_json(app.get(&format!("/v1/usage?{q}"), &app.admin_secret).await).await;
            assert_eq!(status, 422, "{q}");
        }
        assert_eq!(app.get("/v1/keys/key_nosuchkey0000000/usage", &app.admin_secret).await.status(), 404);
    }

    async fn hour_and_day_buckets_follow_utc_across_midnight(backend) {
        let app = spawn_app(backend).await;
        let (id, _) = app.create_key("clock", json!(["read"])).await;
        let org = app.org_id();
        let recorder = UsageRecorder::default();
        for at in ["2026-03-01T23:10:00Z", "2026-03-01T23:59:59Z", "2026-03-02T00:00:00Z", "2026-03-02T00:30:00Z", "2026-03-02T00:31:00Z"] {
            recorder.record(&id, UsageEvent::TokenIssued(TokenAuth::ClientSecret), t(at), None);
        }
        recorder.record(&id, UsageEvent::Denied(DenyReason::Expired), t("2026-03-02T01:00:00Z"), None);
        recorder.flush(&app.pool).unwrap();
        let mut conn = app.pool.get().unwrap();

        let days = key_usage(&mut conn, &org, &id, &params("2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z", "day"), t("2026-03-10T00:00:00Z")).unwrap();
        let per_day: Vec<(String, u64)> = days.buckets.iter().map(|b| (b.start.to_rfc3339(), b.tokens_issued)).collect();
        assert_eq!(per_day, vec![("2026-03-01T00:00:00+00:00".into(), 2), ("2026-03-02T00:00:00+00:00".into(), 3)]);
        let hours = key_usage(&mut conn, &org, &id, &params("2026-03-01T23:00:00Z", "2026-03-02T01:00:00Z", "hour"), t("2026-03-10T00:00:00Z")).unwrap();
        let per_hour: Vec<(u64, u64)> = hours.buckets.iter().map(|b| (b.tokens_issued, b.denied)).collect();
        assert_eq!(per_hour, vec![(2, 0), (3, 0), (0, 1)]);
    }

    async fn rolling_hours_up_into_days_keeps_the_totals(backend) {
        let app = spawn_app(backend).await;
        let (a, _) = app.create_key("a", json!(["read"])).await;
        let (b, _) = app.create_key("b", json!(["read"])).await;
        let org = app.org_id();
        let now = t("2026-06-01T12:00:00Z");
        let recorder = UsageRecorder::default();
        for (key, at, event) in [
            (&a, "2026-04-10T01:00:00Z", UsageEvent::TokenIssued(TokenAuth::ClientSecret)),
            (&a, "2026-04-10T13:00:00Z", UsageEvent::TokenIssued(TokenAuth::ClientSecret)),
            (&a, "2026-04-11T02:00:00Z", UsageEvent::Request),
            (&b, "2026-04-10T05:00:00Z", UsageEvent::Denied(DenyReason::IpNotAllowed)),
            (&b, "2026-05-30T05:00:00Z", UsageEvent::TokenIssued(TokenAuth::ClientSecret)),
        ] {
            recorder.record(key, event, t(at), None);
        }
        recorder.flush(&app.pool).unwrap();
        let mut conn = app.pool.get().unwrap();
        let window = params("2026-04-01T00:00:00Z", "2026-06-01T00:00:00Z", "day");
        let before = org_usage(&mut conn, &org, &window, &Default::default(), now).unwrap();

        let hourly_cutoff = now - chrono::Duration::days(35);
        let rolled = latchkey::store::usage::roll_up(&mut conn, hourly_cutoff, now - chrono::Duration::days(400)).unwrap();
        assert_eq!(rolled, 4, "the four hourly rows older than 35 days");
        let after = org_usage(&mut conn, &org, &window, &Default::default(), now).unwrap();
        assert_eq!(after.totals, before.totals);
        assert_eq!(after.buckets, before.buckets);
        assert_eq!(latchkey::store::usage::roll_up(&mut conn, hourly_cutoff, now - chrono::Duration::days(400)).unwrap(), 0, "idempotent");
        let dropped = latchkey::store::usage::roll_up(&mut conn, hourly_cutoff, t("2026-05-01T00:00:00Z")).unwrap();
        assert_eq!(dropped, 0);
        let late = org_usage(&mut conn, &org, &window, &Default::default(), now).unwrap();
        assert_eq!(late.totals.tokens_issued, 1, "daily rows older than the daily retention are gone");
    }
}

fn params(from: &str, to: &str, granularity: &str) -> UsageParams {
    UsageParams {
        from: Some(from.into()),
        to: Some(to.into()),
        granularity: Some(granularity.into()),
    }
}
