//! One server span per request, and the request id.
//!
//! The span is named after the route template (never the raw path, which may hold ids), carries
//! method, status and request id, and continues the caller's trace when the request has a W3C
//! `traceparent`. The request id is the caller's `X-Request-Id` when it is a plausible one,
//! otherwise a new one; it is echoed in the response's `X-Request-Id` and in every problem
//! document (`request_id`), so a user's error report leads to the logs and the trace.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing::field::Empty;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-chosen request id taken over; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

tokio::task_local! {
    /// The id of the request being handled, for the problem documents.
    static REQUEST_ID: Arc<str>;
}

/// The id of the request this task serves, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

pub async fn trace_request(req: Request, next: Next) -> Response {
    let request_id: Arc<str> = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| plausible(id))
        .map_or_else(
            || uuid::Uuid::new_v4().simple().to_string().into(),
            Into::into,
        );
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = Empty,
        request_id = %request_id,
    );
    common::telemetry::propagation::continue_from_http(&span, req.headers());
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Printable ASCII without spaces or quotes, of a sane length: safe in a header, a log line
/// and a JSON document.
fn plausible(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::plausible;

    #[test]
    fn only_plausible_request_ids_are_taken_over() {
        assert!(plausible("3f2b9c1e-aa10-4d6c-8f3e-0b1c2d3e4f50"));
        assert!(!plausible(""));
        assert!(!plausible("a b"));
        assert!(!plausible("\"><script>"));
        assert!(!plausible(&"x".repeat(129)));
    }
}
