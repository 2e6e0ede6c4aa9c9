//! The admin API for operators, on a listener of its own (`ADMIN_API_ADDR`): every request
//! must carry one of the `ADMIN_API_TOKENS` as `Authorization: Bearer <token>`; without one
//! the answer is 401, whatever the path. The token's name is the actor of every action.

mod changes;
mod docs;
mod invitations;
mod openapi;
mod sessions;
mod users;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use super::error::ApiError;
use super::{BODY_LIMIT, answer_within, record_metrics, security_headers};
use crate::admin::audit::Actor;
use crate::state::AppState;

/// Every (method, route template) of the admin API, for metrics that start at zero.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/openapi.json"),
    ("GET", "/admin/v1/users"),
    ("POST", "/admin/v1/users"),
    ("GET", "/admin/v1/users/{id}"),
    ("PATCH", "/admin/v1/users/{id}"),
    ("DELETE", "/admin/v1/users/{id}"),
    ("POST", "/admin/v1/users/{id}/verify-email"),
    ("POST", "/admin/v1/users/{id}/emails"),
    ("POST", "/admin/v1/users/{id}/disable"),
    ("POST", "/admin/v1/users/{id}/enable"),
    ("GET", "/admin/v1/users/{id}/sessions"),
    ("DELETE", "/admin/v1/users/{id}/sessions"),
    ("DELETE", "/admin/v1/users/{id}/sessions/{session_id}"),
];

pub fn router(state: AppState) -> Router {
    let request_timeout = state.config.server.request_timeout;
    state.metrics.start_routes_at_zero(ROUTES);
    Router::new()
        .route("/admin/openapi.json", get(openapi::document))
        .route(
            "/admin/v1/users",
            get(users::list).post(invitations::invite),
        )
        .route(
            "/admin/v1/users/{id}",
            get(users::get)
                .patch(changes::update)
                .delete(changes::delete),
        )
        .route(
            "/admin/v1/users/{id}/verify-email",
            post(changes::verify_email),
        )
        .route("/admin/v1/users/{id}/emails", post(changes::send_email))
        .route("/admin/v1/users/{id}/disable", post(users::disable))
        .route("/admin/v1/users/{id}/enable", post(users::enable))
        .route("/admin/v1/users/{id}/mfa", delete(users::remove_mfa))
        .route(
            "/admin/v1/users/{id}/sessions",
            get(sessions::list).delete(sessions::revoke_all),
        )
        .route(
            "/admin/v1/users/{id}/sessions/{session_id}",
            delete(sessions::revoke),
        )
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Before anything else answers (a 404 would already say which paths exist).
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(
            request_timeout,
            answer_within,
        ))
        .layer(middleware::from_fn(security_headers))
        // Outermost: the request's span and id (echoed, and quoted by every problem document).
        .layer(middleware::from_fn(super::request_span::trace_request))
        .with_state(state)
}

/// Lets through only requests with a configured admin token, naming its `Actor`.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let actor = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| state.config.admin_api.tokens.authenticate(token.trim()))
        .map(|name| Actor(name.to_owned()));
    match actor {
        Some(actor) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        None => {
            state.metrics.admin_auth_failures.inc();
            tracing::warn!(target: "audit", path = %req.uri().path(), "admin API request refused: no valid token");
            ApiError::AdminUnauthorized.into_response()
        }
    }
}
