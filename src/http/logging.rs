//! Request spans for tracing-actix-web that never carry a query string or a header: secrets
//! must not reach the logs, and a client may put one where it does not belong (e.g.
//! `?client_secret=…`, which the token endpoint refuses, after the request line is seen).

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

pub struct QuietRootSpan;

impl RootSpanBuilder for QuietRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing::info_span!(
            "request",
            method = %request.method(),
            // The route pattern (`/v1/keys/{id}`), or the path alone; never the query.
            route = %request.match_pattern().unwrap_or_else(|| request.path().to_owned()),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(res) => {
                let status = res.status().as_u16();
                span.record("status", status);
                if res.status().is_server_error() {
                    tracing::warn!(parent: &span, status, "request failed");
                } else {
                    tracing::debug!(parent: &span, status, "request");
                }
            }
            Err(e) => tracing::warn!(parent: &span, error = %e, "request failed"),
        }
    }
}
