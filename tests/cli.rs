#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `latchkey` command line (SPEC.md, "Command line"), driven through the real binary.
//! Every test owns a temporary directory holding its SQLite database and its keys folder.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::{TempDir, tempdir};

/// The key object's fields, sorted.
const KEY_FIELDS: [&str; 10] = [
    "allowed_cidrs",
    "created_at",
    "expires_at",
    "id",
    "last_used_at",
    "name",
    "revoked_at",
    "scopes",
    "secret_hint",
    "status",
];

/// The binary with a clean environment: nothing from the developer's shell leaks in.
fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for var in [
        "LATCHKEY_MASTER_KEY",
        "DATABASE_URL",
        "LATCHKEY_KEYS_DIR",
        "LATCHKEY_LOG",
        "LATCHKEY_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn global_options(dir: &Path) -> [String; 4] {
    let (db, keys) = (
        format!("sqlite://{}", dir.join("t.db").display()),
        dir.join("keys").display().to_string(),
    );
    ["--database-url".into(), db, "--keys-dir".into(), keys]
}

/// Runs `latchkey ARGS --database-url … --keys-dir …` inside `dir`.
fn latchkey(dir: &Path, args: &[&str]) -> Output {
    command()
        .args(args)
        .args(global_options(dir))
        .output()
        .expect("the latchkey binary runs")
}

fn stdout_of(dir: &Path, args: &[&str]) -> String {
    let out = latchkey(dir, args);
    assert!(
        out.status.success(),
        "latchkey {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let stdout = stdout_of(dir, args);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("latchkey {args:?}: not JSON ({e}): {stdout}"))
}

/// Asserts a non-zero exit with exactly one `error: …` line on stderr, and returns that line.
fn error_of(dir: &Path, args: &[&str]) -> String {
    let out = latchkey(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success(),
        "latchkey {args:?} should fail; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr.trim_end();
    assert!(
        line.starts_with("error: "),
        "stderr should start with `error: `: {stderr:?}"
    );
    assert_eq!(
        line.lines().count(),
        1,
        "stderr should be one line: {stderr:?}"
    );
    line.to_owned()
}

/// A temporary directory with org `acme` created and bootstrapped; returns the bootstrap output.
/// Bootstraps with the global options *before* the subcommand, which the CLI also accepts.
fn bootstrapped() -> (TempDir, Value) {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);
    let args = ["org", "bootstrap", "acme", "--json"];
    let out = command()
        .args(global_options(dir.path()))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, serde_json::from_slice(&out.stdout).unwrap())
}

fn create_key(dir: &Path, name: &str) -> Value {
    json_of(
        dir,
        &[
            "keys",
            "create",
            "--org",
            "acme",
            "--name",
            name,
            "--scope",
            "read:projects/**",
            "--json",
        ],
    )
}

fn id_of(created: &Value) -> String {
    created["key"]["id"].as_str().unwrap().to_owned()
}

fn show(dir: &Path, id: &str) -> Value {
    json_of(dir, &["keys", "show", "--org", "acme", id, "--json"])
}

