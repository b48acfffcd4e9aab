//! Prometheus metrics: requests by route and status, latency histogram, token issuance and
//! denials by reason, database pool usage. Counted in memory; rendered at `GET /metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use super::AppState;
use super::router::Router;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: HashMap<(String, &'static str, u16), u64>,
    latency: HashMap<(String, &'static str), Histogram>,
    tokens_issued: u64,
    token_denials: HashMap<&'static str, u64>,
}

/// One lock, held for a few map updates per request: cheap next to the request itself.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observe(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        let mut m = self.lock();
        *m.requests
            .entry((route.to_owned(), method, status))
            .or_default() += 1;
        let h = m.latency.entry((route.to_owned(), method)).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            h.counts[i] += 1;
        }
        h.sum += seconds;
        h.count += 1;
    }

    pub fn token_issued(&self) {
        self.lock().tokens_issued += 1;
    }

    pub fn token_denied(&self, reason: &'static str) {
        *self.lock().token_denials.entry(reason).or_default() += 1;
    }

    fn render(
        &self,
        pool: &crate::store::Pool,
        throttle: &crate::service::throttle::Throttle,
    ) -> String {
        let m = self.lock();
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP http_requests_total HTTP requests by route pattern, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        let mut rows: Vec<_> = m.requests.iter().collect();
        rows.sort();
        for ((route, method, status), n) in rows {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP http_request_duration_seconds Time to answer, by route pattern and method.\n",
        );
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        let mut hists: Vec<_> = m.latency.iter().collect();
        hists.sort_by(|a, b| a.0.cmp(b.0));
        for ((route, method), h) in hists {
            let labels = format!("route=\"{route}\",method=\"{method}\"");
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP latchkey_tokens_issued_total Access tokens issued.\n");
        out.push_str("# TYPE latchkey_tokens_issued_total counter\n");
        let _ = writeln!(out, "latchkey_tokens_issued_total {}", m.tokens_issued);
        out.push_str("# HELP latchkey_token_denials_total Token requests refused, by reason.\n");
        out.push_str("# TYPE latchkey_token_denials_total counter\n");
        let mut denials: Vec<_> = m.token_denials.iter().collect();
        denials.sort();
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
        let (sources, keys) = throttle.tracked();
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
    let method = method_label(req.method());
    let metrics = req.app_data::<web::Data<AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(state) = metrics {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        state.metrics.observe(
            &route,
            method,
            res.status().as_u16(),
            start.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

fn method_label(m: &actix_web::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

pub fn routes(router: &mut Router) {
    router
        .section(super::ops::method_not_allowed)
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
        .body(state.metrics.render(&state.pool, &state.throttle))
}
