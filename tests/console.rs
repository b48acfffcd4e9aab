#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The web console (`/console/`, files in src/console/).
//!
//! Over plain HTTP: the page and every file it references (stylesheets, scripts, their ES-module
//! imports, the vendored chart library) are served with the right content type and the strict
//! Content-Security-Policy; the sources hold no inline code; the vendored uPlot is byte for byte
//! the npm release named in tests/console/package.json.
//!
//! In a browser: tests/console/e2e.mjs drives headless Chromium (playwright-core, from the
//! committed lockfile, `npm ci` into target/console/node once) through the console against a
//! server started here, asserting each step (the accessibility of the main views too, with
//! axe-core's WCAG A/AA rules) and saving screenshots to target/console/screenshots/.
//! Without /usr/bin/chromium (or `LATCHKEY_CHROMIUM`) that test prints
//! `SKIPPED (console e2e): chromium not installed` and passes, unless
//! `LATCHKEY_REQUIRE_CHROMIUM=1` (which .ci/run sets after installing it).
//!
//! To run the script by hand against a running server, see the head of tests/console/e2e.mjs.

#[path = "console/node.rs"]
mod node;
#[path = "support/provision.rs"]
mod provision;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use latchkey::config::Settings;
use latchkey::http::console::{ASSETS, CONTENT_SECURITY_POLICY, path_of};
use latchkey::outbound::Reach;
use latchkey::startup::Application;
use serde_json::{Value, json};

/// The server's token TTL in the browser test: short, so that the console must renew its token
/// while the test runs.
const E2E_TOKEN_TTL: Duration = Duration::from_secs(15);
/// The whole browser run; it takes about 25 s.
const E2E_TIMEOUT: Duration = Duration::from_secs(240);

struct Server {
    base: String,
    admin_id: String,
    admin_secret: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Same recipe as tests/api/helpers.rs: port 0 on loopback, a temporary SQLite file. `issuers`
/// is what fetching a key's `jwks_uri` or a federated issuer may reach.
async fn spawn_server(token_ttl: Duration, issuers: Reach) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::local(
        format!("sqlite://{}", dir.path().join("latchkey.db").display()),
        dir.path().join("keys"),
    );
    settings.token_ttl = token_ttl;
    // The browser test's webhook receiver listens on loopback, over http.
    settings.webhooks.reach = Reach {
        http: true,
        private: true,
    };
    settings.webhooks.poll = Duration::from_millis(100);
    settings.reach = issuers;
    let app = Application::build(settings).expect("application builds");
    let boot = app
        .bootstrapped
        .as_ref()
        .expect("an empty database bootstraps org default");
    let (admin_id, admin_secret) = (boot.key.id.clone(), boot.secret.expose().to_owned());
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Server {
        base,
        admin_id,
        admin_secret,
        http,
        _dir: dir,
    }
}

