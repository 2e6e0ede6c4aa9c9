//! The public API: one module per resource, one shared state, one error type.

pub mod admin;
mod auth;
mod client;
pub mod docs;
mod email_requests;
pub mod error;
mod fields;
pub mod forward_auth;
mod forward_origin;
mod json;
mod mfa;
pub mod openapi;
pub mod pages;
mod password_resets;
mod problem;
pub mod request_span;
mod sessions;
mod users;
mod verifications;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};

pub use crate::state::AppState;
use error::ApiError;

/// Bodies are small JSON documents; 64 KiB leaves room for a 1024-character password in any
/// script while refusing junk early.
const BODY_LIMIT: usize = 64 * 1024;

/// Every (method, route template) of the public API, for metrics that start at zero.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/openapi.json"),
    ("POST", "/v1/users"),
    ("GET", "/v1/users/me"),
    ("PATCH", "/v1/users/me"),
    ("DELETE", "/v1/users/me"),
    ("PUT", "/v1/users/me/password"),
    ("POST", "/v1/users/me/mfa/totp"),
    ("DELETE", "/v1/users/me/mfa/totp"),
    ("POST", "/v1/users/me/mfa/totp/confirm"),
    ("POST", "/v1/sessions/mfa"),
    ("POST", "/v1/email-verifications"),
    ("POST", "/v1/email-verifications/confirm"),
    ("POST", "/v1/password-resets"),
    ("POST", "/v1/password-resets/confirm"),
    ("POST", "/v1/sessions"),
    ("GET", "/v1/sessions"),
    ("DELETE", "/v1/sessions"),
    ("DELETE", "/v1/sessions/current"),
    ("DELETE", "/v1/sessions/{id}"),
    ("GET", "/v1/auth/check"),
];

pub fn router(state: AppState) -> Router {
    let request_timeout = state.config.server.request_timeout;
    state.metrics.start_routes_at_zero(ROUTES);
    let pages = if state.config.pages.enabled {
        state.metrics.start_routes_at_zero(pages::ROUTES);
        pages::router(&state)
    } else {
        Router::new()
    };
    Router::new()
        .merge(api_routes())
        .merge(pages)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            answer_within,
        ))
        // Timeouts and fallbacks get the headers too.
        .layer(middleware::from_fn(security_headers))
        // Outermost: the request's span and id cover everything above.
        .layer(middleware::from_fn(request_span::trace_request))
        .with_state(state)
}

/// The public API's routes (the hosted pages are merged beside them).
fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/v1/users", post(users::register))
        .route(
            "/v1/users/me",
            get(users::me)
                .patch(users::update_me)
                .delete(users::delete_me),
        )
        .route("/v1/users/me/password", put(users::change_password))
        .route(
            "/v1/users/me/mfa/totp",
            post(mfa::enrol).delete(mfa::disable),
        )
        .route("/v1/users/me/mfa/totp/confirm", post(mfa::confirm))
        .route("/v1/email-verifications", post(verifications::resend))
        .route(
            "/v1/email-verifications/confirm",
            post(verifications::confirm),
        )
        .route("/v1/password-resets", post(password_resets::request))
        .route(
            "/v1/password-resets/confirm",
            post(password_resets::confirm),
        )
        .route(
            "/v1/sessions",
            post(sessions::login)
                .get(sessions::list)
                .delete(sessions::revoke_others),
        )
        .route("/v1/sessions/mfa", post(mfa::login))
        .route("/v1/sessions/current", delete(sessions::logout))
        .route("/v1/sessions/{id}", delete(sessions::revoke))
        // Forward-auth proxies send the original request's method (TRACE and CONNECT: 405).
        .route(
            "/v1/auth/check",
            get(forward_auth::check)
                .head(forward_auth::check)
                .post(forward_auth::check)
                .put(forward_auth::check)
                .patch(forward_auth::check)
                .delete(forward_auth::check)
                .options(forward_auth::check),
        )
}

/// Every request is answered within `REQUEST_TIMEOUT`: a dependency that hangs (a stalled
/// MongoDB or Redis connection) gives a 503 problem document, never a hung request. The work
/// is dropped at that point; writes are transactional, so nothing half-done remains.
async fn answer_within(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?limit, "request timed out");
            ApiError::Unavailable("request timed out").into_response()
        }
    }
}

/// Counts and times every request by its route template (never the raw path: that would put
/// ids and tokens into label values and explode cardinality).
async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        let forwarded = req.headers().contains_key("x-forwarded-for");
        state.proxy_check.observe(peer.ip(), forwarded);
    }
    let started = Instant::now();
    let response = next.run(req).await;
    state
        .metrics
        .http_duration
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .http_requests
        .with_label_values(&[&method, &route, response.status().as_str()])
        .inc();
    response
}

/// On every response: no MIME sniffing, and no caching by browsers or proxies of anything that
/// may carry personal data or tokens (every API response but the public OpenAPI document).
async fn security_headers(req: Request, next: Next) -> Response {
    let cacheable = req.uri().path() == "/openapi.json";
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !cacheable {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
