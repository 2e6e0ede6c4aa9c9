//! The admin API for operators, on a listener of its own (`ADMIN_API_ADDR`): every request
//! must carry one of the `ADMIN_API_TOKENS` as `Authorization: Bearer <token>`; without one
//! the answer is 401, whatever the path. The token's name is the actor of every action.

mod changes;
mod docs;
mod invitations;
mod openapi;
mod passkeys;
mod sessions;
mod users;

use axum::Router;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};

use super::BODY_LIMIT;
use super::error::ApiError;
use crate::admin::audit::Actor;
use crate::admin::gate;
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
    ("DELETE", "/admin/v1/users/{id}/mfa"),
    ("GET", "/admin/v1/users/{id}/sessions"),
    ("DELETE", "/admin/v1/users/{id}/sessions"),
    ("DELETE", "/admin/v1/users/{id}/sessions/{session_id}"),
    ("GET", "/admin/v1/users/{id}/passkeys"),
    ("DELETE", "/admin/v1/users/{id}/passkeys/{passkey_id}"),
];

pub fn router(state: AppState) -> Router {
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
        .route("/admin/v1/users/{id}/passkeys", get(passkeys::list))
        .route(
            "/admin/v1/users/{id}/passkeys/{passkey_id}",
            delete(passkeys::remove),
        )
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
        .layer(middleware::from_fn(audit_request))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Before anything else answers (a 404 would already say which paths exist).
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        // Outermost: the request's id (echoed, and quoted by every problem document), span,
        // deadline, metrics and headers.
        .layer(super::envelope::layer(&state, ROUTES))
        .with_state(state)
}

/// Lets through only requests with a configured admin token, naming its `Actor`, from a peer
/// that has not failed too often (`admin::gate`).
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let path = req.uri().path().to_owned();
    match gate::authenticate(&state, presented.as_deref(), peer, &path).await {
        Ok(Some(actor)) => {
            req.extensions_mut().insert(actor);
            next.run(req).await
        }
        Ok(None) => ApiError::AdminUnauthorized.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// How many users or sessions an answer disclosed, for the audit line (set by the handlers
/// that read).
#[derive(Debug, Clone, Copy)]
pub(super) struct Disclosed(pub usize);

/// Every authenticated request is an audit line: who (the token's name), which route and
/// path, the filter (query string), the status and how many records the answer disclosed.
/// Reads too: a leaked token exporting the user table leaves a trace.
async fn audit_request(req: Request, next: Next) -> Response {
    let actor = req
        .extensions()
        .get::<Actor>()
        .map_or_else(String::new, |a| a.0.clone());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let response = next.run(req).await;
    let disclosed = response.extensions().get::<Disclosed>().map(|d| d.0);
    tracing::info!(
        target: "audit",
        actor,
        %method,
        route,
        path,
        query,
        status = response.status().as_u16(),
        results = disclosed,
        "admin request"
    );
    response
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    #[test]
    fn the_zero_started_routes_are_the_documented_ones() {
        let mut documented = crate::http::documented_operations(&openapi::AdminDoc::openapi());
        let mut listed: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|(_, path)| *path != "/admin/openapi.json")
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        documented.sort();
        listed.sort();
        assert_eq!(documented, listed);
    }
}
