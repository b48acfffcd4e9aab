#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `latchkey signing-keys list|rotate --org SLUG` through the real binary, on a temporary SQLite
//! database and keys folder per test.

use std::process::{Command, Output};

use chrono::{DateTime, Utc};
use serde_json::Value;
use tempfile::{TempDir, tempdir};

/// The binary with a clean environment: nothing from the developer's shell leaks in.
fn latchkey(dir: &TempDir, args: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for var in [
        "LATCHKEY_MASTER_KEY",
        "DATABASE_URL",
        "LATCHKEY_LOG",
        "LATCHKEY_TOKEN_TTL",
        "LATCHKEY_ROTATION_LEEWAY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(args.split_whitespace())
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.path().join("t.db").display()))
        .arg("--keys-dir")
        .arg(dir.path().join("keys"))
        .output()
        .expect("the latchkey binary runs")
}

fn stdout_of(dir: &TempDir, args: &str) -> String {
    let out = latchkey(dir, args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`latchkey {args}` failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(dir: &TempDir, args: &str) -> Value {
    serde_json::from_str(&stdout_of(dir, args)).unwrap()
}

/// A non-zero exit and the first line of stderr.
fn error_of(dir: &TempDir, args: &str) -> String {
    let out = latchkey(dir, args, &[]);
    assert!(!out.status.success(), "`{args}` should fail");
    let stderr = String::from_utf8(out.stderr).unwrap();
    stderr.lines().next().unwrap_or_default().to_owned()
}

fn bootstrapped() -> TempDir {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    stdout_of(&dir, "org bootstrap acme --json");
    dir
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn window_secs(rotated: &Value) -> i64 {
    (time(&rotated["retired"]["unpublish_at"]) - time(&rotated["retired"]["retired_at"]))
        .num_seconds()
}

#[test]
fn rotate_makes_a_new_current_key_and_list_shows_both() {
    let dir = bootstrapped();
    let first = json_of(&dir, "signing-keys list --org acme --json");
    let first = &first["signing_keys"];
    assert_eq!(first.as_array().unwrap().len(), 1);
    assert_eq!(
        (first[0]["alg"].as_str(), first[0]["status"].as_str()),
        (Some("EdDSA"), Some("current"))
    );

    let rotated = json_of(&dir, "signing-keys rotate --org acme --alg RS256 --json");
    assert_eq!(rotated["signing_key"]["alg"], "RS256");
    assert_eq!(rotated["signing_key"]["public_jwk"]["kty"], "RSA");
    assert_eq!(rotated["retired"]["kid"], first[0]["kid"]);
    assert_eq!(
        window_secs(&rotated),
        660,
        "default TTL 600 s + leeway 60 s"
    );

    // Without --alg the current key's algorithm is kept.
    let again = json_of(&dir, "signing-keys rotate --org acme --json");
    assert_eq!(again["signing_key"]["alg"], "RS256");

    let text = stdout_of(&dir, "signing-keys list --org acme");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows[0].contains("RS256") && rows[0].contains("current"),
        "{text}"
    );
    assert!(
        rows[1].contains("RS256") && rows[1].contains("retired"),
        "{text}"
    );
    assert!(
        rows[2].contains("EdDSA") && rows[2].contains("retired"),
        "{text}"
    );
    let listed = stdout_of(&dir, "signing-keys list --org acme --json");
    assert!(!listed.contains("\"d\""), "{listed}");

    let human = stdout_of(&dir, "signing-keys rotate --org acme --alg ES256");
    assert!(
        human.contains("ES256") && human.contains("signs from now on"),
        "{human}"
    );
}

#[test]
fn the_publish_window_follows_token_ttl_and_leeway_options_and_environment() {
    let dir = bootstrapped();
    let rotated = json_of(
        &dir,
        "signing-keys rotate --org acme --token-ttl 5m --rotation-leeway 30s --json",
    );
    assert_eq!(window_secs(&rotated), 330);
    let out = latchkey(
        &dir,
        "signing-keys rotate --org acme --json",
        &[
            ("LATCHKEY_TOKEN_TTL", "1h"),
            ("LATCHKEY_ROTATION_LEEWAY", "2m"),
        ],
    );
    assert!(out.status.success());
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(window_secs(&rotated), 3720);
}

#[test]
fn rotation_errors_are_one_clear_sentence() {
    let dir = bootstrapped();
    stdout_of(&dir, "org create fresh");
    let e = error_of(&dir, "signing-keys rotate --org fresh");
    assert!(e.contains("not bootstrapped"), "{e}");
    let e = error_of(&dir, "signing-keys list --org nope");
    assert!(e.contains("no organization"), "{e}");
    let e = error_of(&dir, "signing-keys rotate --org acme --alg HS256");
    assert!(e.contains("HS256"), "{e}");
    let e = error_of(&dir, "signing-keys rotate --org acme --token-ttl 0s");
    assert!(e.contains("0s"), "{e}");
    let listed = json_of(&dir, "signing-keys list --org acme --json");
    assert_eq!(listed["signing_keys"].as_array().unwrap().len(), 1);
}

#[test]
fn a_rotation_beyond_ten_published_keys_is_refused_in_one_sentence() {
    let dir = bootstrapped();
    for _ in 0..9 {
        stdout_of(&dir, "signing-keys rotate --org acme --json");
    }
    let out = latchkey(&dir, "signing-keys rotate --org acme --alg ES256", &[]);
    assert!(!out.status.success(), "the 11th published key was made");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let e = lines[0];
    assert!(
        e.starts_with("error: the organization already has 10 published signing keys")
            && e.contains("the most allowed is 10")
            && e.contains(" s, when a retired key leaves the JWKS"),
        "{e}"
    );
    assert!(out.stdout.is_empty());
    let listed = json_of(&dir, "signing-keys list --org acme --json");
    assert_eq!(listed["signing_keys"].as_array().unwrap().len(), 10);
}