fn warning_codes(out: &Value) -> Vec<&str> {
    out["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect()
}

fn key_ids(page: &Value) -> Vec<String> {
    page["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_owned())
        .collect()
}

fn list(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["keys", "list", "--org", "acme", "--json"];
    args.extend_from_slice(extra);
    json_of(dir, &args)
}

fn assert_is_key_object(key: &Value, secret: &str) {
    let mut fields: Vec<_> = key
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, KEY_FIELDS);
    assert!(
        !key.to_string().contains(secret),
        "the key object leaks its secret: {key}"
    );
    assert!(
        !key.to_string().contains(&secret["lk_".len()..]),
        "the key object leaks its secret: {key}"
    );
}

#[test]
fn creating_an_org_lists_it_as_not_yet_bootstrapped() {
    let dir = tempdir().unwrap();

    stdout_of(dir.path(), &["org", "create", "acme"]);
    let orgs = json_of(dir.path(), &["org", "list", "--json"]);

    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert!(orgs[0]["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(orgs[0]["slug"], "acme");
    assert_eq!(orgs[0]["bootstrapped_at"], Value::Null);
}

#[test]
fn invalid_org_slugs_are_refused_with_a_one_line_error() {
    let dir = tempdir().unwrap();

    for slug in ["Bad_Slug".to_owned(), "a".repeat(64)] {
        let error = error_of(dir.path(), &["org", "create", &slug]);
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
    assert_eq!(
        json_of(dir.path(), &["org", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
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
    assert_eq!(
        out["key"]["scopes"],
        json!([{"action": "*", "resource": "*"}])
    );
    assert_eq!(out["key"]["status"], "active");
    let meta =
        std::fs::metadata(dir.path().join("keys/master.key")).expect("keys/master.key exists");
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
}

#[test]
fn bootstrapping_twice_or_an_unknown_org_fails_with_a_clear_error() {
    let (dir, _) = bootstrapped();

    let twice = error_of(dir.path(), &["org", "bootstrap", "acme", "--json"]);
    let unknown = error_of(dir.path(), &["org", "bootstrap", "nope"]);

    assert!(twice.contains("already bootstrapped"), "{twice}");
    assert!(unknown.contains("nope"), "{unknown}");
    assert_eq!(
        key_ids(&list(dir.path(), &["--status", "all"])).len(),
        1,
        "no second admin key"
    );
}

#[test]
fn creating_a_key_canonicalises_its_cidr_and_returns_its_secret() {
    let (dir, _) = bootstrapped();

    let out = json_of(
        dir.path(),
        &[
            "keys",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--scope",
            "read:projects/**",
            "--scope",
            "write:projects/42",
            "--cidr",
            "10.1.2.3/8",
            "--json",
        ],
    );

    let secret = out["secret"].as_str().unwrap();
    assert!(secret.starts_with("lk_") && secret.len() == 52, "{secret}");
    assert_is_key_object(&out["key"], secret);
    assert!(out["key"]["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    let scopes = json!([{"action": "read", "resource": "projects/**"}, {"action": "write", "resource": "projects/42"}]);
    assert_eq!(out["key"]["scopes"], scopes);
    assert_eq!(warning_codes(&out), ["cidr_canonicalised"]);
}

#[test]
fn a_created_key_can_be_shown_and_listed_without_its_secret() {
    let (dir, _) = bootstrapped();
    let created = create_key(dir.path(), "ci");
    let (key, secret) = (&created["key"], created["secret"].as_str().unwrap());

    let shown = show(dir.path(), &id_of(&created));
    let listed = list(dir.path(), &[]);

    assert_eq!(&shown, key);
    assert_is_key_object(&shown, secret);
    assert!(listed["keys"].as_array().unwrap().contains(key));
    assert!(!listed.to_string().contains(secret));
}

#[test]
fn a_dry_run_create_validates_without_creating_anything() {
    let (dir, _) = bootstrapped();
    let before = key_ids(&list(dir.path(), &["--status", "all"]));

    let out = json_of(
        dir.path(),
        &[
            "keys",
            "create",
            "--org",
            "acme",
            "--name",
            "ci",
            "--scope",
            "read:x",
            "--cidr",
            "10.1.2.3/8",
            "--dry-run",
            "--json",
        ],
    );

    assert_eq!(out["secret"], Value::Null);
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(warning_codes(&out), ["cidr_canonicalised"]);
    assert_eq!(key_ids(&list(dir.path(), &["--status", "all"])), before);
}

#[test]
fn creating_a_key_needs_an_org_that_exists_and_is_bootstrapped() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);
    let create_in = |org| {
        [
            "keys", "create", "--org", org, "--name", "ci", "--scope", "read:x",
        ]
    };

    let not_bootstrapped = error_of(dir.path(), &create_in("acme"));
    let unknown = error_of(dir.path(), &create_in("nope"));

    assert!(not_bootstrapped.contains("bootstrap"), "{not_bootstrapped}");
    assert!(unknown.contains("nope"), "{unknown}");
}

#[test]
fn invalid_key_input_is_reported_by_field() {
    let (dir, _) = bootstrapped();
    let create = ["keys", "create", "--org", "acme", "--name", "ci", "--scope"];

    let bad_scope = error_of(dir.path(), &[&create[..], &["read:a//b"]].concat());
    let past = error_of(
        dir.path(),
        &[
            &create[..],
            &["read:x", "--expires-at", "2020-01-01T00:00:00Z"],
        ]
        .concat(),
    );

    assert!(bad_scope.contains("scopes[0]"), "{bad_scope}");
    assert!(past.contains("expires_at"), "{past}");
    assert_eq!(key_ids(&list(dir.path(), &["--status", "all"])).len(), 1);
}

#[test]
fn listing_filters_keys_by_status() {
    let (dir, boot) = bootstrapped();
    let admin = boot["key"]["id"].as_str().unwrap().to_owned();
    let kept = id_of(&create_key(dir.path(), "kept"));
    let gone = id_of(&create_key(dir.path(), "gone"));
    stdout_of(dir.path(), &["keys", "revoke", "--org", "acme", &gone]);

    let active = key_ids(&list(dir.path(), &[]));
    let revoked = key_ids(&list(dir.path(), &["--status", "revoked"]));
    let all = key_ids(&list(dir.path(), &["--status", "all"]));

    assert_eq!(
        active,
        [kept.clone(), admin.clone()],
        "newest first, revoked left out"
    );
    assert_eq!(revoked, [gone.clone()]);
    assert_eq!(all, [gone, kept, admin]);
    let bogus = error_of(
        dir.path(),
        &["keys", "list", "--org", "acme", "--status", "bogus"],
    );
    assert!(bogus.contains("status"), "{bogus}");
}

#[test]
fn a_key_past_its_expiry_is_listed_as_expired() {
    let (dir, _) = bootstrapped();
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let args = [
        "keys",
        "create",
        "--org",
        "acme",
        "--name",
        "brief",
        "--scope",
        "read:x",
        "--expires-at",
        &soon,
        "--json",
    ];
    let id = id_of(&json_of(dir.path(), &args));

    std::thread::sleep(std::time::Duration::from_millis(2500));

    assert_eq!(
        key_ids(&list(dir.path(), &["--status", "expired"])),
        [id.clone()]
    );
    assert_eq!(show(dir.path(), &id)["status"], "expired");
    assert!(!key_ids(&list(dir.path(), &[])).contains(&id));
}

#[test]
fn searching_keys_ignores_case() {
    let (dir, _) = bootstrapped();
    let deploy = id_of(&create_key(dir.path(), "CI Deploy"));
    create_key(dir.path(), "backup");

    let found = key_ids(&list(dir.path(), &["--search", "ci dEPLOY"]));

    assert_eq!(found, [deploy]);
}

#[test]
fn paging_through_keys_visits_each_key_exactly_once() {
    let (dir, _) = bootstrapped();
    for i in 0..4 {
        create_key(dir.path(), &format!("key {i}"));
    }
    let expected = key_ids(&list(dir.path(), &[]));
    assert_eq!(expected.len(), 5);

    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..expected.len() {
        let page = match &cursor {
            Some(c) => list(dir.path(), &["--limit", "2", "--cursor", c]),
            None => list(dir.path(), &["--limit", "2"]),
        };
        assert!(key_ids(&page).len() <= 2);
        seen.extend(key_ids(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(seen, expected);
}

#[test]
fn updating_a_key_shows_the_change_and_warns_that_it_takes_effect_immediately() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(dir.path(), "old"));

    let out = json_of(
        dir.path(),
        &[
            "keys",
            "update",
            "--org",
            "acme",
            &id,
            "--name",
            "new",
            "--cidr",
            "192.168.0.0/16",
            "--json",
        ],
    );

    assert_eq!(out["key"]["name"], "new");
    assert_eq!(out["key"]["allowed_cidrs"], json!(["192.168.0.0/16"]));
    assert!(
        warning_codes(&out).contains(&"takes_effect_immediately"),
        "{out}"
    );
    assert_eq!(show(dir.path(), &id), out["key"]);
}

#[test]
fn no_expiry_removes_the_expiry_of_a_key() {
    let (dir, _) = bootstrapped();
    let args = [
        "keys",
        "create",
        "--org",
        "acme",
        "--name",
        "ci",
        "--scope",
        "read:x",
        "--expires-at",
        "2099-01-01T00:00:00Z",
        "--json",
    ];
    let created = json_of(dir.path(), &args);
    let id = id_of(&created);
    assert_eq!(created["key"]["expires_at"], "2099-01-01T00:00:00Z");

    let updated = json_of(
        dir.path(),
        &[
            "keys",
            "update",
            "--org",
            "acme",
            &id,
            "--no-expiry",
            "--json",
        ],
    );

    assert_eq!(updated["key"]["expires_at"], Value::Null);
    assert_eq!(show(dir.path(), &id)["expires_at"], Value::Null);
}

#[test]
fn an_update_without_any_change_fails() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(dir.path(), "ci"));

    let error = error_of(dir.path(), &["keys", "update", "--org", "acme", &id]);

    assert!(error.contains("nothing to change"), "{error}");
}

#[test]
fn a_revoked_key_cannot_be_updated() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(dir.path(), "ci"));
    stdout_of(dir.path(), &["keys", "revoke", "--org", "acme", &id]);

    let error = error_of(
        dir.path(),
        &["keys", "update", "--org", "acme", &id, "--name", "again"],
    );

    assert!(error.contains("revoked"), "{error}");
    assert_eq!(show(dir.path(), &id)["name"], "ci");
}

#[test]
fn revoking_a_key_is_permanent_and_idempotent() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(dir.path(), "ci"));

    let first = json_of(
        dir.path(),
        &["keys", "revoke", "--org", "acme", &id, "--json"],
    );
    let second = json_of(
        dir.path(),
        &["keys", "revoke", "--org", "acme", &id, "--json"],
    );

    assert_eq!(first["status"], "revoked");
    assert!(first["revoked_at"].is_string());
    assert_eq!(second, first, "same revoked_at the second time");
}

#[test]
fn showing_or_revoking_an_unknown_key_fails() {
    let (dir, _) = bootstrapped();
    let unknown = "key_doesnotexist0000000";

    let shown = error_of(dir.path(), &["keys", "show", "--org", "acme", unknown]);
    let revoked = error_of(dir.path(), &["keys", "revoke", "--org", "acme", unknown]);

    assert!(
        shown.contains(unknown) && revoked.contains(unknown),
        "{shown} / {revoked}"
    );
}

#[test]
fn a_key_of_another_org_is_out_of_reach() {
    let (dir, _) = bootstrapped();
    stdout_of(dir.path(), &["org", "create", "other"]);
    stdout_of(dir.path(), &["org", "bootstrap", "other"]);
    let created = create_key(dir.path(), "ci");
    let id = id_of(&created);

    error_of(dir.path(), &["keys", "show", "--org", "other", &id]);
    error_of(
        dir.path(),
        &["keys", "update", "--org", "other", &id, "--name", "stolen"],
    );
    error_of(dir.path(), &["keys", "revoke", "--org", "other", &id]);

    assert_eq!(show(dir.path(), &id), created["key"]);
}

#[test]
fn migrating_a_fresh_database_succeeds_twice() {
    let dir = tempdir().unwrap();

    let outputs = [
        stdout_of(dir.path(), &["migrate"]),
        stdout_of(dir.path(), &["migrate"]),
    ];

    assert!(
        outputs.iter().all(|o| o.contains("up to date")),
        "{outputs:?}"
    );
    assert!(dir.path().join("t.db").exists());
}

#[test]
fn plain_key_creation_shows_the_secret_exactly_once() {
    let (dir, _) = bootstrapped();

    let stdout = stdout_of(
        dir.path(),
        &[
            "keys", "create", "--org", "acme", "--name", "ci", "--scope", "read:x",
        ],
    );

    let secret = stdout
        .split_whitespace()
        .find(|w| w.starts_with("lk_") && w.len() == 52)
        .expect("a secret is printed");
    assert_eq!(stdout.matches(secret).count(), 1, "{stdout}");
    assert!(stdout.contains("shown only once"), "{stdout}");
}

#[test]
fn plain_org_list_prints_a_table_header() {
    let dir = tempdir().unwrap();
    stdout_of(dir.path(), &["org", "create", "acme"]);

    let stdout = stdout_of(dir.path(), &["org", "list"]);

    let mut lines = stdout.lines();
    assert_eq!(
        lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["SLUG", "ID", "CREATED", "BOOTSTRAPPED"]
    );
    assert!(lines.next().unwrap().starts_with("acme "));
}
