//! `POST /v1/signing-keys/rotate` and `latchkey signing-keys rotate`: promote the next key,
//! stage a next key of another algorithm, or replace a compromised key at once
//! (`domain::signing_key::rotation` decides which; this writes it).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Roles, RotationWindows, SigningKeyView, generate, later, not_bootstrapped};
use crate::crypto::MasterKey;
use crate::crypto::signing::SigningAlg;
use crate::domain::signing_key::rotation::{KeyRef, Kind, OrgKeys, Rotation};
use crate::domain::signing_key::{self, KeyTimes, SigningKeyStatus};
use crate::domain::{FieldError, Warning};
use crate::service::actor::Actor;
use crate::service::{ServiceError, ServiceResult, audit};
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection};

/// What the caller asks of a rotation.
#[derive(Debug, Clone, Default)]
pub struct RotateRequest {
    /// `EdDSA`, `RS256` or `ES256`; unchecked text until [`rotate`] parses it.
    pub alg: Option<String>,
    /// Replace the current key at once with a fresh one (a compromised key).
    pub immediate: bool,
}

/// A rotation that changed the signing key at once (201): the key that signs from now on, the
/// one it retired, and the new next key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rotated {
    pub signing_key: SigningKeyView,
    pub retired: SigningKeyView,
    /// The next key, published now, promoted by the next rotation without `alg`.
    pub next: SigningKeyView,
    /// What the caller should know: `verifiers_may_refuse` (an immediate rotation: caching
    /// verifiers refuse the new key's tokens until their JWKS copy expires),
    /// `retired_key_unpublished_early`, `next_key_recently_published`.
    pub warnings: Vec<Warning>,
}

/// A staged rotation (202): the next key, published now, signs from its `activates_at`, when
/// every node switches to it by itself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Staged {
    pub next: SigningKeyView,
}

/// A rotation's answer: 201 or 202.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum RotateOutcome {
    Rotated(Box<Rotated>),
    Staged(Staged),
}

/// Rotates the org's signing key as [`Rotation::decide`] says, in one transaction holding the
/// org's row lock (so rotations of one org, on any node, run one after the other), and records
/// `signing_key.rotated` with what happened.
///
/// `clock` is read once the lock is held, and never earlier than the newest of the org's keys
/// was made: a rotation that waited for another one judges the keys as that one left them (a
/// time read before the wait would see the key it promoted as still to come).
///
/// A promotion or a staged rotation that would give the org more than
/// `MAX_PUBLISHED_SIGNING_KEYS` published keys is refused; an immediate one never is: it takes
/// the retired keys that would leave first out of the JWKS now, and says so.
pub fn rotate(
    conn: &mut DbConnection,
    master: &MasterKey,
    actor: &Actor,
    request: &RotateRequest,
    windows: RotationWindows,
    clock: &dyn Fn() -> DateTime<Utc>,
) -> ServiceResult<RotateOutcome> {
    let org_id = actor.org_id.as_str();
    let alg = match request.alg.as_deref() {
        Some(text) => Some(
            SigningAlg::parse(text)
                .map_err(|m| ServiceError::Validation(vec![FieldError::new("alg", m)]))?,
        ),
        None => None,
    };
    let first = clock();
    Instants::new(first, windows)?;
    // A first look, so that a full org costs no key generation and the keys are generated
    // outside the transaction; what decides is the look under the org's lock below.
    let keys = store::signing_keys::list_published_for_org(conn, org_id, first)?;
    let rotation = decide(conn, org_id, &keys, alg, request.immediate, first)?;
    if !request.immediate {
        room(&keys, &rotation, first)?;
    }
    let mut fresh = Fresh::new(master, org_id);
    fresh.prepare(&rotation, first)?;
    store::write_tx(conn, |conn| {
        if !store::signing_keys::lock_org(conn, org_id)? {
            return Err(ServiceError::OrgNotFound(org_id.to_owned()));
        }
        // Counted under the org's row lock, so two rotations of one org can never both take
        // the last place: on PostgreSQL a second rotation waits at that lock until this
        // transaction ends, and its look, a fresh snapshot in READ COMMITTED, then includes
        // what this one wrote; on SQLite `BEGIN IMMEDIATE` runs writers one at a time.
        let read_at = clock();
        let keys = store::signing_keys::list_published_for_org(conn, org_id, read_at)?;
        let now = keys
            .iter()
            .map(|k| k.created_at)
            .fold(read_at, DateTime::max);
        let rotation = decide(conn, org_id, &keys, alg, request.immediate, now)?;
        if !request.immediate {
            room(&keys, &rotation, now)?;
        }
        let at = Instants::new(now, windows)?;
        let (outcome, details) = apply(conn, &keys, &rotation, &mut fresh, at, windows)?;
        let target = match &outcome {
            RotateOutcome::Rotated(r) => &r.signing_key.kid,
            RotateOutcome::Staged(s) => &s.next.kid,
        };
        audit::record(
            conn,
            actor,
            audit::action::SIGNING_KEY_ROTATED,
            target,
            details.clone(),
            now,
        )?;
        let event = crate::service::webhooks::Event {
            kind: crate::domain::webhook::EventType::SigningKeyRotated,
            ordering_key: format!("signing-keys:{org_id}"),
            data: serde_json::json!({ "rotation": outcome, "details": details }),
        };
        crate::service::webhooks::publish(conn, org_id, &event, now)?;
        Ok(outcome)
    })
}

