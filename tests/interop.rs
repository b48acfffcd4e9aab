#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Interoperability: third-party OAuth 2.0 / JOSE client libraries against a real server.
//!
//! Every test starts its own server in process (loopback, fresh SQLite file, issuer
//! `http://127.0.0.1:PORT`, or `…/tenant` and several `--audience`s where a test says so),
//! creates a key through the admin API and points one client at it:
//!
//! - Python (tests/interop/*.py, run with the venv's python): authlib, requests-oauthlib, PyJWT,
//!   plain requests for introspection, openapi-spec-validator and jsonschema for the OpenAPI
//!   document;
//! - Node.js (tests/interop/*.mjs): openid-client v6, jose v6, oauth4webapi v3, and as resource
//!   servers Auth0's express-oauth2-jwt-bearer and jwks-rsa with jsonwebtoken;
//! - Python resource servers: PyJWT and joserfc;
//! - Rust: the `oauth2` crate, with tokens verified by `jsonwebtoken` against the served JWKS;
//! - RFC 7523 `private_key_jwt` for keys created without a secret, with EdDSA, ES256 and RS256
//!   key pairs the scripts generate and register themselves: authlib's `PrivateKeyJWT`,
//!   oauth4webapi's `PrivateKeyJwt` with WebCrypto keys (PS256 too), and assertions built by
//!   hand with PyJWT, with the refusals of bad ones.
//!
//! The scripts get the server through `INTEROP_ISSUER`, `INTEROP_CLIENT_ID` and
//! `INTEROP_CLIENT_SECRET` (and `INTEROP_ADMIN_SECRET`, the org's `*:*` admin secret, for the
//! scripts that rotate signing keys), print one JSON line on success and exit non-zero with a
//! message otherwise. To run one by hand against a running server, set those three variables and use
//! `target/interop/venv/bin/python tests/interop/authlib_client.py` or
//! `node target/interop/node/openid_client.mjs`.
//!
//! Tooling is provisioned on first use and reused afterwards (tests/support/provision.rs, shared
//! with the console and schemathesis tests): a venv at `target/interop/venv`
//! (`python3 -m venv`, then `pip install -r tests/interop/requirements.txt`) and `npm ci` into
//! `target/interop/node`. A stamp file holding a hash of the pinned requirements / lockfile and of
//! the interpreter version decides when to reinstall; an exclusive file lock keeps parallel test
//! processes (and the tests of this binary, through a `OnceLock`) from racing. `python3` (with the
//! venv module), `node` and `npm` must be on PATH: a missing tool fails the tests, it never skips
//! them.

