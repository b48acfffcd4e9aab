#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `latchkey` command line (SPEC.md, "Command line"), driven through the real binary.
//! Every test owns a temporary directory holding its SQLite database and its keys folder.

#[path = "support/postgres.rs"]
mod postgres;

use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::{TempDir, tempdir};

/// The key object's fields, sorted.
const KEY_FIELDS: &str = "allowed_cidrs created_at expires_at federated_credentials id jwks_uri kind last_used_at leaked_at metadata name parent_key_id previous_secret_expires_at public_keys quota rate_limits revoked_at scopes secret secret_hint status";

/// The binary with a clean environment: nothing from the developer's shell leaks in.
fn command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    for var in [
        "LATCHKEY_MASTER_KEY",
        "DATABASE_URL",
        "LATCHKEY_LOG",
        "LATCHKEY_SECRET_PREFIX",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn global_options(dir: &TempDir) -> [String; 4] {
    let dir = dir.path();
    let db = format!("sqlite://{}", dir.join("t.db").display());
    let keys = dir.join("keys").display().to_string();
    ["--database-url".into(), db, "--keys-dir".into(), keys]
}

/// Runs `latchkey ARGS --database-url … --keys-dir …`; `args` is split on whitespace.
fn latchkey(dir: &TempDir, args: &str) -> Output {
    let out = command()
        .args(args.split_whitespace())
        .args(global_options(dir))
        .output();
    out.expect("the latchkey binary runs")
}

fn stdout_of(dir: &TempDir, args: &str) -> String {
    let out = latchkey(dir, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "`latchkey {args}` failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn json_of(dir: &TempDir, args: &str) -> Value {
    let stdout = stdout_of(dir, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("`latchkey {args}`: {e}: {stdout}"))
}

/// Asserts a non-zero exit with exactly one `error: …` line on stderr, and returns that line.
fn error_of(dir: &TempDir, args: &str) -> String {
    let out = latchkey(dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "`{args}` should fail: {stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = stderr.trim_end();
    assert!(line.starts_with("error: "), "{stderr:?}");
    assert_eq!(line.lines().count(), 1, "one line: {stderr:?}");
    line.to_owned()
}

/// A temporary directory with org `acme` created and bootstrapped; returns the bootstrap output.
/// Bootstraps with the global options before the subcommand, which the CLI accepts too.
fn bootstrapped() -> (TempDir, Value) {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    let mut bootstrap = command();
    bootstrap.args(global_options(&dir));
    let args = ["org", "bootstrap", "acme", "--json"];
    let out = bootstrap.args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bootstrap failed: {stderr}");
    (dir, serde_json::from_slice(&out.stdout).unwrap())
}

fn create_key(dir: &TempDir, name: &str) -> Value {
    let args = format!("keys create --org acme --name {name} --scope read:p/** --json");
    json_of(dir, &args)
}

fn id_of(created: &Value) -> String {
    created["key"]["id"].as_str().unwrap().to_owned()
}

fn show(dir: &TempDir, id: &str) -> Value {
    json_of(dir, &format!("keys show --org acme {id} --json"))
}

/// `keys list --org acme --json` plus `extra`, as key ids in the order listed.
fn listed(dir: &TempDir, extra: &str) -> Vec<String> {
    let page = json_of(dir, &format!("keys list --org acme --json {extra}"));
    key_ids(&page)
}

fn key_ids(page: &Value) -> Vec<String> {
    let keys = page["keys"].as_array().unwrap().iter();
    keys.map(|k| k["id"].as_str().unwrap().to_owned()).collect()
}

fn warning_codes(out: &Value) -> Vec<&str> {
    let warnings = out["warnings"].as_array().unwrap().iter();
    warnings.map(|w| w["code"].as_str().unwrap()).collect()
}

fn assert_is_a_secret(secret: &str) {
    assert!(secret.starts_with("lk_") && secret.len() == 52, "{secret}");
}

fn assert_is_key_object(key: &Value, secret: &str) {
    let fields = key.as_object().unwrap().keys();
    let mut fields: Vec<_> = fields.map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields.join(" "), KEY_FIELDS);
    let text = key.to_string();
    assert!(!text.contains(&secret[3..]), "secret leaked: {text}");
}

#[test]
fn creating_an_org_lists_it_as_not_yet_bootstrapped() {
    let dir = tempdir().unwrap();

    stdout_of(&dir, "org create acme");
    let orgs = json_of(&dir, "org list --json");

    assert_eq!(orgs.as_array().unwrap().len(), 1);
    assert!(orgs[0]["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(orgs[0]["slug"], "acme");
    assert_eq!(orgs[0]["bootstrapped_at"], Value::Null);
}

#[test]
fn invalid_org_slugs_are_refused_with_a_one_line_error() {
    let dir = tempdir().unwrap();

    for slug in ["Bad_Slug".to_owned(), "a".repeat(64)] {
        let error = error_of(&dir, &format!("org create {slug}"));
        assert!(error.contains("slug"), "{error}");
    }

    assert_eq!(json_of(&dir, "org list --json"), json!([]));
    stdout_of(&dir, &format!("org create {}", "a".repeat(63)));
}

#[test]
fn creating_the_same_org_twice_fails() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");

    let error = error_of(&dir, "org create acme");

    assert!(error.contains("already exists"), "{error}");
    let orgs = json_of(&dir, "org list --json");
    assert_eq!(orgs.as_array().map(Vec::len), Some(1));
}

#[test]
fn bootstrapping_prints_the_org_an_admin_key_and_its_secret_once() {
    let (dir, out) = bootstrapped();

    let org = &json_of(&dir, "org list --json")[0];
    assert_eq!(out["org"], json!({"id": org["id"], "slug": "acme"}));
    assert!(org["bootstrapped_at"].is_string());
    let secret = out["secret"].as_str().unwrap();
    assert_is_a_secret(secret);
    assert_is_key_object(&out["key"], secret);
    let admin_scopes = json!([{"action": "*", "resource": "*"}]);
    assert_eq!(out["key"]["scopes"], admin_scopes);
    assert_eq!(out["key"]["status"], "active");
    let master_key = std::fs::metadata(dir.path().join("keys/master.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(master_key.unwrap().permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn bootstrapping_twice_or_an_unknown_org_fails_with_a_clear_error() {
    let (dir, _) = bootstrapped();

    let error = error_of(&dir, "org bootstrap acme --json");
    let unknown = error_of(&dir, "org bootstrap nope");

    assert!(error.contains("already bootstrapped"), "{error}");
    assert!(unknown.contains("nope"), "{unknown}");
    assert_eq!(listed(&dir, "--status all").len(), 1, "no second admin key");
}

#[test]
fn creating_a_key_canonicalises_its_cidr_and_returns_its_secret() {
    let (dir, _) = bootstrapped();
    let scopes = "--scope read:projects/** --scope write:projects/42";

    let args = format!("keys create --org acme --name ci {scopes} --cidr 10.1.2.3/8 --json");
    let out = json_of(&dir, &args);

    let secret = out["secret"].as_str().unwrap();
    assert_is_a_secret(secret);
    assert_is_key_object(&out["key"], secret);
    assert!(out["key"]["id"].as_str().unwrap().starts_with("key_"));
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    let expected = json!([
        {"action": "read", "resource": "projects/**"},
        {"action": "write", "resource": "projects/42"},
    ]);
    assert_eq!(out["key"]["scopes"], expected);
    assert_eq!(warning_codes(&out), ["cidr_canonicalised"]);
}

#[test]
fn a_created_key_can_be_shown_and_listed_without_its_secret() {
    let (dir, _) = bootstrapped();
    let created = create_key(&dir, "ci");
    let (key, secret) = (&created["key"], created["secret"].as_str().unwrap());

    let shown = show(&dir, &id_of(&created));
    let page = json_of(&dir, "keys list --org acme --json");

    assert_eq!(&shown, key);
    assert_is_key_object(&shown, secret);
    assert!(page["keys"].as_array().unwrap().contains(key));
    assert!(!page.to_string().contains(&secret[3..]));
}

#[test]
fn a_dry_run_create_validates_without_creating_anything() {
    let (dir, _) = bootstrapped();
    let before = listed(&dir, "--status all");

    let args = "keys create --org acme --name ci --scope read:x --cidr 10.1.2.3/8 --dry-run";
    let out = json_of(&dir, &format!("{args} --json"));

    assert_eq!(out["secret"], Value::Null);
    assert_eq!(out["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(warning_codes(&out), ["cidr_canonicalised"]);
    assert_eq!(listed(&dir, "--status all"), before);
}

#[test]
fn creating_a_key_needs_an_org_that_exists_and_is_bootstrapped() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    let create_in = |org| format!("keys create --org {org} --name ci --scope read:x");

    let not_bootstrapped = error_of(&dir, &create_in("acme"));
    let unknown = error_of(&dir, &create_in("nope"));

    assert!(not_bootstrapped.contains("bootstrap"), "{not_bootstrapped}");
    assert!(unknown.contains("nope"), "{unknown}");
}

#[test]
fn invalid_key_input_is_refused_naming_the_field() {
    let (dir, _) = bootstrapped();
    let create = "keys create --org acme --name ci --scope";

    let bad_scope = error_of(&dir, &format!("{create} read:a//b"));
    let past = format!("{create} read:x --expires-at 2020-01-01T00:00:00Z");
    let past = error_of(&dir, &past);

    assert!(bad_scope.contains("scopes[0]"), "{bad_scope}");
    assert!(past.contains("expires_at"), "{past}");
    assert_eq!(listed(&dir, "--status all").len(), 1);
}

#[test]
fn listing_filters_keys_by_status() {
    let (dir, boot) = bootstrapped();
    let admin = boot["key"]["id"].as_str().unwrap().to_owned();
    let kept = id_of(&create_key(&dir, "kept"));
    let gone = id_of(&create_key(&dir, "gone"));
    stdout_of(&dir, &format!("keys revoke --org acme {gone}"));

    let active = listed(&dir, "");
    let revoked = listed(&dir, "--status revoked");
    let all = listed(&dir, "--status all");

    assert_eq!(active, [kept.as_str(), &admin], "newest first");
    assert_eq!(revoked, [gone.as_str()]);
    assert_eq!(all, [gone.as_str(), &kept, &admin]);
    let error = error_of(&dir, "keys list --org acme --status bogus");
    assert!(error.contains("status"), "{error}");
}

/// Starts a web-console session for key `parent` of org `acme`, straight through the service
/// (the CLI starts none); returns the session key's id.
fn console_session(dir: &TempDir, parent: &str) -> String {
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let pool = latchkey::store::connect(&db, &Default::default()).unwrap();
    let mut conn = pool.get().unwrap();
    let org = latchkey::service::orgs::find(&mut conn, "acme").unwrap();
    let mut actor = latchkey::service::actor::Actor::cli(&org.id);
    actor.key_id = Some(parent.to_owned());
    let started = latchkey::service::keys::sessions::start(
        &mut conn,
        &actor,
        chrono::Duration::hours(8),
        &Default::default(),
        latchkey::service::now(),
    )
    .unwrap();
    started.key.id
}

#[test]
fn console_sessions_are_listed_only_with_kind_or_their_parent() {
    let (dir, boot) = bootstrapped();
    let admin = boot["key"]["id"].as_str().unwrap().to_owned();
    let session = console_session(&dir, &admin);

    assert_eq!(listed(&dir, ""), [admin.as_str()]);
    assert_eq!(
        listed(&dir, "--kind standard --status all"),
        [admin.as_str()]
    );
    assert_eq!(listed(&dir, "--kind console_session"), [session.as_str()]);
    assert_eq!(
        listed(&dir, &format!("--parent-key-id {admin}")),
        [session.as_str()]
    );
    assert_eq!(listed(&dir, "--kind all"), [session.as_str(), &admin]);
    let shown = stdout_of(&dir, &format!("keys show --org acme {session}"));
    assert!(
        shown.contains(&format!("console_session of {admin}")),
        "{shown}"
    );
    let error = error_of(&dir, "keys list --org acme --kind bogus");
    assert!(error.contains("kind"), "{error}");
}

#[test]
fn a_key_past_its_expiry_is_listed_as_expired() {
    let (dir, _) = bootstrapped();
    // An expiry already past when the command gets to it is refused: on a slow machine, a
    // window that proved too short is tried again, twice as long.
    let mut window = chrono::Duration::seconds(2);
    let (id, soon) = loop {
        let soon = chrono::Utc::now() + window;
        let args = format!(
            "keys create --org acme --name brief --scope read:x --expires-at {} --json",
            soon.to_rfc3339()
        );
        let out = latchkey(&dir, &args);
        if out.status.success() {
            break (id_of(&serde_json::from_slice(&out.stdout).unwrap()), soon);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("expires_at") && window < chrono::Duration::seconds(30),
            "{stderr}"
        );
        window = window * 2;
    };

    let left = soon + chrono::Duration::milliseconds(200) - chrono::Utc::now();
    std::thread::sleep(left.to_std().unwrap_or_default());

    assert_eq!(listed(&dir, "--status expired"), [id.as_str()]);
    assert_eq!(show(&dir, &id)["status"], "expired");
    assert!(!listed(&dir, "").contains(&id));
}

#[test]
fn searching_keys_ignores_case() {
    let (dir, _) = bootstrapped();
    let deploy = id_of(&create_key(&dir, "CI-Deploy"));
    create_key(&dir, "backup");

    let found = listed(&dir, "--search ci-dEPLOY");

    assert_eq!(found, [deploy]);
}

#[test]
fn paging_through_keys_visits_each_key_exactly_once() {
    let (dir, _) = bootstrapped();
    for i in 0..4 {
        create_key(&dir, &format!("key-{i}"));
    }
    let everything = listed(&dir, "");
    assert_eq!(everything.len(), 5);

    let (mut seen, mut cursor) = (Vec::new(), String::new());
    for _ in 0..everything.len() {
        let args = format!("keys list --org acme --json --limit 2 {cursor}");
        let page = json_of(&dir, &args);
        assert!(key_ids(&page).len() <= 2);
        seen.extend(key_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("--cursor {next}"),
            None => break,
        }
    }

    assert_eq!(seen, everything);
}

#[test]
fn updating_a_key_shows_the_change_and_warns_that_it_takes_effect_immediately() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "old"));

    let args = format!("keys update --org acme {id} --name new --cidr 192.168.0.0/16 --json");
    let out = json_of(&dir, &args);

    assert_eq!(out["key"]["name"], "new");
    assert_eq!(out["key"]["allowed_cidrs"], json!(["192.168.0.0/16"]));
    assert_eq!(warning_codes(&out), ["takes_effect_immediately"]);
    assert_eq!(show(&dir, &id), out["key"]);
}

#[test]
fn keys_that_may_manage_keys_are_warned_about_on_create_and_update() {
    let (dir, _) = bootstrapped();

    let out = latchkey(&dir, "keys create --org acme --name ops --scope admin:*");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: scopes: `admin:*` grants admin over Latchkey's own"),
        "{stderr}"
    );
    let id = id_of(&create_key(&dir, "reader"));
    let args = format!("keys update --org acme {id} --scope admin:keys/** --json");
    let out = json_of(&dir, &args);

    assert_eq!(
        warning_codes(&out),
        ["grants_key_management", "takes_effect_immediately"]
    );
}

#[test]
fn a_dry_run_update_changes_nothing() {
    let (dir, _) = bootstrapped();
    let created = create_key(&dir, "old");
    let id = id_of(&created);

    let args = format!("keys update --org acme {id} --name new --dry-run --json");
    let out = json_of(&dir, &args);

    assert_eq!(out["key"]["name"], "new");
    assert_eq!(show(&dir, &id), created["key"]);
}

#[test]
fn no_expiry_removes_the_expiry_of_a_key() {
    let (dir, _) = bootstrapped();
    let expiring = "--name ci --scope read:x --expires-at 2099-01-01T00:00:00Z --json";
    let created = json_of(&dir, &format!("keys create --org acme {expiring}"));
    let id = id_of(&created);
    assert_eq!(created["key"]["expires_at"], "2099-01-01T00:00:00Z");

    let args = format!("keys update --org acme {id} --no-expiry --json");
    let updated = json_of(&dir, &args);

    assert_eq!(updated["key"]["expires_at"], Value::Null);
    assert_eq!(show(&dir, &id)["expires_at"], Value::Null);
}

#[test]
fn an_update_without_any_change_fails() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));

    let error = error_of(&dir, &format!("keys update --org acme {id}"));

    assert!(error.contains("nothing to change"), "{error}");
    for flag in [
        "--rate-limit",
        "--no-rate-limits",
        "--quota",
        "--refill",
        "--no-refill",
        "--no-quota",
        "--public-key",
        "--no-public-keys",
    ] {
        assert!(error.contains(flag), "{flag}: {error}");
    }
}

