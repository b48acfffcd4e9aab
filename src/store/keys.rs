//! API keys. Rows are parsed into the domain [`Key`] here, once, and written from it: nothing
//! above this module sees a stored text form (scopes, CIDRs, attributes) or a secret digest,
//! but for the key cache's digests (`StoredDigests`).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::api_keys;
use super::{DbConnection, StoreError, StoreResult};
use crate::domain::ip_rules::IpRules;
use crate::domain::key::{Key, KeyAttributes, KeyKind, SecretSlot, Secrets};
use crate::domain::scope::{format_scope_list, parse_scope_list};

#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    org_id: String,
    name: String,
    secret_hint: String,
    scopes: String,
    allowed_cidrs: String,
    expires_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    last_used_at: Option<NaiveDateTime>,
    previous_secret_expires_at: Option<NaiveDateTime>,
    last_used_ip: Option<String>,
    secret_generation: i32,
    attributes: String,
    leaked_at: Option<NaiveDateTime>,
    kind: String,
    parent_key_id: Option<String>,
}

impl TryFrom<KeyRow> for Key {
    type Error = StoreError;

    /// Stored forms were written by [`columns`] below, so anything that does not parse is
    /// corruption, refused rather than reinterpreted.
    fn try_from(r: KeyRow) -> StoreResult<Key> {
        let corrupt =
            |what: &str, e: String| StoreError::Corrupt(format!("key {}: {what}: {e}", r.id));
        let scopes = parse_scope_list(&r.scopes).map_err(|e| corrupt("scopes", e))?;
        let cidrs: Vec<String> = r
            .allowed_cidrs
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let ip_rules = IpRules::from_canonical(&cidrs).map_err(|e| corrupt("allowed_cidrs", e))?;
        let attributes: KeyAttributes = serde_json::from_str(&r.attributes)
            .map_err(|e| corrupt("attributes", e.to_string()))?;
        // A console session always answers to a parent, and only a session does.
        let kind = match (KeyKind::parse(&r.kind), &r.parent_key_id) {
            (Some(KeyKind::Standard), None) => KeyKind::Standard,
            (Some(KeyKind::ConsoleSession), Some(_)) => KeyKind::ConsoleSession,
            _ => {
                let parent = r.parent_key_id.as_deref().unwrap_or("none");
                return Err(corrupt(
                    "kind",
                    format!("{:?} with parent {parent}", r.kind),
                ));
            }
        };
        Ok(Key {
            kind,
            parent_key_id: r.parent_key_id,
            scopes,
            ip_rules,
            attributes,
            expires_at: r.expires_at.map(|t| t.and_utc()),
            created_at: r.created_at.and_utc(),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            last_used_ip: r.last_used_ip,
            leaked_at: r.leaked_at.map(|t| t.and_utc()),
            secret_hint: r.secret_hint,
            secrets: Secrets {
                // Written only as 0 + 1 per roll: never negative.
                generation: u32::try_from(r.secret_generation).unwrap_or(0),
                previous_until: r.previous_secret_expires_at.map(|t| t.and_utc()),
            },
            name: r.name,
            org_id: r.org_id,
            id: r.id,
        })
    }
}

fn parse_rows(rows: Vec<KeyRow>) -> StoreResult<Vec<Key>> {
    rows.into_iter().map(Key::try_from).collect()
}

/// The columns a caller sets, in their stored forms: written by insert and update alike.
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = api_keys, treat_none_as_null = true)]
struct Settable {
    name: String,
    name_folded: String,
    scopes: String,
    allowed_cidrs: String,
    expires_at: Option<NaiveDateTime>,
    attributes: String,
    updated_at: NaiveDateTime,
}

fn columns(key: &Key, now: DateTime<Utc>) -> StoreResult<Settable> {
    Ok(Settable {
        name: key.name.clone(),
        name_folded: key.name.to_lowercase(),
        scopes: format_scope_list(&key.scopes),
        allowed_cidrs: key.ip_rules.to_strings().join(" "),
        // `None` must be written, not skipped: it is how an expiry is removed.
        expires_at: key.expires_at.map(|t| t.naive_utc()),
        attributes: serde_json::to_string(&stored_attributes(key))
            .map_err(|e| StoreError::Corrupt(format!("key {}: attributes: {e}", key.id)))?,
        updated_at: now.naive_utc(),
    })
}

/// The attributes as stored: a quota's credits are counted in their own table
/// (`store::limits`), never copied here.
fn stored_attributes(key: &Key) -> crate::domain::key::KeyAttributes {
    let mut attributes = key.attributes.clone();
    if let Some(quota) = attributes.quota.as_mut() {
        quota.remaining = None;
    }
    attributes
}

