//! The pages the emails link to: `/verify-email?token=` and `/reset-password?token=`, plus
//! `/forgot-password`. Opening a link never uses its token (mail scanners fetch links): the
//! page asks for a button press or the new password, and the post does the work.

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::guard::Posted;
use super::login::query_param;
use super::page::Page;
use super::view::View;
use crate::account::AccountError;
use crate::account::{reset, verification};
use crate::crypto::looks_like_token;
use crate::http::AppState;
use crate::http::client::Client;
use crate::http::email_requests::{self, Link};
use crate::http::error::ApiError;

/// The link's token when it has the shape of one (anything else is an unusable link).
fn link_token(uri: &Uri) -> Option<String> {
    query_param(uri, "token").filter(|t| looks_like_token(t))
}

fn verify_view() -> View {
    View::new("verify-email", "verify_title")
}

/// `GET /verify-email?token=`: one button that confirms; the token is not used yet.
pub async fn verify_page(State(state): State<AppState>, page: Page, uri: Uri) -> Response {
    match link_token(&uri) {
        Some(token) => verify_view().with("token", token),
        None => verify_view().refused("invalid_token", axum::http::StatusCode::BAD_REQUEST),
    }
    .render(&state, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    token: String,
}

/// `POST /verify-email`: confirms the address (or completes an email change).
pub async fn verify(
    State(state): State<AppState>,
    Posted { page, form }: Posted<TokenForm>,
) -> Response {
    let outcome = if looks_like_token(&form.token) {
        verification::confirm(&state, &form.token)
            .await
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Account(AccountError::InvalidToken))
    };
    match outcome {
        Ok(_) => verify_view().with("verified", true).done("verified"),
        Err(e) => verify_view().problem("verify-form", e),
    }
    .render(&state, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    email: String,
}

/// `POST /verify-email/resend`: a new link, with the API's answer that reveals nothing.
pub async fn resend(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<EmailForm>,
) -> Response {
    let view = verify_view().with("values", json!({ "email": form.email }));
    let outcome =
        email_requests::handle(state.clone(), &client, &form.email, Link::Verification).await;
    match outcome {
        Ok(()) => view.done("link_sent"),
        Err(e) => view.problem("resend-form", e),
    }
    .render(&state, &page)
}

fn reset_view() -> View {
    View::new("reset-password", "reset_title")
}

/// `GET /reset-password?token=`: the new-password form; the token is not used yet.
pub async fn reset_page(State(state): State<AppState>, page: Page, uri: Uri) -> Response {
    match link_token(&uri) {
        Some(token) => reset_view().with("token", token),
        None => reset_view().refused("invalid_token", axum::http::StatusCode::BAD_REQUEST),
    }
    .render(&state, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ResetForm {
    token: String,
    new_password: String,
}

/// `POST /reset-password`: a refused password keeps the link usable and shows why at the
/// field.
pub async fn reset(
    State(state): State<AppState>,
    Posted { page, form }: Posted<ResetForm>,
) -> Response {
    let outcome = if looks_like_token(&form.token) {
        reset::confirm(&state, &form.token, &form.new_password)
            .await
            .map_err(ApiError::from)
    } else {
        Err(ApiError::Account(AccountError::InvalidToken))
    };
    match outcome {
        Ok(()) => reset_view().with("done", true).done("password_reset"),
        Err(e @ ApiError::Account(AccountError::Validation(_))) => reset_view()
            .with("token", &form.token)
            .problem("reset-form", e),
        Err(e) => reset_view().problem("reset-form", e),
    }
    .render(&state, &page)
}

pub async fn forgot_page(State(state): State<AppState>, page: Page) -> Response {
    View::new("forgot-password", "forgot_title").render(&state, &page)
}

/// `POST /forgot-password`: the API's `POST /v1/password-resets`.
pub async fn forgot(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<EmailForm>,
) -> Response {
    let outcome =
        email_requests::handle(state.clone(), &client, &form.email, Link::PasswordReset).await;
    // On the reset page's "link expired" state the same form posts here.
    let view =
        View::new("forgot-password", "forgot_title").with("values", json!({ "email": form.email }));
    match outcome {
        Ok(()) => view.with("sent", true).done("link_sent"),
        Err(e) => view.problem("forgot-form", e),
    }
    .render(&state, &page)
}
