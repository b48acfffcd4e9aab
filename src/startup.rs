//! Builds the server: storage, key material, state, routes, and a bound listener (port 0 works,
//! which is how the tests get one server each).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

use crate::config::Settings;
use crate::crypto::MasterKey;
use crate::domain::audience::Audiences;
use crate::domain::issuer::Issuer;
use crate::http::{self, AppState};
use crate::outbound::Outbound;
use crate::outbound::key_sets::KeySets;
use crate::service::authority::keycache::{Clock, KeyCache};
use crate::service::authority::throttle::Throttle;
use crate::service::authority::{Authority, TokenSettings};
use crate::service::keyring::{self, KeyRing};
use crate::service::{self, orgs::Bootstrapped};
use crate::store::{self, PoolOptions};
use crate::usage::UsageRecorder;

/// Time allowed for a request's head (line and headers) to arrive.
pub const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle keep-alive connection is closed after this.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub struct Application {
    port: u16,
    issuer: String,
    server: Server,
    /// Flushed once more after the server stops, so a graceful stop loses no counts.
    usage: Arc<UsageRecorder>,
    /// Gives back the quota credits this node holds when the server stops.
    budget: Arc<crate::service::authority::Budget>,
    pool: store::Pool,
    /// Set when this start bootstrapped org `default` on an empty database.
    pub bootstrapped: Option<Bootstrapped>,
}

impl Application {
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        // Exactly as configured, a trailing `/` included (clients compare it as a string), and
        // refused before anything is touched when it cannot be served.
        let configured_issuer = match &settings.issuer {
            Some(text) => Some(
                Issuer::parse(text)
                    .map_err(|why| anyhow::anyhow!("--issuer {text}: the issuer {why}"))?,
            ),
            None => None,
        };
        let configured_audiences = match settings.audiences.as_slice() {
            [] => None,
            list => Some(
                Audiences::parse(list.to_vec())
                    .map_err(|why| anyhow::anyhow!("--audience: {why}"))?,
            ),
        };
        let master = MasterKey::resolve(settings.master_key.as_deref(), &settings.keys_dir)?;
        let pool = store::connect(
            &settings.database_url,
            &PoolOptions {
                max_size: settings.db_pool_size,
                connect_timeout: settings.db_connect_timeout,
                statement_timeout: settings.db_statement_timeout,
            },
        )?;
        store::migrate(&pool)?;
        let (bootstrapped, keyring) = {
            let mut conn = pool.get()?;
            let bootstrapped = service::orgs::ensure_default(
                &mut conn,
                &master,
                &settings.secret_prefix,
                service::now(),
            )?;
            // Orgs of a database from before next keys get theirs before this node signs.
            service::signing_keys::ensure_next_keys(&mut conn, &master, service::now())?;
            (bootstrapped, KeyRing::load(&mut conn, master)?)
        };

