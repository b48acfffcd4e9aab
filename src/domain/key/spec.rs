//! What callers set on a key: the request bodies of create and PATCH, loosely typed so that
//! every problem is reported with its field path; their validation; and the typed patch that
//! applies a valid PATCH to a [`Key`].
//!
//! A new attribute of a key lives here, whole: its field in [`KeyDraft`] and [`KeyPatch`], its
//! stored form in [`KeyAttributes`] (kept as one JSON document per key, so no column or store
//! change is needed), its check in `check_attributes`, and its line in [`ValidPatch::apply`].
//! The API view shows [`KeyAttributes`] as they are (flattened into the key object).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::standing::{Changes, key_management_warning};
use super::{Key, KeyKind, MAX_SCOPES, NAME_MAX_CHARS, Secrets};
use crate::domain::federation::{
    FederatedCredential, MAX_FIELD_CHARS, UrlKind, check_federated, check_url,
};
use crate::domain::ip_rules::IpRules;
use crate::domain::limits::{Quota, RateLimit, check_quota, check_rate_limits};
use crate::domain::public_jwk::{PublicJwk, check_public_keys};
use crate::domain::scope::{Action, ResourceFilter, Scope};
use crate::domain::{FieldError, Warning};

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
    /// Free-form JSON object for your own use (owner, plan, customer id…), at most 4 KiB
    /// serialised. Returned with the key, by `/v1/check` and by introspection; never put in
    /// tokens.
    #[schema(value_type = Option<Object>, example = json!({"team": "billing", "tier": 2}))]
    pub metadata: Option<Value>,
    /// Up to 5 limits `{name, limit, window_seconds}` (name defaults to `default`, unique;
    /// `limit` 1–1,000,000,000; `window_seconds` 1–86,400), each counted in fixed windows aligned
    /// on the epoch. A token issued costs 1 of every limit; a `/v1/check` its `cost`.
    #[schema(value_type = Option<Vec<RateLimit>>)]
    pub rate_limits: Option<Value>,
    /// `null` (unlimited) or `{remaining, refill}`: credits spent like the rate limits, and how
    /// they come back (`refill`: `null`, or `{amount, interval: daily|monthly, day_of_month?}`).
    #[schema(value_type = Option<Quota>)]
    pub quota: Option<Value>,
    /// Up to 5 public JWKs (Ed25519 `OKP`, P-256 `EC`, RSA of 2048 bits or more, each with a
    /// `kid`; never a private member) the key's client may sign RFC 7523 `private_key_jwt`
    /// assertions with.
    #[schema(value_type = Option<Vec<Object>>)]
    pub public_keys: Option<Value>,
    /// An https URL of a JWKS holding the key's public keys, fetched when an assertion names a
    /// `kid` the key does not hold (at most once a second) and cached by its `Cache-Control`.
    #[schema(value_type = Option<String>, format = "uri")]
    pub jwks_uri: Option<Value>,
    /// Up to 10 workloads `{issuer, subject, audience, jwks_uri?}` whose tokens the key
    /// accepts as its client assertion (workload identity federation); `subject` may be a glob
    /// with `*`.
    #[schema(value_type = Option<Vec<FederatedCredential>>)]
    pub federated_credentials: Option<Value>,
    /// `false`: the key gets no secret at all and authenticates only with a client assertion
    /// (it then needs `public_keys`, `jwks_uri` or `federated_credentials`). Default `true`.
    #[schema(value_type = Option<bool>)]
    pub secret: Option<Value>,
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
    /// Replaces the whole object; `null` or `{}` removes every member.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
    /// Replaces every rate limit; `null` or `[]` removes them. Counting starts over for a
    /// limit whose name or window changed.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<RateLimit>>)]
    pub rate_limits: Option<Option<Value>>,
    /// `null` removes the quota. With `remaining`, sets the credits (as `{"set": n}` would);
    /// without it, keeps them and changes only the refill (the key must have a quota).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Quota>)]
    pub quota: Option<Option<Value>>,
    /// Replaces the public keys; `null` or `[]` removes them (not from a key without a secret).
    /// Needs standing over the key, as a roll does: a public key is a credential of it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub public_keys: Option<Option<Value>>,
    /// Replaces the JWKS URL; `null` removes it. Needs standing, as `public_keys` does.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = "uri")]
    pub jwks_uri: Option<Option<Value>>,
    /// Replaces every federated credential; `null` or `[]` removes them. Needs standing, as
    /// `public_keys` does.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<FederatedCredential>>)]
    pub federated_credentials: Option<Option<Value>>,
}