#[test]
fn a_revoked_key_cannot_be_updated() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));
    stdout_of(&dir, &format!("keys revoke --org acme {id}"));

    let error = error_of(&dir, &format!("keys update --org acme {id} --name again"));

    assert!(error.contains("revoked"), "{error}");
    assert_eq!(show(&dir, &id)["name"], "ci");
}

#[test]
fn revoking_a_key_is_permanent_and_idempotent() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));

    let first = json_of(&dir, &format!("keys revoke --org acme {id} --json"));
    let second = json_of(&dir, &format!("keys revoke --org acme {id} --json"));

    assert_eq!(first["status"], "revoked");
    assert!(first["revoked_at"].is_string());
    assert_eq!(second, first, "the same revoked_at the second time");
}

#[test]
fn showing_or_revoking_an_unknown_key_fails() {
    let (dir, _) = bootstrapped();
    let unknown = "key_doesnotexist0000000";

    let shown = error_of(&dir, &format!("keys show --org acme {unknown}"));
    let revoked = error_of(&dir, &format!("keys revoke --org acme {unknown}"));

    assert!(shown.contains(unknown), "{shown}");
    assert!(revoked.contains(unknown), "{revoked}");
}

#[test]
fn a_key_of_another_org_is_out_of_reach() {
    let (dir, _) = bootstrapped();
    stdout_of(&dir, "org create other");
    stdout_of(&dir, "org bootstrap other");
    let created = create_key(&dir, "ci");
    let id = id_of(&created);

    error_of(&dir, &format!("keys show --org other {id}"));
    error_of(&dir, &format!("keys update --org other {id} --name stolen"));
    error_of(&dir, &format!("keys revoke --org other {id}"));

    assert_eq!(show(&dir, &id), created["key"]);
}

