//! Organizations and their one-time bootstrap.

use chrono::{DateTime, Utc};

use super::actor::Actor;
use super::keys::{self, KeyView};
use super::signing_keys;
use super::{ServiceError, ServiceResult, audit};
use crate::crypto::MasterKey;
use crate::domain::ip_rules::IpRules;
use crate::domain::key::{KeyAttributes, ValidKey};
use crate::domain::org::validate_slug;
use crate::domain::scope::{Action, ResourceFilter, Scope};
use crate::domain::secret::{Secret, SecretPrefix, random_id};
use crate::store::orgs::Org;
use crate::store::signing_keys::StoredSigningKey;
use crate::store::{self, DbConnection};

/// The org `serve` creates on an empty database.
pub const DEFAULT_ORG: &str = "default";
pub const BOOTSTRAP_KEY_NAME: &str = "bootstrap admin";

/// What a bootstrap hands back once: the org, its first admin key and that key's secret.
#[derive(Debug)]
pub struct Bootstrapped {
    pub org: Org,
    pub key: KeyView,
    pub secret: Secret,
    pub kid: String,
}

pub fn create(conn: &mut DbConnection, slug: &str, now: DateTime<Utc>) -> ServiceResult<Org> {
    validate_slug(slug)
        .map_err(|m| ServiceError::Validation(vec![crate::domain::FieldError::new("slug", m)]))?;
    store::orgs::insert(conn, &random_id("org_", 20), slug, now).map_err(|e| {
        if e.is_unique_violation() {
            ServiceError::OrgExists(slug.to_owned())
        } else {
            e.into()
        }
    })
}

pub fn list(conn: &mut DbConnection) -> ServiceResult<Vec<Org>> {
    Ok(store::orgs::list(conn)?)
}

pub fn find(conn: &mut DbConnection, slug: &str) -> ServiceResult<Org> {
    store::orgs::find_by_slug(conn, slug)?.ok_or_else(|| ServiceError::OrgNotFound(slug.to_owned()))
}

/// The org by id (an authenticated caller's own).
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> ServiceResult<Org> {
    store::orgs::find_by_id(conn, id)?.ok_or_else(|| ServiceError::OrgNotFound(id.to_owned()))
}

/// Sets what the actor's org does with leaked keys (`None` changes nothing); audited when it
/// changes.
pub fn set_leak_policy(
    conn: &mut DbConnection,
    actor: &Actor,
    policy: Option<crate::domain::org::LeakPolicy>,
    now: DateTime<Utc>,
) -> ServiceResult<Org> {
    store::write_tx(conn, |conn| {
        let org = find_by_id(conn, &actor.org_id)?;
        let Some(policy) = policy.filter(|p| *p != org.leak_policy) else {
            return Ok(org);
        };
        store::orgs::set_leak_policy(conn, &org.id, policy)?;
        audit::record(
            conn,
            actor,
            audit::action::ORG_UPDATED,
            &org.id,
            serde_json::json!({
                "before": {"leak_policy": org.leak_policy},
                "after": {"leak_policy": policy},
            }),
            now,
        )?;
        Ok(Org {
            leak_policy: policy,
            ..org
        })
    })
}

/// An org that may manage keys: it exists and has been bootstrapped.
pub fn find_bootstrapped(conn: &mut DbConnection, slug: &str) -> ServiceResult<Org> {
    let org = find(conn, slug)?;
    if org.bootstrapped_at.is_none() {
        return Err(ServiceError::OrgNotBootstrapped(org.slug));
    }
    Ok(org)
}

/// Provisions the org's Ed25519 signing key, its next key (both sealed with the master key) and
/// its first admin key (`*:*`, its secret under `prefix`), all in one transaction. A second
/// bootstrap fails, even when two race.
pub fn bootstrap(
    conn: &mut DbConnection,
    master: &MasterKey,
    slug: &str,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<Bootstrapped> {
    // Outside the transaction; the org's id is filled in once it is found inside.
    let [current, next] = signing_keys::first_keys(master, "", now)?;
    store::write_tx(conn, |conn| {
        let mut org = find(conn, slug)?;
        if !store::orgs::mark_bootstrapped(conn, &org.id, now)? {
            return Err(ServiceError::AlreadyBootstrapped(org.slug));
        }
        org.bootstrapped_at = Some(now);
        for key in [&current, &next] {
            store::signing_keys::insert(
                conn,
                &StoredSigningKey {
                    org_id: org.id.clone(),
                    ..key.clone()
                },
            )?;
        }
        let admin = keys::insert_new(
            conn,
            &org.id,
            ValidKey {
                name: BOOTSTRAP_KEY_NAME.to_owned(),
                scopes: vec![Scope::new(Action::Any, ResourceFilter::all())],
                ip_rules: IpRules::default(),
                expires_at: None,
                attributes: KeyAttributes::default(),
            },
            prefix,
            now,
        )?;
        let details = serde_json::json!({
            "admin_key_id": admin.0.id, "kid": current.kid, "next_kid": next.kid,
        });
        audit::record(
            conn,
            &Actor::cli(&org.id),
            audit::action::ORG_BOOTSTRAPPED,
            &org.id,
            details,
            now,
        )?;
        Ok(Bootstrapped {
            org,
            key: admin.0,
            secret: admin.1,
            kid: current.kid.clone(),
        })
    })
}

/// On an empty database `serve` creates and bootstraps `default`; otherwise it does nothing.
pub fn ensure_default(
    conn: &mut DbConnection,
    master: &MasterKey,
    prefix: &SecretPrefix,
    now: DateTime<Utc>,
) -> ServiceResult<Option<Bootstrapped>> {
    if store::orgs::count(conn)? > 0 {
        return Ok(None);
    }
    match create(conn, DEFAULT_ORG, now) {
        Ok(_) => {}
        // Another node won the race; it bootstraps.
        Err(ServiceError::OrgExists(_)) => return Ok(None),
        Err(e) => return Err(e),
    }
    match bootstrap(conn, master, DEFAULT_ORG, prefix, now) {
        Ok(b) => Ok(Some(b)),
        Err(ServiceError::AlreadyBootstrapped(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
