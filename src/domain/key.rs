//! API-key rules: status, create/update validation with field paths, the no-escalation rule.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::ip_rules::IpRules;
use super::scope::{Action, ResourceFilter, Scope};
use super::{FieldError, Warning};

/// Longest key name, in characters after trimming.
pub const NAME_MAX_CHARS: usize = 200;
/// Most scopes one key may hold; keeps a key's scope check and its token's `scope` claim small.
pub const MAX_SCOPES: usize = 50;

/// The roots of Latchkey's own admin resources, each with every path under it: `keys` (and
/// `keys/{id}`, `keys/{id}/usage`, …), `usage`, `audit`, `signing-keys`, `webhooks`. They share
/// the namespace of the customers' resources, so a key given `admin:*` for a customer's API also
/// manages Latchkey itself; `key_management_warning` says so. EVERY admin route of `/v1` must
/// lie under one of them (a test in `tests/api/openapi.rs` walks the route table): add the root
/// of any new admin resource here, or that warning stays silent about it.
pub const OWN_RESOURCES: [&str; 5] = ["keys", "usage", "audit", "signing-keys", "webhooks"];

/// Derived, never stored: revocation wins over expiry, and expiry is a moment, not a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn of(
        revoked_at: Option<DateTime<Utc>>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if revoked_at.is_some() {
            KeyStatus::Revoked
        } else if expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// `POST /v1/keys` body. Fields are loosely typed here so that every problem is reported with
/// its field path instead of the first serde error.
///
/// The OpenAPI schema states what is accepted (`name` and `scopes` required, each scope an
/// object or the wire form; see `http/openapi.rs`), not these loose Rust types.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "The body of `POST /v1/keys`.")]
pub struct KeyDraft {
    /// 1–200 characters after trimming, no control characters.
    #[schema(value_type = String, min_length = 1, example = "billing worker")]
    pub name: Option<String>,
    /// At least one, at most 50; each must be covered by the calling key's own scopes.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 50)]
    pub scopes: Option<Vec<Value>>,
    /// IPv4/IPv6 networks (or single addresses) the key may be used from; omitted or empty means
    /// anywhere. Stored canonical (host bits cleared, with a warning).
    #[schema(example = json!(["10.0.0.0/8", "2001:db8::/32"]))]
    pub allowed_cidrs: Option<Vec<String>>,
    /// RFC 3339 time in the future; omitted or null means the key never expires.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// `PATCH /v1/keys/{id}` body: an absent field is left alone; `null` clears the CIDR list (allow
/// all) or the expiry (never expires).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    /// 1–200 characters after trimming, no control characters.
    #[schema(min_length = 1)]
    pub name: Option<String>,
    /// Replaces every scope of the key (same rules as on create); applies to the next request.
    #[schema(value_type = Option<Vec<Object>>, min_items = 1, max_items = 50)]
    pub scopes: Option<Vec<Value>>,
    /// Replaces the allow-list; `null` or `[]` allows every address. Applies to the next request.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_cidrs: Option<Option<Vec<String>>>,
    /// RFC 3339 time in the future, or `null` for no expiry.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Option<String>>,
}

/// Distinguishes "field absent" (outer None, via `default`) from "field is null".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub ip_rules: IpRules,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    pub ip_rules: Option<IpRules>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

type Checked<T> = Result<(T, Vec<Warning>), Vec<FieldError>>;

pub fn validate_create(draft: &KeyDraft, now: DateTime<Utc>) -> Checked<ValidKey> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let name = match &draft.name {
        Some(n) => check_name(n, &mut errors),
        None => {
            errors.push(FieldError::new("name", "is required"));
            None
        }
    };
    let scopes = match &draft.scopes {
        Some(s) => check_scopes(s, &mut errors, &mut warnings).inspect(|scopes| {
            warnings.extend(key_management_warning(scopes));
        }),
        None => {
            errors.push(FieldError::new(
                "scopes",
                "is required: give at least one scope",
            ));
            None
        }
    };
    let ip_rules = check_cidrs(
        draft.allowed_cidrs.as_deref().unwrap_or(&[]),
        &mut errors,
        &mut warnings,
    );
    let expires_at = draft
        .expires_at
        .as_deref()
        .and_then(|e| check_expiry(e, now, &mut errors));
    match (name, scopes, ip_rules) {
        (Some(name), Some(scopes), Some(ip_rules)) if errors.is_empty() => Ok((
            ValidKey {
                name,
                scopes,
                ip_rules,
                expires_at,
            },
            warnings,
        )),
        _ => Err(errors),
    }
}