/// The instants a rotation writes.
#[derive(Debug, Clone, Copy)]
struct Instants {
    now: DateTime<Utc>,
    /// When a key retired now leaves the JWKS.
    retired_until: DateTime<Utc>,
    /// When a staged key starts signing.
    staged: DateTime<Utc>,
    /// When the key a staged one replaces leaves the JWKS.
    staged_retired_until: DateTime<Utc>,
}

impl Instants {
    fn new(now: DateTime<Utc>, windows: RotationWindows) -> ServiceResult<Self> {
        let staged = later(now, windows.prepublish, "jwks_max_age")?;
        Ok(Instants {
            now,
            retired_until: later(now, windows.retire, "token_ttl")?,
            staged,
            staged_retired_until: later(staged, windows.retire, "token_ttl")?,
        })
    }
}

fn decide(
    conn: &mut DbConnection,
    org_id: &str,
    keys: &[StoredSigningKey],
    alg: Option<SigningAlg>,
    immediate: bool,
    now: DateTime<Utc>,
) -> ServiceResult<Rotation> {
    fn key_ref(k: &StoredSigningKey) -> KeyRef<'_> {
        KeyRef {
            kid: &k.kid,
            alg: &k.alg,
        }
    }
    let roles = Roles::of(keys, now);
    let Some(current) = roles.current else {
        return Err(not_bootstrapped(conn, org_id));
    };
    let org = OrgKeys {
        current: key_ref(current),
        staged: roles.staged.map(key_ref),
        pending: roles.pending.map(key_ref),
    };
    Ok(Rotation::decide(
        org,
        alg.map(SigningAlg::as_str),
        immediate,
    ))
}

/// Refuses a rotation that would give the org more than `MAX_PUBLISHED_SIGNING_KEYS`.
fn room(keys: &[StoredSigningKey], rotation: &Rotation, now: DateTime<Utc>) -> ServiceResult<()> {
    let Ok(adding @ 1..) = usize::try_from(rotation.adding()) else {
        return Ok(());
    };
    let leaving: Vec<_> = keys.iter().map(|k| k.times.unpublish_at).collect();
    signing_key::room_for(&leaving, adding, now).map_err(ServiceError::TooManySigningKeys)
}

