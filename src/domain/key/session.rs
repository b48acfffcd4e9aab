//! Console session keys: what the web console holds so that it can renew its access token
//! without keeping the secret that signed in. A session is a key of its own kind whose power
//! comes from the key that started it, its parent, and never exceeds it:
//!
//! 1. **No more scopes than the caller**: exactly the scopes of the credential that started it
//!    (a token may carry fewer than its key), and of those only what the parent still covers.
//! 2. **No more reach than the parent**: the parent's allowed addresses; no limits, quota,
//!    metadata or public keys of its own.
//! 3. **No more time than the parent**: it expires at most 8 hours after it starts, and never
//!    after the parent does.
//! 4. **It ends with the parent**: revoking the parent, rolling its secret (the old one may have
//!    leaked) or changing what bounds it (scopes, addresses, expiry: `ends_sessions`) revokes
//!    its sessions in the same transaction. Otherwise a session would outlive a revocation, or
//!    keep scopes its parent lost.
//! 5. **It is not a parent, nor editable**: sessions do not nest, and a session's key cannot be
//!    edited or rolled (that would escape rules 1–3); it can only be revoked (sign-out).

use chrono::{DateTime, Duration, Utc};

use super::{Key, KeyAttributes, KeyKind, KeyStatus, NAME_MAX_CHARS, ValidKey};
use crate::domain::FieldError;
use crate::domain::scope::Scope;

/// Longest a session lasts, in seconds (8 hours): a working day, after which the console asks
/// for the secret again.
pub const MAX_SESSION_SECS: i64 = 8 * 3600;

/// What a session's name starts with; the parent's name follows.
pub const NAME_PREFIX: &str = "console session for ";

/// Why a console session cannot be started, or its key changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    /// The caller is itself a console session's key: sessions do not nest (rule 5).
    #[error("a console session cannot start another one: sign in with a standard key")]
    Nested,
    /// A console session's key cannot be edited or rolled, only revoked (rule 5).
    #[error(
        "console_session keys are not editable: a console session is bounded by the key that started it; revoke it instead"
    )]
    NotEditable,
    /// The parent was revoked, expired or lost the caller's scopes after the caller
    /// authenticated (a race with another change): nothing is left to grant.
    #[error("the key that signed in is no longer active with these scopes: sign in again")]
    ParentInactive,
    /// The caller is not a key (the command line): there is nothing to bound a session by.
    #[error("only a key can start a console session")]
    NotAKey,
    /// A session may not roll the key that started it, nor change what ends sessions (its
    /// scopes, addresses, expiry or credentials): whoever holds a session's secret would
    /// otherwise walk away with the parent, or lock its owner out. The parent's own secret may.
    #[error(
        "a console session cannot roll the key that started it, nor change its scopes, allowed IPs, expiry or credentials: use that key's own secret"
    )]
    ParentGuarded,
}

/// Why a session ended with its parent (rule 4), as its revocation records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The parent was revoked (by a caller, a revocation of its secret, or a leak report).
    ParentRevoked,
    /// The parent's secret was rolled: the old one may have leaked.
    ParentRolled,
    /// The parent's scopes, addresses or expiry changed.
    ParentChanged,
}

impl SessionEnd {
    /// NEVER rename: recorded in the audit trail and sent in `key.revoked` events.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionEnd::ParentRevoked => "parent_revoked",
            SessionEnd::ParentRolled => "parent_rolled",
            SessionEnd::ParentChanged => "parent_changed",
        }
    }
}

/// The session's lifetime from the request's `expires_in` (seconds): 1 to 8 hours' worth,
/// 8 hours when absent.
pub fn lifetime(expires_in: Option<i64>) -> Result<Duration, FieldError> {
    match expires_in {
        None => Ok(Duration::seconds(MAX_SESSION_SECS)),
        Some(s) if (1..=MAX_SESSION_SECS).contains(&s) => Ok(Duration::seconds(s)),
        Some(_) => Err(FieldError::new(
            "expires_in",
            format!("must be a whole number of seconds from 1 to {MAX_SESSION_SECS} (8 hours)"),
        )),
    }
}

/// A session about to be stored: its settings, and the parent it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPlan {
    pub valid: ValidKey,
    pub parent_key_id: String,
}

impl SessionPlan {
    /// The new session key, with its id and its secret's hint.
    pub fn into_key(
        self,
        id: String,
        org_id: &str,
        secret_hint: String,
        now: DateTime<Utc>,
    ) -> Key {
        let mut key = self.valid.into_key(id, org_id, secret_hint, now);
        key.kind = KeyKind::ConsoleSession;
        key.parent_key_id = Some(self.parent_key_id);
        key
    }
}