pub fn validate_patch(patch: &KeyPatch, now: DateTime<Utc>) -> Checked<ValidPatch> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut valid = ValidPatch::default();
    if let Some(n) = &patch.name {
        valid.name = check_name(n, &mut errors);
    }
    if let Some(s) = &patch.scopes {
        valid.scopes = check_scopes(s, &mut errors, &mut warnings);
        warnings.extend(valid.scopes.as_deref().and_then(key_management_warning));
    }
    if let Some(c) = &patch.allowed_cidrs {
        valid.ip_rules = check_cidrs(c.as_deref().unwrap_or(&[]), &mut errors, &mut warnings);
    }
    if let Some(e) = &patch.expires_at {
        valid.expires_at = match e {
            None => Some(None),
            Some(text) => check_expiry(text, now, &mut errors).map(Some),
        };
    }
    if patch.scopes.is_some() || patch.allowed_cidrs.is_some() {
        warnings.push(Warning {
            code: "takes_effect_immediately",
            field: if patch.scopes.is_some() {
                "scopes"
            } else {
                "allowed_cidrs"
            }
            .to_owned(),
            message: "changes to scopes and allowed CIDRs apply to the very next request: calls \
                      made with this key that the new rules no longer allow will fail"
                .to_owned(),
        });
    }
    if errors.is_empty() {
        Ok((valid, warnings))
    } else {
        Err(errors)
    }
}

/// The `grants_key_management` warning, when some of `scopes` grant `admin` (action `admin` or
/// `*`) over any of Latchkey's own resources: a filter that matches some path under one of
/// [`OWN_RESOURCES`] (`*`, `*/x`, `keys`, `audit/**`, …; decided by
/// [`ResourceFilter::overlaps`], not by spelling). Accepted, because an org may want such a key,
/// but said out loud: `admin:*` written for a customer's API silently also creates, rolls and
/// revokes keys. The message names the scopes and which of the resources they reach.
pub fn key_management_warning(scopes: &[Scope]) -> Option<Warning> {
    let roots: Vec<(&str, ResourceFilter)> = OWN_RESOURCES
        .iter()
        .filter_map(|root| {
            let subtree = ResourceFilter::parse(&format!("{root}/**")).ok()?;
            Some((*root, subtree))
        })
        .collect();
    let mut granting = Vec::new();
    let mut reached = Vec::new();
    for scope in scopes.iter().filter(|s| s.action.covers(Action::Admin)) {
        let hits: Vec<&str> = roots
            .iter()
            .filter(|(_, subtree)| scope.resource.overlaps(subtree))
            .map(|(root, _)| *root)
            .collect();
        if !hits.is_empty() {
            granting.push(format!("`{scope}`"));
            reached.extend(hits);
        }
    }
    if granting.is_empty() {
        return None;
    }
    let reached: Vec<&str> = OWN_RESOURCES
        .into_iter()
        .filter(|root| reached.contains(root))
        .collect();
    let names: Vec<String> = reached.iter().map(|root| format!("`{root}`")).collect();
    let powers: Vec<String> = reached
        .iter()
        .map(|root| own_resource_power(root).to_owned())
        .collect();
    let verb = if granting.len() == 1 {
        "grants"
    } else {
        "grant"
    };
    Some(Warning {
        code: "grants_key_management",
        field: "scopes".to_owned(),
        message: format!(
            "{} {verb} admin over Latchkey's own {}, not only over your API's resources: this \
             key may also {}. If it is meant for your API alone, give it filters that name your \
             resources, such as `admin:projects/**`",
            and_list(&granting),
            and_list(&names),
            and_list(&powers),
        ),
    })
}