/// Writes `rotation`; returns the answer and the audit details.
fn apply(
    conn: &mut DbConnection,
    keys: &[StoredSigningKey],
    rotation: &Rotation,
    fresh: &mut Fresh<'_>,
    at: Instants,
    windows: RotationWindows,
) -> ServiceResult<(RotateOutcome, serde_json::Value)> {
    let now = at.now;
    let roles = Roles::of(keys, now);
    let Some(current) = roles.current else {
        return Err(ServiceError::Crypto("no current signing key".into()));
    };
    let mut current = current.clone();
    for kid in &rotation.replaces {
        // It never signed: out of the JWKS now, and never to activate.
        let gone = KeyTimes {
            unpublish_at: Some(now),
            ..KeyTimes::default()
        };
        store::signing_keys::set_times(conn, kid, &gone)?;
    }
    let alg = rotation.alg.as_str();
    let mut details = serde_json::json!({
        "outcome": rotation.outcome(), "alg": alg, "replaced_kids": rotation.replaces,
    });
    let pending = if rotation.new_pending {
        let pending = fresh.take(alg, now, KeyTimes::default())?;
        store::signing_keys::insert(conn, &pending)?;
        pending
    } else {
        match roles.pending {
            Some(kept) => kept.clone(),
            None => return Err(ServiceError::Crypto("no next signing key left".into())),
        }
    };
    details["next_kid"] = pending.kid.clone().into();
    let mut warnings = Vec::new();
    let signing = match &rotation.kind {
        Kind::Stage => {
            let staged = fresh.take(alg, now, KeyTimes::from(at.staged))?;
            store::signing_keys::insert(conn, &staged)?;
            // The current key stops signing at the very instant the staged one starts, and its
            // window is reckoned from then.
            current.times.retired_at = Some(at.staged);
            current.times.unpublish_at = Some(at.staged_retired_until);
            store::signing_keys::set_times(conn, &current.kid, &current.times)?;
            audit_keys(&mut details, &staged, &current);
            let next = SigningKeyView::new(&staged, now)?;
            return Ok((RotateOutcome::Staged(Staged { next }), details));
        }
        Kind::Promote { kid } => {
            let Some(next) = keys.iter().find(|k| &k.kid == kid) else {
                return Err(ServiceError::Crypto(format!("no next signing key {kid}")));
            };
            let mut promoted = next.clone();
            warnings.extend(recently_published(&promoted, windows, now));
            promoted.times = KeyTimes::from(now);
            store::signing_keys::set_times(conn, &promoted.kid, &promoted.times)?;
            promoted
        }
        Kind::Immediate => {
            warnings.push(immediate_warning(windows));
            let published = keys.len() - rotation.replaces.len();
            let early = unpublish_early(conn, keys, &current.kid, published, rotation, now)?;
            warnings.extend(early.iter().map(unpublished_early_warning));
            let early: Vec<&str> = early.iter().map(|k| k.kid.as_str()).collect();
            details["unpublished_early"] = early.into();
            let signing = fresh.take(alg, now, KeyTimes::from(now))?;
            store::signing_keys::insert(conn, &signing)?;
            signing
        }
    };
    current.times.retired_at = Some(now);
    current.times.unpublish_at = Some(at.retired_until);
    store::signing_keys::set_times(conn, &current.kid, &current.times)?;
    audit_keys(&mut details, &signing, &current);
    let rotated = Rotated {
        signing_key: SigningKeyView::new(&signing, now)?,
        retired: SigningKeyView::new(&current, now)?,
        next: SigningKeyView::new(&pending, now)?,
        warnings,
    };
    Ok((RotateOutcome::Rotated(Box::new(rotated)), details))
}

/// The audit details of the key that signs next and of the one it retires.
fn audit_keys(
    details: &mut serde_json::Value,
    signing: &StoredSigningKey,
    retiring: &StoredSigningKey,
) {
    details["kid"] = signing.kid.clone().into();
    details["activates_at"] = serde_json::json!(signing.times.activates_at);
    details["retired_kid"] = retiring.kid.clone().into();
    details["retired_at"] = serde_json::json!(retiring.times.retired_at);
    details["unpublish_at"] = serde_json::json!(retiring.times.unpublish_at);
}

