//! `spawn_app()`: a real server on loopback over a fresh SQLite file (and, once the backend
//! matrix lands, PostgreSQL), plus small request helpers.

use chrono::{DateTime, Utc};
use latchkey::config::Settings;
use latchkey::crypto::MasterKey;
use latchkey::service;
use latchkey::startup::Application;
use latchkey::store::{self, Pool, PoolOptions};
use reqwest::{Client, Response};
use serde_json::{Value, json};

pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// Secret of org `default`'s bootstrap admin key (`*:*`).
    pub admin_secret: String,
    pub admin_key_id: String,
    pub pool: Pool,
    pub master: MasterKey,
    pub database_url: String,
    pub keys_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub fn settings(dir: &std::path::Path) -> Settings {
    Settings::local(
        format!("sqlite://{}", dir.join("latchkey.db").display()),
        dir.join("keys"),
    )
}

/// The storage backend a test runs on; every test runs on both (see `backend_tests!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Turns each `async fn name(backend) { … }` into `name::sqlite` and `name::postgres` tests.
/// The PostgreSQL variant says it was skipped when PostgreSQL is not installed.
macro_rules! backend_tests {
    ($( $(#[$meta:meta])* async fn $name:ident($b:ident) $body:block )*) => { $(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $b = $crate::helpers::Backend::Sqlite;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                if $crate::postgres::server().is_none() {
                    return;
                }
                let $b = $crate::helpers::Backend::Postgres;
                $body
            }
        }
    )* };
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, customise: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    if backend == Backend::Postgres {
        s.database_url = crate::postgres::fresh_database_url().expect("PostgreSQL is available");
    }
    customise(&mut s);
    let app = Application::build(s.clone()).expect("application builds");
    // A second server on the same database (a second node) finds org `default` already there.
    let (admin_secret, admin_key_id) = match app.bootstrapped.as_ref() {
        Some(boot) => (boot.secret.expose().to_owned(), boot.key.id.clone()),
        None => (String::new(), String::new()),
    };
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let pool = store::connect(
        &s.database_url,
        &PoolOptions {
            max_size: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let master = MasterKey::resolve(None, &s.keys_dir).unwrap();
    TestApp {
        address,
        client: Client::new(),
        admin_secret,
        admin_key_id,
        pool,
        master,
        database_url: s.database_url.clone(),
        keys_dir: s.keys_dir.clone(),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str, secret: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, secret: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(secret)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, secret: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .bearer_auth(secret)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str, secret: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap()
    }

    /// A token request of key `id` (client credentials, HTTP Basic), answered as it is.
    pub async fn token_request(&self, id: &str, secret: &str) -> Response {
        self.client
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
    }

    /// An access token of key `id` (client credentials, HTTP Basic).
    pub async fn access_token(&self, id: &str, secret: &str) -> String {
        let v: Value = self.token_request(id, secret).await.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a key as the bootstrap admin; returns `(id, secret)`.
    pub async fn create_key(&self, name: &str, scopes: Value) -> (String, String) {
        self.create_key_with(json!({"name": name, "scopes": scopes}))
            .await
    }

    pub async fn create_key_with(&self, body: Value) -> (String, String) {
        let r = self.post("/v1/keys", &self.admin_secret, &body).await;
        assert_eq!(r.status(), 201, "create failed");
        let v: Value = r.json().await.unwrap();
        (
            v["key"]["id"].as_str().unwrap().to_owned(),
            v["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates, as `caller`, the key `body` describes with an `expires_at` a moment from now;
    /// returns its id, secret and expiry. The server refuses an `expires_at` that has passed by
    /// the time the request is handled (422 on `expires_at`): on a slow machine a window that
    /// proved too short is tried again, twice as long, instead of failing the test.
    pub async fn create_expiring_key(
        &self,
        caller: &str,
        mut body: Value,
    ) -> (String, String, DateTime<Utc>) {
        let mut window = chrono::Duration::milliseconds(1500);
        loop {
            let expires_at = Utc::now() + window;
            body["expires_at"] = json!(expires_at.to_rfc3339());
            let (status, v) = status_json(self.post("/v1/keys", caller, &body).await).await;
            if status == 201 {
                return (
                    v["key"]["id"].as_str().unwrap().to_owned(),
                    v["secret"].as_str().unwrap().to_owned(),
                    expires_at,
                );
            }
            assert!(
                status == 422
                    && error_fields(&v) == ["expires_at"]
                    && window < chrono::Duration::seconds(30),
                "creating a key that expires in {window}: {status} {v}"
            );
            window = window * 2;
        }
    }

    /// The id of org `default` (the bootstrap admin's org).
    pub fn org_id(&self) -> String {
        let mut conn = self.pool.get().unwrap();
        latchkey::store::orgs::find_by_slug(&mut conn, "default")
            .unwrap()
            .unwrap()
            .id
    }

    /// Creates and bootstraps another org straight through the service layer; returns its admin
    /// secret and key id.
    pub fn other_org(&self, slug: &str) -> (String, String) {
        let mut conn = self.pool.get().unwrap();
        service::orgs::create(&mut conn, slug, service::now()).unwrap();
        let prefix = Default::default();
        let b = service::orgs::bootstrap(&mut conn, &self.master, slug, &prefix, service::now())
            .unwrap();
        (b.secret.expose().to_owned(), b.key.id)
    }
}

/// Status and parsed JSON body of a response.
pub async fn status_json(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Sleeps until the wall clock is past `t` (plus a little, for the server's own reading of it).
pub async fn sleep_until(t: DateTime<Utc>) {
    let left = t + chrono::Duration::milliseconds(100) - Utc::now();
    tokio::time::sleep(left.to_std().unwrap_or_default()).await;
}

/// Sleeps until an access token whose `exp` claim is `exp` (Unix seconds) has expired: the
/// server refuses a token once the current whole second is past `exp`.
pub async fn sleep_past_exp(exp: i64) {
    sleep_until(DateTime::from_timestamp(exp + 1, 0).unwrap()).await;
}

/// An RFC 3339 time of a response, for comparing times (as text, `…:05Z` would sort after
/// `…:05.000123Z`: the fraction is left out when it is zero).
pub fn time(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}