/// Stores a new key with the digest of its secret.
pub fn insert(
    conn: &mut DbConnection,
    key: &Key,
    secret_digest: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&key.id),
            api_keys::org_id.eq(&key.org_id),
            api_keys::secret_digest.eq(secret_digest),
            api_keys::secret_hint.eq(&key.secret_hint),
            api_keys::created_at.eq(key.created_at.naive_utc()),
            api_keys::kind.eq(key.kind.as_str()),
            api_keys::parent_key_id.eq(&key.parent_key_id),
            columns(key, now)?,
        ))
        .execute(conn)?;
    Ok(())
}

/// A key of one org; another org's id is simply not found (tenant isolation lives in the query).
pub fn find(conn: &mut DbConnection, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    api_keys::table
        .filter(api_keys::org_id.eq(org_id))
        .filter(api_keys::id.eq(id))
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
        .map(Key::try_from)
        .transpose()
}

/// `find`, with the row locked until the transaction ends, so that checks made on what it
/// returns (who may edit or roll the key) still hold when the transaction writes. On PostgreSQL a
/// no-op `UPDATE` is the portable `SELECT … FOR UPDATE`; on SQLite `BEGIN IMMEDIATE` already
/// runs writers one at a time.
pub fn find_locked(conn: &mut DbConnection, org_id: &str, id: &str) -> StoreResult<Option<Key>> {
    diesel::update(
        api_keys::table
            .filter(api_keys::org_id.eq(org_id))
            .filter(api_keys::id.eq(id)),
    )
    .set(api_keys::updated_at.eq(api_keys::updated_at))
    .execute(conn)?;
    find(conn, org_id, id)
}

/// The stored digests of a key's secrets: the key cache needs them to check, on every hit, that
/// the digest it was found by is still one of the key's (`service::authority::keycache`).
/// Nothing else above this layer sees a digest.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredDigests {
    pub current: Vec<u8>,
    /// The rolled-away secret's, while the row keeps it (check `previous_secret_expires_at`).
    pub previous: Option<Vec<u8>>,
}

/// A key found by a secret digest: which of its secrets matched, and its digests.
pub struct DigestMatch {
    pub key: Key,
    pub digests: StoredDigests,
    pub slot: SecretSlot,
}

type RowWithDigests = (KeyRow, Vec<u8>, Option<Vec<u8>>);

fn with_digests((row, current, previous): RowWithDigests) -> StoreResult<(Key, StoredDigests)> {
    Ok((Key::try_from(row)?, StoredDigests { current, previous }))
}