#[test]
fn migrating_a_fresh_database_succeeds_twice() {
    let dir = tempdir().unwrap();

    let first = stdout_of(&dir, "migrate");
    let second = stdout_of(&dir, "migrate");

    assert!(first.contains("up to date"), "{first}");
    assert!(second.contains("up to date"), "{second}");
    assert!(dir.path().join("t.db").exists());
}

#[test]
fn plain_key_creation_shows_the_secret_exactly_once() {
    let (dir, _) = bootstrapped();

    let stdout = stdout_of(&dir, "keys create --org acme --name ci --scope read:x");

    let line = stdout.lines().find(|l| l.starts_with("secret:")).unwrap();
    let secret = line.trim_start_matches("secret:").trim();
    assert_is_a_secret(secret);
    assert_eq!(stdout.matches(&secret[3..]).count(), 1, "{stdout}");
    assert!(stdout.contains("shown only once"), "{stdout}");
}

#[test]
fn plain_org_list_prints_a_table_header() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");

    let stdout = stdout_of(&dir, "org list");

    let mut lines = stdout.lines();
    let header: Vec<_> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["SLUG", "ID", "CREATED", "BOOTSTRAPPED"]);
    assert!(lines.next().unwrap().starts_with("acme "));
}

#[test]
fn an_unusable_keys_dir_is_reported_once() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    std::fs::write(dir.path().join("keys"), "a file, not a folder").unwrap();

    let error = error_of(&dir, "org bootstrap acme");

    assert_eq!(error.matches("os error").count(), 1, "{error}");
    let orgs = json_of(&dir, "org list --json");
    assert_eq!(orgs[0]["bootstrapped_at"], Value::Null);
}

#[test]
fn an_unopenable_database_fails_with_one_clear_line() {
    let dir = tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t.db")).unwrap();

    let error = error_of(&dir, "org list");

    assert_eq!(error.matches("unable to open").count(), 1, "{error}");
}

#[test]
fn rolling_a_key_prints_a_new_secret_once_and_keeps_the_id() {
    let (dir, _) = bootstrapped();
    let created = create_key(&dir, "ci");
    let id = id_of(&created);

    let rolled = json_of(
        &dir,
        &format!("keys roll --org acme {id} --grace-seconds 3600 --json"),
    );

    let secret = rolled["secret"].as_str().unwrap();
    assert_ne!(secret, created["secret"].as_str().unwrap());
    assert_eq!(rolled["key"]["id"], id.as_str());
    assert!(rolled["key"]["previous_secret_expires_at"].is_string());
    assert!(
        !serde_json::to_string(&show(&dir, &id))
            .unwrap()
            .contains(secret)
    );
    let error = error_of(
        &dir,
        &format!("keys roll --org acme {id} --grace-seconds 604801"),
    );
    assert!(error.contains("grace_seconds"), "{error}");
    stdout_of(&dir, &format!("keys revoke --org acme {id}"));
    assert!(error_of(&dir, &format!("keys roll --org acme {id}")).contains("revoked"));
}

#[test]
fn the_audit_trail_records_cli_changes_as_cli() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));
    stdout_of(&dir, &format!("keys revoke --org acme {id}"));

    let trail = json_of(&dir, "audit --org acme --json");

    let actions: Vec<&str> = trail["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["key.revoked", "key.created", "org.bootstrapped"]
    );
    assert!(
        trail["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "cli")
    );
    let only = json_of(
        &dir,
        &format!("audit --org acme --target {id} --action key.created --json"),
    );
    assert_eq!(only["events"].as_array().unwrap().len(), 1);
    assert!(stdout_of(&dir, "audit --org acme").contains("key.revoked"));
    assert!(error_of(&dir, "audit --org acme --action nope").contains("action"));
}

#[test]
fn usage_reports_print_a_table_or_json() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));

    let org = json_of(&dir, "usage --org acme --granularity day --json");
    let key = json_of(&dir, &format!("usage --org acme --key {id} --json"));

    assert_eq!(org["totals"]["tokens_issued"], 0);
    assert_eq!(org["buckets"].as_array().unwrap().len(), 31);
    assert!(org["top_keys"].is_array());
    assert_eq!(key["buckets"].as_array().unwrap().len(), 25);
    assert!(key.get("top_keys").is_none());
    assert!(stdout_of(&dir, "usage --org acme").contains("TOTAL"));
    assert!(error_of(&dir, "usage --org acme --granularity week").contains("granularity"));
    assert!(
        error_of(&dir, "usage --org acme --key key_nosuchkey0000000")
            .contains("key_nosuchkey0000000")
    );
}