/// The session `parent` starts for a caller holding `caller_scopes` (rules 1–3, 5). `parent` is
/// the row as locked for the change, so what it says holds when the session is written.
pub fn plan(
    parent: &Key,
    caller_scopes: &[Scope],
    lifetime: Duration,
    now: DateTime<Utc>,
) -> Result<SessionPlan, SessionRefusal> {
    if parent.kind == KeyKind::ConsoleSession {
        return Err(SessionRefusal::Nested);
    }
    if parent.status(now) != KeyStatus::Active {
        return Err(SessionRefusal::ParentInactive);
    }
    // The caller's scopes were read when it authenticated; the parent may have been narrowed
    // since, so only what the locked row still covers is granted.
    let scopes: Vec<Scope> = caller_scopes
        .iter()
        .filter(|s| parent.scopes.iter().any(|p| p.covers(s)))
        .cloned()
        .collect();
    if scopes.is_empty() {
        return Err(SessionRefusal::ParentInactive);
    }
    // A session never outlives a credential the parent may have been signed in with: during a
    // roll's grace period the rolled-away secret (and its tokens) still work until it ends,
    // and a roll may mean the secret leaked.
    let mut until = now + lifetime;
    if let Some(grace) = parent.secrets.previous_until.filter(|t| *t > now) {
        until = until.min(grace);
    }
    let expires_at = Some(parent.expires_at.map_or(until, |e| e.min(until)));
    Ok(SessionPlan {
        valid: ValidKey {
            name: name_for(&parent.name),
            scopes,
            ip_rules: parent.ip_rules.clone(),
            expires_at,
            attributes: KeyAttributes::default(),
        },
        parent_key_id: parent.id.clone(),
    })
}