impl Server {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn admin_get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_secret)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn assert_secured(r: &reqwest::Response, what: &str) {
    assert_eq!(
        header(r, "content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
    assert_eq!(header(r, "cache-control"), "no-cache", "{what}");
}

fn console_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console")
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The values of `attr="…"` in an HTML text.
fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The module specifiers a script imports (`import … from './x.js'`, `import './x.js'`).
fn imports(js: &str) -> Vec<String> {
    js.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("import ") || l.starts_with("} from "))
        .filter_map(|l| {
            let quote = l.rfind(['\'', '"'])?;
            let open = l[..quote].rfind(['\'', '"'])?;
            Some(l[open + 1..quote].to_owned())
        })
        .collect()
}

/// Resolves a relative reference against a `/console/…` URL path.
fn resolve(base: &str, reference: &str) -> String {
    let mut parts: Vec<&str> = base.split('/').collect();
    parts.pop();
    for segment in reference.split('/') {
        match segment {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

// ---------------------------------------------------------------------------------------------
// Over HTTP, no browser
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_console_is_served_with_a_strict_content_security_policy() {
    let server = spawn_server(Duration::from_secs(600), Reach::default()).await;

    let r = server.get("/console").await;
    assert_eq!(r.status(), 308);
    assert_eq!(
        header(&r, "location"),
        "console/",
        "relative: /console → /console/"
    );
    assert_secured(&r, "/console");

    let r = server.get("/console/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert_secured(&r, "/console/");
    assert_eq!(header(&r, "x-frame-options"), "DENY");
    let etag = header(&r, "etag");
    assert!(etag.starts_with('"') && etag.len() > 10, "etag {etag:?}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<title>Latchkey console</title>"));

    // Revalidation is cheap: the same ETag answers 304 with the same headers and no body.
    let r = server
        .http
        .get(format!("{}/console/", server.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_secured(&r, "304");
    assert_eq!(header(&r, "etag"), etag);

    let r = server
        .http
        .head(format!("{}/console/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(r.bytes().await.unwrap().is_empty(), "HEAD has no body");

    // Fixed files only: other methods are 405 with Allow, unknown names the API's 404.
    let r = server
        .http
        .post(format!("{}/console/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow"), "GET, HEAD");
    let r = server.get("/console/nope.js").await;
    assert_eq!(r.status(), 404);
    assert_eq!(header(&r, "content-type"), "application/problem+json");
}

#[tokio::test]
async fn every_file_the_page_references_is_served() {
    let server = spawn_server(Duration::from_secs(600), Reach::default()).await;
    let html = server.get("/console/").await.text().await.unwrap();

    let mut queue: Vec<String> = attribute_values(&html, "src")
        .into_iter()
        .chain(attribute_values(&html, "href"))
        .filter(|r| !r.starts_with('#'))
        .map(|r| resolve("/console/", &r))
        .collect();
    assert!(queue.len() >= 4, "the page references {queue:?}");
    let mut fetched = BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !fetched.insert(path.clone()) {
            continue;
        }
        let r = server.get(&path).await;
        assert_eq!(r.status(), 200, "{path} is referenced but not served");
        assert_secured(&r, &path);
        let content_type = header(&r, "content-type");
        let expected = match path.rsplit('.').next().unwrap() {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            other => panic!("{path}: unexpected kind of file {other}"),
        };
        assert_eq!(content_type, expected, "{path}");
        if path.ends_with(".js") {
            let js = r.text().await.unwrap();
            queue.extend(imports(&js).iter().map(|i| resolve(&path, i)));
        }
    }
    assert!(
        fetched.contains("/console/js/keys.js") && fetched.contains("/console/js/session.js"),
        "the module graph was followed: {fetched:?}"
    );

    // Every file under src/console/ is embedded and served (nothing is forgotten in ASSETS),
    // and nothing else is.
    let on_disk: BTreeSet<String> = files_under(&console_src())
        .iter()
        .map(|p| {
            p.strip_prefix(console_src())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let embedded: BTreeSet<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
    assert_eq!(on_disk, embedded, "src/console/ and http::console::ASSETS");
    for asset in ASSETS {
        let r = server.get(&path_of(asset)).await;
        assert_eq!(r.status(), 200, "{}", asset.name);
        assert_eq!(header(&r, "content-type"), asset.content_type);
        assert_eq!(
            r.bytes().await.unwrap().as_ref(),
            asset.body,
            "{}",
            asset.name
        );
    }
}

/// The CSP forbids inline code; these checks keep the sources from needing it, and keep the
/// scripts from building markup out of strings or storing anything in the browser.
#[test]
fn the_console_has_no_inline_code_and_stores_nothing() {
    let html = std::fs::read_to_string(console_src().join("index.html")).unwrap();
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src=\""), "inline script: {tag}");
    }
    assert!(!html.contains("<style"), "inline <style>");
    assert!(!html.contains(" style=\""), "style attribute");
    let handlers: Vec<&str> = html
        .split(|c: char| c.is_whitespace())
        .filter(|w| w.starts_with("on") && w.contains("=\""))
        .collect();
    assert!(handlers.is_empty(), "inline event handlers: {handlers:?}");
    assert!(!html.contains("javascript:"), "javascript: URL");

    const FORBIDDEN: &[&str] = &[
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "setAttribute('style'",
        "localStorage",
        "sessionStorage",
        "document.cookie",
        "indexedDB",
    ];
    let scripts: Vec<PathBuf> = files_under(&console_src().join("js"));
    assert!(scripts.len() >= 5, "{scripts:?}");
    for path in scripts {
        let js = std::fs::read_to_string(&path).unwrap();
        for (n, line) in js.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for f in FORBIDDEN {
                assert!(
                    !line.contains(f),
                    "{}:{}: `{f}` in the console's code",
                    path.display(),
                    n + 1
                );
            }
        }
    }
}

/// src/console/vendor/uplot is the npm release that tests/console/package.json pins, unmodified,
/// with its licence.
#[tokio::test]
async fn the_vendored_chart_library_is_the_npm_release() {
    let dir = tokio::task::spawn_blocking(node::provisioned)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    let release = dir.join("node_modules/uplot");
    let vendored = console_src().join("vendor/uplot");
    for (ours, theirs) in [
        ("uPlot.iife.min.js", "dist/uPlot.iife.min.js"),
        ("uPlot.min.css", "dist/uPlot.min.css"),
        ("LICENSE", "LICENSE"),
    ] {
        let a = std::fs::read(vendored.join(ours)).unwrap();
        let b = std::fs::read(release.join(theirs)).unwrap();
        assert!(
            a == b,
            "src/console/vendor/uplot/{ours} differs from uplot's {theirs}: copy it again from \
             target/console/node/node_modules/uplot"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(release.join("package.json")).unwrap()).unwrap();
    assert_eq!(manifest["license"], "MIT");
}

// ---------------------------------------------------------------------------------------------
// In headless Chromium
// ---------------------------------------------------------------------------------------------

/// `LATCHKEY_CHROMIUM`, else Debian's `/usr/bin/chromium`; `Err` names the path it looked at.
fn chromium() -> Result<PathBuf, PathBuf> {
    let path = std::env::var_os("LATCHKEY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() { Ok(path) } else { Err(path) }
}

/// Every step the issue asks the end-to-end test to cover, as e2e.mjs names them.
const REQUIRED_STEPS: &[&str] = &[
    "the sign-in page with bootstrap help",
    "an org that is not bootstrapped shows how to bootstrap",
    "sign in",
    "console sessions: hidden by default, shown on request and under the key that signed in",
    "keyboard: arrow keys move between tabs",
    "keyboard: the create dialog opens, Escape closes it, focus returns",
    "create dialog: Escape on a half-filled form asks first; expiry presets",
    "validation errors appear next to their fields",
    "admin over every resource warns that the key could manage keys",
    "create a key with two scopes, a CIDR and metadata",
    "the secret is shown once and the dialog needs the tick",
    "the secret is not retrievable afterwards",
    "the secret gets a token (curl-equivalent HTTP)",
    "use this key: the curl, Node and Python examples shown get a token",
    "filter and search the list, with pagination",
    "edit scopes with the warning",
    "revoke with confirmation, then see it under Revoked",
    "the chart updates after token requests",
    "limits: server validation errors appear next to their inputs",
    "limits: create a key with a rate limit and a monthly-refill quota",
    "limits: the list shows the remaining credits and the limits",
    "limits: out of credits, a token is refused and counted as Quota exhausted",
    "limits: add and set credits from the key view",
    "limits: edit the rate limit; over it, a token is refused as Rate limited",
    "private_key_jwt: a private JWK is refused next to its own input",
    "private_key_jwt: create a key without a secret; no secret is shown",
    "private_key_jwt: a token for an assertion signed with Node crypto",
    "federation: a key without a secret trusts a workload of a loopback issuer; its token gets an access token",
    "webhooks: add one; errors next to their fields; the signing secret is shown once",
    "webhooks: a test event is delivered, signed, and shown in the delivery log",
    "webhooks: a failing endpoint shows its answer; retry, disable, enable, delete",
    "settings: the leak policy; a key reported leaked is flagged in the list",
    "the audit tab",
    "the signing keys tab: promote the next key, then stage ES256",
    "the token is renewed before it expires, without the pasted secret",
    "a 401 signs out",
    "sign in again, then sign out: the session key is revoked",
    "closing the tab ends its console session",
    "desktop 1280×800: a 200-character name and 40+ keys keep every column and action on screen",
    "dark mode: the system preference is followed, and every screen keeps its contrast",
    "phone 390×844: sign in with taps; the header and the list fit",
    "phone: the long-named key's page; roll and revoke it by taps",
    "phone: create a key and page through the list by taps",
    "phone: every tab fits the screen and passes axe",
    "no script errors and no CSP violations",
];

#[tokio::test]
async fn console_end_to_end_in_headless_chromium() {
    let chromium = match chromium() {
        Ok(path) => path,
        Err(missing) => {
            if std::env::var("LATCHKEY_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
                panic!(
                    "LATCHKEY_REQUIRE_CHROMIUM=1 but {} is missing: apt-get install chromium",
                    missing.display()
                );
            }
            println!("SKIPPED (console e2e): chromium not installed");
            return;
        }
    };
    let dir = tokio::task::spawn_blocking(node::provisioned)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    // The browser test serves a workload identity issuer of its own on loopback, over http
    // (`--allow-http-issuers`, `--allow-private-issuers`).
    let server = spawn_server(
        E2E_TOKEN_TTL,
        Reach {
            http: true,
            private: true,
        },
    )
    .await;
    let screenshots = node::work_dir().join("screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);

    let env = [
        ("CONSOLE_URL", server.base.clone()),
        ("CONSOLE_ADMIN_ID", server.admin_id.clone()),
        ("CONSOLE_ADMIN_SECRET", server.admin_secret.clone()),
        ("CONSOLE_SCREENSHOTS", screenshots.display().to_string()),
        ("CONSOLE_TOKEN_TTL", E2E_TOKEN_TTL.as_secs().to_string()),
        ("CHROMIUM", chromium.display().to_string()),
    ];
    let run = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("e2e.mjs"))
            .current_dir(&dir)
            .envs(env)
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env_remove("NODE_OPTIONS")
            .env_remove("NODE_PATH");
        node::capture(cmd, E2E_TIMEOUT).expect("node starts")
    })
    .await
    .unwrap();
    let report = run.report("node tests/console/e2e.mjs");
    assert!(run.status.success() && !run.timed_out, "{report}");
    eprintln!("{}", run.stderr.trim_end());
    let out: Value = run
        .stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON result line\n{report}"));

    let steps: Vec<&str> = out["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    for required in REQUIRED_STEPS {
        assert!(steps.contains(required), "step {required:?} did not run");
    }
    assert!(out["renewals"].as_u64().unwrap() >= 1, "{out}");
    let shots = std::fs::read_dir(&screenshots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "png")
        })
        .count();
    assert!(
        shots >= 15,
        "{shots} screenshots in {}",
        screenshots.display()
    );

    // Independently of the browser: the key the console created is what the user asked for…
    let key_id = out["key_id"].as_str().unwrap();
    let secret = out["secret"].as_str().unwrap();
    let (status, body) = server.admin_get(&format!("/v1/keys/{key_id}")).await;
    assert_eq!(status, 200, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(key["name"], "billing worker v2");
    assert_eq!(
        key["scopes"],
        json!([
            {"action": "read", "resource": "projects/42/**"},
            {"action": "write", "resource": "projects/42"}
        ])
    );
    assert_eq!(key["allowed_cidrs"], json!(["127.0.0.1/32"]));
    assert_eq!(key["metadata"], json!({"team": "billing"}));
    assert_eq!(key["status"], "revoked");
    // …its secret was real (the server explains a refusal only to a valid secret: "revoked")…
    let r = server
        .http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(key_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let refusal: Value = r.json().await.unwrap();
    assert_eq!(refusal["error"], "invalid_client");
    assert!(
        refusal["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{refusal}"
    );
    // …and nothing the API serves holds it.
    // `secret` says whether the key has one (issue 17): a boolean, never the secret.
    assert_eq!(key["secret"], json!(true), "{key}");
    for path in [
        format!("/v1/keys/{key_id}"),
        "/v1/keys?status=all&limit=200".to_owned(),
        "/v1/audit?limit=200".to_owned(),
        format!("/v1/keys/{key_id}/usage"),
    ] {
        let (status, body) = server.admin_get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains(secret), "{path} holds the secret");
    }
    // The field errors the user saw came from the server, next to their fields.
    assert!(
        out["cidr_error"]
            .as_str()
            .unwrap()
            .contains("not a valid IP address"),
        "{out}"
    );
    assert!(
        out["scope_error"]
            .as_str()
            .unwrap()
            .contains("empty segment"),
        "{out}"
    );
    assert!(
        out["limit_error"]
            .as_str()
            .unwrap()
            .contains("from 1 to 1000000000"),
        "{out}"
    );

    // The metered key the console created and edited: the limit as edited, the refill as
    // created, and the credits the console set (40) less the token issued since; the edit of
    // the limit kept them.
    let metered = out["metered_key_id"].as_str().unwrap();
    let (status, body) = server.admin_get(&format!("/v1/keys/{metered}")).await;
    assert_eq!(status, 200, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(key["name"], "metered worker");
    assert_eq!(
        key["rate_limits"],
        json!([{"name": "per-minute", "limit": 1, "window_seconds": 86400}])
    );
    assert_eq!(
        key["quota"],
        json!({"remaining": 38, "refill": {"amount": 1000, "interval": "monthly", "day_of_month": 15}})
    );
    // The key the console created without a secret: the public key pasted, no secret at all,
    // and a token was issued to an assertion signed with its private key.
    let workload = out["jwt_key_id"].as_str().unwrap();
    let (status, body) = server.admin_get(&format!("/v1/keys/{workload}")).await;
    assert_eq!(status, 200, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&key["secret"], &key["secret_hint"]),
        (&json!(false), &json!(""))
    );
    assert_eq!(key["public_keys"][0]["kid"], out["jwt_kid"]);
    assert_eq!(key["public_keys"][0]["kty"], "OKP");
    assert!(key["public_keys"][0].get("d").is_none(), "{key}");
    assert_eq!(out["jwt_scope"], "read:*", "{out}");
    assert!(
        out["private_jwk_error"]
            .as_str()
            .unwrap()
            .contains("private key member"),
        "{out}"
    );
    // The key the console created to trust a workload: the credential as typed, no secret, and a
    // token was issued to a token its (loopback) issuer minted; the refused glob was shown.
    let federated = out["federated_key_id"].as_str().unwrap();
    let (status, body) = server.admin_get(&format!("/v1/keys/{federated}")).await;
    assert_eq!(status, 200, "{body}");
    let key: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(key["secret"], json!(false), "{key}");
    assert_eq!(
        key["federated_credentials"],
        json!([{
            "issuer": out["federated_issuer"],
            "subject": "repo:acme/app:ref:refs/heads/*",
            "audience": "latchkey-e2e",
        }])
    );
    assert_eq!(
        (&key["public_keys"], &key["jwks_uri"]),
        (&json!([]), &Value::Null)
    );
    assert_eq!(out["federated_scope"], "read:*", "{out}");
    assert!(
        out["federation_error"]
            .as_str()
            .unwrap()
            .contains("two whole segments"),
        "{out}"
    );

    let (status, body) = server
        .admin_get(&format!(
            "/v1/audit?target={metered}&action=key.quota_changed"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let audit: Value = serde_json::from_str(&body).unwrap();
    let changes: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["details"])
        .collect();
    assert!(
        changes.contains(&&json!({"add": 250, "remaining": 250}))
            && changes.contains(&&json!({"set": 40, "remaining": 40})),
        "{audit}"
    );

    // The "use this key" examples were run as shown, and got tokens.
    let run: Vec<&str> = out["snippets_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(run.contains(&"curl") && run.contains(&"Node"), "{out}");

    // The webhook the console added and deleted is gone, its life audited; the server's
    // refusal of a URL with credentials was shown next to the URL; the leak policy is back.
    let webhook = out["webhook_id"].as_str().unwrap();
    let (status, _) = server.admin_get(&format!("/v1/webhooks/{webhook}")).await;
    assert_eq!(status, 404);
    let (_, body) = server
        .admin_get(&format!("/v1/audit?target={webhook}"))
        .await;
    let audit: Value = serde_json::from_str(&body).unwrap();
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["webhook.created", "webhook.updated", "webhook.deleted"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    assert!(
        out["webhook_url_error"]
            .as_str()
            .unwrap()
            .contains("credentials"),
        "{out}"
    );
    let (_, body) = server.admin_get("/v1/org").await;
    assert!(body.contains("\"leak_policy\":\"revoke\""), "{body}");
}
