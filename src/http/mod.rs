//! actix-web adapters only: extract → call a service on the blocking pool → serialize. No SQL.

pub mod audit;
pub mod auth;
pub mod body;
pub mod check;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod ops;
pub mod problem;
pub mod signing_keys;
pub mod usage;
pub mod well_known;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use ipnet::IpNet;

use crate::service::ServiceError;
use crate::service::keyring::KeyRing;
use crate::service::tokens::TokenSettings;
use crate::store::{DbConnection, Pool};
use problem::ApiError;

/// Largest request body accepted anywhere (SPEC: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every worker; cheap to clone (the pool is reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keyring: Arc<KeyRing>,
    /// Extra time a retired signing key stays published beyond the token TTL.
    pub rotation_leeway: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub tokens: TokenSettings,
    pub metrics: Arc<metrics::Metrics>,
    pub usage: Arc<crate::usage::UsageRecorder>,
}

impl AppState {
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
}

/// Every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(ops::routes)
        .configure(metrics::routes)
        .configure(well_known::routes)
        .configure(oauth::routes)
        .configure(keys::routes)
        .configure(signing_keys::routes)
        .configure(check::routes)
        .configure(usage::routes)
        .configure(audit::routes);
}
