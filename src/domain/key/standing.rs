//! Who may grant or change what on a key: no escalation (a caller grants only what its scopes
//! cover), standing (what only a caller covering all of a key's scopes may do), and the
//! warning for scopes that reach Latchkey's own admin resources.

use chrono::{DateTime, Utc};

use crate::domain::ip_rules::IpRules;
use crate::domain::scope::{Action, ResourceFilter, Scope};
use crate::domain::{FieldError, Warning};

/// The roots of Latchkey's own admin resources, each with every path under it: `keys` (and
/// `keys/{id}`, `keys/{id}/usage`, …), `usage`, `audit`, `signing-keys`, `webhooks`. They share
/// the namespace of the customers' resources, so a key given `admin:*` for a customer's API also
/// manages Latchkey itself; `key_management_warning` says so. EVERY admin route of `/v1` must
/// lie under one of them (a test in `tests/api/openapi.rs` walks the route table): add the root
/// of any new admin resource here, or that warning stays silent about it.
pub const OWN_RESOURCES: [&str; 5] = ["keys", "usage", "audit", "signing-keys", "webhooks"];

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
    patch: &Changes<'_>,
    current_rules: &IpRules,
    current_expiry: Option<DateTime<Utc>>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if patch.scopes {
        errors.push(FieldError::new(
            "scopes",
            "only a caller covering all of the key's current scopes may change them, even to narrow them: narrowing changes who covers the key, so it would let a caller narrow a stronger key down to its own scopes and then loosen or roll it",
        ));
    }
    if let Some(rules) = patch.ip_rules
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
    if let Some(field) = patch.credentials {
        errors.push(FieldError::new(
            field,
            "public keys, a JWKS URL and federated credentials are credentials of the key: as for a roll, only a caller covering all of the key's scopes may set them (otherwise it could add its own and become the key)",
        ));
    }
    errors
}

/// What a PATCH changes that standing is about (`ValidPatch::changes`): whether it sets the
/// scopes, the addresses it sets, the expiry it sets (`Some(None)`: none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Changes<'a> {
    pub scopes: bool,
    pub ip_rules: Option<&'a IpRules>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// The first field it sets of the key's credentials other than its secret (`public_keys`,
    /// `jwks_uri`, `federated_credentials`), if any.
    pub credentials: Option<&'static str>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::scope::format_scope_list;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
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

    fn rules(cidrs: &[&str]) -> IpRules {
        let cidrs: Vec<String> = cidrs.iter().map(|c| c.to_string()).collect();
        IpRules::from_canonical(&cidrs).unwrap()
    }

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    #[test]
    fn without_standing_even_narrowing_the_scopes_is_refused() {
        let narrowed = Changes {
            scopes: true,
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
        let tighter_rules = rules(&["10.1.0.0/16"]);
        let tighter = Changes {
            scopes: false,
            ip_rules: Some(&tighter_rules),
            expires_at: Some(Some(now() + chrono::Duration::days(1))),
            credentials: None,
        };
        assert!(patch_standing_errors(&tighter, &rules(&["10.0.0.0/8"]), Some(later)).is_empty());
    }

    #[test]
    fn every_change_that_needs_standing_is_reported() {
        let anywhere = rules(&[]);
        let looser = Changes {
            scopes: true,
            ip_rules: Some(&anywhere),
            expires_at: Some(None),
            credentials: Some("public_keys"),
        };
        let errors = patch_standing_errors(&looser, &rules(&["10.0.0.0/8"]), Some(now()));
        assert_eq!(
            fields(&errors),
            ["scopes", "allowed_cidrs", "expires_at", "public_keys"]
        );
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
            let patch = Changes { scopes: true, ..Default::default() };
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
