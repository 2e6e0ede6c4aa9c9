//! What every request of the public and the admin API passes through, as one layer: the request
//! id and span, the answer deadline, the metrics, the untrusted-proxy check and the headers every
//! response carries.
//!
//! One layer rather than one per concern: each `from_fn` middleware boxes the rest of the stack
//! and its future per request, and with four of them the public listener's fixed cost per request
//! was more than twice a bare axum route's (bench/reports/request-path.md).

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::AppState;
use super::error::ApiError;
use super::request_span::{self, REQUEST_ID, REQUEST_ID_HEADER, RequestId};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The one public document browsers and proxies may cache.
const CACHEABLE_PATH: &str = "/openapi.json";

/// Every request:
/// - gets its id and a server span (`request_span`), continuing the caller's trace;
/// - is answered within `REQUEST_TIMEOUT`: a dependency that hangs (a stalled MongoDB or Redis
///   connection) gives a 503 problem document, never a hung request. The work is dropped at
///   that point; writes are transactional, so nothing half-done remains;
/// - is counted and timed by its route template (never the raw path: that would put ids and
///   tokens into label values and explode cardinality), timeouts included;
/// - is answered with `X-Request-Id`, no MIME sniffing, and no caching by browsers or proxies of
///   anything that may carry personal data or tokens (all but the public OpenAPI document).
pub async fn envelope(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = req.method().clone();
    let id = RequestId::of(&req);
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let forwarded = req.headers().contains_key(X_FORWARDED_FOR);
        state.proxy_check.observe(peer.ip(), forwarded);
    }
    let cacheable = req.uri().path() == CACHEABLE_PATH;
    let span = request_span::span(&method, route, &id);
    common::telemetry::propagation::continue_from_http(&span, req.headers());
    let limit = state.config.server.request_timeout;
    let started = Instant::now();
    let answer = async move {
        match tokio::time::timeout(limit, next.run(req)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(timeout = ?limit, "request timed out");
                ApiError::Unavailable("request timed out").into_response()
            }
        }
    };
    let mut response = REQUEST_ID
        .scope(id.clone(), answer)
        .instrument(span.clone())
        .await;
    let status = response.status();
    let metrics = &state.metrics;
    metrics
        .http_duration
        .with_label_values(&[method.as_str(), route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[method.as_str(), route, status.as_str()])
        .inc();
    request_span::finish(&span, status);
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID_HEADER, id.header_value());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
