#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `latchkey` command line (SPEC.md, "Command line"), driven through the real binary.
//! Every test owns a temporary directory holding its SQLite database and its keys folder.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::{TempDir, tempdir};

const KEY_FIELDS: [&str; 10] = [
    "id", "name", "status", "scopes", "allowed_cidrs", "expires_at", "created_at", "revoked_at",
    "last_used_at", "secret_hint",
];

/// The binary with a clean environment: nothing from the developer's shell leaks in.
fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for var in ["LATCHKEY_MASTER_KEY", "DATABASE_URL", "LATCHKEY_KEYS_DIR", "LATCHKEY_LOG", "LATCHKEY_LOG_FORMAT"] {
        cmd.env_remove(var);
    }
    cmd
}

fn global_options(dir: &Path) -> Vec<String> {
    vec![
        "--database-url".into(),
        format!("sqlite://{}", dir.join("t.db").display()),
        "--keys-dir".into(),
        dir.join("keys").display().to_string(),
    ]
}

/// Runs `latchkey ARGS --database-url … --keys-dir …` inside `dir`.
fn latchkey(dir: &Path, args: &[&str]) -> Output {
    command().args(args).args(global_options(dir)).output().expect("the latchkey binary runs")
}

fn stdout_of(dir: &Path, args: &[&str]) -> String {
    let out = latchkey(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "latchkey {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let stdout = stdout_of(dir, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("latchkey {args:?}: not JSON ({e}): {stdout}"))
}

/// Asserts a non-zero exit with exactly one `error: …` line on stderr, and returns that line.
fn error_of(dir: &Path, args: &[&str]) -> String {
    let out = latchkey(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "latchkey {args:?} should fail; stdout: {}", String::from_utf8_lossy(&out.stdout));
    let line = stderr.trim_end();
    assert!(line.starts_with("error: "), "stderr should start with `error: `: {stderr:?}");
    assert_eq!(line.lines().count(), 1, "stderr should be one line: {stderr:?}");
    line.to_owned()
}

/// A temporary directory with org `acme` created and bootstrapped; returns the bootstrap output.
fn bootstrapped() -> (TempDir, Value) {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);
    let out = json_of(dir.path(), &["org", "bootstrap", "acme", "--json"]);
    (dir, out)
}

fn create_key(dir: &Path, name: &str) -> Value {
    json_of(dir, &["keys", "create", "--org", "acme", "--name", name, "--scope", "read:projects/**", "--json"])
}

fn key_ids(page: &Value) -> Vec<String> {
    page["keys"].as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
}

fn list(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["keys", "list", "--org", "acme", "--json"];
    args.extend_from_slice(extra);
    json_of(dir, &args)
}

fn assert_is_key_object(key: &Value, secret: &str) {
    let mut fields: Vec<_> = key.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected = KEY_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected);
    assert!(!key.to_string().contains(secret), "the key object leaks its secret: {key}");
    assert!(!key.to_string().contains(&secret["lk_".len()..]), "the key object leaks its secret: {key}");
}

