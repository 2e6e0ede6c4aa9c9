//! What every request of the public and the admin API passes through, as one layer: the request
//! id and span, the answer deadline, the metrics, the untrusted-proxy check and the headers every
//! response carries.
//!
//! One layer rather than one per concern, and a tower service of its own rather than a `from_fn`
//! middleware: `from_fn` clones the rest of the stack, boxes it again as `Next` and boxes its
//! future, per request. Here the work before the route runs in `call`, the route's own future is
//! awaited unboxed and the work after it runs when that future is ready: the fixed cost of every
//! request on the public listener (bench/reports/request-path.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use tokio::task::futures::TaskLocalFuture;
use tokio::time::Timeout;
use tower::{Layer, Service};
use tracing::instrument::Instrumented;
use tracing::{Instrument, Span};

use super::AppState;
use super::error::ApiError;
use super::request_span::{self, REQUEST_ID, REQUEST_ID_HEADER, RequestId};
use super::route_metrics::{RouteMetrics, UNMATCHED};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The one public document browsers and proxies may cache.
const CACHEABLE_PATH: &str = "/openapi.json";

/// The envelope of a router whose routes are `routes` (method, template).
pub fn layer(state: &AppState, routes: &[(&'static str, &'static str)]) -> EnvelopeLayer {
    EnvelopeLayer(Arc::new(Shared {
        routes: RouteMetrics::new(&state.metrics, routes),
        state: state.clone(),
    }))
}

struct Shared {
    state: AppState,
    routes: RouteMetrics,
}

#[derive(Clone)]
pub struct EnvelopeLayer(Arc<Shared>);

impl<S> Layer<S> for EnvelopeLayer {
    type Service = Envelope<S>;

    fn layer(&self, inner: S) -> Envelope<S> {
        Envelope {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// Every request:
/// - gets its id and a server span (`request_span`), continuing the caller's trace;
/// - is answered within `REQUEST_TIMEOUT`: a dependency that hangs (a stalled MongoDB or Redis
///   connection) gives a 503 problem document, never a hung request. The work is dropped at
///   that point; writes are transactional, so nothing half-done remains;
/// - is counted and timed by its route template (never the raw path: that would put ids and
///   tokens into label values and explode cardinality), timeouts included;
/// - is answered with `X-Request-Id`, no MIME sniffing, and no caching by browsers or proxies of
///   anything that may carry personal data or tokens (all but the public OpenAPI document).
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Envelope<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = &self.shared;
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let id = RequestId::of(&req);
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            let forwarded = req.headers().contains_key(X_FORWARDED_FOR);
            shared.state.proxy_check.observe(peer.ip(), forwarded);
        }
        let cacheable = req.uri().path() == CACHEABLE_PATH;
        let label = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let span = request_span::span(&method, label, &id);
        common::telemetry::propagation::continue_from_http(&span, req.headers());
        let limit = shared.state.config.server.request_timeout;
        let started = Instant::now();
        let answer = tokio::time::timeout(limit, self.inner.call(req));
        EnvelopeFuture {
            answer: REQUEST_ID.scope(id.clone(), answer).instrument(span),
            finish: Some(Finish {
                shared: shared.clone(),
                route,
                method,
                id,
                cacheable,
                limit,
                started,
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The route's answer within the deadline, then the metrics and the headers.
    pub struct EnvelopeFuture<F> {
        #[pin]
        answer: Instrumented<TaskLocalFuture<RequestId, Timeout<F>>>,
        finish: Option<Finish>,
    }
}

/// What the envelope needs once the answer is there.
struct Finish {
    shared: Arc<Shared>,
    route: Option<MatchedPath>,
    method: Method,
    id: RequestId,
    cacheable: bool,
    limit: Duration,
    started: Instant,
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let answer = ready!(this.answer.as_mut().poll(cx));
        let span = this.answer.span();
        let finish = this.finish.take().expect("polled after completion");
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => span.in_scope(|| {
                tracing::warn!(timeout = ?finish.limit, "request timed out");
                REQUEST_ID.sync_scope(finish.id.clone(), || {
                    ApiError::Unavailable("request timed out").into_response()
                })
            }),
        };
        Poll::Ready(Ok(finish.answered(span, response)))
    }
}

impl Finish {
    /// Counts and times the answer, records its status on the span, adds the headers.
    fn answered(self, span: &Span, mut response: Response) -> Response {
        let status = response.status();
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        let seconds = self.started.elapsed().as_secs_f64();
        self.shared
            .routes
            .record(&self.method, route, status, seconds);
        request_span::finish(span, status);
        let headers = response.headers_mut();
        headers.insert(REQUEST_ID_HEADER, self.id.into_header_value());
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if !self.cacheable {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}
