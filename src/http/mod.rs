//! actix-web adapters only: extract → call a service on the blocking pool → serialize. No SQL.

pub mod auth;
pub mod body;
pub mod keys;
pub mod ops;
pub mod problem;

use std::time::Duration;

use actix_web::web;
use ipnet::IpNet;

use crate::crypto::MasterKey;
use crate::service::ServiceError;
use crate::store::{DbConnection, Pool};
use problem::ApiError;

/// Largest request body accepted anywhere (SPEC: 413 above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Shared by every worker; cheap to clone (the pool is reference-counted).
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub master: MasterKey,
    pub trusted_proxies: Vec<IpNet>,
    pub issuer: String,
    pub audience: String,
    pub token_ttl: Duration,
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
    cfg.configure(ops::routes).configure(keys::routes);
}