#[test]
fn creating_an_org_lists_it_as_not_yet_bootstrapped() {
    let dir = tempdir().unwrap();

    stdout_of(dir.path(), &["org", "create", "acme"]);
    let orgs = json_of(dir.path(), &["org", "list", "--json"]);

    let orgs = orgs.as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert!(orgs[0]["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(orgs[0]["slug"], "acme");
    assert_eq!(orgs[0]["bootstrapped_at"], Value::Null);
}

#[test]
fn invalid_org_slugs_are_refused_with_a_one_line_error() {
    let dir = tempdir().unwrap();
    let too_long = "a".repeat(64);

    for slug in ["Bad_Slug", too_long.as_str()] {
        let error = error_of(dir.path(), &["org", "create", slug]);
        assert!(error.contains("slug"), "{error}");
    }

    assert_eq!(json_of(dir.path(), &["org", "list", "--json"]), json!([]));
    stdout_of(dir.path(), &["org", "create", &"a".repeat(63)]);
}

#[test]
fn creating_the_same_org_twice_fails() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);

    let error = error_of(dir.path(), &["org", "create", "acme"]);

    assert!(error.contains("already exists"), "{error}");
    assert_eq!(json_of(dir.path(), &["org", "list", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn global_options_may_come_before_the_subcommand() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);

    let out = command().args(global_options(dir.path())).args(["org", "list", "--json"]).output().unwrap();

    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let orgs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(orgs[0]["slug"], "acme");
}

#[test]
fn bootstrapping_prints_the_org_an_admin_key_and_its_secret_once() {
    let (dir, out) = bootstrapped();

    let org = &json_of(dir.path(), &["org", "list", "--json"])[0];
    assert_eq!(out["org"], json!({"id": org["id"], "slug": "acme"}));
    assert!(org["bootstrapped_at"].is_string());
    let secret = out["secret"].as_str().unwrap();
    assert!(secret.starts_with("lk_") && secret.len() == 52, "{secret}");
    assert_is_key_object(&out["key"], secret);
    assert_eq!(out["key"]["scopes"], json!([{"action": "*", "resource": "*"}]));
    assert_eq!(out["key"]["status"], "active");
}

#[cfg(unix)]
#[test]
fn bootstrapping_creates_a_master_key_readable_only_by_its_owner() {
    use std::os::unix::fs::PermissionsExt;

    let (dir, _) = bootstrapped();

    let meta = std::fs::metadata(dir.path().join("keys/master.key")).expect("keys/master.key exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn bootstrapping_twice_fails_with_a_clear_error() {
    let (dir, _) = bootstrapped();

    let error = error_of(dir.path(), &["org", "bootstrap", "acme", "--json"]);

    assert!(error.contains("already bootstrapped"), "{error}");
    assert_eq!(list(dir.path(), &["--status", "all"])["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn bootstrapping_an_unknown_org_fails() {
    let dir = tempdir().unwrap();

    let error = error_of(dir.path(), &["org", "bootstrap", "nope"]);

    assert!(error.contains("nope"), "{error}");
}

#[test]
fn creating_a_key_canonicalises_its_cidr_and_returns_its_secret() {
    let (dir, _) = bootstrapped();

    let out = json_of(dir.path(), &[
        "keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:projects/**",
        "--scope", "write:projects/42", "--cidr", "10.1.2.3/8", "--json",
    ]);

    let secret = out["secret"].as_str().unwrap();
    assert!(secret.starts_with("lk_") && secret.len() == 52, "{secret}");
    assert_is_key_object(&out["key"], secret);
    assert!(out["key"]["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(
        out["key"]["scopes"],
        json!([{"action": "read", "resource": "projects/**"}, {"action": "write", "resource": "projects/42"}])
    );
    let codes: Vec<_> = out["warnings"].as_array().unwrap().iter().map(|w| w["code"].clone()).collect();
    assert_eq!(codes, vec![json!("cidr_canonicalised")]);
}

#[test]
fn a_created_key_can_be_shown_and_listed_without_its_secret() {
    let (dir, _) = bootstrapped();
    let created = create_key(dir.path(), "ci");
    let (key, secret) = (&created["key"], created["secret"].as_str().unwrap());
    let id = key["id"].as_str().unwrap();

    let shown = json_of(dir.path(), &["keys", "show", "--org", "acme", id, "--json"]);
    let listed = list(dir.path(), &[]);

    assert_eq!(&shown, key);
    assert_is_key_object(&shown, secret);
    assert!(listed["keys"].as_array().unwrap().contains(key));
    assert!(!listed.to_string().contains(secret));
}

#[test]
fn a_dry_run_create_validates_without_creating_anything() {
    let (dir, _) = bootstrapped();
    let before = list(dir.path(), &["--status", "all"])["keys"].as_array().unwrap().len();

    let out = json_of(dir.path(), &[
        "keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x", "--cidr", "10.1.2.3/8", "--dry-run", "--json",
    ]);

    assert_eq!(out["secret"], Value::Null);
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(out["warnings"][0]["code"], "cidr_canonicalised");
    assert_eq!(list(dir.path(), &["--status", "all"])["keys"].as_array().unwrap().len(), before);
}

#[test]
fn creating_a_key_in_an_org_that_is_not_bootstrapped_asks_for_bootstrapping() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);

    let error = error_of(dir.path(), &["keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x"]);

    assert!(error.contains("bootstrap"), "{error}");
}

#[test]
fn creating_a_key_in_an_unknown_org_fails() {
    let (dir, _) = bootstrapped();

    let error = error_of(dir.path(), &["keys", "create", "--org", "nope", "--name", "ci", "--scope", "read:x"]);

    assert!(error.contains("nope"), "{error}");
}

#[test]
fn a_malformed_scope_is_reported_by_its_position() {
    let (dir, _) = bootstrapped();

    let error = error_of(dir.path(), &["keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:a//b"]);

    assert!(error.contains("scopes[0]"), "{error}");
}

#[test]
fn an_expiry_in_the_past_is_refused() {
    let (dir, _) = bootstrapped();

    let error = error_of(dir.path(), &[
        "keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x", "--expires-at", "2020-01-01T00:00:00Z",
    ]);

    assert!(error.contains("expires_at"), "{error}");
}

#[test]
fn listing_filters_keys_by_status() {
    let (dir, boot) = bootstrapped();
    let kept = create_key(dir.path(), "kept")["key"]["id"].as_str().unwrap().to_owned();
    let gone = create_key(dir.path(), "gone")["key"]["id"].as_str().unwrap().to_owned();
    stdout_of(dir.path(), &["keys", "revoke", "--org", "acme", &gone]);
    let admin = boot["key"]["id"].as_str().unwrap().to_owned();

    let active = key_ids(&list(dir.path(), &[]));
    let revoked = key_ids(&list(dir.path(), &["--status", "revoked"]));
    let all = key_ids(&list(dir.path(), &["--status", "all"]));

    assert_eq!(active, vec![kept.clone(), admin.clone()], "newest first, revoked left out");
    assert_eq!(revoked, vec![gone.clone()]);
    assert_eq!(all, vec![gone, kept, admin]);
}

#[test]
fn a_key_past_its_expiry_is_listed_as_expired() {
    let (dir, _) = bootstrapped();
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let out = json_of(dir.path(), &["keys", "create", "--org", "acme", "--name", "brief", "--scope", "read:x", "--expires-at", &soon, "--json"]);
    let id = out["key"]["id"].as_str().unwrap();

    std::thread::sleep(std::time::Duration::from_millis(2500));

    assert_eq!(key_ids(&list(dir.path(), &["--status", "expired"])), vec![id.to_owned()]);
    assert_eq!(json_of(dir.path(), &["keys", "show", "--org", "acme", id, "--json"])["status"], "expired");
    assert!(!key_ids(&list(dir.path(), &[])).contains(&id.to_owned()));
}

#[test]
fn searching_keys_ignores_case() {
    let (dir, _) = bootstrapped();
    let deploy = create_key(dir.path(), "CI Deploy")["key"]["id"].as_str().unwrap().to_owned();
    create_key(dir.path(), "backup");

    let found = key_ids(&list(dir.path(), &["--search", "ci dEPLOY"]));

    assert_eq!(found, vec![deploy]);
}

#[test]
fn paging_through_keys_visits_each_key_exactly_once() {
    let (dir, _) = bootstrapped();
    for i in 0..4 {
        create_key(dir.path(), &format!("key {i}"));
    }
    let expected = key_ids(&list(dir.path(), &[]));
    assert_eq!(expected.len(), 5);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut args = vec!["--limit", "2"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let page = list(dir.path(), &args);
        assert!(page["keys"].as_array().unwrap().len() <= 2);
        seen.extend(key_ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(seen, expected);
}

#[test]
fn an_unknown_status_filter_fails() {
    let (dir, _) = bootstrapped();

    let error = error_of(dir.path(), &["keys", "list", "--org", "acme", "--status", "bogus"]);

    assert!(error.contains("status"), "{error}");
}

#[test]
fn updating_a_key_shows_the_change_and_warns_that_it_takes_effect_immediately() {
    let (dir, _) = bootstrapped();
    let id = create_key(dir.path(), "old")["key"]["id"].as_str().unwrap().to_owned();

    let out = json_of(dir.path(), &["keys", "update", "--org", "acme", &id, "--name", "new", "--cidr", "192.168.0.0/16", "--json"]);

    assert_eq!(out["key"]["name"], "new");
    assert_eq!(out["key"]["allowed_cidrs"], json!(["192.168.0.0/16"]));
    let codes: Vec<_> = out["warnings"].as_array().unwrap().iter().map(|w| w["code"].clone()).collect();
    assert!(codes.contains(&json!("takes_effect_immediately")), "{codes:?}");
    assert_eq!(json_of(dir.path(), &["keys", "show", "--org", "acme", &id, "--json"]), out["key"]);
}

#[test]
fn a_dry_run_update_changes_nothing() {
    let (dir, _) = bootstrapped();
    let key = create_key(dir.path(), "old")["key"].clone();
    let id = key["id"].as_str().unwrap();

    let out = json_of(dir.path(), &["keys", "update", "--org", "acme", id, "--name", "new", "--dry-run", "--json"]);

    assert_eq!(out["key"]["name"], "new");
    assert_eq!(json_of(dir.path(), &["keys", "show", "--org", "acme", id, "--json"]), key);
}

#[test]
fn no_expiry_removes_the_expiry_of_a_key() {
    let (dir, _) = bootstrapped();
    let out = json_of(dir.path(), &[
        "keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x", "--expires-at", "2099-01-01T00:00:00Z", "--json",
    ]);
    let id = out["key"]["id"].as_str().unwrap();
    assert_eq!(out["key"]["expires_at"], "2099-01-01T00:00:00Z");

    let updated = json_of(dir.path(), &["keys", "update", "--org", "acme", id, "--no-expiry", "--json"]);

    assert_eq!(updated["key"]["expires_at"], Value::Null);
    assert_eq!(json_of(dir.path(), &["keys", "show", "--org", "acme", id, "--json"])["expires_at"], Value::Null);
}

#[test]
fn an_update_without_any_change_fails() {
    let (dir, _) = bootstrapped();
    let id = create_key(dir.path(), "ci")["key"]["id"].as_str().unwrap().to_owned();

    let error = error_of(dir.path(), &["keys", "update", "--org", "acme", &id]);

    assert!(error.contains("nothing to change"), "{error}");
}

#[test]
fn a_revoked_key_cannot_be_updated() {
    let (dir, _) = bootstrapped();
    let id = create_key(dir.path(), "ci")["key"]["id"].as_str().unwrap().to_owned();
    stdout_of(dir.path(), &["keys", "revoke", "--org", "acme", &id]);

    let error = error_of(dir.path(), &["keys", "update", "--org", "acme", &id, "--name", "again"]);

    assert!(error.contains("revoked"), "{error}");
    assert_eq!(json_of(dir.path(), &["keys", "show", "--org", "acme", &id, "--json"])["name"], "ci");
}

#[test]
fn revoking_a_key_is_permanent_and_idempotent() {
    let (dir, _) = bootstrapped();
    let id = create_key(dir.path(), "ci")["key"]["id"].as_str().unwrap().to_owned();

    let first = json_of(dir.path(), &["keys", "revoke", "--org", "acme", &id, "--json"]);
    let second = json_of(dir.path(), &["keys", "revoke", "--org", "acme", &id, "--json"]);

    assert_eq!(first["status"], "revoked");
    assert!(first["revoked_at"].is_string());
    assert_eq!(second, first);
}

#[test]
fn showing_or_revoking_an_unknown_key_fails() {
    let (dir, _) = bootstrapped();

    let shown = error_of(dir.path(), &["keys", "show", "--org", "acme", "key_doesnotexist0000000"]);
    let revoked = error_of(dir.path(), &["keys", "revoke", "--org", "acme", "key_doesnotexist0000000"]);

    assert!(shown.contains("key_doesnotexist0000000"), "{shown}");
    assert!(revoked.contains("key_doesnotexist0000000"), "{revoked}");
}

#[test]
fn a_key_of_another_org_is_out_of_reach() {
    let (dir, _) = bootstrapped();
    stdout_of(dir.path(), &["org", "create", "other"]);
    stdout_of(dir.path(), &["org", "bootstrap", "other"]);
    let id = create_key(dir.path(), "ci")["key"]["id"].as_str().unwrap().to_owned();

    error_of(dir.path(), &["keys", "show", "--org", "other", &id]);
    error_of(dir.path(), &["keys", "update", "--org", "other", &id, "--name", "stolen"]);
    error_of(dir.path(), &["keys", "revoke", "--org", "other", &id]);

    let key = json_of(dir.path(), &["keys", "show", "--org", "acme", &id, "--json"]);
    assert_eq!((key["name"].as_str(), key["status"].as_str()), (Some("ci"), Some("active")));
}

#[test]
fn migrating_a_fresh_database_succeeds_twice() {
    let dir = tempdir().unwrap();

    let first = latchkey(dir.path(), &["migrate"]);
    let second = latchkey(dir.path(), &["migrate"]);

    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert!(dir.path().join("t.db").exists());
}

#[test]
fn plain_key_creation_shows_the_secret_exactly_once() {
    let (dir, _) = bootstrapped();

    let stdout = stdout_of(dir.path(), &["keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x"]);

    let secret = stdout.split_whitespace().find(|w| w.starts_with("lk_") && w.len() == 52).expect("a secret is printed");
    assert_eq!(stdout.matches(secret).count(), 1, "{stdout}");
    assert!(stdout.contains("shown only once"), "{stdout}");
}

#[test]
fn plain_org_list_prints_a_table_header() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);

    let stdout = stdout_of(dir.path(), &["org", "list"]);

    let mut lines = stdout.lines();
    let header: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SLUG", "ID", "CREATED", "BOOTSTRAPPED"]);
    assert!(lines.next().unwrap().starts_with("acme "));
}