/// What `admin` over one of [`OWN_RESOURCES`] lets a key do, in the warning's words.
fn own_resource_power(root: &str) -> &'static str {
    match root {
        "keys" => "create, change, roll and revoke API keys",
        "usage" => "read the usage of every key",
        "audit" => "read the audit log",
        "signing-keys" => "rotate the token-signing keys",
        "webhooks" => "manage webhooks",
        _ => "administer it",
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The scopes of an existing key that `held` does not cover: empty when the caller has
/// *standing* over the key. Only a caller with standing may roll the key (it receives the key's
/// power and identity), change its scopes, or loosen its limits ([`patch_standing_errors`]);
/// renaming it, tightening its addresses or expiry and revoking it stay allowed to any admin of
/// the key: those only take power away, and leave who has standing as it was.
pub fn standing_errors(held: &[Scope], target: &[Scope]) -> Vec<FieldError> {
    target
        .iter()
        .filter(|t| !held.iter().any(|h| h.covers(t)))
        .map(|t| {
            FieldError::new(
                "key",
                format!(
                    "the key holds `{t}`, which the scopes of the calling key do not cover; only a caller covering all of a key's scopes may roll it, change its scopes or loosen its limits"
                ),
            )
        })
        .collect()
}

/// The changes of `patch` that need standing over the key ([`standing_errors`]), refused to a
/// caller without it:
/// - **any change of its scopes, narrowing included.** Narrowing is the one reduction that
///   changes who has standing: an admin of keys could narrow a stronger key down to scopes it
///   covers itself, gain standing that way, then loosen the key and roll it, receiving a secret
///   for the key's identity (its `client_id`, which resource servers may trust by name). The
///   rule is judged on the key as it is before the change. (Setting the scopes a key already
///   has needs standing too, but a caller that may grant them all has it anyway.)
/// - **addresses beyond the current ones**: otherwise a stronger key's leaked but
///   address-bound secret could be made usable anywhere.
/// - **a later expiry, or none**: the same, in time.
pub fn patch_standing_errors(
    patch: &ValidPatch,
    current_rules: &IpRules,
    current_expiry: Option<DateTime<Utc>>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if patch.scopes.is_some() {
        errors.push(FieldError::new(
            "scopes",
            "only a caller covering all of the key's current scopes may change them, even to narrow them: narrowing changes who covers the key, so it would let a caller narrow a stronger key down to its own scopes and then loosen or roll it",
        ));
    }
    if let Some(rules) = &patch.ip_rules
        && !rules.within(current_rules)
    {
        errors.push(FieldError::new(
            "allowed_cidrs",
            "would allow addresses the key does not allow now; only a caller covering all of the key's scopes may widen them",
        ));
    }
    let later = match (patch.expires_at, current_expiry) {
        (Some(Some(new)), Some(now_set)) => new > now_set,
        (Some(None), Some(_)) => true,
        _ => false,
    };
    if later {
        errors.push(FieldError::new(
            "expires_at",
            "would let the key live longer; only a caller covering all of the key's scopes may extend it",
        ));
    }
    errors
}

/// No escalation: a caller may only grant what its own scopes cover (`field` is `scopes`).
pub fn escalation_errors(held: &[Scope], wanted: &[Scope]) -> Vec<FieldError> {
    wanted
        .iter()
        .enumerate()
        .filter(|(_, w)| !held.iter().any(|h| h.covers(w)))
        .map(|(i, w)| {
            FieldError::new(
                format!("scopes[{i}]"),
                format!(
                    "`{w}` is not covered by the scopes of the calling key, so it cannot be granted"
                ),
            )
        })
        .collect()
}

fn check_name(raw: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    let name = raw.trim();
    let len = name.chars().count();
    if len == 0 {
        errors.push(FieldError::new("name", "must not be empty"));
        None
    } else if len > NAME_MAX_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("is {len} characters long; the maximum is {NAME_MAX_CHARS}"),
        ));
        None
    } else if name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "name",
            "must not contain control characters",
        ));
        None
    } else {
        Some(name.to_owned())
    }
}