#[path = "support/provision.rs"]
mod provision;
/// docs/verifying-tokens.md's Rust snippet, compiled and run as it is shown.
#[path = "interop/readme/verify.rs"]
mod readme_verify;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey::config::Settings;
use latchkey::startup::Application;
use oauth2::basic::{BasicClient, BasicErrorResponseType, BasicTokenType};
use oauth2::{
    AccessToken, ClientId, ClientSecret, HttpClientError, IntrospectionUrl, RequestTokenError,
    Scope, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use provision::{Workspace, capture};
use serde_json::{Value, json};

/// The scopes of the key every test creates.
const KEY_SCOPES: [&str; 2] = ["read:projects/**", "write:projects/42"];
/// How they come back in a token response: space-delimited, in order.
const ALL_SCOPES: &str = "read:projects/** write:projects/42";
/// One script run; the scripts talk to loopback only, so this is generous.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// The server under test
// ---------------------------------------------------------------------------------------------

struct Server {
    issuer: String,
    /// Org `default`'s bootstrap admin secret (`*:*`), for the scripts that rotate signing keys.
    admin_secret: String,
    client_id: String,
    client_secret: String,
    /// When set, the scripts that read `INTEROP_RESOURCE` request tokens for it (RFC 8707) and
    /// expect it as the audience.
    resource: Option<String>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Same recipe as tests/api/helpers.rs: port 0 on loopback, a temporary SQLite file, the default
/// issuer (`http://127.0.0.1:PORT`); then one key through the admin API.
async fn spawn_server() -> Server {
    spawn_server_with("", &[]).await
}

/// `spawn_server` with the issuer `http://127.0.0.1:PORT{path}` and `audiences` (`--audience`;
/// none = the issuer). An issuer with a path must name the port before the server binds it, so
/// the port is taken from a listener the OS picked and closed just before.
async fn spawn_server_with(path: &str, audiences: &[&str]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::local(
        format!("sqlite://{}", dir.path().join("latchkey.db").display()),
        dir.path().join("keys"),
    );
    if !path.is_empty() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        settings.listen = free.local_addr().unwrap();
        drop(free);
        settings.issuer = Some(format!("http://{}{path}", settings.listen));
    }
    settings.audiences = audiences.iter().map(|a| (*a).to_owned()).collect();
    let app = Application::build(settings).expect("application builds");
    let admin_secret = app
        .bootstrapped
        .as_ref()
        .expect("an empty database bootstraps org default")
        .secret
        .expose()
        .to_owned();
    let issuer = app.issuer().to_owned();
    assert_eq!(issuer, format!("http://127.0.0.1:{}{path}", app.port()));
    tokio::spawn(app.run_until_stopped());

    let http = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/v1/keys", issuer.trim_end_matches('/')))
        .bearer_auth(&admin_secret)
        .json(&json!({"name": "interop", "scopes": KEY_SCOPES}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "creating the interop key failed: {body}");
    Server {
        issuer,
        admin_secret,
        client_id: body["key"]["id"].as_str().unwrap().to_owned(),
        client_secret: body["secret"].as_str().unwrap().to_owned(),
        resource: None,
        http,
        _dir: dir,
    }
}

impl Server {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("INTEROP_ISSUER", self.issuer.clone()),
            ("INTEROP_CLIENT_ID", self.client_id.clone()),
            ("INTEROP_CLIENT_SECRET", self.client_secret.clone()),
            ("INTEROP_ADMIN_SECRET", self.admin_secret.clone()),
            (
                "INTEROP_RESOURCE",
                self.resource.clone().unwrap_or_default(),
            ),
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// Running the scripts
// ---------------------------------------------------------------------------------------------

/// Source folder of the scripts and manifests.
fn interop_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `target/interop`: the venv and node_modules (tests/support/provision.rs).
const WORKSPACE: Workspace = Workspace {
    name: "interop",
    required_by: "the interop tests (tests/interop.rs)",
};

/// Runs an interop script against `server` and returns the JSON line it printed last; panics
/// with its stdout and stderr when it fails.
async fn run_script(program: PathBuf, script: PathBuf, cwd: PathBuf, server: &Server) -> Value {
    let env = server.env();
    tokio::task::spawn_blocking(move || {
        let what = format!("{} {}", program.display(), script.display());
        let mut cmd = Command::new(&program);
        cmd.arg(&script)
            .current_dir(cwd)
            .envs(env)
            // Loopback only, whatever proxy the machine has configured.
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("PYTHONPATH")
            .env_remove("PYTHONHOME")
            .env_remove("NODE_OPTIONS")
            .env_remove("NODE_PATH");
        let run = capture(cmd, SCRIPT_TIMEOUT).map_err(|e| format!("cannot start {what}: {e}"))?;
        if !run.status.success() || run.timed_out {
            return Err(run.report(&what));
        }
        let line = run
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .ok_or_else(|| run.report(&format!("{what} printed nothing")))?;
        serde_json::from_str(line)
            .map_err(|e| run.report(&format!("{what}: its last line is not JSON ({e})")))
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn run_python(script: &str, server: &Server) -> Value {
    let python = provisioned(&VENV, || {
        WORKSPACE.python_venv(&interop_src().join("requirements.txt"), "venv/1")
    })
    .await;
    run_script(python, interop_src().join(script), interop_src(), server).await
}

async fn run_node(script: &str, server: &Server) -> Value {
    let dir = provisioned(&NODE, || WORKSPACE.node_modules(&interop_src(), "node/1")).await;
    // Run the copy beside node_modules: ES modules resolve packages from the script's folder.
    run_script("node".into(), dir.join(script), dir, server).await
}

static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static NODE: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Provisioning happens once per machine, then a stamp check per test binary: the first caller
/// provisions (blocking, off the async runtime); the others wait for it.
async fn provisioned(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    init: fn() -> Result<PathBuf, String>,
) -> PathBuf {
    tokio::task::spawn_blocking(move || cell.get_or_init(init).clone())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"))
}

// ---------------------------------------------------------------------------------------------
// Python
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn authlib_client_secret_basic_post_scope_and_errors() {
    let server = spawn_server().await;
    let out = run_python("authlib_client.py", &server).await;
    assert_eq!(out["basic_scope"], ALL_SCOPES);
    assert_eq!(out["post_scope"], ALL_SCOPES);
    assert_eq!(out["scoped_scope"], "read:projects/42/**");
    assert_eq!(out["tokens_distinct"], true);
    assert_eq!(out["bad_secret"]["error"], "invalid_client");
    assert_eq!(out["bad_secret_post"]["error"], "invalid_client");
    assert_eq!(out["bad_scope"]["error"], "invalid_scope");
}

#[tokio::test]
async fn requests_oauthlib_backend_application_client() {
    let server = spawn_server().await;
    let out = run_python("requests_oauthlib_client.py", &server).await;
    assert_eq!(out["auth"], "basic");
    assert_eq!(out["scope"], json!(KEY_SCOPES));
    assert_eq!(out["self_introspection"], true);
}

#[tokio::test]
async fn pyjwt_verifies_tokens_with_the_discovered_jwks() {
    let server = spawn_server().await;
    let out = run_python("pyjwt_verify.py", &server).await;
    assert_eq!(out["typ"], "at+jwt");
    assert_eq!(out["sub"], server.client_id.as_str());
    assert_eq!(out["scope"], ALL_SCOPES);
    assert_eq!(out["ttl"], 600);
}

/// RS256 and ES256 (RFC 9068 §2.1 makes RS256 mandatory to support) through PyJWKClient, which
/// refetches the JWKS when a rotation brings a kid it has not seen; a token signed before each
/// rotation keeps verifying.
#[tokio::test]
async fn pyjwt_verifies_rs256_and_es256_tokens_across_rotations() {
    let server = spawn_server().await;
    let out = run_python("pyjwt_rotation.py", &server).await;
    assert_eq!(out["algs"], json!(["EdDSA", "EdDSA", "RS256", "ES256"]));
    assert_eq!(out["kids_distinct"], true);
    // Bootstrap's two keys, one more per promotion, one more per immediate rotation (two new
    // keys, the next key unpublished).
    assert_eq!(out["published"], 5);
    assert_eq!(out["earlier_tokens_verified"], json!([2, 3]));
    assert_eq!(out["promoted_from_cache"], true, "{out}");
    assert_eq!(out["wrong_alg_refused"], true);
    assert_eq!(out["sub"], server.client_id.as_str());
}

#[tokio::test]
async fn introspection_with_requests_and_basic_auth() {
    let server = spawn_server().await;
    let out = run_python("introspect_requests.py", &server).await;
    assert_eq!(out["active"]["active"], true);
    assert_eq!(out["active"]["client_id"], server.client_id.as_str());
    assert_eq!(out["garbage"], json!({"active": false}));
}

/// `GET /v1/openapi.json` passes openapi-spec-validator as OpenAPI 3.1, and every documented
/// operation, called for real (successes and error paths), answers a documented status and
/// media type with a body that validates against the documented schema.
#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1_and_real_responses_match_it() {
    let server = spawn_server().await;
    let out = run_python("openapi_validate.py", &server).await;
    assert_eq!(out["openapi"], "3.1.0");
    assert_eq!(out["valid"], true);
    assert_eq!(
        out["not_exercised"],
        json!([]),
        "documented operations never called"
    );
    assert!(out["operations"].as_u64().unwrap() >= 20, "{out}");
    assert!(out["checked"].as_u64().unwrap() >= 40, "{out}");
}

// ---------------------------------------------------------------------------------------------
// Node.js
// ---------------------------------------------------------------------------------------------

/// The deployments every resource-server library is run against: the issuer at the root with
/// tokens for a configured audience (RFC 8707 `resource`), an issuer with a path (discovery with
/// no proxy), and an issuer with a trailing slash (kept as typed, in `iss` too).
async fn deployments() -> Vec<(&'static str, Server)> {
    let mut root = spawn_server_with("", &["https://api.example.com"]).await;
    root.resource = Some("https://api.example.com".into());
    vec![
        ("root issuer, resource", root),
        (
            "issuer with a path",
            spawn_server_with("/tenant", &[]).await,
        ),
        (
            "issuer with a trailing slash",
            spawn_server_with("/", &[]).await,
        ),
    ]
}

/// jwks-rsa with jsonwebtoken (Node's classic pair, no EdDSA) across immediate rotations to
/// RS256 and ES256.
#[tokio::test]
async fn jwks_rsa_and_jsonwebtoken_verify_rs256_and_es256_tokens() {
    let server = spawn_server().await;
    let out = run_node("jwks_rsa_verify.mjs", &server).await;
    assert_eq!(out["RS256"], server.client_id.as_str());
    assert_eq!(out["ES256"], server.client_id.as_str());
}

#[tokio::test]
async fn joserfc_verifies_tokens_in_every_deployment() {
    for (what, server) in deployments().await {
        let out = run_python("joserfc_verify.py", &server).await;
        assert_eq!(out["sub"], server.client_id.as_str(), "{what}");
        assert_eq!(out["alg"], "EdDSA", "{what}");
    }
}

#[tokio::test]
async fn oauth4webapi_grants_introspects_revokes_and_validates_in_every_deployment() {
    for (what, server) in deployments().await {
        let out = run_node("oauth4webapi_client.mjs", &server).await;
        assert_eq!(out["issuer"], server.issuer.as_str(), "{what}");
        assert_eq!(out["validated_sub"], server.client_id.as_str(), "{what}");
        assert_eq!(out["revoked"], true, "{what}");
        assert_eq!(out["rotated_without_refetch"], true, "{what}");
    }
}

#[tokio::test]
async fn express_oauth2_jwt_bearer_accepts_tokens_in_every_deployment() {
    for (what, server) in deployments().await {
        let out = run_node("express_jwt_bearer.mjs", &server).await;
        assert_eq!(out["accepted"], server.client_id.as_str(), "{what}");
        assert_eq!(out["after_rotation"], true, "{what}");
    }
}

#[tokio::test]
async fn openid_client_grant_and_jose_verification() {
    let server = spawn_server().await;
    let out = run_node("openid_client.mjs", &server).await;
    assert_eq!(out["discovery"]["issuer"], server.issuer.as_str());
    assert_eq!(out["scoped"]["scope"], "read:projects/**");
    assert_eq!(out["scoped"]["expires_in"], 600);
    assert_eq!(out["full"]["scope"], ALL_SCOPES);
    assert_eq!(out["jose"]["sub"], server.client_id.as_str());
    assert_eq!(out["introspection"]["active"], true);
    assert_eq!(out["errors"]["invalid_client"]["error"], "invalid_client");
    assert_eq!(out["errors"]["invalid_scope"]["error"], "invalid_scope");
}

/// An issuer with a path, through openid-client's two discovery algorithms: OpenID Connect's
/// appended `/tenant/.well-known/openid-configuration` and RFC 8414 §3.1's path-insertion
/// `/.well-known/oauth-authorization-server/tenant`; then the grant, jose's verification (`iss`
/// and `aud` the issuer with its path), introspection and the errors, all at the advertised
/// `/tenant/…` endpoints.
#[tokio::test]
async fn openid_client_discovers_and_uses_an_issuer_with_a_path() {
    let server = spawn_server_with("/tenant", &[]).await;
    let out = run_node("openid_client.mjs", &server).await;
    assert!(server.issuer.ends_with("/tenant"), "{}", server.issuer);
    assert_eq!(out["discovery"]["issuer"], server.issuer.as_str());
    assert_eq!(
        out["discovery"]["jwks_uri"],
        format!("{}/.well-known/jwks.json", server.issuer)
    );
    assert_eq!(out["full"]["scope"], ALL_SCOPES);
    assert_eq!(out["jose"]["sub"], server.client_id.as_str());
    assert_eq!(out["introspection"]["active"], true);
    assert_eq!(out["errors"]["invalid_client"]["error"], "invalid_client");
    // Each algorithm asked the URL its specification gives, and the endpoints under the path
    // served the rest.
    let metrics = server
        .http
        .get(format!("{}/metrics", server.issuer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for route in [
        "/tenant/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/tenant",
        "/tenant/oauth/token",
        "/tenant/oauth/introspect",
        "/tenant/.well-known/jwks.json",
    ] {
        assert!(
            metrics.contains(&format!("route=\"{route}\",method=")),
            "{route} was not asked:\n{metrics}"
        );
    }
    assert!(!metrics.contains("route=\"/oauth/token\""), "{metrics}");
}

/// RFC 8707 through openid-client: `resource` repeated in one grant, jose accepting the token
/// for either audience of the array, a single `resource` giving a string `aud`, and
/// `invalid_target` for a resource that is not an audience.
#[tokio::test]
async fn openid_client_requests_tokens_for_resources() {
    let server = spawn_server_with(
        "",
        &["https://api.example.com", "https://billing.example.com"],
    )
    .await;
    let out = run_node("openid_client_resource.mjs", &server).await;
    assert_eq!(out["default_aud"], "https://api.example.com");
    assert_eq!(out["one_aud"], "https://billing.example.com");
    assert_eq!(
        out["both_aud"],
        json!(["https://api.example.com", "https://billing.example.com"])
    );
    assert_eq!(
        out["both_verified_for"],
        json!(["https://api.example.com", "https://billing.example.com"])
    );
    assert_eq!(out["unknown"]["error"], "invalid_target");
    assert_eq!(out["unknown"]["status"], 400);
}

/// jose as a resource server across rotations, with `createRemoteJWKSet`'s defaults: after a
/// promotion the new key's token verifies from the key set cached before it (no refetch, so the
/// 30 s cooldown never bites); after an immediate rotation the cached set refuses the fresh
/// key's token and a fresh fetch accepts it; the token signed before both still verifies.
#[tokio::test]
async fn jose_verifies_a_token_signed_before_a_rotation() {
    let server = spawn_server().await;
    let out = run_node("jose_rotation.mjs", &server).await;
    assert_eq!(out["before"]["alg"], "EdDSA");
    assert_eq!(out["after"]["alg"], "EdDSA");
    assert_ne!(out["before"]["kid"], out["after"]["kid"]);
    assert_eq!(out["immediate"]["alg"], "ES256");
    // The cached key set refuses the fresh key within jose's 30 s cooldown.
    assert_eq!(out["cached_refused"], "ERR_JWKS_NO_MATCHING_KEY", "{out}");
    assert_eq!(out["before_again"]["kid"], out["before"]["kid"]);
    for name in ["before", "after", "immediate"] {
        assert_eq!(out[name]["sub"], server.client_id.as_str());
    }
    assert_eq!(out["published"], 4);
}

// ---------------------------------------------------------------------------------------------
// private_key_jwt (RFC 7523): keys without secrets, assertions signed by real client libraries
// ---------------------------------------------------------------------------------------------

/// The algorithms every `private_key_jwt` client is run with.
const ASSERTION_ALGS: [&str; 3] = ["EdDSA", "ES256", "RS256"];

/// What a script reports of one algorithm: it created its own key (not the server's secret
/// key), whose token came back with that key as `sub`, from an assertion signed with `alg`;
/// returns the key id.
fn signed_in_with<'a>(out: &'a Value, alg: &str, server: &Server) -> &'a str {
    let result = &out["results"][alg];
    let key_id = result["key_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{alg}: no key id in {out}"));
    assert_ne!(key_id, server.client_id, "{alg}: {out}");
    assert_eq!(
        result["sub"], key_id,
        "{alg}: the token is the key's: {out}"
    );
    // EdDSA may be named by RFC 9864's `Ed25519` (oauth4webapi does).
    let named = result["assertion_alg"].as_str().unwrap_or_default();
    assert!(
        named == alg || (alg == "EdDSA" && named == "Ed25519"),
        "{alg}: signed with it: {out}"
    );
    key_id
}

/// The server's own view of a key a script created (`GET /v1/keys/{id}`): no secret, one public
/// key, public members only.
async fn assert_secretless(server: &Server, key_id: &str) {
    let r = server
        .http
        .get(format!("{}/v1/keys/{key_id}", server.issuer))
        .bearer_auth(&server.admin_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{key_id}");
    let key: Value = r.json().await.unwrap();
    assert_eq!(key["secret"], false, "{key}");
    let public_keys = key["public_keys"].as_array().expect("public_keys");
    assert_eq!(public_keys.len(), 1, "{key}");
    assert!(public_keys[0]["kid"].is_string(), "{key}");
    assert!(public_keys[0].get("d").is_none(), "{key}");
}

/// A refusal as the scripts report it: `401 invalid_client`, its description naming `says`.
fn refused_because(refusal: &Value, says: &str, what: &str) {
    assert_eq!(refusal["error"], "invalid_client", "{what}: {refusal}");
    if let Some(status) = refusal.get("status") {
        assert_eq!(status, 401, "{what}: {refusal}");
    }
    let description = refusal["description"].as_str().unwrap_or_default();
    assert!(
        description.contains(says),
        "{what}: the description should name `{says}`: {refusal}"
    );
}

/// authlib 1.9's `PrivateKeyJWT` with `OAuth2Session`, EdDSA, ES256 and RS256 keys (joserfc key
/// objects, the RSA one as a PEM string): two tokens, introspection and revocation, each by its
/// own assertion, signed through a subclass that asks authlib for 60 s; stock PrivateKeyJWT
/// (hour-long assertions, which Latchkey takes) works too, and `claims={"exp": …}` makes authlib
/// repeat its jti, refused as a replay. Both are checked so that a change on either side shows
/// here.
#[tokio::test]
async fn authlib_private_key_jwt_with_eddsa_es256_and_rs256_keys() {
    let server = spawn_server().await;
    let out = run_python("authlib_private_key_jwt.py", &server).await;
    assert_eq!(out["algs"], json!(ASSERTION_ALGS), "{out}");
    let mut ids = Vec::new();
    for alg in ASSERTION_ALGS {
        ids.push(signed_in_with(&out, alg, &server));
        assert_secretless(&server, ids[ids.len() - 1]).await;
        let result = &out["results"][alg];
        assert_eq!(result["assertion_lifetime"], 60, "{alg}: {out}");
        assert_eq!(result["second_token"], true, "{alg}: {out}");
        assert_eq!(result["introspected"], true, "{alg}: {out}");
        assert_eq!(result["revoked"], true, "{alg}: {out}");
    }
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 3, "one key per algorithm: {out}");
    // Stock PrivateKeyJWT (exp = iat + 3600) works as it comes.
    assert_eq!(out["stock_lifetime"], json!({"ok": true}), "{out}");
    refused_because(
        &out["claims_dict_replay"],
        "jti",
        "PrivateKeyJWT(claims=…) repeating its jti",
    );
}

/// oauth4webapi 3.8's `PrivateKeyJwt` with WebCrypto keys (Ed25519, ECDSA P-256,
/// RSASSA-PKCS1-v1_5, RSA-PSS) after RFC 8414 discovery: two grants, the token validated by
/// `validateJwtAccessToken`, introspection and revocation, each by its own assertion (aud: the
/// issuer). Ed25519 goes as the libraries do it: WebCrypto exports the public JWK with
/// `"alg": "Ed25519"` and oauth4webapi signs with `alg: "Ed25519"` (RFC 9864's fully-specified
/// name), which Latchkey takes as EdDSA (found by this test: both were refused at first).
#[tokio::test]
async fn oauth4webapi_private_key_jwt_with_eddsa_es256_rs256_and_ps256_keys() {
    let server = spawn_server().await;
    let out = run_node("oauth4webapi_private_key_jwt.mjs", &server).await;
    assert_eq!(out["issuer"], server.issuer.as_str());
    let algs = ["EdDSA", "ES256", "RS256", "PS256"];
    assert_eq!(out["algs"], json!(algs), "{out}");
    let mut ids = Vec::new();
    for alg in algs {
        ids.push(signed_in_with(&out, alg, &server));
        assert_secretless(&server, ids[ids.len() - 1]).await;
        let result = &out["results"][alg];
        assert_eq!(result["assertion_lifetime"], 60, "{alg}: {out}");
        assert_eq!(result["introspected"], true, "{alg}: {out}");
        assert_eq!(result["revoked"], true, "{alg}: {out}");
    }
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "one key per algorithm: {out}");
    // RFC 9864's `Ed25519`, as WebCrypto exports the JWK and oauth4webapi signs: taken as EdDSA.
    assert_eq!(
        out["ed25519_stock"],
        json!({"ok": true, "assertion_alg": "Ed25519"}),
        "{out}"
    );
    let jwk_stock = &out["ed25519_jwk_stock"];
    assert_eq!(jwk_stock["status"], 201, "{out}");
}

/// Assertions built by hand with PyJWT and posted with requests (EdDSA, ES256, RS256; the
/// audience as the token endpoint, the issuer, or an array), and the refusals that keep a key
/// without a secret safe: a replayed assertion, `alg: none`, HS256 keyed with public key
/// material (the JWK's `x`, the RSA PEM), a valid signature by another key under the right kid,
/// an expired assertion, one valid for an hour, and a made-up secret (Basic and in the body)
/// for a key that has none. A fresh assertion still works after all of them.
#[tokio::test]
async fn pyjwt_assertions_and_the_refusals_of_bad_ones() {
    let server = spawn_server().await;
    let out = run_python("pyjwt_assertion.py", &server).await;
    assert_eq!(out["algs"], json!(ASSERTION_ALGS), "{out}");
    for alg in ASSERTION_ALGS {
        let result = &out["results"][alg];
        let key_id = result["key_id"].as_str().unwrap();
        assert_ne!(key_id, server.client_id, "{alg}: {out}");
        assert_eq!(result["sub"], key_id, "{alg}: {out}");
        assert_secretless(&server, key_id).await;
        refused_because(&result["replay"], "jti was used before", alg);
    }
    let refusals = &out["refusals"];
    for (name, says) in [
        ("alg_none", "alg `none` is not allowed"),
        ("hs256_jwk_x", "alg `HS256` is not allowed"),
        ("hs256_rsa_pem", "alg `HS256` is not allowed"),
        ("foreign_signature", "signature does not verify"),
        ("expired", "expired"),
        ("two_hours_long", "more than 3600 s after its iat"),
        // A made-up secret is told nothing more than any wrong secret.
        ("basic_made_up_secret", "client authentication failed"),
        ("post_made_up_secret", "client authentication failed"),
    ] {
        refused_because(&refusals[name], says, name);
    }
    assert_eq!(
        refusals.as_object().map(|r| r.len()),
        Some(8),
        "every refusal is asserted: {out}"
    );
    assert_eq!(out["after_refusals_sub"], out["results"]["EdDSA"]["key_id"]);
}

// ---------------------------------------------------------------------------------------------
// Rust: the oauth2 crate
// ---------------------------------------------------------------------------------------------

type Oauth2HttpError = HttpClientError<reqwest::Error>;

/// oauth2 5's `AsyncHttpClient` over the project's reqwest 0.13 (oauth2's own `reqwest` feature
/// would pull in reqwest 0.12 and a TLS stack).
fn oauth2_http(
    http: &reqwest::Client,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, Oauth2HttpError>> + Send>,
> + '_ {
    move |request: oauth2::HttpRequest| {
        let http = http.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = http.execute(request).await.map_err(Box::new)?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?;
            Ok(builder.body(body.to_vec())?)
        })
    }
}

/// The JWKS from discovery, then `jsonwebtoken` verification: EdDSA, issuer, audience, typ.
async fn verify_with_jwks(server: &Server, token: &str) -> Value {
    let metadata: Value = server
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.issuer
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks: JwkSet = server
        .http
        .get(metadata["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let kid = header.kid.expect("the token names its key");
    let jwk = jwks.find(&kid).expect("the token's kid is in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&server.issuer]);
    validation.set_audience(&[&server.issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test]
async fn oauth2_crate_client_credentials_and_jsonwebtoken_verification() {
    let server = spawn_server().await;
    let http = oauth2_http(&server.http);
    let client = BasicClient::new(ClientId::new(server.client_id.clone()))
        .set_client_secret(ClientSecret::new(server.client_secret.clone()))
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", server.issuer)).unwrap())
        .set_introspection_url(
            IntrospectionUrl::new(format!("{}/oauth/introspect", server.issuer)).unwrap(),
        );

    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read:projects/42/**".into()))
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client credentials grant failed: {e:?}"));
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert_eq!(token.expires_in(), Some(Duration::from_secs(600)));
    assert_eq!(
        token.scopes(),
        Some(&vec![Scope::new("read:projects/42/**".into())])
    );
    assert!(token.refresh_token().is_none());

    let claims = verify_with_jwks(&server, token.access_token().secret()).await;
    assert_eq!(claims["sub"], server.client_id.as_str());
    assert_eq!(claims["client_id"], server.client_id.as_str());
    assert_eq!(claims["scope"], "read:projects/42/**");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );

    // No scope requested: every scope of the key.
    let all = client
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("client credentials grant failed: {e:?}"));
    let expected: Vec<Scope> = KEY_SCOPES.iter().map(|s| Scope::new((*s).into())).collect();
    assert_eq!(all.scopes(), Some(&expected));

    // RFC 7662 through the crate's typed introspection response (string `aud`, `Bearer` type).
    let introspection = client
        .introspect(token.access_token())
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("introspection failed: {e:?}"));
    assert!(introspection.active());
    assert_eq!(
        introspection.client_id().map(|c| c.as_ref()),
        Some(server.client_id.as_str())
    );
    assert_eq!(
        introspection.scopes(),
        Some(&vec![Scope::new("read:projects/42/**".into())])
    );
    assert_eq!(introspection.token_type(), Some(&BasicTokenType::Bearer));
    assert_eq!(introspection.aud(), Some(&vec![server.issuer.clone()]));
    assert_eq!(introspection.iss(), Some(server.issuer.as_str()));
    let garbage = client
        .introspect(&AccessToken::new("garbage".into()))
        .request_async(&http)
        .await
        .unwrap_or_else(|e| panic!("introspection failed: {e:?}"));
    assert!(!garbage.active());
}

#[tokio::test]
async fn oauth2_crate_sees_invalid_client_and_invalid_scope() {
    let server = spawn_server().await;
    let http = oauth2_http(&server.http);
    let token_url = TokenUrl::new(format!("{}/oauth/token", server.issuer)).unwrap();
    let client = BasicClient::new(ClientId::new(server.client_id.clone()))
        .set_client_secret(ClientSecret::new(server.client_secret.clone()))
        .set_token_uri(token_url.clone());

    let err = client
        .exchange_client_credentials()
        .add_scope(Scope::new("write:projects/43".into()))
        .request_async(&http)
        .await
        .expect_err("a scope beyond the key's is refused");
    match err {
        RequestTokenError::ServerResponse(e) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidScope)
        }
        other => panic!("expected invalid_scope, got {other:?}"),
    }

    let wrong = BasicClient::new(ClientId::new(server.client_id.clone()))
        .set_client_secret(ClientSecret::new(format!("{}x", server.client_secret)))
        .set_token_uri(token_url);
    let err = wrong
        .exchange_client_credentials()
        .request_async(&http)
        .await
        .expect_err("a wrong secret is refused");
    match err {
        RequestTokenError::ServerResponse(e) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidClient)
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}

#[tokio::test]
async fn openid_client_revokes_at_the_advertised_revocation_endpoint() {
    let server = spawn_server().await;
    let out = run_node("openid_client_revocation.mjs", &server).await;
    assert_eq!(out["revoked"], true);
    assert_eq!(out["after"], json!({"active": false}));
}

// ---------------------------------------------------------------------------------------------
// The "Verify Latchkey tokens" snippets (docs/verifying-tokens.md) and README's /v1/check one
// ---------------------------------------------------------------------------------------------

/// An access token of the server's interop key (client credentials, Basic).
async fn token_of(server: &Server) -> String {
    let v: Value = server
        .http
        .post(format!("{}/oauth/token", server.issuer))
        .basic_auth(&server.client_id, Some(&server.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The snippet files the docs show, verbatim, and where: what the suite runs is what users
/// copy. The verification snippets live in docs/verifying-tokens.md (README leads with the
/// `latchkey-verify` crate and links there).
const README_SNIPPETS: [(&str, &str); 4] = [
    ("express.mjs", "docs/verifying-tokens.md"),
    ("pyjwt.py", "docs/verifying-tokens.md"),
    ("verify.rs", "docs/verifying-tokens.md"),
    ("check.py", "README.md"),
];

#[test]
fn readme_shows_the_snippets_the_suite_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, doc) in README_SNIPPETS {
        let shown = std::fs::read_to_string(root.join(doc)).unwrap();
        let snippet = std::fs::read_to_string(interop_src().join("readme").join(name)).unwrap();
        assert!(
            shown.contains(snippet.trim_end()),
            "{doc} does not show tests/interop/readme/{name} as it is"
        );
    }
}

#[tokio::test]
async fn readme_snippets_verify_latchkey_tokens() {
    let server = spawn_server().await;
    let token = token_of(&server).await;

    // Python: the PyJWT snippet, driven as a resource server would call it.
    let out = run_python("readme_pyjwt_driver.py", &server).await;
    assert_eq!(out["sub"], server.client_id.as_str());

    // Python: the /v1/check snippet, one decision per incoming request spending the caller's
    // rate limit and quota.
    let out = run_python("readme_check_driver.py", &server).await;
    assert_eq!(out["statuses"], serde_json::json!([200, 200, 200, 429]));

    // Rust: the jsonwebtoken snippet.
    let jwks: JwkSet = server
        .http
        .get(format!("{}/.well-known/jwks.json", server.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = readme_verify::verify(&token, &jwks, &server.issuer, &server.issuer).unwrap();
    assert_eq!(claims["sub"], server.client_id.as_str());
    assert!(readme_verify::verify(&token, &jwks, &server.issuer, "https://elsewhere").is_err());
    let forged = format!(
        "{}{}",
        &token[..token.len() - 2],
        if token.ends_with("AA") { "BB" } else { "AA" }
    );
    assert!(readme_verify::verify(&forged, &jwks, &server.issuer, &server.issuer).is_err());

    // Node: the Express app, started as shown, asked with and without the token.
    let dir = provisioned(&NODE, || WORKSPACE.node_modules(&interop_src(), "node/1")).await;
    let script = dir.join("readme_express.mjs");
    std::fs::copy(interop_src().join("readme/express.mjs"), &script).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(&dir)
        .env("LATCHKEY_ISSUER", &server.issuer)
        .env("LATCHKEY_AUDIENCE", &server.issuer)
        .env("PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let api = format!("http://127.0.0.1:{port}/projects/42");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        match server.http.get(&api).bearer_auth(&token).send().await {
            Ok(r) => break r,
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the README's Express app did not start: {e}"),
        }
    };
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["caller"], server.client_id.as_str());
    assert_eq!(server.http.get(&api).send().await.unwrap().status(), 401);
    child.kill().await.unwrap();
}
