//! Unit tests of `domain/key/spec.rs`.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn draft(v: Value) -> KeyDraft {
    serde_json::from_value(v).unwrap()
}

fn fields(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

#[test]
fn a_valid_draft_accepts_both_scope_forms() {
    let (k, w) = validate_create(
        &draft(json!({"name": "  ci  ", "scopes": ["read:projects/**", {"action": "write"}]})),
        now(),
    )
    .unwrap();
    assert_eq!(k.name, "ci");
    assert_eq!(k.scopes.len(), 2);
    assert_eq!(k.scopes[1].to_string(), "write:*");
    assert!(k.ip_rules.is_allow_all());
    assert_eq!(
        w.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["wildcard_cidr"]
    );
}

#[test]
fn every_problem_is_reported_with_its_field_path() {
    let long_segment = "x".repeat(129);
    let errors = validate_create(
        &draft(json!({
            "name": "   ",
            "scopes": [
                {"action": "read", "resource": "a//b"},
                {"action": "fly", "resource": "**/x"},
                {"action": "read", "resource": "a/**/b"},
                {"action": "read", "resource": long_segment},
                "nope:x",
                7
            ],
            "allowed_cidrs": ["10.0.0.0/33"],
            "expires_at": "2020-01-01T00:00:00Z"
        })),
        now(),
    )
    .unwrap_err();
    assert_eq!(
        fields(&errors),
        vec![
            "name",
            "scopes[0].resource",
            "scopes[1].action",
            "scopes[1].resource",
            "scopes[2].resource",
            "scopes[3].resource",
            "scopes[4]",
            "scopes[5]",
            "allowed_cidrs[0]",
            "expires_at"
        ]
    );
}

#[test]
fn names_are_limited_to_200_characters() {
    let ok = "é".repeat(200);
    assert!(validate_create(&draft(json!({"name": ok, "scopes": ["read"]})), now()).is_ok());
    let long = "a".repeat(201);
    let e = validate_create(&draft(json!({"name": long, "scopes": ["read"]})), now()).unwrap_err();
    assert_eq!(fields(&e), vec!["name"]);
}

#[test]
fn missing_and_empty_scopes_are_refused() {
    let e = validate_create(&draft(json!({"name": "x"})), now()).unwrap_err();
    assert_eq!(fields(&e), vec!["scopes"]);
    let e = validate_create(&draft(json!({"name": "x", "scopes": []})), now()).unwrap_err();
    assert_eq!(fields(&e), vec!["scopes"]);
}

#[test]
fn duplicate_scopes_are_stored_once_with_a_warning() {
    let (k, w) = validate_create(
        &draft(json!({"name": "x", "scopes": ["read:a", "read:a"]})),
        now(),
    )
    .unwrap();
    assert_eq!(k.scopes.len(), 1);
    assert_eq!(w[0].code, "duplicate_scope");
}

#[test]
fn patch_distinguishes_absent_from_null() {
    let p: KeyPatch = serde_json::from_value(json!({"expires_at": null})).unwrap();
    let (v, w) = validate_patch(&p, now()).unwrap();
    assert_eq!(v.expires_at, Some(None));
    assert!(v.ip_rules.is_none() && v.scopes.is_none() && w.is_empty());

    let p: KeyPatch = serde_json::from_value(json!({"allowed_cidrs": null})).unwrap();
    let (v, w) = validate_patch(&p, now()).unwrap();
    assert!(v.ip_rules.unwrap().is_allow_all());
    assert_eq!(
        w.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["wildcard_cidr", "takes_effect_immediately"]
    );
}

#[test]
fn unknown_fields_are_refused() {
    assert!(serde_json::from_value::<KeyDraft>(json!({"name": "x", "allowed_ips": []})).is_err());
}

#[test]
fn metadata_is_an_object_of_at_most_4_kib() {
    let (k, _) = validate_create(
        &draft(json!({"name": "x", "scopes": ["read"], "metadata": {"team": "a\u{0}b", "n": [1, {"x": null}]}})),
        now(),
    )
    .unwrap();
    assert_eq!(k.attributes.metadata["team"], json!("a\u{0}b"));
    let (k, _) = validate_create(&draft(json!({"name": "x", "scopes": ["read"]})), now()).unwrap();
    assert!(k.attributes.metadata.is_empty());
    for bad in [json!([1]), json!("x"), json!(3)] {
        let e = validate_create(
            &draft(json!({"name": "x", "scopes": ["read"], "metadata": bad})),
            now(),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["metadata"], "{bad}");
    }
    let big = json!({"k": "v".repeat(METADATA_MAX_BYTES)});
    let e = validate_create(
        &draft(json!({"name": "x", "scopes": ["read"], "metadata": big})),
        now(),
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["metadata"]);
    assert!(e[0].message.contains("4096"), "{}", e[0].message);
    // Exactly at the limit is accepted: `{"k":"…"}` is 8 bytes around the value.
    let edge = json!({"k": "v".repeat(METADATA_MAX_BYTES - 8)});
    assert!(
        validate_create(
            &draft(json!({"name": "x", "scopes": ["read"], "metadata": edge})),
            now()
        )
        .is_ok()
    );
}

#[test]
fn a_patch_replaces_or_clears_the_metadata_and_absent_leaves_it() {
    let patch = |v: Value| {
        validate_patch(&serde_json::from_value(v).unwrap(), now())
            .unwrap()
            .0
    };
    let mut key = validate_create(
        &draft(json!({"name": "x", "scopes": ["read"], "metadata": {"a": 1}})),
        now(),
    )
    .unwrap()
    .0
    .into_key("key_x".into(), "org", String::new(), now());
    patch(json!({"name": "y"})).apply(&mut key);
    assert_eq!(
        key.attributes.metadata,
        json!({"a": 1}).as_object().unwrap().clone()
    );
    patch(json!({"metadata": {"b": 2}})).apply(&mut key);
    assert_eq!(
        serde_json::Value::Object(key.attributes.metadata.clone()),
        json!({"b": 2})
    );
    patch(json!({"metadata": null})).apply(&mut key);
    assert!(key.attributes.metadata.is_empty());
}

#[test]
fn create_and_patch_warn_about_key_management_scopes() {
    let (_, w) = validate_create(
        &draft(json!({"name": "x", "scopes": ["admin:*"], "allowed_cidrs": ["10.0.0.0/8"]})),
        now(),
    )
    .unwrap();
    assert_eq!(
        w.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["grants_key_management"]
    );
    let p: KeyPatch = serde_json::from_value(json!({"scopes": ["*:keys"]})).unwrap();
    let (_, w) = validate_patch(&p, now()).unwrap();
    assert_eq!(
        w.iter().map(|w| w.code).collect::<Vec<_>>(),
        ["grants_key_management", "takes_effect_immediately"]
    );
    let p: KeyPatch = serde_json::from_value(json!({"name": "y"})).unwrap();
    assert!(validate_patch(&p, now()).unwrap().1.is_empty());
}

#[test]
fn a_key_without_an_allow_list_is_flagged_like_the_wildcard_ranges() {
    let codes = |w: &[Warning]| {
        w.iter()
            .map(|w| (w.code, w.field.clone()))
            .collect::<Vec<_>>()
    };
    let anywhere = vec![("wildcard_cidr", "allowed_cidrs".to_owned())];
    for body in [
        json!({"name": "x", "scopes": ["read"]}),
        json!({"name": "x", "scopes": ["read"], "allowed_cidrs": []}),
    ] {
        let (_, w) = validate_create(&draft(body), now()).unwrap();
        assert_eq!(codes(&w), anywhere);
    }
    let (_, w) = validate_create(
        &draft(json!({"name": "x", "scopes": ["read"], "allowed_cidrs": ["10.0.0.0/8"]})),
        now(),
    )
    .unwrap();
    assert!(w.is_empty());
    let p: KeyPatch = serde_json::from_value(json!({"allowed_cidrs": null})).unwrap();
    let (_, w) = validate_patch(&p, now()).unwrap();
    assert_eq!(w[0].code, "wildcard_cidr");
}