fn check_scopes(
    items: &[Value],
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<Scope>> {
    if items.is_empty() {
        errors.push(FieldError::new("scopes", "must hold at least one scope"));
        return None;
    }
    if items.len() > MAX_SCOPES {
        errors.push(FieldError::new(
            "scopes",
            format!("holds {} scopes; the maximum is {MAX_SCOPES}", items.len()),
        ));
        return None;
    }
    let before = errors.len();
    let mut scopes: Vec<Scope> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(scope) = parse_scope_item(i, item, errors) else {
            continue;
        };
        if scopes.contains(&scope) {
            warnings.push(Warning {
                code: "duplicate_scope",
                field: format!("scopes[{i}]"),
                message: format!("`{scope}` is listed twice; it is stored once"),
            });
        } else {
            scopes.push(scope);
        }
    }
    (errors.len() == before).then_some(scopes)
}

/// A scope is `{"action": "read", "resource": "projects/**"}` or the wire form `"read:projects/**"`.
fn parse_scope_item(i: usize, item: &Value, errors: &mut Vec<FieldError>) -> Option<Scope> {
    match item {
        Value::String(text) => match Scope::parse(text) {
            Ok(s) => Some(s),
            Err(m) => {
                errors.push(FieldError::new(format!("scopes[{i}]"), m));
                None
            }
        },
        Value::Object(map) => {
            if let Some(unknown) = map.keys().find(|k| *k != "action" && *k != "resource") {
                errors.push(FieldError::new(
                    format!("scopes[{i}].{unknown}"),
                    "unknown field: a scope has `action` and `resource`",
                ));
                return None;
            }
            let action = match map.get("action") {
                Some(Value::String(a)) => Action::parse(a)
                    .map_err(|m| errors.push(FieldError::new(format!("scopes[{i}].action"), m)))
                    .ok(),
                Some(_) => {
                    errors.push(FieldError::new(
                        format!("scopes[{i}].action"),
                        "must be a string",
                    ));
                    None
                }
                None => {
                    errors.push(FieldError::new(
                        format!("scopes[{i}].action"),
                        "is required",
                    ));
                    None
                }
            };
            let resource = match map.get("resource") {
                None | Some(Value::Null) => Some(ResourceFilter::all()),
                Some(Value::String(r)) => ResourceFilter::parse(r)
                    .map_err(|m| errors.push(FieldError::new(format!("scopes[{i}].resource"), m)))
                    .ok(),
                Some(_) => {
                    errors.push(FieldError::new(
                        format!("scopes[{i}].resource"),
                        "must be a string",
                    ));
                    None
                }
            };
            Some(Scope::new(action?, resource?))
        }
        _ => {
            errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "must be an object {\"action\", \"resource\"} or a string like \"read:projects/**\"",
            ));
            None
        }
    }
}

