//! `GET /v1/keys`: parameters as received (validated here so the CLI and HTTP agree), keyset
//! pagination with opaque cursors, newest first.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::view::KeyView;
use crate::domain::FieldError;
use crate::domain::key;
use crate::domain::key::KeyKind;
use crate::domain::secret::KeyId;
use crate::service::{ServiceError, ServiceResult};
use crate::store::keys::{KindFilter, ListQuery, Position, StatusFilter};
use crate::store::{self, DbConnection};

pub use crate::service::{DEFAULT_LIMIT, MAX_LIMIT};

/// `GET /v1/keys` parameters as received (text), validated here so the CLI and HTTP agree.
/// The OpenAPI document describes the accepted values.
#[derive(Debug, Default, Clone, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `active` (the default), `expired`, `revoked` or `all`.
    #[param(value_type = Option<String>, pattern = "^(active|expired|revoked|all)$")]
    pub status: Option<String>,
    /// `standard` (the default), `console_session` or `all`; with `parent_key_id`, `all`.
    /// Console sessions are hidden unless asked for.
    #[param(value_type = Option<String>, pattern = "^(standard|console_session|all)$")]
    pub kind: Option<String>,
    /// Only the console sessions this key started (a key id).
    #[param(pattern = "^key_[A-Za-z0-9_-]{16,64}$")]
    pub parent_key_id: Option<String>,
    /// Case-insensitive substring of the key name.
    pub search: Option<String>,
    /// Page size: 1 to 200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = KeyPage)]
pub struct Page {
    pub keys: Vec<KeyView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

pub fn list(
    conn: &mut DbConnection,
    org_id: &str,
    params: &ListParams,
    now: DateTime<Utc>,
) -> ServiceResult<Page> {
    let query = parse_list_params(params)?;
    // Names hold no control characters (`key::validate_create`): a search with one matches
    // nothing, taken literally, and is not sent (PostgreSQL's text cannot even carry a NUL).
    if query
        .search
        .as_deref()
        .is_some_and(|s| s.chars().any(char::is_control))
    {
        return Ok(Page {
            keys: Vec::new(),
            next_cursor: None,
        });
    }
    // One row more than asked tells whether there is a next page without a second query.
    let mut rows = store::keys::list(
        conn,
        org_id,
        &ListQuery {
            limit: query.limit + 1,
            ..query.clone()
        },
        now,
    )?;
    let next_cursor = if rows.len() as i64 > query.limit {
        rows.truncate(query.limit as usize);
        rows.last().map(|r| {
            encode_cursor(&Position {
                created_at: r.created_at,
                id: r.id.clone(),
            })
        })
    } else {
        None
    };
    let mut keys: Vec<KeyView> = rows.into_iter().map(|k| KeyView::of(&k, now)).collect();
    super::count_credits(conn, &mut keys, now)?;
    Ok(Page { keys, next_cursor })
}

fn parse_list_params(p: &ListParams) -> ServiceResult<ListQuery> {
    let mut errors = Vec::new();
    let status = match p.status.as_deref().unwrap_or("active") {
        "active" => StatusFilter::Active,
        "expired" => StatusFilter::Expired,
        "revoked" => StatusFilter::Revoked,
        "all" => StatusFilter::All,
        other => {
            errors.push(FieldError::new(
                "status",
                format!("{other:?} is not one of active, expired, revoked, all"),
            ));
            StatusFilter::Active
        }
    };
    // The sessions of a key are what `parent_key_id` asks for: shown without `kind` too.
    let default_kind = if p.parent_key_id.is_some() {
        "all"
    } else {
        "standard"
    };
    let kind = match p.kind.as_deref().unwrap_or(default_kind) {
        "all" => KindFilter::All,
        other => match KeyKind::parse(other) {
            Some(kind) => KindFilter::Only(kind),
            None => {
                errors.push(FieldError::new(
                    "kind",
                    format!("{other:?} is not one of standard, console_session, all"),
                ));
                KindFilter::Only(KeyKind::Standard)
            }
        },
    };
    let parent_key_id = match p.parent_key_id.as_deref() {
        None => None,
        Some(id) => match KeyId::parse(id) {
            Ok(id) => Some(id.as_str().to_owned()),
            Err(_) => {
                errors.push(FieldError::new("parent_key_id", "is not a key id"));
                None
            }
        },
    };
    let limit = crate::service::page_limit(p.limit.as_deref(), &mut errors);
    let after = match p.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => decode_cursor(c).or_else(|| {
            errors.push(FieldError::new(
                "cursor",
                "is not a cursor returned by this API",
            ));
            None
        }),
    };
    let search = p
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase);
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > key::NAME_MAX_CHARS)
    {
        errors.push(FieldError::new(
            "search",
            "is longer than any key name can be",
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Validation(errors));
    }
    Ok(ListQuery {
        status,
        kind,
        parent_key_id,
        search,
        limit,
        after,
    })
}

/// Opaque to clients: base64url of `<created_at µs>.<key id>`.
fn encode_cursor(pos: &Position) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}.{}", pos.created_at.timestamp_micros(), pos.id))
}

fn decode_cursor(text: &str) -> Option<Position> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
    let (micros, id) = raw.split_once('.')?;
    let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    KeyId::parse(id).ok()?;
    Some(Position {
        created_at,
        id: id.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let pos = Position {
            created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: "key_abcdefghijklmnop".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&pos)), Some(pos));
        assert_eq!(decode_cursor("not-a-cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("12.bad id")), None);
    }

    #[test]
    fn list_parameters_are_validated() {
        let bad = ListParams {
            status: Some("gone".into()),
            limit: Some("0".into()),
            cursor: Some("x".into()),
            ..Default::default()
        };
        match parse_list_params(&bad) {
            Err(ServiceError::Validation(e)) => {
                let f: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(f, vec!["status", "limit", "cursor"]);
            }
            other => panic!("expected validation error, got {other:?}"),
        }
        let q = parse_list_params(&ListParams {
            search: Some("  CI ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.search.as_deref(), Some("ci"));
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.status, StatusFilter::Active);
        assert_eq!(q.kind, KindFilter::Only(KeyKind::Standard));
    }

    #[test]
    fn sessions_are_listed_only_when_asked_for() {
        let kind = |kind: Option<&str>, parent: Option<&str>| {
            parse_list_params(&ListParams {
                kind: kind.map(str::to_owned),
                parent_key_id: parent.map(str::to_owned),
                ..Default::default()
            })
            .map(|q| (q.kind, q.parent_key_id))
        };
        let session = KindFilter::Only(KeyKind::ConsoleSession);
        assert_eq!(
            kind(Some("console_session"), None).unwrap(),
            (session, None)
        );
        assert_eq!(kind(Some("all"), None).unwrap(), (KindFilter::All, None));
        let parent = "key_abcdefghijklmnop";
        assert_eq!(
            kind(None, Some(parent)).unwrap(),
            (KindFilter::All, Some(parent.to_owned())),
            "a key's sessions, without saying kind"
        );
        for (k, p, field) in [
            (Some("session"), None, "kind"),
            (Some(""), None, "kind"),
            (None, Some("not a key"), "parent_key_id"),
        ] {
            match kind(k, p) {
                Err(ServiceError::Validation(e)) => assert_eq!(e[0].field, field),
                other => panic!("{k:?} {p:?}: {other:?}"),
            }
        }
    }
}