/// The same commands on PostgreSQL, with the database named by `DATABASE_URL` (the env fallback).
#[test]
fn every_command_works_on_postgresql_too() {
    let Some(url) = postgres::fresh_database_url() else {
        return;
    };
    let dir = tempdir().unwrap();
    let run = |args: &str| -> Value {
        let out = command()
            .env("DATABASE_URL", &url)
            .env("LATCHKEY_KEYS_DIR", dir.path().join("keys"))
            .args(args.split_whitespace())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{args}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(run("org create pg --json")["slug"], "pg");
    assert_eq!(
        run("org bootstrap pg --json")["key"]["scopes"],
        json!([{"action": "*", "resource": "*"}])
    );
    let created =
        run("keys create --org pg --name Worker --scope read:projects/** --cidr 10.1.2.3/8 --json");
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["key"]["allowed_cidrs"], json!(["10.0.0.0/8"]));
    assert_eq!(
        run("keys list --org pg --search WORK --json")["keys"][0]["id"],
        id.as_str()
    );
    assert_eq!(
        run(&format!("keys show --org pg {id} --json"))["name"],
        "Worker"
    );
    assert_eq!(
        run(&format!("keys update --org pg {id} --name renamed --json"))["key"]["name"],
        "renamed"
    );
    assert_eq!(
        run(&format!("keys revoke --org pg {id} --json"))["status"],
        "revoked"
    );
    assert_eq!(
        run("keys list --org pg --status revoked --json")["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let limits = "--rate-limit 10/1m --quota 5 --refill 5/monthly@31";
    let metered = run(&format!(
        "keys create --org pg --name metered --scope read {limits} --json"
    ));
    let metered = metered["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        run(&format!("keys quota add --org pg {metered} 2 --json")),
        json!({"remaining": 7})
    );
    assert_eq!(
        run(&format!(
            "keys update --org pg {metered} --no-refill --json"
        ))["key"]["quota"],
        json!({"remaining": 7, "refill": null})
    );
    assert_eq!(run("org list --json").as_array().unwrap().len(), 1);
}

#[test]
fn metadata_is_set_shown_replaced_and_cleared_from_the_command_line() {
    let (dir, _) = bootstrapped();
    let created = json_of(
        &dir,
        "keys create --org acme --name meta --scope read --metadata team=billing --metadata note=a=b --json",
    );
    let id = id_of(&created);
    assert_eq!(
        created["key"]["metadata"],
        json!({"team": "billing", "note": "a=b"})
    );
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(text.contains("metadata:   team=billing"), "{text}");
    let updated = json_of(
        &dir,
        &format!("keys update --org acme {id} --metadata tier=2 --json"),
    );
    assert_eq!(updated["key"]["metadata"], json!({"tier": "2"}));
    let cleared = json_of(
        &dir,
        &format!("keys update --org acme {id} --clear-metadata --json"),
    );
    assert_eq!(cleared["key"]["metadata"], json!({}));
    // A malformed pair is refused by the argument parser, naming the expected form.
    let out = latchkey(
        &dir,
        &format!("keys update --org acme {id} --metadata novalue"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("KEY=VALUE"),
        "{stderr}"
    );
}

/// Asserts that the argument parser refuses `args` (non-zero exit), and returns its stderr.
fn refused_by_the_parser(dir: &TempDir, args: &str) -> String {
    let out = latchkey(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "`{args}` should fail");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

/// A key created with the extra flags `limits`; returns its id.
fn create_limited(dir: &TempDir, limits: &str) -> String {
    let args = format!("keys create --org acme --name limited --scope read:x {limits} --json");
    id_of(&json_of(dir, &args))
}

#[test]
fn rate_limits_and_a_refilling_quota_are_set_on_create_and_shown() {
    let (dir, _) = bootstrapped();
    let limits =
        "--rate-limit 100/1m --rate-limit burst=10/1s --quota 1000 --refill 1000/monthly@1";

    let created = json_of(
        &dir,
        &format!("keys create --org acme --name ci --scope read:x {limits} --json"),
    );

    let id = id_of(&created);
    let key = &created["key"];
    let expected_limits = json!([
        {"name": "default", "limit": 100, "window_seconds": 60},
        {"name": "burst", "limit": 10, "window_seconds": 1},
    ]);
    let refill = json!({"amount": 1000, "interval": "monthly", "day_of_month": 1});
    assert_eq!(key["rate_limits"], expected_limits);
    assert_eq!(key["quota"], json!({"remaining": 1000, "refill": refill}));
    let shown = show(&dir, &id);
    assert_eq!(shown["rate_limits"], expected_limits);
    assert_eq!(shown["quota"], key["quota"]);
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(
        text.contains("rate limits: default 100/60s, burst 10/1s\n"),
        "{text}"
    );
    assert!(
        text.contains("quota:      1000 left, refills 1000 monthly on day 1\n"),
        "{text}"
    );
    let table = stdout_of(&dir, "keys list --org acme");
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        row.contains("default 100/60s") && row.contains("1000 left"),
        "{table}"
    );
}

#[test]
fn a_key_without_limits_is_shown_as_unlimited() {
    let (dir, _) = bootstrapped();
    let id = id_of(&create_key(&dir, "ci"));

    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));

    assert!(text.contains("rate limits: none\n"), "{text}");
    assert!(text.contains("quota:      unlimited\n"), "{text}");
}

#[test]
fn changing_only_the_refill_keeps_the_credits() {
    let (dir, _) = bootstrapped();
    let id = create_limited(&dir, "--quota 5 --refill 1000/daily");

    let args = format!("keys update --org acme {id} --refill 50/monthly@15 --json");
    let updated = json_of(&dir, &args);
    let no_refill = json_of(
        &dir,
        &format!("keys update --org acme {id} --no-refill --json"),
    );

    let refill = json!({"amount": 50, "interval": "monthly", "day_of_month": 15});
    assert_eq!(
        updated["key"]["quota"],
        json!({"remaining": 5, "refill": refill})
    );
    assert_eq!(
        no_refill["key"]["quota"],
        json!({"remaining": 5, "refill": null})
    );
    assert_eq!(show(&dir, &id)["quota"], no_refill["key"]["quota"]);
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(text.contains("quota:      5 left, no refill\n"), "{text}");
}

#[test]
fn an_update_replaces_the_rate_limits_and_the_quota() {
    let (dir, _) = bootstrapped();
    let id = create_limited(&dir, "--rate-limit 1/1s --quota 5");

    let args = "--rate-limit hourly=500/1h --quota 70 --refill 70/daily --json";
    let updated = json_of(&dir, &format!("keys update --org acme {id} {args}"));

    let limits = json!([{"name": "hourly", "limit": 500, "window_seconds": 3600}]);
    let refill = json!({"amount": 70, "interval": "daily"});
    assert_eq!(updated["key"]["rate_limits"], limits);
    assert_eq!(
        updated["key"]["quota"],
        json!({"remaining": 70, "refill": refill})
    );
    assert_eq!(show(&dir, &id)["quota"], updated["key"]["quota"]);
}

#[test]
fn no_quota_and_no_rate_limits_remove_them() {
    let (dir, _) = bootstrapped();
    let id = create_limited(&dir, "--rate-limit 100/1d --quota 5 --refill 5/daily");

    let args = format!("keys update --org acme {id} --no-quota --no-rate-limits --json");
    let updated = json_of(&dir, &args);

    assert_eq!(updated["key"]["rate_limits"], json!([]));
    assert_eq!(updated["key"]["quota"], Value::Null);
    assert_eq!(show(&dir, &id)["quota"], Value::Null);
    let error = error_of(&dir, &format!("keys quota add --org acme {id} 1"));
    assert!(error.contains("no quota"), "{error}");
}

#[test]
fn conflicting_limit_flags_are_refused_by_the_parser() {
    let (dir, _) = bootstrapped();
    let id = create_limited(&dir, "--quota 5");
    let update = format!("keys update --org acme {id}");

    for flags in [
        "--no-quota --quota 5 --no-refill",
        "--no-quota --refill 5/daily",
        "--no-quota --no-refill",
        "--refill 5/daily --no-refill",
        "--no-rate-limits --rate-limit 1/1s",
    ] {
        let stderr = refused_by_the_parser(&dir, &format!("{update} {flags}"));
        assert!(stderr.contains("cannot be used with"), "{flags}: {stderr}");
    }
    // A new quota says how it refills: `keys quota set` changes the credits alone.
    let stderr = refused_by_the_parser(&dir, &format!("{update} --quota 9"));
    assert!(stderr.contains("--no-refill"), "{stderr}");
    let create = "keys create --org acme --name x --scope read:x --refill 5/daily";
    let stderr = refused_by_the_parser(&dir, create);
    assert!(stderr.contains("--quota"), "{stderr}");
    assert_eq!(
        show(&dir, &id)["quota"],
        json!({"remaining": 5, "refill": null})
    );
}

#[test]
fn malformed_limit_values_are_refused_naming_the_expected_form() {
    let (dir, _) = bootstrapped();
    let create = "keys create --org acme --name ci --scope read:x";

    for (flags, form) in [
        ("--rate-limit x=abc", "[NAME=]LIMIT/WINDOW"),
        ("--rate-limit 10/60w", "[NAME=]LIMIT/WINDOW"),
        ("--rate-limit 10", "[NAME=]LIMIT/WINDOW"),
        ("--quota 5 --refill 5/weekly", "AMOUNT/monthly@DAY"),
        ("--quota 5 --refill 5/monthly@x", "AMOUNT/monthly@DAY"),
        ("--quota 5 --refill daily", "AMOUNT/monthly@DAY"),
    ] {
        let stderr = refused_by_the_parser(&dir, &format!("{create} {flags}"));
        assert!(stderr.contains(form), "{flags}: {stderr}");
    }
    // Well-formed values out of range reach the server's validation, which names the field.
    for (flags, field) in [
        ("--rate-limit a=0/60s", "rate_limits[0].limit"),
        (
            "--rate-limit 1/1s --rate-limit 1/2d",
            "rate_limits[1].window_seconds",
        ),
        ("--rate-limit 1/1s --rate-limit 2/1m", "rate_limits[1].name"),
        (
            "--quota 5 --refill 5/monthly@32",
            "quota.refill.day_of_month",
        ),
    ] {
        let error = error_of(&dir, &format!("{create} {flags}"));
        assert!(error.contains(field), "{flags}: {error}");
    }
    assert_eq!(listed(&dir, "--status all").len(), 1, "nothing created");
}

#[test]
fn quota_credits_are_added_and_set_from_the_command_line() {
    let (dir, _) = bootstrapped();
    let id = create_limited(&dir, "--quota 10 --refill 100/daily");

    let added = stdout_of(&dir, &format!("keys quota add --org acme {id} 5"));
    let set = json_of(&dir, &format!("keys quota set --org acme {id} 3 --json"));

    assert_eq!(added.trim_end(), "15 credits left");
    assert_eq!(set, json!({"remaining": 3}));
    assert_eq!(show(&dir, &id)["quota"]["remaining"], 3);
    let added = json_of(&dir, &format!("keys quota add --org acme {id} 4 --json"));
    assert_eq!(added, json!({"remaining": 7}));
    let trail = json_of(&dir, &format!("audit --org acme --target {id} --json"));
    assert_eq!(trail["events"][0]["action"], "key.quota_changed");
}

#[test]
fn changing_credits_fails_for_a_key_without_quota_a_revoked_or_an_unknown_key() {
    let (dir, _) = bootstrapped();
    let unlimited = id_of(&create_key(&dir, "plain"));
    let revoked = create_limited(&dir, "--quota 5");
    stdout_of(&dir, &format!("keys revoke --org acme {revoked}"));
    let unknown = "key_doesnotexist0000000";

    let no_quota = error_of(&dir, &format!("keys quota set --org acme {unlimited} 1"));
    let gone = error_of(&dir, &format!("keys quota add --org acme {revoked} 1"));
    let missing = error_of(&dir, &format!("keys quota set --org acme {unknown} 1"));

    assert!(
        no_quota.contains("no quota") && no_quota.contains("--quota"),
        "{no_quota}"
    );
    assert!(gone.contains("revoked"), "{gone}");
    assert!(missing.contains(unknown), "{missing}");
    let too_many = format!("keys quota set --org acme {revoked} 1000000000000000001");
    refused_by_the_parser(&dir, &too_many);
}

// ---------------------------------------------------------------------------------------------
// Public keys for private_key_jwt (issue 17): `--public-key FILE`, `--no-secret`,
// `--no-public-keys`
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ed25519,
    P256,
    Rsa,
}