fn check_cidrs(
    entries: &[String],
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> Option<IpRules> {
    match IpRules::parse("allowed_cidrs", entries) {
        Ok((rules, w)) => {
            warnings.extend(w);
            Some(rules)
        }
        Err(e) => {
            errors.extend(e);
            None
        }
    }
}

fn check_expiry(
    text: &str,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(t) => {
            let t = t.with_timezone(&Utc);
            if t <= now {
                errors.push(FieldError::new("expires_at", "must be in the future"));
                None
            } else {
                Some(t)
            }
        }
        Err(_) => {
            errors.push(FieldError::new(
                "expires_at",
                "must be an RFC 3339 date-time such as 2030-01-31T12:00:00Z",
            ));
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::scope::format_scope_list;
    use proptest::prelude::*;
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
    fn status_prefers_revoked_over_expired() {
        let past = Some(now() - chrono::Duration::seconds(1));
        assert_eq!(KeyStatus::of(None, None, now()), KeyStatus::Active);
        assert_eq!(KeyStatus::of(None, past, now()), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(None, Some(now()), now()), KeyStatus::Expired);
        assert_eq!(KeyStatus::of(Some(now()), past, now()), KeyStatus::Revoked);
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
        assert!(w.is_empty());
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
        let e =
            validate_create(&draft(json!({"name": long, "scopes": ["read"]})), now()).unwrap_err();
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
        assert_eq!(w[0].code, "takes_effect_immediately");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_value::<KeyDraft>(json!({"name": "x", "allowed_ips": []})).is_err()
        );
    }

    fn management(scopes: &[&str]) -> Option<Warning> {
        let scopes: Vec<Scope> = scopes.iter().map(|s| Scope::parse(s).unwrap()).collect();
        key_management_warning(&scopes)
    }

    #[test]
    fn every_own_resource_is_a_filter_root() {
        for root in OWN_RESOURCES {
            let subtree = ResourceFilter::parse(&format!("{root}/**")).unwrap();
            assert!(subtree.matches(root) && subtree.matches(&format!("{root}/x/y")));
            assert_ne!(own_resource_power(root), "administer it", "{root}");
        }
    }

    #[test]
    fn admin_over_latchkeys_own_resources_is_warned_about() {
        let all = "`keys`, `usage`, `audit`, `signing-keys` and `webhooks`";
        for (scopes, named) in [
            (&["admin:*"][..], all),
            (&["*:*"], all),
            (&["admin:*/x"], all),
            (&["*:*/*/*/x"], all),
            (&["admin:keys/**"], "`keys`"),
            (&["*:keys"], "`keys`"),
            (&["admin:keys/key_abc/usage"], "`keys`"),
            (&["admin:audit", "read:*"], "`audit`"),
            (
                &["admin:signing-keys/**", "admin:webhooks/*"],
                "`signing-keys` and `webhooks`",
            ),
        ] {
            let w = management(scopes).unwrap_or_else(|| panic!("{scopes:?} warns"));
            assert_eq!(
                (w.code, w.field.as_str()),
                ("grants_key_management", "scopes")
            );
            assert!(
                w.message
                    .contains(&format!("Latchkey's own {named}, not only")),
                "{scopes:?}: {}",
                w.message
            );
        }
        let w = management(&["admin:*", "read:x", "*:keys"]).unwrap();
        assert!(
            w.message
                .starts_with("`admin:*` and `*:keys` grant admin over"),
            "{}",
            w.message
        );
        let w = management(&["admin:keys/**"]).unwrap();
        assert_eq!(
            w.message,
            "`admin:keys/**` grants admin over Latchkey's own `keys`, not only over your API's \
             resources: this key may also create, change, roll and revoke API keys. If it is \
             meant for your API alone, give it filters that name your resources, such as \
             `admin:projects/**`"
        );
    }

    #[test]
    fn other_scopes_are_not_key_management() {
        for scopes in [
            &["admin:projects/**"][..],
            &["read:*"],
            &["write:*", "read:keys/**"],
            &["admin:key", "admin:keysx/**", "admin:projects/keys/**"],
            &["*:projects/*/x"],
            &["admin:api/*"],
        ] {
            assert_eq!(management(scopes), None, "{scopes:?}");
        }
    }

    #[test]
    fn create_and_patch_warn_about_key_management_scopes() {
        let (_, w) =
            validate_create(&draft(json!({"name": "x", "scopes": ["admin:*"]})), now()).unwrap();
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

    fn rules(cidrs: &[&str]) -> IpRules {
        let cidrs: Vec<String> = cidrs.iter().map(|c| c.to_string()).collect();
        IpRules::from_canonical(&cidrs).unwrap()
    }

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    #[test]
    fn without_standing_even_narrowing_the_scopes_is_refused() {
        let narrowed = ValidPatch {
            scopes: Some(scopes(&["read:projects/1"])),
            ..Default::default()
        };
        let errors = patch_standing_errors(&narrowed, &rules(&["10.0.0.0/8"]), None);
        assert_eq!(fields(&errors), ["scopes"]);
        assert!(
            errors[0].message.contains("even to narrow"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn without_standing_a_key_may_still_be_renamed_or_tightened() {
        let later = now() + chrono::Duration::days(30);
        let tighter = ValidPatch {
            name: Some("renamed".into()),
            ip_rules: Some(rules(&["10.1.0.0/16"])),
            expires_at: Some(Some(now() + chrono::Duration::days(1))),
            ..Default::default()
        };
        assert!(patch_standing_errors(&tighter, &rules(&["10.0.0.0/8"]), Some(later)).is_empty());
    }

    #[test]
    fn every_change_that_needs_standing_is_reported() {
        let looser = ValidPatch {
            scopes: Some(scopes(&["read:a"])),
            ip_rules: Some(rules(&[])),
            expires_at: Some(None),
            ..Default::default()
        };
        let errors = patch_standing_errors(&looser, &rules(&["10.0.0.0/8"]), Some(now()));
        assert_eq!(fields(&errors), ["scopes", "allowed_cidrs", "expires_at"]);
    }

    #[test]
    fn standing_is_covering_every_scope_of_the_key() {
        let held = scopes(&["admin:keys/**", "read:projects/**"]);
        assert!(standing_errors(&held, &scopes(&["read:projects/1", "admin:keys/x"])).is_empty());
        let errors = standing_errors(&held, &scopes(&["read:projects/1", "*:*"]));
        assert_eq!(fields(&errors), ["key"]);
        assert!(errors[0].message.contains("`*:*`"), "{}", errors[0].message);
    }

    /// A scope over a small alphabet: actions that do and do not cover each other, filters
    /// with literals, `*` and a final `**`, so that covering and not covering both happen often.
    fn scope_strategy() -> impl Strategy<Value = Scope> {
        let action = prop_oneof![Just("read"), Just("admin"), Just("*")];
        let seg = prop_oneof![Just("a"), Just("b"), Just("*")];
        let filter = (prop::collection::vec(seg, 0..=2), any::<bool>()).prop_map(|(segs, rest)| {
            let mut segs: Vec<&str> = segs;
            if rest || segs.is_empty() {
                segs.push("**");
            }
            segs.join("/")
        });
        (action, filter).prop_map(|(a, f)| Scope::parse(&format!("{a}:{f}")).unwrap())
    }

    fn scope_set() -> impl Strategy<Value = Vec<Scope>> {
        prop::collection::vec(scope_strategy(), 1..=3)
    }

    proptest! {
        /// The invariant behind the rule: a caller without standing over a key never gains it
        /// through a PATCH the rules permit (the new scopes covered by the caller, as
        /// `service::keys::update` checks first, and the changes needing standing refused). By
        /// induction no sequence of permitted edits does either, so the caller can never go on
        /// to loosen or roll the key. Narrowing without standing breaks it at once.
        #[test]
        fn no_permitted_patch_gives_its_caller_standing(
            held in scope_set(),
            key in scope_set(),
            new in scope_set(),
        ) {
            let patch = ValidPatch { scopes: Some(new.clone()), ..Default::default() };
            let had_standing = standing_errors(&held, &key).is_empty();
            let permitted = escalation_errors(&held, &new).is_empty()
                && (had_standing || patch_standing_errors(&patch, &rules(&[]), None).is_empty());
            if permitted && standing_errors(&held, &new).is_empty() {
                prop_assert!(
                    had_standing,
                    "`{}` gained standing over `{}` by setting `{}`",
                    format_scope_list(&held),
                    format_scope_list(&key),
                    format_scope_list(&new)
                );
            }
        }
    }

    #[test]
    fn escalation_is_refused_per_scope() {
        let held = vec![
            Scope::parse("read:projects/**").unwrap(),
            Scope::parse("admin:keys/**").unwrap(),
        ];
        let wanted = vec![
            Scope::parse("read:projects/42/**").unwrap(),
            Scope::parse("write:projects/42").unwrap(),
            Scope::parse("*:*").unwrap(),
        ];
        assert_eq!(
            fields(&escalation_errors(&held, &wanted)),
            vec!["scopes[1]", "scopes[2]"]
        );
        assert!(escalation_errors(&[Scope::parse("*:*").unwrap()], &wanted).is_empty());
    }
}