        let listener = TcpListener::bind(settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let issuer = match configured_issuer {
            Some(issuer) => issuer,
            None => Issuer::parse(&format!("http://{}:{port}", host_for_url(&settings.listen)))
                .map_err(|why| anyhow::anyhow!("the default issuer {why}"))?,
        };
        let audiences = match configured_audiences {
            Some(audiences) => audiences,
            None => Audiences::parse(vec![issuer.to_string()])
                .map_err(|why| anyhow::anyhow!("the default audience: {why}"))?,
        };
        let keyring = Arc::new(keyring);
        let keys = KeyCache::load(&mut *pool.get()?, Clock::Real(std::time::Instant::now()))?;
        keyring::spawn_refresher(&keyring, pool.clone(), settings.key_refresh);
        let usage = Arc::new(if settings.usage_metering {
            UsageRecorder::default()
        } else {
            UsageRecorder::disabled()
        });
        crate::usage::spawn_flusher(&usage, pool.clone(), settings.usage_flush_interval);
        crate::usage::spawn_retention(
            &usage,
            pool.clone(),
            settings.usage_hourly_retention,
            settings.usage_daily_retention,
        );
        let (shutdown_usage, shutdown_pool) = (usage.clone(), pool.clone());
        // The route table is built once here for the metrics labels and the OpenAPI document,
        // and once more per worker (actix routes are not `Clone`): all from the same function,
        // so the document describes exactly what is routed and counted.
        // Under an issuer with a path, every route is served there too (`Router::under`).
        let mount = issuer.path().to_owned();
        let routes = http::router_under(&mount);
        warn_of_reach(&settings);
        let authority = Arc::new(Authority::new(
            keys,
            keyring.clone(),
            Throttle::new(settings.auth_throttle, settings.auth_throttle_capacity),
            usage.clone(),
            TokenSettings {
                audiences,
                issuer: issuer.clone(),
                ttl: settings.token_ttl,
            },
            Arc::new(KeySets::new(Outbound::new(
                settings.reach,
                settings.fetch_timeout,
            )?)),
        ));
        authority.follow_changes(pool.clone());
        let budget = authority.budget().clone();
        let github_keys = match &settings.github_scanning_keys {
            None => None,
            Some(path) => {
                let text = anyhow::Context::with_context(std::fs::read(path), || {
                    format!("reading the GitHub key file {}", path.display())
                })?;
                let keys = crate::crypto::github_signature::GithubKeys::parse(&text)
                    .map_err(|e| anyhow::anyhow!("the GitHub key file {}: {e}", path.display()))?;
                tracing::info!(keys = ?keys.key_identifiers(), "GitHub secret-scanning alerts accepted");
                Some(Arc::new(keys))
            }
        };
        let lifecycle = crate::service::lifecycle::Lifecycle::start(
            pool.clone(),
            keyring.master().clone(),
            &settings.webhooks,
        )?;
        let state = web::Data::new(AppState {
            pool,
            keyring,
            authority,
            rotation_leeway: settings.rotation_leeway,
            jwks_max_age: settings.jwks_max_age,
            metrics: Arc::new(http::metrics::Metrics::new(routes.resource_paths())),
            usage,
            trusted_proxies: settings.trusted_proxies.clone(),
            forwarded_header: settings.forwarded_header,
            webhooks: lifecycle,
            webhook_reach: settings.webhooks.reach,
            github_keys,
            secret_prefix: settings.secret_prefix.clone(),
        });
        let openapi = web::Data::new(http::openapi::ApiDocument::new(&routes)?);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::metrics::track))
                .wrap(actix_web::middleware::from_fn(http::logging::trace))
                .app_data(state.clone())
                .app_data(openapi.clone())
                .configure(|cfg| http::router_under(&mount).register(cfg))
                .default_service(web::to(http::ops::not_found))
        })
        // Slow clients: the request head must arrive within CLIENT_REQUEST_TIMEOUT (else 408),
        // the body within `http::body::BODY_TIMEOUT`, and an idle keep-alive connection is
        // closed after KEEP_ALIVE. actix-http caps the head at 96 headers and 128 KiB (431).
        .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
        .client_disconnect_timeout(Duration::from_secs(1))
        .keep_alive(KEEP_ALIVE)
        .listen(listener)?;
        if let Some(workers) = settings.workers {
            server = server.workers(workers);
        }
        Ok(Self {
            port,
            issuer: issuer.to_string(),
            server: server.run(),
            usage: shutdown_usage,
            budget,
            pool: shutdown_pool,
            bootstrapped,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Serves until SIGINT/SIGTERM (actix handles both with a graceful stop).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let (usage, budget, pool) = (self.usage, self.budget, self.pool);
        let flushed = actix_web::web::block(move || {
            crate::usage::flush_at_shutdown(&usage, &pool);
            let returned = pool
                .get()
                .map_err(store::StoreError::from)
                .map_err(crate::service::ServiceError::from)
                .and_then(|mut conn| budget.stop(&mut conn));
            if let Err(e) = returned {
                tracing::error!(error = %e, "quota credits held by this node were not given back");
            }
        })
        .await;
        if let Err(e) = flushed {
            tracing::error!(error = %e, "usage flush at shutdown did not run");
        }
        served
    }
}

fn host_for_url(addr: &std::net::SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => "localhost".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    }
}

/// The flags that open fetches of user-given URLs to plain http and private addresses are for
/// tests and closed networks: say so at every start, where an operator looks.
fn warn_of_reach(settings: &Settings) {
    if settings.reach.http {
        tracing::warn!(
            "--allow-http-issuers is on: client JWKS and federated issuers are fetched over plain http, where anyone on the path can substitute keys; for tests and closed networks only"
        );
    }
    if settings.reach.private {
        tracing::warn!(
            "--allow-private-issuers is on: client JWKS and federated issuer URLs may reach loopback, private and link-local addresses (cloud metadata included); for tests and closed networks only"
        );
    }
    if settings.webhooks.reach.http {
        tracing::warn!(
            "--webhook-allow-http is on: webhooks may be delivered over plain http, where anyone on the path reads the events; for tests and closed networks only"
        );
    }
    if settings.webhooks.reach.private {
        tracing::warn!(
            "--webhook-allow-private is on: webhooks may be delivered to loopback, private and link-local addresses (cloud metadata included); for tests and closed networks only"
        );
    }
}