/// Distinguishes "field absent" (outer None, via `default`) from "field is null".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The attributes of a key beyond its identity, scopes, addresses and expiry, stored together
/// as one JSON document (a missing member reads as its default, so adding one needs no
/// migration) and shown as they are in the key object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct KeyAttributes {
    /// Free-form JSON object set by the key's owners (at most 4 KiB serialised); `{}` when none.
    #[schema(value_type = Object, example = json!({"team": "billing", "tier": 2}))]
    pub metadata: Metadata,
    /// Rate limits, counted in fixed windows (`domain::limits`); `[]` when none.
    pub rate_limits: Vec<RateLimit>,
    /// The usage quota; `null` when unlimited. Its credits are counted apart (`store::limits`).
    pub quota: Option<Quota>,
    /// Public JWKs for `private_key_jwt` client authentication (RFC 7523); `[]` when none.
    #[schema(value_type = Vec<Object>)]
    pub public_keys: Vec<PublicJwk>,
    /// A JWKS URL of more public keys for `private_key_jwt`; `null` when none.
    pub jwks_uri: Option<String>,
    /// Workloads whose tokens the key accepts as client assertions; `[]` when none.
    pub federated_credentials: Vec<FederatedCredential>,
    /// Whether the key has a secret; `false` for a key created with `"secret": false`, which
    /// authenticates only with a client assertion.
    #[serde(default = "has_secret")]
    pub secret: bool,
}

fn has_secret() -> bool {
    true
}

impl Default for KeyAttributes {
    fn default() -> Self {
        KeyAttributes {
            metadata: Metadata::new(),
            rate_limits: Vec::new(),
            quota: None,
            public_keys: Vec::new(),
            jwks_uri: None,
            federated_credentials: Vec::new(),
            secret: true,
        }
    }
}

impl KeyAttributes {
    /// Whether a use of the key is counted against a limit or a quota at all.
    pub fn is_limited(&self) -> bool {
        !self.rate_limits.is_empty() || self.quota.is_some()
    }

    /// Whether the key can authenticate with a client assertion: it holds a public key, a JWKS
    /// URL or a federated credential. A key without a secret must.
    pub fn takes_assertions(&self) -> bool {
        !self.public_keys.is_empty()
            || self.jwks_uri.is_some()
            || !self.federated_credentials.is_empty()
    }
}

/// Largest `metadata`, serialised as compact JSON.
pub const METADATA_MAX_BYTES: usize = 4096;

/// A key's metadata: a JSON object.
pub type Metadata = serde_json::Map<String, Value>;

/// A PATCH of [`KeyAttributes`]: per attribute, absent (`None`) leaves it alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributesPatch {
    pub metadata: Option<Metadata>,
    pub rate_limits: Option<Vec<RateLimit>>,
    /// `Some(None)` removes the quota; a quota without `remaining` keeps the credits.
    pub quota: Option<Option<Quota>>,
    pub public_keys: Option<Vec<PublicJwk>>,
    /// `Some(None)` removes the JWKS URL.
    pub jwks_uri: Option<Option<String>>,
    pub federated_credentials: Option<Vec<FederatedCredential>>,
}

/// A create request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub ip_rules: IpRules,
    pub expires_at: Option<DateTime<Utc>>,
    pub attributes: KeyAttributes,
}

impl ValidKey {
    /// The new key, with its id and its secret's hint.
    pub fn into_key(
        self,
        id: String,
        org_id: &str,
        secret_hint: String,
        now: DateTime<Utc>,
    ) -> Key {
        Key {
            id,
            org_id: org_id.to_owned(),
            name: self.name,
            scopes: self.scopes,
            ip_rules: self.ip_rules,
            expires_at: self.expires_at,
            attributes: self.attributes,
            created_at: now,
            revoked_at: None,
            last_used_at: None,
            last_used_ip: None,
            leaked_at: None,
            secret_hint,
            secrets: Secrets::default(),
            kind: KeyKind::Standard,
            parent_key_id: None,
        }
    }
}

