//! The webhook receiver of the tests (tests/webhooks/receiver.py): a real HTTP server that
//! verifies each delivery with the `standardwebhooks` library, driven from Rust.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::provision::Workspace;

static WORKSPACE: Workspace = Workspace {
    name: "webhooks",
    required_by: "the webhook tests (tests/api/webhooks.rs)",
};

pub struct Receiver {
    child: Child,
    port: u16,
    client: reqwest::Client,
}

impl Receiver {
    /// Starts a receiver on a free loopback port (provisioning its venv on first use).
    pub async fn start() -> Receiver {
        tokio::task::spawn_blocking(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks");
            let python = WORKSPACE
                .python_venv(&dir.join("requirements.txt"), "venv/1")
                .unwrap_or_else(|e| panic!("{e}"));
            let mut child = Command::new(python)
                .arg(dir.join("receiver.py"))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the receiver starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut line)
                .expect("the receiver says its port");
            let port = line
                .trim()
                .strip_prefix("port ")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("the receiver said {line:?}"));
            Receiver {
                child,
                port,
                client: reqwest::Client::new(),
            }
        })
        .await
        .unwrap()
    }

    /// Where deliveries go.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    async fn control(&self, path: &str, body: String) {
        let r = self
            .client
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{path}");
    }

    /// The secret deliveries are verified with.
    pub async fn secret(&self, secret: &str) {
        self.control("/_secret", secret.to_owned()).await;
    }

    /// Answers the next `count` deliveries with `status`, unverified.
    pub async fn fail(&self, count: u32, status: u16) {
        self.control(
            "/_fail",
            serde_json::json!({"count": count, "status": status}).to_string(),
        )
        .await;
    }

    /// Moves the library's clock `seconds` on.
    pub async fn later(&self, seconds: u64) {
        self.control("/_later", seconds.to_string()).await;
    }

    /// Every request to the hook so far, in arrival order.
    pub async fn log(&self) -> Vec<Value> {
        self.client
            .get(format!("http://127.0.0.1:{}/_log", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The verified deliveries so far.
    pub async fn verified(&self) -> Vec<Value> {
        let mut log = self.log().await;
        log.retain(|e| e["verified"] == true);
        log
    }

    /// Sends a request to the hook as an attacker (or a replaying proxy) would.
    pub async fn send(&self, headers: &[(&str, &str)], body: &str) -> u16 {
        let mut request = self.client.post(self.url()).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().status().as_u16()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
