//! RFC 7662 token introspection: what a token or an API-key secret of the caller's org is.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Authority, Refusal};
use crate::domain::audience::Audience;
use crate::domain::scope::format_scope_list;
use crate::service::ServiceResult;
use crate::service::actor::Actor;
use crate::store::Conn;

/// RFC 7662 §2.2 introspection response. `{"active": false}` and nothing more for anything
/// invalid, expired, revoked, of an inactive key, or of another org. The type the endpoint
/// serialises, so the document and the answer cannot differ.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// `Bearer` for an access token, `api_key` for an API-key secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "Bearer")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Absent for an API key without expiry (RFC 7662 §2.2: an integer when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// For an API key: when it was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Access tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Access tokens only: as in the token, a string or (requested for several resources, RFC
    /// 8707) an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<AudienceDoc>)]
    pub aud: Option<Audience>,
    /// Access tokens only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The key's metadata, when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

// The `aud` claim's two shapes, for the document only: `domain::audience::Audience` is what is
// serialised.
/// An access token's `aud`: a string, or an array for a token requested for several resources
/// (RFC 8707).
#[derive(Serialize, ToSchema)]
#[schema(as = Audience)]
#[serde(untagged)]
#[expect(dead_code, reason = "describes a body serialised elsewhere")]
enum AudienceDoc {
    One(String),
    Many(Vec<String>),
}

impl Authority {
    /// RFC 7662 §2: only credentials of the caller's org are ever reported active. `Err` only
    /// when the caller is throttled (an unknown secret would need a lookup).
    pub fn introspect(
        &self,
        conn: &mut Conn<'_>,
        caller: &Actor,
        presented: &str,
        now: DateTime<Utc>,
    ) -> ServiceResult<Result<Introspection, Refusal>> {
        let subject = match self.subject(conn, caller, presented, now)? {
            Ok(s) => s,
            Err(Refusal::Throttled(wait)) => return Ok(Err(Refusal::Throttled(wait))),
            Err(_) => return Ok(Ok(Introspection::default())),
        };
        if subject.key.admit(None, now).is_err() {
            return Ok(Ok(Introspection::default()));
        }
        let key = &subject.key;
        let scope = Some(format_scope_list(&subject.scopes));
        let metadata = Some(key.attributes.metadata.clone()).filter(|m| !m.is_empty());
        Ok(Ok(match &subject.token {
            Some(t) => {
                let c = &t.claims;
                Introspection {
                    active: true,
                    token_type: Some("Bearer"),
                    scope,
                    client_id: Some(c.client_id.clone()),
                    sub: Some(c.sub.clone()),
                    org_id: Some(c.org_id.clone()),
                    exp: Some(c.exp),
                    iat: Some(c.iat),
                    iss: Some(c.iss.clone()),
                    aud: Some(c.aud.clone()),
                    jti: Some(c.jti.clone()),
                    metadata,
                }
            }
            None => Introspection {
                active: true,
                token_type: Some("api_key"),
                scope,
                client_id: Some(key.id.clone()),
                sub: Some(key.id.clone()),
                org_id: Some(key.org_id.clone()),
                exp: key.expires_at.map(|e| e.timestamp()),
                iat: Some(key.created_at.timestamp()),
                metadata,
                ..Introspection::default()
            },
        }))
    }
}