/// A PATCH that passed validation: `None` leaves a field alone; for `expires_at`, `Some(None)`
/// removes the expiry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<Scope>>,
    pub ip_rules: Option<IpRules>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
    pub attributes: AttributesPatch,
}

impl ValidPatch {
    /// What this patch changes that standing is about (`standing::patch_standing_errors`).
    pub fn changes(&self) -> Changes<'_> {
        Changes {
            scopes: self.scopes.is_some(),
            ip_rules: self.ip_rules.as_ref(),
            expires_at: self.expires_at,
            credentials: [
                ("public_keys", self.attributes.public_keys.is_some()),
                ("jwks_uri", self.attributes.jwks_uri.is_some()),
                (
                    "federated_credentials",
                    self.attributes.federated_credentials.is_some(),
                ),
            ]
            .into_iter()
            .find_map(|(field, set)| set.then_some(field)),
        }
    }

    /// The key as this patch leaves it.
    pub fn apply(&self, key: &mut Key) {
        if let Some(name) = &self.name {
            key.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            key.scopes = scopes.clone();
        }
        if let Some(rules) = &self.ip_rules {
            key.ip_rules = rules.clone();
        }
        if let Some(expires_at) = self.expires_at {
            key.expires_at = expires_at;
        }
        if let Some(metadata) = &self.attributes.metadata {
            key.attributes.metadata = metadata.clone();
        }
        if let Some(limits) = &self.attributes.rate_limits {
            key.attributes.rate_limits = limits.clone();
        }
        if let Some(quota) = &self.attributes.quota {
            key.attributes.quota = quota.clone();
        }
        if let Some(keys) = &self.attributes.public_keys {
            key.attributes.public_keys = keys.clone();
        }
        if let Some(uri) = &self.attributes.jwks_uri {
            key.attributes.jwks_uri = uri.clone();
        }
        if let Some(credentials) = &self.attributes.federated_credentials {
            key.attributes.federated_credentials = credentials.clone();
        }
    }
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
    if draft.allowed_cidrs.as_deref().is_none_or(<[_]>::is_empty) {
        warnings.push(anywhere_warning());
    }
    let expires_at = draft
        .expires_at
        .as_deref()
        .and_then(|e| check_expiry(e, now, &mut errors));
    let attributes = check_attributes(draft, &mut errors, &mut warnings);
    match (name, scopes, ip_rules) {
        (Some(name), Some(scopes), Some(ip_rules)) if errors.is_empty() => Ok((
            ValidKey {
                name,
                scopes,
                ip_rules,
                expires_at,
                attributes,
            },
            warnings,
        )),
        _ => Err(errors),
    }
}

/// The attributes of a create request.
fn check_attributes(
    draft: &KeyDraft,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> KeyAttributes {
    let mut attributes = KeyAttributes {
        metadata: draft
            .metadata
            .as_ref()
            .and_then(|m| check_metadata(m, errors))
            .unwrap_or_default(),
        rate_limits: draft
            .rate_limits
            .as_ref()
            .and_then(|l| check_rate_limits(l, errors))
            .unwrap_or_default(),
        quota: draft
            .quota
            .as_ref()
            .and_then(|q| check_quota(q, false, errors))
            .flatten(),
        public_keys: draft
            .public_keys
            .as_ref()
            .and_then(|k| check_public_keys(k, errors))
            .unwrap_or_default(),
        jwks_uri: draft
            .jwks_uri
            .as_ref()
            .and_then(|u| check_jwks_uri(u, errors, warnings))
            .flatten(),
        federated_credentials: draft
            .federated_credentials
            .as_ref()
            .and_then(|c| check_federated(c, errors, warnings))
            .unwrap_or_default(),
        secret: true,
    };
    match &draft.secret {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            attributes.secret = false;
            if !attributes.takes_assertions() && errors.is_empty() {
                errors.push(no_credential_error());
            }
        }
        Some(_) => errors.push(FieldError::new("secret", "must be true or false")),
    }
    attributes
}