/// The key whose current secret, or previous secret still within its grace period, has this
/// SHA-256 digest (indexed lookups).
pub fn find_by_digest(
    conn: &mut DbConnection,
    digest: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<Option<DigestMatch>> {
    let columns = (
        KeyRow::as_select(),
        api_keys::secret_digest,
        api_keys::previous_secret_digest,
    );
    // Two plain indexed lookups rather than one `OR`: the current secret is the common case and
    // its statement stays simple for the planner and the statement cache.
    let current = api_keys::table
        .filter(api_keys::secret_digest.eq(digest))
        .select(columns)
        .first::<RowWithDigests>(conn)
        .optional()?;
    if let Some(found) = current {
        let (key, digests) = with_digests(found)?;
        return Ok(Some(DigestMatch {
            key,
            digests,
            slot: SecretSlot::Current,
        }));
    }
    let previous = api_keys::table
        .filter(api_keys::previous_secret_digest.eq(digest))
        .filter(api_keys::previous_secret_expires_at.gt(now.naive_utc()))
        .select(columns)
        .first::<RowWithDigests>(conn)
        .optional()?;
    previous
        .map(|found| {
            let (key, digests) = with_digests(found)?;
            Ok(DigestMatch {
                key,
                digests,
                slot: SecretSlot::Previous,
            })
        })
        .transpose()
}

/// `find`, with the key's digests: what the key cache stores when it learns a key by id.
pub fn find_with_digests(
    conn: &mut DbConnection,
    org_id: Option<&str>,
    id: &str,
) -> StoreResult<Option<(Key, StoredDigests)>> {
    let mut query = api_keys::table.filter(api_keys::id.eq(id)).into_boxed();
    if let Some(org_id) = org_id {
        query = query.filter(api_keys::org_id.eq(org_id));
    }
    query
        .select((
            KeyRow::as_select(),
            api_keys::secret_digest,
            api_keys::previous_secret_digest,
        ))
        .first::<RowWithDigests>(conn)
        .optional()?
        .map(with_digests)
        .transpose()
}

/// Replaces the secret of an unrevoked key and counts its generation up. With a grace period
/// the old digest keeps working until `previous_until`; without one it stops at once. Returns
/// false for a revoked key.
pub fn roll_secret(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
    new_digest: &[u8],
    new_hint: &str,
    previous_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let target = api_keys::table
        .filter(api_keys::org_id.eq(org_id))
        .filter(api_keys::id.eq(id))
        .filter(api_keys::revoked_at.is_null());
    // SET expressions read the row as it was, so the old digest moves aside as the new arrives.
    let n = match previous_until {
        Some(until) => diesel::update(target)
            .set((
                api_keys::previous_secret_digest.eq(api_keys::secret_digest.nullable()),
                api_keys::previous_secret_expires_at.eq(Some(until.naive_utc())),
                api_keys::secret_digest.eq(new_digest),
                api_keys::secret_hint.eq(new_hint),
                api_keys::secret_generation.eq(api_keys::secret_generation + 1),
                api_keys::updated_at.eq(now.naive_utc()),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                api_keys::previous_secret_digest.eq(None::<Vec<u8>>),
                api_keys::previous_secret_expires_at.eq(None::<NaiveDateTime>),
                api_keys::secret_digest.eq(new_digest),
                api_keys::secret_hint.eq(new_hint),
                api_keys::secret_generation.eq(api_keys::secret_generation + 1),
                api_keys::updated_at.eq(now.naive_utc()),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Expired,
    Revoked,
    All,
}

/// Which kinds of key a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KindFilter {
    Only(KeyKind),
    All,
}

/// Keyset pagination position: the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub status: StatusFilter,
    pub kind: KindFilter,
    /// Only the console sessions of this key.
    pub parent_key_id: Option<String>,
    /// Already lower-cased substring.
    pub search: Option<String>,
    pub limit: i64,
    pub after: Option<Position>,
}

/// Newest first; `created_at, id` order is total, so keyset pagination visits each key once.
pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    query: &ListQuery,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Key>> {
    let now = now.naive_utc();
    let mut q = api_keys::table
        .filter(api_keys::org_id.eq(org_id.to_owned()))
        .select(KeyRow::as_select())
        .into_boxed();
    q = match query.status {
        StatusFilter::Active => q.filter(
            api_keys::revoked_at.is_null().and(
                api_keys::expires_at
                    .is_null()
                    .or(api_keys::expires_at.gt(now)),
            ),
        ),
        StatusFilter::Expired => q.filter(
            api_keys::revoked_at
                .is_null()
                .and(api_keys::expires_at.le(now)),
        ),
        StatusFilter::Revoked => q.filter(api_keys::revoked_at.is_not_null()),
        StatusFilter::All => q,
    };
    if let KindFilter::Only(kind) = query.kind {
        q = q.filter(api_keys::kind.eq(kind.as_str()));
    }
    if let Some(parent) = &query.parent_key_id {
        q = q.filter(api_keys::parent_key_id.eq(parent.clone()));
    }
    if let Some(search) = &query.search {
        q = q.filter(
            api_keys::name_folded
                .like(like_pattern(search))
                .escape('\\'),
        );
    }
    if let Some(pos) = &query.after {
        let at = pos.created_at.naive_utc();
        q = q.filter(
            api_keys::created_at.lt(at).or(api_keys::created_at
                .eq(at)
                .and(api_keys::id.lt(pos.id.clone()))),
        );
    }
    parse_rows(
        q.order((api_keys::created_at.desc(), api_keys::id.desc()))
            .limit(query.limit)
            .load(conn)?,
    )
}

/// `%text%` with LIKE's own wildcards escaped, so a search for `50%` finds exactly that.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Writes what a caller may set on a key that is not revoked (the key as a PATCH left it).
/// Returns false when no such unrevoked key exists, so an edit racing a revoke cannot
/// resurrect anything.
pub fn update(conn: &mut DbConnection, key: &Key, now: DateTime<Utc>) -> StoreResult<bool> {
    let n = diesel::update(
        api_keys::table
            .filter(api_keys::org_id.eq(&key.org_id))
            .filter(api_keys::id.eq(&key.id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(columns(key, now)?)
    .execute(conn)?;
    Ok(n == 1)
}

/// Sets `revoked_at` once; later calls leave the first time in place (revocation is permanent).
pub fn revoke(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let n = diesel::update(
        api_keys::table
            .filter(api_keys::org_id.eq(org_id))
            .filter(api_keys::id.eq(id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set((
        api_keys::revoked_at.eq(now.naive_utc()),
        api_keys::updated_at.eq(now.naive_utc()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Unrevoked standard keys expiring after `from` and at most at `to`, soonest first, at most
/// `limit`, after the `(expires_at, id)` position when given: the ones the expiry warnings look
/// at. Console sessions are left out: every one expires within hours by design, and warning of
/// each would bury the warnings about keys someone must renew.
pub fn expiring(
    conn: &mut DbConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after: Option<&(DateTime<Utc>, String)>,
    limit: i64,
) -> StoreResult<Vec<Key>> {
    let mut q = api_keys::table
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::kind.eq(KeyKind::Standard.as_str()))
        .filter(api_keys::expires_at.gt(from.naive_utc()))
        .filter(api_keys::expires_at.le(to.naive_utc()))
        .order((api_keys::expires_at.asc(), api_keys::id.asc()))
        .limit(limit)
        .select(KeyRow::as_select())
        .into_boxed();
    if let Some((at, id)) = after {
        let at = at.naive_utc();
        q = q.filter(
            api_keys::expires_at
                .gt(at)
                .or(api_keys::expires_at.eq(at).and(api_keys::id.gt(id.clone()))),
        );
    }
    parse_rows(q.load(conn)?)
}

/// The console sessions of `parent_id` that still work at `now` (neither revoked nor expired):
/// the ones a revocation, roll or re-scoping of the parent must end. No new one can appear
/// meanwhile: starting a session locks the parent's row, which the caller already holds.
pub fn live_sessions_of(
    conn: &mut DbConnection,
    org_id: &str,
    parent_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Key>> {
    parse_rows(
        api_keys::table
            .filter(api_keys::org_id.eq(org_id))
            .filter(api_keys::parent_key_id.eq(parent_id))
            .filter(api_keys::kind.eq(KeyKind::ConsoleSession.as_str()))
            .filter(api_keys::revoked_at.is_null())
            .filter(api_keys::expires_at.gt(now.naive_utc()))
            .order(api_keys::id.asc())
            .select(KeyRow::as_select())
            .load(conn)?,
    )
}

/// Flags a key whose secret was reported leaked (its org only flags): `leaked_at` is the
/// latest report.
pub fn flag_leaked(conn: &mut DbConnection, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
    diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
        .set((
            api_keys::leaked_at.eq(Some(now.naive_utc())),
            api_keys::updated_at.eq(now.naive_utc()),
        ))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}

/// The most recent use of any key of an org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub key_id: String,
    pub at: DateTime<Utc>,
    pub ip: Option<String>,
}

pub fn last_used_in_org(conn: &mut DbConnection, org_id: &str) -> StoreResult<Option<LastUse>> {
    let row: Option<(String, Option<NaiveDateTime>, Option<String>)> = api_keys::table
        .filter(api_keys::org_id.eq(org_id))
        .filter(api_keys::last_used_at.is_not_null())
        .order(api_keys::last_used_at.desc())
        .select((api_keys::id, api_keys::last_used_at, api_keys::last_used_ip))
        .first(conn)
        .optional()?;
    Ok(row.and_then(|(key_id, at, ip)| {
        at.map(|at| LastUse {
            key_id,
            at: at.and_utc(),
            ip,
        })
    }))
}

/// A key as reports name it: its name and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabel {
    pub name: String,
    pub kind: KeyKind,
}

/// Ids per query of `labels`: well under SQLite's 32,766 bound parameters.
const LABEL_CHUNK: usize = 500;

/// Names and kinds of the given keys of an org, for reports (usage rankings, the audit trail's
/// names). Ids of no key of the org are simply absent.
pub fn labels(
    conn: &mut DbConnection,
    org_id: &str,
    ids: &[String],
) -> StoreResult<std::collections::HashMap<String, KeyLabel>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(LABEL_CHUNK) {
        let rows: Vec<(String, String, String)> = api_keys::table
            .filter(api_keys::org_id.eq(org_id))
            .filter(api_keys::id.eq_any(chunk))
            .select((api_keys::id, api_keys::name, api_keys::kind))
            .load(conn)?;
        for (id, name, kind) in rows {
            let kind = KeyKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("key {id}: kind {kind:?}")))?;
            out.insert(id, KeyLabel { name, kind });
        }
    }
    Ok(out)
}