/// Who makes a key pair's files: openssl, as a user would (the crates when it is not installed),
/// or the crates the server signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Maker {
    Openssl,
    Crates,
}

/// A client's key pair in files: the private key (PKCS#8 PEM, which stays with the client) and
/// its public key (SPKI PEM, which `--public-key` takes).
struct KeyFiles {
    kind: Kind,
    private: std::path::PathBuf,
    public: std::path::PathBuf,
}

fn openssl_installed() -> bool {
    Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args:?}: {stderr}");
}

fn key_files(dir: &TempDir, kind: Kind, name: &str, maker: Maker) -> KeyFiles {
    let private = dir.path().join(format!("{name}.key.pem"));
    let public = dir.path().join(format!("{name}.pub.pem"));
    if maker == Maker::Openssl && openssl_installed() {
        let algorithm: &[&str] = match kind {
            Kind::Ed25519 => &["-algorithm", "ed25519"],
            Kind::P256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            Kind::Rsa => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        };
        let (private_s, public_s) = (private.to_str().unwrap(), public.to_str().unwrap());
        let mut genpkey = vec!["genpkey"];
        genpkey.extend(algorithm);
        genpkey.extend(["-out", private_s]);
        openssl(&genpkey);
        openssl(&["pkey", "-in", private_s, "-pubout", "-out", public_s]);
    } else {
        let (private_der, public_der) = crate_made(kind);
        std::fs::write(&private, pem("PRIVATE KEY", &private_der)).unwrap();
        std::fs::write(&public, pem("PUBLIC KEY", &public_der)).unwrap();
    }
    KeyFiles {
        kind,
        private,
        public,
    }
}

/// A key pair from the crates: its PKCS#8 private key and SPKI public key, both DER.
fn crate_made(kind: Kind) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine;
    use latchkey::crypto::signing::{SigningAlg, generate};
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    // RFC 8410 and RFC 5480 SPKI headers, before the raw public key.
    const ED25519_SPKI: [u8; 12] = [48, 42, 48, 5, 6, 3, 43, 101, 112, 3, 33, 0];
    const P256_SPKI: [u8; 27] = [
        48, 89, 48, 19, 6, 7, 42, 134, 72, 206, 61, 2, 1, 6, 8, 42, 134, 72, 206, 61, 3, 1, 7, 3,
        66, 0, 4,
    ];
    let alg = match kind {
        Kind::Ed25519 => SigningAlg::EdDsa,
        Kind::P256 => SigningAlg::Es256,
        Kind::Rsa => SigningAlg::Rs256,
    };
    let g = generate(alg).unwrap();
    let jwk: Value = serde_json::from_str(&g.public_jwk).unwrap();
    let member = |name: &str| {
        let text = jwk[name].as_str().unwrap();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .unwrap()
    };
    let public = match kind {
        Kind::Ed25519 => [ED25519_SPKI.to_vec(), member("x")].concat(),
        Kind::P256 => [P256_SPKI.to_vec(), member("x"), member("y")].concat(),
        Kind::Rsa => rsa::RsaPrivateKey::from_pkcs8_der(&g.private_pkcs8)
            .unwrap()
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec(),
    };
    (g.private_pkcs8, public)
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// The DER inside a PEM file.
fn der_of(path: &std::path::Path) -> Vec<u8> {
    use base64::Engine;
    let text = std::fs::read_to_string(path).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// A client assertion for `key_id`, signed with `files`' private key under `kid`.
fn assertion_signed_by(files: &KeyFiles, kid: &str, key_id: &str) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let der = der_of(&files.private);
    let (alg, key) = match files.kind {
        Kind::Ed25519 => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
        Kind::P256 => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
        Kind::Rsa => {
            let pkcs1 = latchkey::crypto::signing::rsa_pkcs1_from_pkcs8(&der).unwrap();
            (Algorithm::PS256, EncodingKey::from_rsa_der(&pkcs1))
        }
    };
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": key_id, "sub": key_id, "aud": "http://localhost/oauth/token",
        "iat": now, "exp": now + 60, "jti": kid});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