/// `console session for <parent name>`, cut to the longest name a key may have (the parent's
/// name alone may already be that long), with `…` where it was cut.
pub fn name_for(parent_name: &str) -> String {
    let full = format!("{NAME_PREFIX}{parent_name}");
    if full.chars().count() <= NAME_MAX_CHARS {
        return full;
    }
    let mut cut: String = full.chars().take(NAME_MAX_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// Whether a change of the parent from `before` to `after` ends its sessions (rule 4): any
/// change of its scopes, addresses or expiry, or of the credentials it signs in with (public
/// keys, JWKS URL, trusted workloads: replacing one is what a roll is to a secret). Even a
/// narrowing or a longer expiry: the rule is that a session never holds what its parent no
/// longer does, and re-deriving each session field by field would be a second copy of rules
/// 1–3; signing in again is cheap.
pub fn ends_sessions(before: &Key, after: &Key) -> bool {
    let (b, a) = (&before.attributes, &after.attributes);
    before.scopes != after.scopes
        || before.ip_rules != after.ip_rules
        || before.expires_at != after.expires_at
        || b.public_keys != a.public_keys
        || b.jwks_uri != a.jwks_uri
        || b.federated_credentials != a.federated_credentials
        || b.secret != a.secret
}

/// Whether `actor_session_parent` (the key whose session acts, if any) may roll `target`, or
/// make a change of it that ends sessions (`ParentGuarded`).
pub fn guard_parent(
    actor_session_parent: Option<&str>,
    target: &str,
) -> Result<(), SessionRefusal> {
    if actor_session_parent == Some(target) {
        Err(SessionRefusal::ParentGuarded)
    } else {
        Ok(())
    }
}

/// A console session's key may only be revoked (rule 5).
pub fn editable(key: &Key) -> Result<(), SessionRefusal> {
    match key.kind {
        KeyKind::Standard => Ok(()),
        KeyKind::ConsoleSession => Err(SessionRefusal::NotEditable),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::ip_rules::IpRules;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn scopes(list: &[&str]) -> Vec<Scope> {
        list.iter().map(|s| Scope::parse(s).unwrap()).collect()
    }

    fn parent() -> Key {
        Key {
            name: "ops admin".into(),
            scopes: scopes(&["admin:keys", "read:projects/**"]),
            ip_rules: IpRules::from_canonical(&["10.0.0.0/8".into()]).unwrap(),
            ..Key::fixture("key_parent", now())
        }
    }

    fn eight_hours() -> Duration {
        lifetime(None).unwrap()
    }

    #[test]
    fn a_session_has_the_callers_scopes_and_the_parents_addresses() {
        let p = parent();
        let token_scopes = scopes(&["read:projects/42"]);
        let plan = plan(&p, &token_scopes, eight_hours(), now()).unwrap();
        assert_eq!(
            plan.valid.scopes, token_scopes,
            "a down-scoped token's, not the key's"
        );
        assert_eq!(plan.valid.ip_rules, p.ip_rules);
        assert_eq!(plan.valid.attributes, KeyAttributes::default());
        assert_eq!(plan.valid.name, "console session for ops admin");
        let key = plan.into_key("key_s".into(), "org_a", "lk_…wxyz".into(), now());
        assert_eq!(key.kind, KeyKind::ConsoleSession);
        assert_eq!(key.session_parent(), Some("key_parent"));
    }

    #[test]
    fn scopes_the_parent_no_longer_covers_are_not_granted() {
        let p = parent();
        let stale = scopes(&["read:projects/**", "write:projects/1"]);
        let plan = plan(&p, &stale, eight_hours(), now()).unwrap();
        assert_eq!(plan.valid.scopes, scopes(&["read:projects/**"]));
        assert_eq!(
            super::plan(&p, &scopes(&["*:*"]), eight_hours(), now()),
            Err(SessionRefusal::ParentInactive),
            "nothing left to grant"
        );
    }

    #[test]
    fn a_session_ends_no_later_than_eight_hours_or_its_parent() {
        let mut p = parent();
        let s = p.scopes.clone();
        let at = |p: &Key, life| plan(p, &s, life, now()).unwrap().valid.expires_at;
        assert_eq!(at(&p, eight_hours()), Some(now() + Duration::hours(8)));
        assert_eq!(
            at(&p, lifetime(Some(60)).unwrap()),
            Some(now() + Duration::seconds(60))
        );
        p.expires_at = Some(now() + Duration::hours(1));
        assert_eq!(at(&p, eight_hours()), p.expires_at);
        p.expires_at = Some(now());
        assert_eq!(
            plan(&p, &s, eight_hours(), now()),
            Err(SessionRefusal::ParentInactive)
        );
    }

    #[test]
    fn the_lifetime_asked_for_is_one_second_to_eight_hours() {
        assert_eq!(lifetime(Some(1)).unwrap(), Duration::seconds(1));
        assert_eq!(lifetime(Some(28_800)).unwrap(), Duration::hours(8));
        for bad in [0, -1, 28_801, i64::MAX] {
            assert_eq!(lifetime(Some(bad)).unwrap_err().field, "expires_in");
        }
    }

    #[test]
    fn sessions_do_not_nest_and_need_a_live_parent() {
        let mut p = parent();
        let s = p.scopes.clone();
        p.kind = KeyKind::ConsoleSession;
        p.parent_key_id = Some("key_grandparent".into());
        assert_eq!(
            plan(&p, &s, eight_hours(), now()),
            Err(SessionRefusal::Nested)
        );
        let mut p = parent();
        p.revoked_at = Some(now());
        assert_eq!(
            plan(&p, &s, eight_hours(), now()),
            Err(SessionRefusal::ParentInactive)
        );
    }

    #[test]
    fn a_long_parent_name_is_cut_to_a_valid_key_name() {
        let long = "n".repeat(NAME_MAX_CHARS);
        let name = name_for(&long);
        assert_eq!(name.chars().count(), NAME_MAX_CHARS);
        assert!(name.starts_with(NAME_PREFIX) && name.ends_with('…'));
        let fits = "x".repeat(NAME_MAX_CHARS - NAME_PREFIX.len());
        assert_eq!(name_for(&fits), format!("{NAME_PREFIX}{fits}"));
    }

    #[test]
    fn changing_what_bounds_a_session_ends_it_and_nothing_else_does() {
        let before = parent();
        let mut renamed = before.clone();
        renamed.name = "renamed".into();
        renamed
            .attributes
            .metadata
            .insert("team".into(), "ops".into());
        assert!(!ends_sessions(&before, &renamed));
        let mut narrowed = before.clone();
        narrowed.scopes.pop();
        assert!(ends_sessions(&before, &narrowed));
        let mut moved = before.clone();
        moved.ip_rules = IpRules::default();
        assert!(ends_sessions(&before, &moved));
        let mut extended = before.clone();
        extended.expires_at = Some(now() + Duration::days(1));
        assert!(ends_sessions(&before, &extended));
        // A credential replaced is what a roll is to a secret.
        let mut rekeyed = before.clone();
        rekeyed.attributes.jwks_uri = Some("https://ci.example.com/jwks".into());
        assert!(ends_sessions(&before, &rekeyed));
    }

    #[test]
    fn a_session_may_not_roll_or_rebound_its_own_parent() {
        assert_eq!(
            guard_parent(Some("key_p"), "key_p"),
            Err(SessionRefusal::ParentGuarded)
        );
        assert_eq!(guard_parent(Some("key_p"), "key_other"), Ok(()));
        assert_eq!(guard_parent(None, "key_p"), Ok(()));
    }

    #[test]
    fn a_session_started_during_a_grace_period_ends_with_it() {
        let mut p = parent();
        let grace_end = now() + Duration::minutes(1);
        p.secrets.previous_until = Some(grace_end);
        let plan = plan(&p, &p.scopes, Duration::hours(8), now()).unwrap();
        assert_eq!(plan.valid.expires_at, Some(grace_end));
    }

    #[test]
    fn only_standard_keys_are_editable() {
        let mut k = parent();
        assert_eq!(editable(&k), Ok(()));
        k.kind = KeyKind::ConsoleSession;
        assert_eq!(editable(&k), Err(SessionRefusal::NotEditable));
    }
}
