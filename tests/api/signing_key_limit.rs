//! At most `MAX_PUBLISHED_SIGNING_KEYS` (10) published signing keys per org, next keys counted:
//! the JWKS is one document for every org, so one org rotating in a loop must not grow it for
//! all. A promotion or staged rotation beyond the bound answers `429 too_many_signing_keys` with
//! `Retry-After`, changes nothing, and holds under concurrency on both backends; an immediate
//! (compromise) rotation is never refused and takes the oldest retired key out early instead.

use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;
use latchkey::crypto::signing::{self, SigningAlg};
use latchkey::domain::signing_key::{KeyTimes, MAX_PUBLISHED_SIGNING_KEYS};
use latchkey::store::schema::signing_keys;
use latchkey::store::signing_keys::StoredSigningKey;
use latchkey::store::{self, StoreError};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, status_json};
use crate::signing_keys::{ROTATE, jwks, jwks_kids, listing, rotate};

/// How long a rotation must still be waiting for a held transaction: generous, since one that
/// wrongly goes ahead finishes in milliseconds.
const HELD: Duration = Duration::from_millis(300);

/// Promotes the default org's next key `n` times as its admin, asserting success: each adds
/// one published key (the new next key; the retired one stays).
async fn rotate_times(app: &TestApp, n: usize) {
    for i in 0..n {
        let body = [json!({}), json!({"alg": "EdDSA"})][i % 2].clone();
        let (status, v) = rotate(app, &app.admin_secret, Some(body)).await;
        assert_eq!(status, 201, "rotation {i}: {v}");
    }
}

/// Bootstrap publishes two keys, the current and the next one.
const BOOTSTRAP_KEYS: usize = 2;