/// The public keys of a key object, as the server reads them back.
fn public_keys_of(key: &Value) -> Vec<latchkey::domain::public_jwk::PublicJwk> {
    serde_json::from_value(key["public_keys"].clone()).unwrap()
}

fn kids_of(key: &Value) -> Vec<String> {
    let keys = key["public_keys"].as_array().unwrap().iter();
    keys.map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn members_of(jwk: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = jwk
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    names.sort_unstable();
    names
}

/// A P-256 public JWK file (as a JWKS tool writes one, with the kid given), and the crates' key
/// behind it.
fn p256_jwk_file(dir: &TempDir, name: &str, kid: Option<&str>) -> (std::path::PathBuf, Value) {
    use latchkey::crypto::signing::{SigningAlg, generate};
    let g = generate(SigningAlg::Es256).unwrap();
    let full: Value = serde_json::from_str(&g.public_jwk).unwrap();
    let mut jwk = json!({"kty": "EC", "crv": "P-256", "x": full["x"], "y": full["y"]});
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    let path = dir.path().join(format!("{name}.jwk"));
    std::fs::write(&path, serde_json::to_string_pretty(&jwk).unwrap()).unwrap();
    // The kid the server would compute: the RFC 7638 thumbprint, as `generate` gives it.
    (path, json!({"jwk": jwk, "thumbprint": g.kid}))
}

#[test]
fn a_key_takes_public_keys_from_pem_and_jwk_files_and_they_verify_its_assertions() {
    let (dir, _) = bootstrapped();
    let ed = key_files(&dir, Kind::Ed25519, "ed", Maker::Openssl);
    let rsa = key_files(&dir, Kind::Rsa, "rsa", Maker::Openssl);
    let ec = key_files(&dir, Kind::P256, "ec", Maker::Openssl);
    let (jwk_file, p256) = p256_jwk_file(&dir, "laptop", Some("laptop-p256"));
    let (no_kid_file, unnamed) = p256_jwk_file(&dir, "unnamed", None);

    let args = format!(
        "keys create --org acme --name workload --scope read:x --public-key {} --public-key {} --public-key {} --public-key {} --json",
        ed.public.display(),
        jwk_file.display(),
        rsa.public.display(),
        ec.public.display(),
    );
    let created = json_of(&dir, &args);

    let key = &created["key"];
    let id = id_of(&created);
    assert_is_a_secret(created["secret"].as_str().unwrap());
    assert_eq!(key["secret"], json!(true));
    let jwks = key["public_keys"].as_array().unwrap();
    assert_eq!(jwks.len(), 4, "{key}");
    // PEM keys: the public members and a thumbprint kid, nothing private.
    assert_eq!(members_of(&jwks[0]), ["crv", "kid", "kty", "x"]);
    assert_eq!(
        (&jwks[0]["kty"], &jwks[0]["crv"]),
        (&json!("OKP"), &json!("Ed25519"))
    );
    let x = jwks[0]["x"].as_str().unwrap();
    assert_eq!(jwks[0]["kid"], latchkey::crypto::signing::okp_thumbprint(x));
    assert_eq!(members_of(&jwks[2]), ["e", "kid", "kty", "n"]);
    assert_eq!(jwks[2]["e"], "AQAB");
    let (e, n) = (
        jwks[2]["e"].as_str().unwrap(),
        jwks[2]["n"].as_str().unwrap(),
    );
    assert_eq!(
        jwks[2]["kid"],
        latchkey::crypto::signing::rsa_thumbprint(e, n)
    );
    assert_eq!(members_of(&jwks[3]), ["crv", "kid", "kty", "x", "y"]);
    // A JWK file: as written, its kid kept.
    assert_eq!(jwks[1], p256["jwk"]);
    assert_eq!(show(&dir, &id), *key);
    // Each public key verifies what its private key signs.
    let stored = public_keys_of(key);
    let kids = kids_of(key);
    for (files, kid) in [(&ed, &kids[0]), (&rsa, &kids[2]), (&ec, &kids[3])] {
        let jwt = assertion_signed_by(files, kid, &id);
        let claims = latchkey::crypto::client_assertion::verify(&jwt, &stored);
        assert_eq!(claims.unwrap()["sub"], id.as_str(), "{:?}", files.kind);
    }
    // The plain output names each key by its kid.
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(
        text.contains(&format!("public key: {} (Ed25519)\n", kids[0])),
        "{text}"
    );
    assert!(text.contains("public key: laptop-p256 (P-256)\n"), "{text}");
    assert!(
        text.contains(&format!("public key: {} (RSA 2048)\n", kids[2])),
        "{text}"
    );
    // A JWK file without a kid gets its thumbprint.
    let args = format!(
        "keys create --org acme --name unnamed --scope read:x --public-key {} --json",
        no_kid_file.display()
    );
    let created = json_of(&dir, &args);
    assert_eq!(
        kids_of(&created["key"]),
        [unnamed["thumbprint"].as_str().unwrap()]
    );
}

#[test]
fn a_key_without_a_secret_shows_private_key_jwt_and_prints_no_secret() {
    let (dir, _) = bootstrapped();
    let ed = key_files(&dir, Kind::Ed25519, "ed", Maker::Crates);
    let create = format!(
        "keys create --org acme --name workload --scope read:x --no-secret --public-key {}",
        ed.public.display()
    );

    let stdout = stdout_of(&dir, &create);

    assert!(!stdout.contains("lk_"), "{stdout}");
    assert!(!stdout.contains("shown only once"), "{stdout}");
    assert!(
        stdout.contains("secret:     none (private_key_jwt only)\n"),
        "{stdout}"
    );
    assert!(stdout.contains("private_key_jwt"), "{stdout}");
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap()
        .trim()
        .to_owned();
    let key = show(&dir, &id);
    assert_eq!(
        (&key["secret"], &key["secret_hint"]),
        (&json!(false), &json!(""))
    );
    let kid = kids_of(&key).remove(0);
    assert!(
        stdout.contains(&format!("public key: {kid} (Ed25519)\n")),
        "{stdout}"
    );
    let jwt = assertion_signed_by(&ed, &kid, &id);
    assert!(latchkey::crypto::client_assertion::verify(&jwt, &public_keys_of(&key)).is_ok());
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(
        text.contains("secret:     none (private_key_jwt only)\n"),
        "{text}"
    );
    assert!(!text.contains("hint:"), "{text}");
    let table = stdout_of(&dir, "keys list --org acme");
    let header = table.lines().next().unwrap();
    assert!(header.contains("AUTH"), "{table}");
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(row.ends_with(&format!(" private_key_jwt {kid}")), "{table}");
    // --json: no secret at all.
    let json = json_of(&dir, &format!("{create} --json"));
    assert_eq!(json["secret"], Value::Null);
    assert_eq!(json["key"]["secret"], json!(false));
    // Without a public key, a key without a secret is refused by the server, naming the field.
    let error = error_of(
        &dir,
        "keys create --org acme --name nothing --scope read:x --no-secret",
    );
    assert!(error.contains("public_keys"), "{error}");
}

#[test]
fn a_key_without_a_secret_cannot_lose_its_last_public_key_or_be_rolled() {
    let (dir, _) = bootstrapped();
    let ed = key_files(&dir, Kind::Ed25519, "ed", Maker::Crates);
    let rsa = key_files(&dir, Kind::Rsa, "rsa", Maker::Crates);
    let args = format!(
        "keys create --org acme --name workload --scope read:x --no-secret --public-key {} --json",
        ed.public.display()
    );
    let created = json_of(&dir, &args);
    let id = id_of(&created);

    let error = error_of(
        &dir,
        &format!("keys update --org acme {id} --no-public-keys"),
    );
    let roll = error_of(&dir, &format!("keys roll --org acme {id}"));

    assert!(
        error.contains("public_keys") && error.contains("needs a public key"),
        "{error}"
    );
    assert!(
        roll.contains("no secret") && roll.contains("--public-key FILE"),
        "{roll}"
    );
    assert_eq!(show(&dir, &id), created["key"]);
    // Replacing the last public key with another is fine.
    let args = format!(
        "keys update --org acme {id} --public-key {} --json",
        rsa.public.display()
    );
    let updated = json_of(&dir, &args);
    let kids = kids_of(&updated["key"]);
    assert_eq!(kids.len(), 1);
    assert_ne!(kids, kids_of(&created["key"]));
    let jwt = assertion_signed_by(&rsa, &kids[0], &id);
    let stored = public_keys_of(&show(&dir, &id));
    assert!(latchkey::crypto::client_assertion::verify(&jwt, &stored).is_ok());
}

#[test]
fn an_update_replaces_or_removes_the_public_keys_of_a_key_with_a_secret() {
    let (dir, _) = bootstrapped();
    let ed = key_files(&dir, Kind::Ed25519, "ed", Maker::Crates);
    let ec = key_files(&dir, Kind::P256, "ec", Maker::Crates);
    let id = id_of(&create_key(&dir, "ci"));
    let update = format!("keys update --org acme {id}");

    let both = format!(
        "{update} --public-key {} --public-key {} --json",
        ed.public.display(),
        ec.public.display()
    );
    let added = json_of(&dir, &both);
    let replaced = json_of(
        &dir,
        &format!("{update} --public-key {} --json", ec.public.display()),
    );
    let removed = json_of(&dir, &format!("{update} --no-public-keys --json"));

    assert_eq!(kids_of(&added["key"]).len(), 2);
    assert_eq!(kids_of(&replaced["key"]), kids_of(&added["key"])[1..]);
    assert_eq!(removed["key"]["public_keys"], json!([]));
    assert_eq!(show(&dir, &id)["public_keys"], json!([]));
    let text = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(text.contains("hint:       lk_"), "{text}");
    assert!(!text.contains("public key:"), "{text}");
    let stderr = refused_by_the_parser(
        &dir,
        &format!(
            "{update} --no-public-keys --public-key {}",
            ed.public.display()
        ),
    );
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[test]
fn private_keys_and_unusable_files_are_refused_before_anything_is_sent() {
    let (dir, _) = bootstrapped();
    let ed = key_files(&dir, Kind::Ed25519, "ed", Maker::Openssl);
    let rsa = key_files(&dir, Kind::Rsa, "rsa", Maker::Crates);
    let (jwk_file, _) = p256_jwk_file(&dir, "laptop", Some("laptop"));
    let mut private_jwk: Value =
        serde_json::from_slice(&std::fs::read(&jwk_file).unwrap()).unwrap();
    private_jwk["d"] = json!("AAAA");
    let private_jwk_file = dir.path().join("private.jwk");
    std::fs::write(&private_jwk_file, private_jwk.to_string()).unwrap();
    let pkcs1 = dir.path().join("rsa.pkcs1.pem");
    let pkcs1_der = latchkey::crypto::signing::rsa_pkcs1_from_pkcs8(&der_of(&rsa.private)).unwrap();
    std::fs::write(&pkcs1, pem("RSA PRIVATE KEY", &pkcs1_der)).unwrap();
    let text_file = dir.path().join("notes.txt");
    std::fs::write(&text_file, "hello").unwrap();
    let create = "keys create --org acme --name ci --scope read:x --public-key";

    for private in [&ed.private, &rsa.private, &pkcs1] {
        let error = error_of(&dir, &format!("{create} {}", private.display()));
        assert!(error.contains("private key"), "{error}");
        assert!(
            error.contains("openssl pkey -in key.pem -pubout"),
            "{error}"
        );
        assert!(error.contains(&private.display().to_string()), "{error}");
    }
    let error = error_of(&dir, &format!("{create} {}", private_jwk_file.display()));
    assert!(
        error.contains("private") && error.contains("\"d\""),
        "{error}"
    );
    let error = error_of(&dir, &format!("{create} {}", text_file.display()));
    assert!(error.contains("PEM") && error.contains("JWK"), "{error}");
    let missing = dir.path().join("missing.pem");
    let error = error_of(&dir, &format!("{create} {}", missing.display()));
    assert!(error.contains(&missing.display().to_string()), "{error}");
    assert_eq!(listed(&dir, "--status all").len(), 1, "nothing created");
    // The server's judgement of a public key names the file it came from.
    let id = id_of(&create_key(&dir, "ci"));
    let args = format!(
        "keys update --org acme {id} --public-key {} --public-key {}",
        ed.public.display(),
        ed.public.display()
    );
    let error = error_of(&dir, &args);
    assert!(error.contains("public_keys[1].kid"), "{error}");
    assert!(error.contains(&ed.public.display().to_string()), "{error}");
}

#[test]
fn a_key_takes_a_jwks_uri_and_federated_credentials_and_shows_them() {
    let (dir, _) = bootstrapped();
    let create = "keys create --org acme --name ci --scope write:deployments/** --no-secret \
                  --jwks-uri https://keys.example.com/jwks.json \
                  --federated issuer=https://token.actions.githubusercontent.com,subject=repo:acme/app:ref:refs/heads/*,audience=latchkey";
    let created = json_of(&dir, &format!("{create} --json"));
    let id = id_of(&created);
    assert_eq!(
        created["key"]["jwks_uri"],
        "https://keys.example.com/jwks.json"
    );
    assert_eq!(
        created["key"]["federated_credentials"],
        json!([{"issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:acme/app:ref:refs/heads/*", "audience": "latchkey"}])
    );
    let shown = stdout_of(&dir, &format!("keys show --org acme {id}"));
    assert!(
        shown.contains("jwks_uri: https://keys.example.com/jwks.json"),
        "{shown}"
    );
    assert!(
        shown.contains("federated: https://token.actions.githubusercontent.com subject repo:acme/app:ref:refs/heads/* audience latchkey"),
        "{shown}"
    );
    let table = stdout_of(&dir, "keys list --org acme");
    let row = table.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        row.ends_with("private_key_jwt jwks + federated token.actions.githubusercontent.com"),
        "{table}"
    );
    // A bad credential is refused by the server, naming the field; a malformed flag by the CLI.
    let error = error_of(
        &dir,
        &format!("keys update --org acme {id} --federated issuer=ftp://x,subject=s,audience=a"),
    );
    assert!(error.contains("federated_credentials[0].issuer"), "{error}");
    let out = latchkey(
        &dir,
        &format!("keys update --org acme {id} --federated nonsense"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is not NAME=VALUE"),
        "{stderr}"
    );
    // The last ways to authenticate of a key without a secret cannot all go.
    let error = error_of(
        &dir,
        &format!("keys update --org acme {id} --no-jwks-uri --no-federated"),
    );
    assert!(
        error.contains("needs a public key, a jwks_uri or a federated credential"),
        "{error}"
    );
    let updated = json_of(
        &dir,
        &format!("keys update --org acme {id} --no-jwks-uri --json"),
    );
    assert_eq!(updated["key"]["jwks_uri"], Value::Null);
}

// --- Secret prefixes and `secret-pattern` -------------------------------------------------

/// `latchkey secret-pattern --secret-prefix PREFIX --format FORMAT`, its standard output.
fn secret_pattern(dir: &TempDir, prefix: &str, format: &str) -> String {
    stdout_of(
        dir,
        &format!("secret-pattern --secret-prefix {prefix} --format {format}"),
    )
}

#[test]
fn keys_are_issued_under_the_given_prefix_by_flag_or_environment() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    let boot = json_of(&dir, "org bootstrap acme --secret-prefix acme_ --json");
    let created = json_of(
        &dir,
        "keys create --org acme --name ci --scope read:p/** --secret-prefix acme_prod_ --json",
    );
    let id = id_of(&created);
    let rolled = command()
        .env("LATCHKEY_SECRET_PREFIX", "acme_")
        .args(["keys", "roll", "--org", "acme", &id, "--json"])
        .args(global_options(&dir))
        .output()
        .unwrap();
    assert!(rolled.status.success(), "{rolled:?}");
    let rolled: Value = serde_json::from_slice(&rolled.stdout).unwrap();
    let plain = create_key(&dir, "plain");

    for (out, prefix) in [
        (&boot, "acme_"),
        (&created, "acme_prod_"),
        (&rolled, "acme_"),
        (&plain, "lk_"),
    ] {
        let secret = out["secret"].as_str().unwrap();
        assert!(
            secret.starts_with(prefix) && secret.len() == prefix.len() + 49,
            "{secret}"
        );
        let hint = out["key"]["secret_hint"].as_str().unwrap();
        assert_eq!(hint, format!("{prefix}…{}", &secret[secret.len() - 4..]));
    }
    let error = refused_by_the_parser(
        &dir,
        "keys create --org acme --name x --scope read --secret-prefix ACME_",
    );
    assert!(
        error.contains("a secret prefix is 2 to 16 characters"),
        "{error}"
    );
}

#[test]
fn the_secret_pattern_matches_the_secrets_issued_under_its_prefix_and_nothing_else() {
    let dir = tempdir().unwrap();
    stdout_of(&dir, "org create acme");
    let boot = json_of(&dir, "org bootstrap acme --secret-prefix acme_ --json");
    let created = json_of(
        &dir,
        "keys create --org acme --name ci --scope read:p/** --secret-prefix acme_ --json",
    );
    let other = create_key(&dir, "lk-default");
    let issued = [&boot, &created].map(|out| out["secret"].as_str().unwrap().to_owned());
    let lk = other["secret"].as_str().unwrap();

    let text = secret_pattern(&dir, "acme_", "regex");
    let regex = regex_lite::Regex::new(text.trim_end()).unwrap();

    for secret in &issued {
        for around in ["{}", "token={}\n", "\"{}\"", "Bearer {}.", "({})"] {
            let haystack = around.replace("{}", secret);
            let found = regex.find(&haystack).map(|m| m.as_str());
            assert_eq!(found, Some(secret.as_str()), "{haystack}");
        }
        let refused = [
            format!("x{secret}"),
            format!("x_{secret}"),
            format!("{secret}0"),
            format!("{secret}_"),
            secret[..secret.len() - 1].to_owned(),
            secret.replacen("acme_", "acme-", 1),
            secret.replacen("acme_", "lk_", 1),
        ];
        for haystack in refused {
            assert!(!regex.is_match(&haystack), "{haystack}");
        }
    }
    for other_text in [lk, "acme_short", "eyJhbGciOiJFZERTQSJ9.e30.c2ln", ""] {
        assert!(!regex.is_match(other_text), "{other_text}");
    }

    // The GitHub fields, combined as GitHub combines them, find the same secrets.
    let github = secret_pattern(&dir, "acme_", "github");
    let field = |name: &str| {
        let line = github.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..].trim().to_owned()
    };
    let combined = format!(
        "(?:{})({})(?:{})",
        field("Before secret:"),
        field("Secret format:"),
        field("After secret:")
    );
    let combined = regex_lite::Regex::new(&combined).unwrap();
    for secret in &issued {
        for haystack in [secret.clone(), format!("key: {secret}\n")] {
            let found = combined.captures(&haystack).map(|c| c[1].to_owned());
            assert_eq!(found.as_deref(), Some(secret.as_str()), "{haystack}");
        }
        for haystack in [
            format!("x_{secret}"),
            format!("{secret}x"),
            format!("{secret}_"),
        ] {
            assert!(!combined.is_match(&haystack), "{haystack}");
        }
    }
    assert!(!combined.is_match(lk));
    let example = field("Test string:");
    assert!(combined.is_match(&example), "{example}");

    // The gitleaks rule is TOML carrying the same regex and the prefix as its keyword; the
    // trufflehog detector carries it too.
    let gitleaks: toml::Table = toml::from_str(&secret_pattern(&dir, "acme_", "gitleaks")).unwrap();
    let rule = &gitleaks["rules"].as_array().unwrap()[0];
    assert_eq!(rule["regex"].as_str(), Some(text.trim_end()));
    assert_eq!(rule["keywords"].as_array().unwrap().len(), 1);
    assert_eq!(rule["keywords"][0].as_str(), Some("acme_"));
    assert!(rule["id"].as_str().unwrap().starts_with("latchkey-"));
    let trufflehog = secret_pattern(&dir, "acme_", "trufflehog");
    assert!(
        trufflehog.contains(&format!("    secret: '{}'\n", text.trim_end())),
        "{trufflehog}"
    );
    assert!(trufflehog.contains("  - acme_\n"), "{trufflehog}");

    // Without a prefix, the default one.
    let default = stdout_of(&dir, "secret-pattern");
    assert_eq!(default, "\\blk_[0-9A-Za-z]{43}[0-9A-Za-z]{6}\\b\n");
    assert!(
        regex_lite::Regex::new(default.trim_end())
            .unwrap()
            .is_match(lk)
    );
}

