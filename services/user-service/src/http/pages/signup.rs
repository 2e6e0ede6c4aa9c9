//! `/signup`: registration from the browser, through the API's workflow (the same answer
//! whether or not the address has an account).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::guard::Posted;
use super::page::Page;
use super::view::View;
use crate::account::registration;
use crate::http::AppState;
use crate::http::client::Client;
use crate::http::fields::parse_registration;

pub async fn show(State(state): State<AppState>, page: Page) -> Response {
    View::new("signup", "signup_title").render(&state, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignupForm {
    email: String,
    display_name: String,
    password: String,
}

/// `POST /signup`: the account's language is the page's.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<SignupForm>,
) -> Response {
    let display_name = Some(form.display_name.trim()).filter(|n| !n.is_empty());
    let outcome = match parse_registration(
        &form.email,
        &form.password,
        display_name,
        Some(&page.locale),
    ) {
        Ok(registration) => registration::register(&state, &client.0, registration)
            .await
            .map_err(Into::into),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => View::new("signup-done", "signup_done_title")
            .done("pending_verification")
            .render(&state, &page),
        Err(e) => View::new("signup", "signup_title")
            .with(
                "values",
                json!({ "email": form.email, "display_name": form.display_name }),
            )
            .problem("signup-form", e)
            .render(&state, &page),
    }
}

/// For routes that answer only to one method.
pub async fn method_not_allowed(State(state): State<AppState>, page: Page) -> Response {
    page.refuse(&state, "method_not_allowed", StatusCode::METHOD_NOT_ALLOWED)
}
