//! The audit trail. Rows are only ever inserted, in the transaction of the change they record.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::audit_events;
use super::{DbConnection, StoreResult};

pub struct NewEvent<'a> {
    pub org_id: &'a str,
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub ip: Option<String>,
    /// JSON object.
    pub details: String,
    /// The console session key that made the change, credited to its parent (`actor`).
    pub actor_session: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct EventRow {
    pub id: i64,
    pub org_id: String,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub details: String,
    pub actor_session: Option<String>,
}

pub fn insert(conn: &mut DbConnection, e: &NewEvent<'_>) -> StoreResult<()> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::org_id.eq(e.org_id),
            audit_events::at.eq(e.at.naive_utc()),
            audit_events::actor.eq(e.actor),
            audit_events::action.eq(e.action),
            audit_events::target.eq(e.target),
            audit_events::ip.eq(&e.ip),
            audit_events::details.eq(&e.details),
            audit_events::actor_session.eq(e.actor_session),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub action: Option<String>,
    pub target: Option<String>,
    /// Events with an id below this one (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// An org's events, newest first (ids only grow).
pub fn list(conn: &mut DbConnection, org_id: &str, f: &Filter) -> StoreResult<Vec<EventRow>> {
    let mut q = audit_events::table
        .filter(audit_events::org_id.eq(org_id.to_owned()))
        .select((
            audit_events::id,
            audit_events::org_id,
            audit_events::at,
            audit_events::actor,
            audit_events::action,
            audit_events::target,
            audit_events::ip,
            audit_events::details,
            audit_events::actor_session,
        ))
        .into_boxed();
    if let Some(a) = &f.action {
        q = q.filter(audit_events::action.eq(a.clone()));
    }
    if let Some(t) = &f.target {
        q = q.filter(audit_events::target.eq(t.clone()));
    }
    if let Some(id) = f.before_id {
        q = q.filter(audit_events::id.lt(id));
    }
    Ok(q.order(audit_events::id.desc()).limit(f.limit).load(conn)?)
}
