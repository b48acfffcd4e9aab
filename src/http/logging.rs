//! Request logging that never carries a query string or a header: secrets must not reach the
//! logs, and a client may put one where it does not belong (e.g. `?client_secret=…`, which the
//! token endpoint refuses, after the request line is seen).
//!
//! A request span exists at `debug` level only: at the default `info` its creation and field
//! formatting would add 31 % to the instructions of a `/v1/check` (bench/instructions.sh). A failed request (5xx or a middleware error) is logged
//! at `warn` with its method, route and status whatever the level, so an operator at `info`
//! still sees which request failed, next to the error line the handler wrote.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use tracing::{Instrument, Level, Span};

/// Middleware: the request span (at debug) and the failure line (at warn).
pub async fn trace(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let span = if tracing::enabled!(Level::DEBUG) {
        tracing::debug_span!(
            "request",
            method = %req.method(),
            route = %route(&req),
            status = tracing::field::Empty,
        )
    } else {
        Span::none()
    };
    let method = req.method().clone();
    let outcome = next.call(req).instrument(span.clone()).await;
    match &outcome {
        Ok(res) => {
            let status = res.status().as_u16();
            span.record("status", status);
            if res.status().is_server_error() {
                tracing::warn!(
                    parent: &span,
                    %method,
                    route = %res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned()),
                    status,
                    "request failed"
                );
            } else {
                tracing::debug!(parent: &span, status, "request");
            }
        }
        Err(e) => tracing::warn!(parent: &span, %method, error = %e, "request failed"),
    }
    outcome
}

/// The route pattern (`/v1/keys/{id}`), or `unmatched`: never the path itself, where a client
/// may have put anything.
fn route(req: &ServiceRequest) -> String {
    req.match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned())
}
