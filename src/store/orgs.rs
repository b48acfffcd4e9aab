//! Organizations (tenants).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::orgs;
use super::{DbConnection, StoreResult};
use crate::domain::org::LeakPolicy;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = orgs)]
struct OrgRow {
    id: String,
    slug: String,
    created_at: NaiveDateTime,
    bootstrapped_at: Option<NaiveDateTime>,
    leak_policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub slug: String,
    pub created_at: DateTime<Utc>,
    pub bootstrapped_at: Option<DateTime<Utc>>,
    pub leak_policy: LeakPolicy,
}

impl From<OrgRow> for Org {
    fn from(r: OrgRow) -> Self {
        Org {
            id: r.id,
            slug: r.slug,
            created_at: r.created_at.and_utc(),
            bootstrapped_at: r.bootstrapped_at.map(|t| t.and_utc()),
            // Written only by `set_leak_policy`; anything else reads as the safer policy.
            leak_policy: LeakPolicy::parse(&r.leak_policy).unwrap_or_default(),
        }
    }
}

pub fn insert(
    conn: &mut DbConnection,
    id: &str,
    slug: &str,
    now: DateTime<Utc>,
) -> StoreResult<Org> {
    diesel::insert_into(orgs::table)
        .values((
            orgs::id.eq(id),
            orgs::slug.eq(slug),
            orgs::created_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(Org {
        id: id.to_owned(),
        slug: slug.to_owned(),
        created_at: now,
        bootstrapped_at: None,
        leak_policy: LeakPolicy::default(),
    })
}

pub fn find_by_slug(conn: &mut DbConnection, slug: &str) -> StoreResult<Option<Org>> {
    Ok(orgs::table
        .filter(orgs::slug.eq(slug))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(Org::from))
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> StoreResult<Option<Org>> {
    Ok(orgs::table
        .find(id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .map(Org::from))
}

pub fn list(conn: &mut DbConnection) -> StoreResult<Vec<Org>> {
    Ok(orgs::table
        .order(orgs::created_at.asc())
        .select(OrgRow::as_select())
        .load(conn)?
        .into_iter()
        .map(Org::from)
        .collect())
}

pub fn count(conn: &mut DbConnection) -> StoreResult<i64> {
    Ok(orgs::table.count().get_result(conn)?)
}

/// Marks the org bootstrapped unless it already is. Returns false when it already was, so two
/// concurrent bootstraps cannot both succeed.
pub fn mark_bootstrapped(
    conn: &mut DbConnection,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(orgs::table.find(id).filter(orgs::bootstrapped_at.is_null()))
        .set(orgs::bootstrapped_at.eq(now.naive_utc()))
        .execute(conn)?;
    Ok(n == 1)
}

/// Sets what the org does with leaked keys.
pub fn set_leak_policy(conn: &mut DbConnection, id: &str, policy: LeakPolicy) -> StoreResult<()> {
    diesel::update(orgs::table.find(id))
        .set(orgs::leak_policy.eq(policy.as_str()))
        .execute(conn)?;
    Ok(())
}
