#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Schema-driven fuzzing of the whole HTTP API with Schemathesis (`schemathesis run`, pinned in
//! tests/schemathesis/requirements.txt) against a server started here: every operation of
//! `GET /v1/openapi.json`, in every phase (the document's examples, boundary coverage, random
//! fuzzing, stateful sequences that follow the ids responses return), with every check on but
//! the ones tests/schemathesis/schemathesis.toml turns off and says why: no 5xx, responses
//! conform to the document (status code, content type, headers, body schema), schema-valid
//! requests accepted and schema-violating ones rejected, authentication not ignored, and so on.
//!
//! The server is the in-process one of the other suites (loopback, fresh SQLite file). The run
//! authenticates as org `default`'s bootstrap admin key (`*:*`, the raw secret as Bearer token),
//! and at the token endpoint as a client key made here; two more keys give the `{id}`
//! parameters something real to name (tests/schemathesis/hooks.py says which is used where, and
//! keeps the run from locking itself out). The run is deterministic
//! (`generation.deterministic`) and bounded: `LATCHKEY_SCHEMATHESIS_EXAMPLES` test cases per
//! operation and phase (default `DEFAULT_EXAMPLES`). Any failure fails the test with
//! Schemathesis's report, which has a `curl` line to reproduce each failure.
//!
//! Schemathesis is installed on first use into target/schemathesis/venv (tests/support/
//! provision.rs: `python3` with its venv module must be on PATH). To run it by hand against a
//! server of your own, see tests/schemathesis/README.md.

#[path = "support/provision.rs"]
mod provision;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latchkey::config::Settings;
use latchkey::startup::Application;
use provision::{Workspace, capture};
use serde_json::{Value, json};

/// Test cases per operation and phase: about a minute on two cores.
const DEFAULT_EXAMPLES: u32 = 150;
/// The whole Schemathesis run.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

const WORKSPACE: Workspace = Workspace {
    name: "schemathesis",
    required_by: "the schemathesis test (tests/schemathesis.rs)",
};

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis")
}

fn examples() -> u32 {
    match std::env::var("LATCHKEY_SCHEMATHESIS_EXAMPLES") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("LATCHKEY_SCHEMATHESIS_EXAMPLES={v:?}: not a count")),
        Err(_) => DEFAULT_EXAMPLES,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_in_the_openapi_document() {
    let python = tokio::task::spawn_blocking(|| {
        WORKSPACE.python_venv(&source_dir().join("requirements.txt"), "venv/1")
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"));
    let schemathesis = python.with_file_name("schemathesis");

    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::local(
        format!("sqlite://{}", dir.path().join("latchkey.db").display()),
        dir.path().join("keys"),
    );
    // The run fails authentication on purpose (the ignored_auth check, bad Basic credentials
    // at the token endpoint), all from 127.0.0.1: the throttle stays on, with room enough that
    // a 429 never stands in for the answer being checked.
    settings.auth_throttle.burst = 100_000;
    settings.auth_throttle.per_sec = 1_000.0;
    // Whether a webhook's host resolves to a private address is not in the schema (it cannot
    // be): the generated URLs' hosts are let through here, and the SSRF rules have their own
    // tests (tests/api/webhooks.rs). Nothing is delivered: no event subscribed to gets made
    // to a reachable receiver.
    settings.webhooks.reach = latchkey::outbound::Reach {
        http: false,
        private: true,
    };
    let app = Application::build(settings).expect("application builds");
    let boot = app
        .bootstrapped
        .as_ref()
        .expect("an empty database bootstraps org default");
    let (admin_id, admin_secret) = (boot.key.id.clone(), boot.secret.expose().to_owned());
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    // The keys hooks.py describes, besides the admin key.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let create = |name: &'static str| {
        let request = http
            .post(format!("{base}/v1/keys"))
            .bearer_auth(&admin_secret)
            .json(&json!({"name": name, "scopes": ["read:projects/**", "write:projects/42"]}));
        async move {
            let r = request.send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 201, "creating the {name} key failed: {body}");
            let id = body["key"]["id"].as_str().unwrap().to_owned();
            (id, body["secret"].as_str().unwrap().to_owned())
        }
    };
    let (target_id, _) = create("schemathesis target").await;
    let (revoked_id, _) = create("schemathesis revocations").await;
    let (client_id, client_secret) = create("schemathesis client").await;
    let client_basic = STANDARD.encode(format!("{client_id}:{client_secret}"));

    let examples = examples();
    let schema_url = format!("{base}/v1/openapi.json");
    // Reports and any scratch files go to a folder of this run, not the source tree.
    let cwd = dir.path().join("run");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = Command::new(&schemathesis);
    cmd.arg("--config-file")
        .arg(source_dir().join("schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(&schema_url)
        .args(["--max-examples", &examples.to_string()])
        .current_dir(&cwd)
        .env("SCHEMATHESIS_HOOKS", source_dir().join("hooks.py"))
        .env("LATCHKEY_ADMIN_KEY_ID", &admin_id)
        .env("LATCHKEY_ADMIN_SECRET", &admin_secret)
        .env("LATCHKEY_TARGET_KEY_ID", &target_id)
        .env("LATCHKEY_REVOKED_KEY_ID", &revoked_id)
        .env("LATCHKEY_CLIENT_KEY_ID", &client_id)
        .env("LATCHKEY_CLIENT_BASIC", &client_basic)
        // Loopback only, whatever proxy the machine has configured.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        // Wide lines: each failure's `curl` reproduction stays on one line.
        .env("COLUMNS", "200")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME");
    let started = Instant::now();
    let run = tokio::task::spawn_blocking(move || capture(cmd, RUN_TIMEOUT))
        .await
        .unwrap()
        .expect("schemathesis starts");
    let report = run.report(&format!(
        "schemathesis run --max-examples {examples} {schema_url} ({:.0} s)",
        started.elapsed().as_secs_f64()
    ));
    assert!(run.status.success() && !run.timed_out, "{report}");
    // Shown with --nocapture: what ran, how many cases, and the warnings.
    println!("{report}");
}
