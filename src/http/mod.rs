//! actix-web adapters only: extract → call a service on the blocking pool → serialize. No SQL.

pub mod audit;
pub mod auth;
pub mod body;
pub mod check;
pub mod console;
pub mod keys;
pub mod leaks;
pub mod logging;
pub mod metrics;
pub mod oauth;
mod oauth_doc;
pub mod openapi;
pub mod ops;
pub mod problem;
pub mod router;
pub mod sessions;
pub mod signing_keys;
pub mod usage;
pub mod webhooks;
pub mod well_known;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use ipnet::IpNet;

use crate::domain::client_ip::ForwardedHeader;
use crate::domain::secret::SecretPrefix;
use crate::service::ServiceError;
use crate::service::authority::Authority;
use crate::service::keyring::KeyRing;
use crate::service::signing_keys::RotationWindows;
use crate::store::{Conn, DbConnection, Pool, StoreError};
use problem::ApiError;
use router::Router;

/// Largest request body accepted anywhere (SPEC: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every worker; cheap to clone (the pool is reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keyring: Arc<KeyRing>,
    /// Every credential decision: authentication, tokens, introspection, check, revocation.
    pub authority: Arc<Authority>,
    /// Extra time a retired signing key stays published beyond the token TTL.
    pub rotation_leeway: Duration,
    /// The JWKS `max-age`: how long verifiers may cache it, and (plus the leeway) how long a
    /// staged signing key is published before it signs.
    pub jwks_max_age: Duration,
    pub trusted_proxies: Vec<IpNet>,
    /// The one header believed from `trusted_proxies` (`Copy`: read on every request for free).
    pub forwarded_header: ForwardedHeader,
    pub metrics: Arc<metrics::Metrics>,
    pub usage: Arc<crate::usage::UsageRecorder>,
    /// The webhook sender and expiry warnings of this node (held here: they run while it lives).
    pub webhooks: Arc<crate::service::lifecycle::Lifecycle>,
    /// What webhook URLs may reach (`--webhook-allow-http`, `--webhook-allow-private`).
    pub webhook_reach: crate::outbound::Reach,
    /// GitHub's secret-scanning keys (`--github-scanning-keys`); `None`: the endpoint is off.
    pub github_keys: Option<Arc<crate::crypto::github_signature::GithubKeys>>,
    /// The prefix of the secrets this node issues (`--secret-prefix`).
    pub secret_prefix: SecretPrefix,
}

impl AppState {
    /// The windows of a signing-key rotation made through the API.
    pub fn rotation_windows(&self) -> RotationWindows {
        RotationWindows::new(
            self.authority.tokens().ttl,
            self.rotation_leeway,
            self.jwks_max_age,
        )
    }

    /// Runs storage work on actix's blocking pool, never on the async executor.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ServiceError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(crate::store::StoreError::from)?;
            f(&mut conn)
        })
        .await?
        .map_err(ApiError::from)
    }

    /// Read-only work that usually needs no database: tried on the executor first with an
    /// offline connection, and repeated on the blocking pool only when it asked for one. Work
    /// that needs a set of public keys fetched (a client assertion) is run again once it is;
    /// the key-set cache never asks twice for one set within a second, so this ends.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn(&mut Conn<'_>) -> Result<T, ServiceError> + Send + Sync + 'static,
        T: Send + 'static,
    {
        let mut outcome = f(&mut Conn::Offline);
        if !matches!(
            outcome,
            Err(ServiceError::Store(StoreError::Offline) | ServiceError::FetchFirst(_))
        ) {
            return outcome.map_err(ApiError::from);
        }
        let f = Arc::new(f);
        for _ in 0..6 {
            outcome = match outcome {
                Err(ServiceError::Store(StoreError::Offline)) => {
                    let run = f.clone();
                    match self.db(move |conn| run(&mut Conn::Attached(conn))).await {
                        Err(ApiError::Service(e)) => Err(e),
                        other => return other,
                    }
                }
                Err(ServiceError::FetchFirst(source)) => {
                    self.authority.key_sets().refresh(&source).await;
                    f(&mut Conn::Offline)
                }
                other => return other.map_err(ApiError::from),
            };
        }
        // Still asking after six rounds (fetches slower than the refetch interval): the keys
        // are not there to be had now, which is a 503 and not a server error.
        match outcome {
            Err(ServiceError::FetchFirst(_)) => Err(ApiError::Refused(
                crate::domain::refusal::Refusal::KeysUnavailable,
            )),
            other => other.map_err(ApiError::from),
        }
    }
}

/// Every route of the service with its OpenAPI operation: actix serves this table
/// (`Router::register`) and `GET /v1/openapi.json` documents it (`openapi::document`).
pub fn router() -> Router {
    router_under("")
}

/// `router()`, every route also served under `mount`, the issuer's path (`Router::under`): what
/// the server routes. The document is the same as `router()`'s.
pub fn router_under(mount: &str) -> Router {
    let mut router = Router::under(mount);
    ops::routes(&mut router);
    metrics::routes(&mut router);
    well_known::routes(&mut router);
    oauth::routes(&mut router);
    keys::routes(&mut router);
    sessions::routes(&mut router);
    signing_keys::routes(&mut router);
    check::routes(&mut router);
    usage::routes(&mut router);
    audit::routes(&mut router);
    webhooks::routes(&mut router);
    leaks::routes(&mut router);
    openapi::routes(&mut router);
    // Not API operations: the web console's static files, left out of the OpenAPI document.
    console::routes(&mut router);
    router
}
