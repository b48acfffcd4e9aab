//! `spawn()`: a Latchkey server on loopback over a fresh SQLite file, and request helpers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use latchkey::config::Settings;
use latchkey::startup::Application;
use latchkey_verify::{Verifier, VerifierBuilder};
use reqwest::Client;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

pub struct Server {
    pub address: String,
    pub admin_secret: String,
    pub admin_key_id: String,
    pub client: Client,
    _dir: tempfile::TempDir,
}

pub async fn spawn() -> Server {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(customise: impl FnOnce(&mut Settings)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::local(
        format!("sqlite://{}", dir.path().join("latchkey.db").display()),
        dir.path().join("keys"),
    );
    customise(&mut s);
    let app = Application::build(s).expect("application builds");
    let boot = app
        .bootstrapped
        .as_ref()
        .expect("a fresh database is bootstrapped");
    let (admin_secret, admin_key_id) = (boot.secret.expose().to_owned(), boot.key.id.clone());
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    Server {
        address,
        admin_secret,
        admin_key_id,
        client: Client::new(),
        _dir: dir,
    }
}

/// Short rotation windows: JWKS max-age 2 s, leeway 2 s.
pub fn short_windows(s: &mut Settings) {
    s.jwks_max_age = Duration::from_secs(2);
    s.rotation_leeway = Duration::from_secs(2);
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A verifier of this server's tokens, by discovery.
    pub fn verifier(&self) -> VerifierBuilder {
        Verifier::builder(&self.address)
    }

    pub async fn post(&self, path: &str, secret: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(secret)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Creates a key with `scopes` as the bootstrap admin; `(id, secret)`.
    pub async fn create_key(&self, scopes: Value) -> (String, String) {
        let body = json!({"name": "test", "scopes": scopes});
        let (status, v) = self.post("/v1/keys", &self.admin_secret, &body).await;
        assert_eq!(status, 201, "{v}");
        (
            v["key"]["id"].as_str().unwrap().to_owned(),
            v["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let r = self
            .client
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin_key_id, &self.admin_secret).await
    }

    pub async fn revoke(&self, id: &str) {
        let path = format!("/v1/keys/{id}/revoke");
        let (status, v) = self.post(&path, &self.admin_secret, &json!({})).await;
        assert_eq!(status, 200, "{v}");
    }

    /// `POST /v1/signing-keys/rotate` with `body`.
    pub async fn rotate(&self, body: Value) -> (u16, Value) {
        self.post("/v1/signing-keys/rotate", &self.admin_secret, &body)
            .await
    }

    /// Requests the server answered on `route` so far (its `/metrics`).
    pub async fn requests_to(&self, route: &str) -> u64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let prefix = format!("http_requests_total{{route=\"{route}\"");
        text.lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }
}

/// The `kid` of a token's header.
pub fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// A TCP proxy to `target` that can be taken down (every connection, open or new, dropped)
/// and brought back: the JWKS endpoint "down" without stopping the server.
pub struct Proxy {
    pub address: String,
    up: Arc<AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let target = target.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let up = Arc::new(AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (is_up, gen_tx) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !is_up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed
                }
                let target = target.clone();
                let mut down = gen_tx.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.changed() => {}
                    }
                });
            }
        });
        Proxy {
            address,
            up,
            generation,
        }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            self.generation.send_modify(|g| *g += 1);
        }
    }
}
