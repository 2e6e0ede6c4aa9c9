//! `/login` (with the second step at `/login/mfa`) and `/logout`: the browser session, kept in
//! the session cookie.

use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::guard::{NoFields, Posted, clear_session_cookie, session_cookie};
use super::page::Page;
use super::view::View;
use crate::account::AccountError;
use crate::account::login::{self, LoginOutcome, NewSession};
use crate::account::mfa_login;
use crate::crypto::looks_like_token;
use crate::http::AppState;
use crate::http::auth::CurrentSession;
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::fields::parse_factor;
use crate::http::sessions::login_input;
use crate::pages::origins::check_return_to;

/// Where a login goes when no `return_to` was given.
const HOME: &str = "/account";

/// A query parameter of the page's URL.
pub(super) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `return_to` checked against the allow-list; `None`: refused.
fn target(state: &AppState, raw: &str) -> Option<String> {
    let pages = &state.config.pages;
    check_return_to(raw, &pages.public_origin, &pages.return_to)
}

/// A posted `return_to` (empty: the account page) and where it leads; `None`: refused.
pub(super) fn posted_return_to(state: &AppState, raw: String) -> Option<(String, String)> {
    let return_to = if raw.is_empty() { HOME.to_owned() } else { raw };
    let target = target(state, &return_to)?;
    Some((return_to, target))
}

pub(super) fn login_view(return_to: &str) -> View {
    View::new("login", "login_title").with("return_to", return_to)
}

/// `GET /login?return_to=`: the login form; a browser with a valid session goes straight on.
pub async fn show(State(state): State<AppState>, page: Page, uri: Uri) -> Response {
    let return_to = query_param(&uri, "return_to").unwrap_or_else(|| HOME.to_owned());
    let Some(target) = target(&state, &return_to) else {
        return page.refuse(&state, "invalid_return_to", StatusCode::BAD_REQUEST);
    };
    if let Some(token) = &page.session_token
        && let Ok(Some(_)) = CurrentSession::of_token(&state, token).await
    {
        return Redirect::to(&target).into_response();
    }
    login_view(&return_to).render(&state, &page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    return_to: String,
}

/// `POST /login`: the same workflow, limits and answers as `POST /v1/sessions`.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<LoginForm>,
) -> Response {
    let Some((return_to, target)) = posted_return_to(&state, form.return_to) else {
        return page.refuse(&state, "invalid_return_to", StatusCode::BAD_REQUEST);
    };
    let refused = |e: ApiError| {
        login_view(&return_to)
            .with("values", json!({ "email": form.email }))
            .problem("login-form", e)
            .render(&state, &page)
    };
    let (email, password) = match login_input(&form.email, &form.password) {
        Ok(input) => input,
        Err(e) => return refused(e),
    };
    match login::login(&state, client.0, &email, password).await {
        Ok(LoginOutcome::Session(session)) => signed_in(&state, &session, &target),
        Ok(LoginOutcome::MfaRequired(challenge)) => {
            mfa_view(&challenge.token, &return_to).render(&state, &page)
        }
        Err(e) => refused(e.into()),
    }
}

pub(super) fn mfa_view(challenge: &str, return_to: &str) -> View {
    View::new("login-mfa", "mfa_title")
        .with("challenge", challenge)
        .with("return_to", return_to)
}

/// The session cookie, and on to where the login was asked from.
pub(super) fn signed_in(state: &AppState, session: &NewSession, target: &str) -> Response {
    let mut response = Redirect::to(target).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(state, &session.token));
    response
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct MfaForm {
    challenge: String,
    code: String,
    recovery_code: String,
    return_to: String,
}

/// `POST /login/mfa`: the second step, as `POST /v1/sessions/mfa`.
pub async fn second_step(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<MfaForm>,
) -> Response {
    let Some((return_to, target)) = posted_return_to(&state, form.return_to) else {
        return page.refuse(&state, "invalid_return_to", StatusCode::BAD_REQUEST);
    };
    let optional = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let factor = match parse_factor(optional(form.code), optional(form.recovery_code)) {
        Ok(factor) => factor,
        Err(e) => {
            return mfa_view(&form.challenge, &return_to)
                .problem("mfa-form", e)
                .render(&state, &page);
        }
    };
    if !looks_like_token(&form.challenge) {
        return login_view(&return_to)
            .problem(
                "login-form",
                ApiError::Account(AccountError::InvalidChallenge),
            )
            .render(&state, &page);
    }
    match mfa_login::complete(&state, client.0, &form.challenge, factor).await {
        Ok(session) => signed_in(&state, &session, &target),
        Err(e) => match ApiError::from(e) {
            // The challenge is gone: start again from the password.
            e @ ApiError::Account(AccountError::InvalidChallenge) => login_view(&return_to)
                .problem("login-form", e)
                .render(&state, &page),
            e => mfa_view(&form.challenge, &return_to)
                .problem("mfa-form", e)
                .render(&state, &page),
        },
    }
}

/// `GET /logout`: asks to confirm (a link must not log anyone out).
pub async fn confirm(State(state): State<AppState>, page: Page) -> Response {
    let signed_in = match &page.session_token {
        Some(token) => matches!(CurrentSession::of_token(&state, token).await, Ok(Some(_))),
        None => false,
    };
    let view = View::new("logout", "logout_title");
    if signed_in {
        view.signed_in()
            .with("signed_in", true)
            .render(&state, &page)
    } else {
        view.done("logged_out").render(&state, &page)
    }
}

/// `POST /logout`: ends the session and removes the cookie.
pub async fn submit_logout(
    State(state): State<AppState>,
    Posted { page, .. }: Posted<NoFields>,
) -> Response {
    if let Some(token) = &page.session_token
        && let Ok(Some(record)) = CurrentSession::of_token(&state, token).await
    {
        if let Err(e) = state.sessions.revoke(&record.user_id, &record.id).await {
            return View::refusal("service_unavailable", StatusCode::SERVICE_UNAVAILABLE)
                .problem("logout-form", e.into())
                .render(&state, &page);
        }
        tracing::info!(user_id = %record.user_id, session_id = %record.id, "browser session ended");
    }
    let mut response = page.redirect("/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&state));
    response
}
