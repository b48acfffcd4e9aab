//! Who is acting on an org: an authenticated key, or the command-line operator.

use crate::domain::scope::{Action, ResourceFilter, Scope};

/// Who is acting: an authenticated key (its scopes bound what it may grant) or the CLI operator.
#[derive(Debug, Clone)]
pub struct Actor {
    pub org_id: String,
    /// `None` for the command line, which acts with the org's full authority.
    pub key_id: Option<String>,
    pub scopes: Vec<Scope>,
    /// Where the request came from, for the audit trail (`None` for the command line).
    pub ip: Option<std::net::IpAddr>,
    /// When the acting key is a console session: the key that started it. The audit trail
    /// credits what a session does to this key, "via console" (`audit::record`).
    pub session_parent: Option<String>,
}

impl Actor {
    /// The command line acting on an org: every scope, recorded as `cli`.
    pub fn cli(org_id: &str) -> Self {
        Actor {
            org_id: org_id.to_owned(),
            key_id: None,
            scopes: vec![Scope::new(Action::Any, ResourceFilter::all())],
            ip: None,
            session_parent: None,
        }
    }
}