#[test]
fn webhooks_are_managed_from_the_command_line_and_changes_queue_events() {
    let (dir, _) = bootstrapped();
    // The URL rules are the servers': loopback needs the flags the servers would have.
    let refused = error_of(
        &dir,
        "webhooks create --org acme --url https://127.0.0.1/hook --events key.created",
    );
    assert!(refused.contains("url"), "{refused}");
    let created = json_of(
        &dir,
        "webhooks create --org acme --url http://127.0.0.1:9/hook --events key.created,key.revoked \
         --webhook-allow-http --webhook-allow-private --json",
    );
    assert!(
        created["secret"].as_str().unwrap().starts_with("whsec_"),
        "{created}"
    );
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let listed = json_of(&dir, "webhooks list --org acme --json");
    assert_eq!(listed["webhooks"][0]["id"], id.as_str());
    assert!(
        !listed.to_string().contains("whsec_"),
        "no secret in a list"
    );
    // A key made here is an event in the outbox, for whichever server runs next.
    create_key(&dir, "evented");
    let deliveries = json_of(&dir, &format!("webhooks deliveries --org acme {id} --json"));
    let d = &deliveries["deliveries"][0];
    assert_eq!(
        (d["event"].as_str(), d["state"].as_str()),
        (Some("key.created"), Some("pending")),
        "{deliveries}"
    );
    stdout_of(&dir, &format!("webhooks test --org acme {id}"));
    stdout_of(
        &dir,
        &format!("webhooks enable --org acme {id} --enabled false"),
    );
    let listed = json_of(&dir, "webhooks list --org acme --json");
    assert_eq!(listed["webhooks"][0]["status"], "disabled");
    stdout_of(&dir, &format!("webhooks delete --org acme {id}"));
    let missing = error_of(&dir, &format!("webhooks delete --org acme {id}"));
    assert!(missing.contains("no webhook"), "{missing}");
}