/// A key without a secret and without any other way to authenticate.
pub fn no_credential_error() -> FieldError {
    FieldError::new(
        "public_keys",
        "a key without a secret needs a public key, a jwks_uri or a federated credential to authenticate with",
    )
}

/// `jwks_uri`: `null` (none) or a URL, as an issuer's (`federation::check_url`).
fn check_jwks_uri(
    value: &Value,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> Option<Option<String>> {
    match value {
        Value::Null => Some(None),
        Value::String(u) if u.chars().count() > MAX_FIELD_CHARS => {
            errors.push(FieldError::new(
                "jwks_uri",
                format!("must be at most {MAX_FIELD_CHARS} characters"),
            ));
            None
        }
        Value::String(u) => {
            check_url(u, UrlKind::Document, "jwks_uri", errors, warnings).then(|| Some(u.clone()))
        }
        _ => {
            errors.push(FieldError::new("jwks_uri", "must be an https URL or null"));
            None
        }
    }
}

/// The attributes a PATCH changes.
fn check_attributes_patch(
    patch: &KeyPatch,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<Warning>,
) -> AttributesPatch {
    AttributesPatch {
        metadata: match &patch.metadata {
            None => None,
            Some(None) => Some(Metadata::new()),
            Some(Some(m)) => check_metadata(m, errors),
        },
        rate_limits: match &patch.rate_limits {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(l)) => check_rate_limits(l, errors),
        },
        quota: match &patch.quota {
            None => None,
            Some(None) => Some(None),
            Some(Some(q)) => check_quota(q, true, errors),
        },
        public_keys: match &patch.public_keys {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(k)) => check_public_keys(k, errors),
        },
        jwks_uri: match &patch.jwks_uri {
            None => None,
            Some(None) => Some(None),
            Some(Some(u)) => check_jwks_uri(u, errors, warnings),
        },
        federated_credentials: match &patch.federated_credentials {
            None => None,
            Some(None) => Some(Vec::new()),
            Some(Some(c)) => check_federated(c, errors, warnings),
        },
    }
}

/// `metadata`: a JSON object (`null` means none) of at most [`METADATA_MAX_BYTES`] serialised.
/// Any JSON inside; NUL and other control characters are escaped by the serialisation, so
/// every value stores on both databases as it came.
fn check_metadata(value: &Value, errors: &mut Vec<FieldError>) -> Option<Metadata> {
    match value {
        Value::Null => Some(Metadata::new()),
        Value::Object(map) => {
            let size = serde_json::to_string(map).map_or(usize::MAX, |s| s.len());
            if size > METADATA_MAX_BYTES {
                errors.push(FieldError::new(
                    "metadata",
                    format!("is {size} bytes as JSON; the maximum is {METADATA_MAX_BYTES}"),
                ));
                return None;
            }
            Some(map.clone())
        }
        _ => {
            errors.push(FieldError::new(
                "metadata",
                "must be a JSON object, such as {\"team\": \"billing\"}",
            ));
            None
        }
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
        if c.as_deref().is_none_or(<[_]>::is_empty) {
            warnings.push(anywhere_warning());
        }
    }
    if let Some(e) = &patch.expires_at {
        valid.expires_at = match e {
            None => Some(None),
            Some(text) => check_expiry(text, now, &mut errors).map(Some),
        };
    }
    valid.attributes = check_attributes_patch(patch, &mut errors, &mut warnings);
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

/// No allow-list means every address (SPEC: omitted or empty = `0.0.0.0/0` + `::/0`), and
/// that is flagged as the explicit wildcard ranges are: a leaked secret works from anywhere.
fn anywhere_warning() -> Warning {
    Warning {
        code: "wildcard_cidr",
        field: "allowed_cidrs".to_owned(),
        message: "no allowed_cidrs: the key may be used from every IPv4 and IPv6 address; list \
                  the networks it is used from to limit where a leaked secret works"
            .to_owned(),
    }
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
#[path = "spec_tests.rs"]
mod tests;
