//! Who is calling: the client address, and the `Authorization: Bearer` caller of the admin API.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use super::problem::ApiError;
use crate::domain::client_ip;
use crate::domain::refusal::Refusal;
use crate::domain::scope::{Action, Scope};
use crate::service::actor::Actor;
use crate::service::authority::Presented;

/// The client address per the trusted-proxy rule, read from the one header the operator named
/// (`domain::client_ip`). Allocation-free: a static header name, hops walked in place.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    use actix_web::http::header::HeaderName;
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if state.trusted_proxies.is_empty() {
        return client_ip::unmap(peer);
    }
    let believed = state.forwarded_header;
    let name = match believed {
        client_ip::ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
        client_ip::ForwardedHeader::Forwarded => header::FORWARDED,
    };
    let values = req.headers().get_all(name).map(|value| value.as_bytes());
    client_ip::resolve(peer, &state.trusted_proxies, believed, values)
}

/// `Authorization: Bearer <credential>` (scheme case-insensitive, RFC 7235 §2.1).
pub fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim())
        .filter(|t| !t.is_empty())
}

/// An authenticated admin-API caller: an active key of some org, used from an allowed address.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub org_id: String,
    pub scopes: Vec<Scope>,
    pub ip: IpAddr,
    /// The key that started this console session, when the caller is one.
    pub session_parent: Option<String>,
}

impl Caller {
    /// Every admin call needs `admin` (or `*`) over the resource path it touches.
    pub fn require(&self, action: Action, resource: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s.allows(action, resource)) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(format!(
                "this credential has no `{}` scope over `{resource}`",
                action.as_str()
            )))
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            org_id: self.org_id.clone(),
            key_id: Some(self.key_id.clone()),
            scopes: self.scopes.clone(),
            ip: Some(self.ip),
            session_parent: self.session_parent.clone(),
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .ok_or_else(|| ApiError::Internal("application state missing".into()))?
                .clone();
            let presented = Presented::Bearer(
                bearer(&req)
                    .ok_or(ApiError::Refused(Refusal::Missing))?
                    .to_owned(),
            );
            let ip = client_ip(&req, &state);
            let st = state.clone();
            let actor = state
                .read(move |conn| {
                    st.authority
                        .authenticate(conn, &presented, ip, crate::service::now())
                })
                .await?
                .map_err(ApiError::Refused)?;
            Ok(Caller {
                key_id: actor.key_id.unwrap_or_default(),
                org_id: actor.org_id,
                scopes: actor.scopes,
                ip,
                session_parent: actor.session_parent,
            })
        })
    }
}
