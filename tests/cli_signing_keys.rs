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
        "LATCHKEY_JWKS_MAX_AGE",
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
fn rotate_promotes_the_next_key_stages_another_alg_or_replaces_the_key_at_once() {
    let dir = bootstrapped();
    let first = json_of(&dir, "signing-keys list --org acme --json");
    let first = &first["signing_keys"];
    let seen: Vec<(&str, &str)> = first
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["alg"].as_str().unwrap(), k["status"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("EdDSA", "next"), ("EdDSA", "current")]);

    // Without --alg: the next key is promoted, and a new one published.
    let promoted = json_of(&dir, "signing-keys rotate --org acme --json");
    assert_eq!(promoted["signing_key"]["kid"], first[0]["kid"]);
    assert_eq!(promoted["retired"]["kid"], first[1]["kid"]);
    assert_eq!(promoted["next"]["status"], "next");
    assert_eq!(
        window_secs(&promoted),
        660,
        "default TTL 600 s + leeway 60 s"
    );

    // Another --alg: staged, signing from max-age + leeway (300 s + 60 s) later.
    let before = Utc::now();
    let staged = json_of(&dir, "signing-keys rotate --org acme --alg RS256 --json");
    let after = Utc::now();
    let members: Vec<&String> = staged.as_object().unwrap().keys().collect();
    assert_eq!(members, ["next"], "{staged}");
    assert_eq!(staged["next"]["alg"], "RS256");
    assert_eq!(staged["next"]["public_jwk"]["kty"], "RSA");
    activates_after(&staged, (before, after), 360);

    // --immediate: a fresh key signs at once, with the warning.
    let immediate = json_of(
        &dir,
        "signing-keys rotate --org acme --immediate --alg ES256 --json",
    );
    assert_eq!(immediate["signing_key"]["alg"], "ES256");
    assert_eq!(immediate["signing_key"]["status"], "current");
    assert_ne!(immediate["signing_key"]["kid"], staged["next"]["kid"]);
    assert_eq!(immediate["warnings"][0]["code"], "verifiers_may_refuse");

    let text = stdout_of(&dir, "signing-keys list --org acme");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("ACTIVATES_AT"), "{header}");
    let statuses: Vec<&str> = lines
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "next",        // the immediate rotation's next key
            "current",     // its fresh key
            "unpublished", // the staged key and the next key after it, replaced by it
            "unpublished",
            "unpublished", // the promotion's next key, replaced by the staging
            "retired",     // bootstrap's next key, promoted, then retired at once
            "retired",     // bootstrap's current key
        ],
        "{text}"
    );
    let listed = stdout_of(&dir, "signing-keys list --org acme --json");
    assert!(!listed.contains("\"d\""), "{listed}");

    let human = stdout_of(&dir, "signing-keys rotate --org acme");
    assert!(
        human.contains("ES256") && human.contains("signs from now on"),
        "{human}"
    );
    assert!(human.contains("Next key, published now"), "{human}");
    let human = stdout_of(&dir, "signing-keys rotate --org acme --alg EdDSA");
    assert!(
        human.contains("Staged") && human.contains("signs from 20"),
        "{human}"
    );
    let human = stdout_of(&dir, "signing-keys rotate --org acme --immediate");
    assert!(
        human.contains("Warning: the new key signs at once"),
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

    // A staged key signs --jwks-max-age + leeway after the rotation.
    let before = Utc::now();
    let staged = json_of(
        &dir,
        "signing-keys rotate --org acme --alg ES256 --jwks-max-age 1m --rotation-leeway 30s --json",
    );
    activates_after(&staged, (before, Utc::now()), 90);
    let before = Utc::now();
    let out = latchkey(
        &dir,
        "signing-keys rotate --org acme --alg RS256 --json",
        &[("LATCHKEY_JWKS_MAX_AGE", "10m")],
    );
    assert!(out.status.success());
    let staged: Value = serde_json::from_slice(&out.stdout).unwrap();
    activates_after(&staged, (before, Utc::now()), 660);
}

/// The staged key of `staged` signs `secs` after the rotation, which the CLI made at some
/// instant between `ran.0` and `ran.1` (a loaded machine may take seconds to start it), each
/// side rounded to the second the answer is written in.
fn activates_after(staged: &Value, ran: (DateTime<Utc>, DateTime<Utc>), secs: i64) {
    let at = time(&staged["next"]["activates_at"]);
    let earliest = ran.0 + chrono::Duration::seconds(secs - 1);
    let latest = ran.1 + chrono::Duration::seconds(secs + 1);
    assert!(
        earliest <= at && at <= latest,
        "{at} is not {secs} s after a rotation between {} and {}",
        ran.0,
        ran.1
    );
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
    let e = error_of(&dir, "signing-keys rotate --org acme --jwks-max-age 5x");
    assert!(e.contains("5x"), "{e}");
    let listed = json_of(&dir, "signing-keys list --org acme --json");
    assert_eq!(listed["signing_keys"].as_array().unwrap().len(), 2);
}

#[test]
fn a_rotation_beyond_ten_published_keys_is_refused_in_one_sentence() {
    let dir = bootstrapped();
    // Bootstrap published two keys; each promotion one more.
    for _ in 0..8 {
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

    // A compromise rotation goes through, taking the oldest retired key out early.
    let human = stdout_of(&dir, "signing-keys rotate --org acme --immediate");
    assert!(human.contains("left the JWKS now"), "{human}");
}