/// Takes out of the JWKS now the retired keys that would leave first, as many as an immediate
/// rotation needs to stay within the bound (`published` keys are left once it has replaced the
/// unsigned ones); returns them as they were.
fn unpublish_early(
    conn: &mut DbConnection,
    keys: &[StoredSigningKey],
    retiring: &str,
    published: usize,
    rotation: &Rotation,
    now: DateTime<Utc>,
) -> ServiceResult<Vec<StoredSigningKey>> {
    let retired: Vec<(&StoredSigningKey, DateTime<Utc>)> = keys
        .iter()
        .filter(|k| k.kid != retiring && k.times.status(now) == SigningKeyStatus::Retired)
        .filter_map(|k| Some((k, k.times.unpublish_at?)))
        .collect();
    let early = signing_key::limit::unpublish_early(&retired, published, rotation.fresh_keys());
    for key in &early {
        let times = KeyTimes {
            unpublish_at: Some(now),
            ..key.times
        };
        store::signing_keys::set_times(conn, &key.kid, &times)?;
    }
    Ok(early.into_iter().cloned().collect())
}

fn immediate_warning(windows: RotationWindows) -> Warning {
    Warning {
        code: "verifiers_may_refuse",
        field: "immediate".into(),
        message: format!(
            "the new key signs at once, before verifiers' cached copies of the JWKS (kept up to {} s) have it: those that do not refetch the JWKS on an unknown kid refuse its tokens until their copy expires",
            windows.jwks_max_age.as_secs()
        ),
    }
}

fn unpublished_early_warning(key: &StoredSigningKey) -> Warning {
    let due = key
        .times
        .unpublish_at
        .map_or_else(String::new, |t| t.to_rfc3339());
    Warning {
        code: "retired_key_unpublished_early",
        field: "immediate".into(),
        message: format!(
            "to stay within {} published signing keys, retired key {} left the JWKS now instead of at {due}: tokens it signed that have not expired no longer verify",
            signing_key::MAX_PUBLISHED_SIGNING_KEYS,
            key.kid
        ),
    }
}

/// A promoted key published for less than the pre-publication window: verifiers holding a JWKS
/// copy from before it may not know it yet.
fn recently_published(
    next: &StoredSigningKey,
    windows: RotationWindows,
    now: DateTime<Utc>,
) -> Option<Warning> {
    let age = (now - next.created_at).to_std().unwrap_or_default();
    (age < windows.prepublish).then(|| Warning {
        code: "next_key_recently_published",
        field: "signing_key".into(),
        message: format!(
            "the promoted key was published {} s ago, less than the JWKS max-age plus the rotation leeway ({} s): verifiers whose JWKS copy is older than it refuse its tokens until they refetch",
            age.as_secs(),
            windows.prepublish.as_secs()
        ),
    })
}

/// The keys a rotation generates, made before its transaction when it can tell which.
struct Fresh<'a> {
    master: &'a MasterKey,
    org_id: &'a str,
    ready: Vec<StoredSigningKey>,
}

impl<'a> Fresh<'a> {
    fn new(master: &'a MasterKey, org_id: &'a str) -> Self {
        Fresh {
            master,
            org_id,
            ready: Vec::new(),
        }
    }

    fn prepare(&mut self, rotation: &Rotation, now: DateTime<Utc>) -> ServiceResult<()> {
        let alg = parse_alg(&rotation.alg)?;
        for _ in 0..rotation.fresh_keys() {
            let key = generate(self.master, self.org_id, alg, now, KeyTimes::default())?;
            self.ready.push(key);
        }
        Ok(())
    }

    /// A key of `alg`, made at `now` with `times`: one generated beforehand, or (another
    /// rotation changed the org's keys between the first look and the lock) a new one.
    fn take(
        &mut self,
        alg: &str,
        now: DateTime<Utc>,
        times: KeyTimes,
    ) -> ServiceResult<StoredSigningKey> {
        let mut key = match self.ready.iter().position(|k| k.alg == alg) {
            Some(i) => self.ready.swap_remove(i),
            None => generate(self.master, self.org_id, parse_alg(alg)?, now, times)?,
        };
        key.created_at = now;
        key.times = times;
        Ok(key)
    }
}

fn parse_alg(alg: &str) -> ServiceResult<SigningAlg> {
    SigningAlg::parse(alg).map_err(|m| ServiceError::Crypto(m.to_string()))
}
