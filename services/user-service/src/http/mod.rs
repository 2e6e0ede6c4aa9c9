//! The public API: one module per resource, one shared state, one error type.

pub mod admin;
mod auth;
mod client;
pub mod docs;
mod email_requests;
mod envelope;
pub mod error;
mod fields;
pub mod forward_auth;
mod forward_origin;
mod json;
mod mfa;
pub mod openapi;
pub mod pages;
mod passkey_sessions;
pub(crate) mod passkeys;
mod password_resets;
mod problem;
pub mod request_span;
mod route_metrics;
mod sessions;
mod users;
mod verifications;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};

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
    ("POST", "/v1/users/me/passkeys/options"),
    ("POST", "/v1/users/me/passkeys/step-up"),
    ("POST", "/v1/users/me/passkeys"),
    ("GET", "/v1/users/me/passkeys"),
    ("PATCH", "/v1/users/me/passkeys/{id}"),
    ("DELETE", "/v1/users/me/passkeys/{id}"),
    ("POST", "/v1/sessions/passkey/options"),
    ("POST", "/v1/sessions/passkey"),
    ("POST", "/v1/sessions/mfa/passkey/options"),
    ("POST", "/v1/sessions/mfa/passkey"),
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
    let mut routes = ROUTES.to_vec();
    let pages = if state.config.pages.enabled {
        routes.extend_from_slice(pages::ROUTES);
        pages::router(&state)
    } else {
        Router::new()
    };
    Router::new()
        .merge(api_routes())
        .merge(pages)
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Outermost: the request's id, span, deadline, metrics and headers (timeouts and
        // fallbacks included).
        .layer(envelope::layer(&state, &routes))
        .with_state(state)
}

/// The passkey routes: the caller's passkeys and signing in with one.
fn passkey_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users/me/passkeys/options", post(passkeys::options))
        .route(
            "/v1/users/me/passkeys/step-up",
            post(passkeys::step_up_options),
        )
        .route(
            "/v1/users/me/passkeys",
            post(passkeys::add).get(passkeys::list),
        )
        .route(
            "/v1/users/me/passkeys/{id}",
            patch(passkeys::rename).delete(passkeys::remove),
        )
        .route(
            "/v1/sessions/passkey/options",
            post(passkey_sessions::options),
        )
        .route("/v1/sessions/passkey", post(passkey_sessions::login))
        .route(
            "/v1/sessions/mfa/passkey/options",
            post(passkey_sessions::second_step_options),
        )
        .route(
            "/v1/sessions/mfa/passkey",
            post(passkey_sessions::second_step),
        )
}

/// The public API's routes (the hosted pages are merged beside them).
fn api_routes() -> Router<AppState> {
    Router::new()
        .merge(passkey_routes())
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

/// The (method, path) of every operation of an OpenAPI document, for comparing with `ROUTES`.
#[cfg(test)]
pub(crate) fn documented_operations(doc: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
    let doc = serde_json::to_value(doc).expect("the document serialises");
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    /// Every documented operation has its metrics series from the start, and every route of
    /// the list is documented (the forward-auth check is documented for every method but
    /// counted under GET: the ingress asks with whatever method the request had).
    #[test]
    fn the_zero_started_routes_are_the_documented_ones() {
        let documented = documented_operations(&openapi::ApiDoc::openapi());
        let listed: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|(_, path)| *path != "/openapi.json")
            .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
            .collect();
        for op in &documented {
            assert!(
                listed.contains(op) || op.1 == "/v1/auth/check",
                "{op:?} is not in ROUTES"
            );
        }
        for op in &listed {
            assert!(documented.contains(op), "{op:?} is not documented");
        }
    }
}
