//! One server span per request, and the request id.
//!
//! The span is named after the route template (never the raw path, which may hold ids), carries
//! method, status and request id, and continues the caller's trace when the request has a W3C
//! `traceparent`. The request id is the caller's `X-Request-Id` when it is a plausible one,
//! otherwise a new one; it is echoed in the response's `X-Request-Id` and in every problem
//! document (`request_id`), so a user's error report leads to the logs and the trace.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use tracing::field::Empty;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-chosen request id taken over; longer ones are replaced.
const MAX_REQUEST_ID: usize = 128;

tokio::task_local! {
    /// The id of the request being handled, for the problem documents.
    pub(super) static REQUEST_ID: RequestId;
}

/// `f` of the id of the request this task serves, if any (no bytes copied: the id's clone
/// is a reference count).
pub fn with_request_id<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    let id = REQUEST_ID.try_with(RequestId::clone).ok();
    f(id.as_ref().map(RequestId::as_str))
}

/// A request id, kept as the header value it is echoed in (cloning it copies no bytes).
#[derive(Clone, Debug)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// The caller's id when it is a plausible one, else a new one.
    pub fn of(req: &Request) -> Self {
        req.headers()
            .get(&REQUEST_ID_HEADER)
            .filter(|v| plausible(v.as_bytes()))
            .map_or_else(Self::generate, |v| Self(v.clone()))
    }

    /// A random (version 4) UUID as 32 hex digits, from the thread's random generator: unique
    /// without a system call per request.
    fn generate() -> Self {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = [0u8; uuid::fmt::Simple::LENGTH];
        let text = uuid.simple().encode_lower(&mut text);
        Self(HeaderValue::from_str(text).expect("hex digits are a valid header value"))
    }

    pub fn as_str(&self) -> &str {
        // Plausible ids and hex digits only: always visible ASCII.
        self.0.to_str().unwrap_or_default()
    }

    pub fn into_header_value(self) -> HeaderValue {
        self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server span of a request to `route` (its template, or "unmatched").
pub fn span(method: &Method, route: &str, id: &RequestId) -> tracing::Span {
    // Plain strings where they can be: the log layer copies them as they are, where a
    // `Display` value goes through the formatting machinery. `otel.name` is only formatted by
    // the trace export, when on.
    tracing::info_span!(
        "http.request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = route,
        http.response.status_code = Empty,
        request_id = id.as_str(),
    )
}

/// Records the response's status on the request's span.
pub fn finish(span: &tracing::Span, status: StatusCode) {
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
}

/// Printable ASCII without spaces or quotes, of a sane length: safe in a header, a log line
/// and a JSON document.
fn plausible(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_request_ids_are_taken_over() {
        assert!(plausible(b"3f2b9c1e-aa10-4d6c-8f3e-0b1c2d3e4f50"));
        assert!(!plausible(b""));
        assert!(!plausible(b"a b"));
        assert!(!plausible(b"\"><script>"));
        assert!(!plausible("x".repeat(129).as_bytes()));
    }

    #[test]
    fn generated_ids_are_distinct_version_4_uuids() {
        let request = Request::new(axum::body::Body::empty());
        let (a, b) = (RequestId::of(&request), RequestId::of(&request));
        assert_ne!(a.as_str(), b.as_str());
        let parsed = uuid::Uuid::parse_str(a.as_str()).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 4);
        assert_eq!(a.as_str().len(), 32);
    }

    #[test]
    fn the_request_id_is_lent_inside_its_scope_only() {
        let id = RequestId(HeaderValue::from_static("req-7"));
        let inside = REQUEST_ID.sync_scope(id, || with_request_id(|id| id.map(str::to_owned)));
        assert_eq!(inside.as_deref(), Some("req-7"));
        assert_eq!(with_request_id(|id| id.map(str::to_owned)), None);
    }

    #[test]
    fn a_plausible_caller_id_is_kept_and_others_replaced() {
        let with = |id: &str| {
            let mut request = Request::new(axum::body::Body::empty());
            request
                .headers_mut()
                .insert(REQUEST_ID_HEADER, HeaderValue::from_str(id).unwrap());
            RequestId::of(&request)
        };
        assert_eq!(with("req-42").as_str(), "req-42");
        assert_ne!(with("a b").as_str(), "a b");
    }
}
