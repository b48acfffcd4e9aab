//! The key object of the API, built from the domain [`Key`] in one place. It has no secret and
//! no digest, by construction: the domain key has neither.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::key::{Key, KeyAttributes, KeyKind, KeyStatus};
use crate::domain::scope::{Action, Scope};

/// A scope in object form: an action over a resource filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Scope)]
pub struct ScopeView {
    #[schema(value_type = Action)]
    pub action: &'static str,
    /// `*` for every resource, or `/`-separated segments where `*` is one segment and a final
    /// `**` any number of them, e.g. `projects/42/**`: at most 32 segments, each `*`, `**` or
    /// 1–128 characters of `[A-Za-z0-9._~-]`; empty means `*`. (The pattern states
    /// `domain::scope::ResourceFilter::parse`; the document's wire-form scopes reuse it.)
    #[schema(
        example = "projects/42/**",
        pattern = r"^(((\*|[A-Za-z0-9._~-]{1,128})/){0,31}(\*\*?|[A-Za-z0-9._~-]{1,128}))?$",
        max_length = 512
    )]
    pub resource: String,
}

impl From<&Scope> for ScopeView {
    fn from(s: &Scope) -> Self {
        ScopeView {
            action: s.action.as_str(),
            resource: s.resource.to_string(),
        }
    }
}

/// The key object of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Key)]
pub struct KeyView {
    /// Public id, also the OAuth `client_id` (empty in a dry-run preview).
    #[schema(example = "key_8fQx2mWc0r9ZtLkP")]
    pub id: String,
    pub name: String,
    pub status: KeyStatus,
    /// `standard`, or `console_session` for a web-console session's key (listed only when asked
    /// for: `GET /v1/keys?kind=console_session`).
    pub kind: KeyKind,
    /// For a console session: the key that started it, which bounds it; null for standard keys.
    pub parent_key_id: Option<String>,
    pub scopes: Vec<ScopeView>,
    /// Canonical networks the key may be used from; empty means anywhere.
    pub allowed_cidrs: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// The secret's prefix and last characters, to recognise it (`lk_…9fQx`).
    #[schema(example = "lk_…9fQx")]
    pub secret_hint: String,
    /// After a roll with a grace period: when the previous secret stops working (else null).
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// When a secret of this key was reported leaked and the key flagged rather than revoked
    /// (its org's `leak_policy` is `notify`); roll it. Null otherwise.
    pub leaked_at: Option<DateTime<Utc>>,
    /// Every other attribute of the key, as set (`domain::key::KeyAttributes`).
    #[serde(flatten)]
    pub attributes: KeyAttributes,
}

impl KeyView {
    /// The key as the API shows it at `now` (its status and grace period depend on the time).
    pub fn of(key: &Key, now: DateTime<Utc>) -> Self {
        KeyView {
            id: key.id.clone(),
            name: key.name.clone(),
            status: key.status(now),
            kind: key.kind,
            parent_key_id: key.parent_key_id.clone(),
            scopes: key.scopes.iter().map(ScopeView::from).collect(),
            allowed_cidrs: key.ip_rules.to_strings(),
            expires_at: key.expires_at,
            created_at: key.created_at,
            revoked_at: key.revoked_at,
            last_used_at: key.last_used_at,
            secret_hint: key.secret_hint.clone(),
            previous_secret_expires_at: key.secrets.previous_until.filter(|t| *t > now),
            leaked_at: key.leaked_at,
            attributes: key.attributes.clone(),
        }
    }

    /// What the audit trail records of a key: what callers set, scopes in their wire form.
    pub fn audited(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        for derived in [
            "id",
            "status",
            "created_at",
            "revoked_at",
            "last_used_at",
            "secret_hint",
            "previous_secret_expires_at",
            "leaked_at",
        ] {
            fields.remove(derived);
        }
        let wire: Vec<String> = self
            .scopes
            .iter()
            .map(|s| format!("{}:{}", s.action, s.resource))
            .collect();
        fields.insert("scopes".into(), serde_json::json!(wire));
        fields
    }
}