/// The `unpublish_at` of the org's oldest published retired key, and its kid.
async fn oldest_retired(app: &TestApp) -> (String, DateTime<Utc>) {
    let (_, listed) = listing(app, &app.admin_secret).await;
    listed["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] == "retired")
        .map(|k| {
            let at: DateTime<Utc> = k["unpublish_at"].as_str().unwrap().parse().unwrap();
            (k["kid"].as_str().unwrap().to_owned(), at)
        })
        .min_by_key(|(_, at)| *at)
        .unwrap()
}

fn published(listed: &Value) -> usize {
    listed["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["status"] != "unpublished")
        .count()
}

async fn rotation_events(app: &TestApp) -> usize {
    let (status, v) = status_json(
        app.get(
            "/v1/audit?action=signing_key.rotated&limit=200",
            &app.admin_secret,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["events"].as_array().unwrap().len()
}

/// Asserts `429 too_many_signing_keys` with a problem document; returns `Retry-After`.
async fn assert_refused(response: reqwest::Response) -> u64 {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let (_, v) = status_json(response).await;
    assert_eq!(status, 429, "{v}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(v["type"], "too_many_signing_keys", "{v}");
    assert_eq!(v["status"], 429);
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("10 published signing keys") && detail.contains("the most allowed is 10"),
        "{detail}"
    );
    retry_after.expect("Retry-After")
}

/// A retired, still published key of `org_id`, as a rotation leaves one behind.
fn retired_key(app: &TestApp, org_id: &str) -> StoredSigningKey {
    let generated = signing::generate(SigningAlg::EdDsa).unwrap();
    let now = latchkey::service::now();
    StoredSigningKey {
        private_sealed: app
            .master
            .seal(&generated.private_pkcs8, generated.kid.as_bytes()),
        kid: generated.kid,
        org_id: org_id.to_owned(),
        alg: generated.alg.to_owned(),
        public_jwk: generated.public_jwk,
        created_at: now,
        times: KeyTimes {
            activates_at: Some(now),
            retired_at: Some(now),
            unpublish_at: Some(now + TimeDelta::seconds(600)),
        },
    }
}

backend_tests! {
async fn the_eleventh_published_signing_key_is_refused_until_a_retired_one_leaves(backend) {
    let app = spawn_app(backend).await;
    rotate_times(&app, MAX_PUBLISHED_SIGNING_KEYS - BOOTSTRAP_KEYS).await;
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(published(&listed), 10);
    let full_jwks = jwks(&app).await;
    assert_eq!(jwks_kids(&full_jwks).len(), 10);

    // The 11th: refused, with the time until the oldest retired key leaves the JWKS.
    let (_, leaves_first) = oldest_retired(&app).await;
    // A promotion, with or without the next key's alg, and a staged rotation (which publishes
    // the staged key and the next key for after it, and unpublishes the next key).
    for body in [json!({}), json!({"alg": "RS256"}), json!({"alg": "EdDSA"})] {
        let before = Utc::now();
        let r = app
            .client
            .post(app.url(ROTATE))
            .bearer_auth(&app.admin_secret)
            .json(&body)
            .send()
            .await
            .unwrap();
        let after = Utc::now();
        let retry_after = assert_refused(r).await;
        // Whole seconds until that key leaves, as the server saw the time between the two
        // readings here (a second's slack for rounding).
        let earliest = (leaves_first - after).num_seconds();
        let latest = (leaves_first - before).num_seconds() + 1;
        assert!(
            (earliest..=latest).contains(&(retry_after as i64)),
            "Retry-After {retry_after} for a key leaving at {leaves_first} ({before} … {after})"
        );
        assert!((600..=660).contains(&retry_after), "{retry_after}");
    }
    // Nothing changed: the same keys, the same JWKS, no audit event.
    let (_, after) = listing(&app, &app.admin_secret).await;
    assert_eq!(after, listed);
    assert_eq!(jwks(&app).await, full_jwks, "the JWKS stays bounded");
    assert_eq!(rotation_events(&app).await, 8);

    // The bound is per org: another org rotates freely.
    let (theirs, _) = app.other_org("acme");
    assert_eq!(rotate(&app, &theirs, None).await.0, 201);

    // Once the oldest retired key's window has ended, a rotation fits again, and only one.
    let (kid, _) = oldest_retired(&app).await;
    let past = (Utc::now() - TimeDelta::seconds(1)).naive_utc();
    let mut conn = app.pool.get().unwrap();
    diesel::update(signing_keys::table.filter(signing_keys::kid.eq(&kid)))
        .set(signing_keys::unpublish_at.eq(Some(past)))
        .execute(&mut *conn)
        .unwrap();
    let (status, v) = rotate(&app, &app.admin_secret, None).await;
    assert_eq!(status, 201, "{v}");
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(published(&listed), 10);
    let r = app.client.post(app.url(ROTATE)).bearer_auth(&app.admin_secret).send().await.unwrap();
    assert_refused(r).await;

    // A compromised key is replaced at once even so: the retired key that would leave first
    // leaves now, and the answer says so.
    let (leaving, _) = oldest_retired(&app).await;
    let (status, v) = rotate(&app, &app.admin_secret, Some(json!({"immediate": true}))).await;
    assert_eq!(status, 201, "{v}");
    let codes: Vec<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["verifiers_may_refuse", "retired_key_unpublished_early"], "{v}");
    assert!(v["warnings"][1]["message"].as_str().unwrap().contains(&leaving), "{v}");
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(published(&listed), 10);
    let ours: Vec<&str> = listed["signing_keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    let served = jwks_kids(&jwks(&app).await);
    assert!(!served.contains(&leaving));
    assert_eq!(served.iter().filter(|k| ours.contains(&k.as_str())).count(), 10);

    // The document says so.
    let doc: Value = app.client.get(app.url("/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let documented = &doc["paths"][ROTATE]["post"]["responses"]["429"]["$ref"];
    let reference = documented.as_str().unwrap().strip_prefix('#').unwrap();
    let response = doc.pointer(reference).unwrap();
    assert!(response["description"].as_str().unwrap().contains("too_many_signing_keys"), "{response}");
    assert!(response["headers"].get("Retry-After").is_some(), "{response}");
}

/// Two rotations with one place left cannot both take it: the count is made under the org's
/// lock, after the other rotation's key is committed. A transaction holding that lock with a
/// key inserted (a rotation that took the last place, not yet committed) makes a rotation
/// wait, which then counts that key and is refused.
async fn a_rotation_waits_for_one_in_flight_and_counts_its_key(backend) {
    let app = spawn_app(backend).await;
    rotate_times(&app, MAX_PUBLISHED_SIGNING_KEYS - BOOTSTRAP_KEYS - 1).await;
    let org = app.org_id();
    let key = retired_key(&app, &org);
    let (inserted_tx, inserted) = mpsc::channel();
    let (commit_tx, commit) = mpsc::channel::<()>();
    let mut held = app.pool.get().unwrap();
    let holder = std::thread::spawn(move || {
        store::write_tx(&mut held, |c| {
            assert!(store::signing_keys::lock_org(c, &org)?);
            store::signing_keys::insert(c, &key)?;
            inserted_tx.send(()).unwrap();
            commit.recv().unwrap();
            Ok::<_, StoreError>(())
        })
        .unwrap();
    });
    inserted.recv().unwrap();
    let request = app
        .client
        .post(app.url(ROTATE))
        .bearer_auth(&app.admin_secret)
        .send();
    let rotation = tokio::spawn(request);
    tokio::time::sleep(HELD).await;
    assert!(
        !rotation.is_finished(),
        "a rotation went ahead while another held the org's last place"
    );
    commit_tx.send(()).unwrap();
    holder.join().unwrap();
    assert_refused(rotation.await.unwrap().unwrap()).await;
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(published(&listed), 10);
}

async fn concurrent_rotations_fill_the_last_place_once(backend) {
    let app = spawn_app(backend).await;
    rotate_times(&app, MAX_PUBLISHED_SIGNING_KEYS - BOOTSTRAP_KEYS - 1).await;
    let results = futures_util::future::join_all(
        (0..4).map(|_| rotate(&app, &app.admin_secret, None)),
    )
    .await;
    let mut statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 429, 429, 429], "{results:?}");
    let (_, listed) = listing(&app, &app.admin_secret).await;
    assert_eq!(published(&listed), 10);
    assert_eq!(jwks_kids(&jwks(&app).await).len(), 10);
}
}
