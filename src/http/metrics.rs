//! Prometheus metrics: requests by route and status, latency histogram, token issuance and
//! denials by reason, database pool usage. Counted in memory; rendered at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::ops::method_not_allowed;
use super::router::{RouteId, Router};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The method labels; anything else is `other`.
const METHODS: [&str; 8] = [
    "GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS", "other",
];

/// Counts of one route and method: atomics, plus a short list of the statuses seen.
#[derive(Default)]
struct MethodStats {
    statuses: Mutex<Vec<(u16, u64)>>,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl MethodStats {
    fn observe(&self, status: u16, elapsed: std::time::Duration) {
        {
            let mut statuses = self.statuses.lock().unwrap_or_else(|p| p.into_inner());
            match statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, n)) => *n += 1,
                None => statuses.push((status, 1)),
            }
        }
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

struct RouteStats {
    pattern: String,
    methods: [MethodStats; METHODS.len()],
}

/// Per-route counters indexed by `RouteId` (the last slot is `unmatched`), so counting a request
/// takes no allocation and no shared lock.
pub struct Metrics {
    routes: Vec<RouteStats>,
    tokens_issued: AtomicU64,
    token_denials: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// `patterns`: the route table's paths in `RouteId` order (`Router::resource_paths`).
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let routes = patterns
            .into_iter()
            .chain(["unmatched"])
            .map(|p| RouteStats {
                pattern: p.to_owned(),
                methods: Default::default(),
            })
            .collect();
        Self {
            routes,
            tokens_issued: AtomicU64::new(0),
            token_denials: Mutex::default(),
        }
    }

    fn observe(
        &self,
        route: Option<RouteId>,
        method: usize,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        let unmatched = self.routes.len() - 1;
        let route = route.map_or(unmatched, |r| r.0.min(unmatched));
        self.routes[route].methods[method].observe(status, elapsed);
    }

    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Relaxed);
    }

    pub fn token_denied(&self, reason: &'static str) {
        *self
            .token_denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    fn render(
        &self,
        pool: &crate::store::Pool,
        authority: &crate::service::authority::Authority,
    ) -> String {
        let mut out = String::with_capacity(4096);
        let mut routes: Vec<&RouteStats> = self.routes.iter().collect();
        routes.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        let seen = || {
            routes.iter().flat_map(|r| {
                let mut methods: Vec<_> = METHODS.iter().zip(&r.methods).collect();
                methods.sort_by_key(|(m, _)| **m);
                methods
                    .into_iter()
                    .filter(|(_, s)| s.count.load(Relaxed) > 0)
                    .map(move |(m, s)| (r.pattern.as_str(), *m, s))
            })
        };
        out.push_str(
            "# HELP http_requests_total HTTP requests by route pattern, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        for (route, method, stats) in seen() {
            let mut statuses = stats
                .statuses
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            statuses.sort();
            for (status, n) in statuses {
                let _ = writeln!(
                    out,
                    "http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time to answer, by route pattern and method.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for (route, method, h) in seen() {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            let count = h.count.load(Relaxed);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(&h.buckets) {
                cumulative += n.load(Relaxed);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            // Read apart from the buckets, `count` may lag them by a request in flight.
            let count = count.max(cumulative);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_nanos.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out.push_str("# HELP latchkey_tokens_issued_total Access tokens issued.\n");
        out.push_str("# TYPE latchkey_tokens_issued_total counter\n");
        let _ = writeln!(
            out,
            "latchkey_tokens_issued_total {}",
            self.tokens_issued.load(Relaxed)
        );
        out.push_str("# HELP latchkey_token_denials_total Token requests refused, by reason.\n");
        out.push_str("# TYPE latchkey_token_denials_total counter\n");
        let denials = self
            .token_denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (reason, n) in denials {
            let _ = writeln!(
                out,
                "latchkey_token_denials_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let state = pool.state();
        out.push_str("# HELP latchkey_db_pool_connections Database connections by state.\n");
        out.push_str("# TYPE latchkey_db_pool_connections gauge\n");
        let _ = writeln!(
            out,
            "latchkey_db_pool_connections{{state=\"idle\"}} {}",
            state.idle_connections
        );
        let _ = writeln!(
            out,
            "latchkey_db_pool_connections{{state=\"in_use\"}} {}",
            state.connections - state.idle_connections
        );
        out.push_str("# HELP latchkey_db_pool_max_connections Pool size limit.\n");
        out.push_str("# TYPE latchkey_db_pool_max_connections gauge\n");
        let _ = writeln!(out, "latchkey_db_pool_max_connections {}", pool.max_size());
        let (sources, keys) = authority.throttle_tracked();
        out.push_str(
            "# HELP latchkey_auth_throttle_tracked Addresses and key ids with recent failed authentications (bounded).\n",
        );
        out.push_str("# TYPE latchkey_auth_throttle_tracked gauge\n");
        let _ = writeln!(
            out,
            "latchkey_auth_throttle_tracked{{table=\"sources\"}} {sources}"
        );
        let _ = writeln!(
            out,
            "latchkey_auth_throttle_tracked{{table=\"keys\"}} {keys}"
        );
        out
    }
}

/// Middleware: counts every request under its route pattern (never the raw path, so ids do
/// not explode the label set).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = Instant::now();
    let method = method_index(req.method());
    let res = next.call(req).await?;
    let request = res.request();
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let route = request.app_data::<RouteId>().copied();
        state
            .metrics
            .observe(route, method, res.status().as_u16(), start.elapsed());
    }
    Ok(res)
}

fn method_index(m: &actix_web::http::Method) -> usize {
    METHODS
        .iter()
        .position(|label| *label == m.as_str())
        .unwrap_or(METHODS.len() - 1)
}

pub fn routes(router: &mut Router) {
    router
        .section(method_not_allowed)
        .add(__path_scrape, scrape);
}

/// Prometheus metrics
///
/// Requests by route pattern, method and status; latency histograms; tokens issued and denied
/// by reason; database pool usage.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String,
            content_type = "text/plain"),
    ),
)]
async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&state.pool, &state.authority))
}
