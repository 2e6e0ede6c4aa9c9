//! Signing in with a passkey on `/login` and as the second step on `/login/mfa`: the script
//! (assets/passkeys.js) starts the ceremony at `…/options` (JSON), then posts the
//! authenticator's answer with the form, which ends like a password login.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::guard::Posted;
use super::login::{login_view, mfa_view, posted_return_to, signed_in};
use crate::account::AccountError;
use crate::account::passkey_login;
use crate::domain::Email;
use crate::http::AppState;
use crate::http::client::Client;
use crate::http::error::ApiError;
use crate::http::passkeys::PasskeyCeremony;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OptionsForm {
    email: String,
    challenge: String,
}

/// `POST /login/passkey/options`: a sign-in ceremony, for the typed address if it is one
/// (anything else is treated as none: the answer reveals nothing either way).
pub async fn options(
    State(state): State<AppState>,
    client: Client,
    Posted { form, .. }: Posted<OptionsForm>,
) -> Response {
    let email = Email::parse(form.email.trim()).ok();
    let started = passkey_login::begin(&state, &client.0, email.as_ref()).await;
    ceremony_json(started.map_err(ApiError::from))
}

/// `POST /login/mfa/passkey/options`: a ceremony for the second step of `challenge`.
pub async fn second_step_options(
    State(state): State<AppState>,
    Posted { form, .. }: Posted<OptionsForm>,
) -> Response {
    let started = passkey_login::begin_second_step(&state, &form.challenge).await;
    ceremony_json(started.map_err(ApiError::from))
}

fn ceremony_json<T: serde::Serialize>(
    started: Result<crate::account::passkey_ceremony::Started<T>, ApiError>,
) -> Response {
    match started.and_then(PasskeyCeremony::new) {
        Ok(ceremony) => Json(ceremony).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AnswerForm {
    ceremony: String,
    credential: String,
    /// What went wrong in the browser (the script's report), when there is no credential.
    client_error: String,
    challenge: String,
    return_to: String,
}

impl AnswerForm {
    fn credential<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        browser_answer(&self.credential, &self.client_error)
    }
}

/// The authenticator's answer as the script posted it (`credential`); a browser that reported
/// an error instead (`client_error`: cancelled, no passkey, timed out) or sent something else
/// is refused as `passkey_rejected`.
pub(super) fn browser_answer<T: serde::de::DeserializeOwned>(
    credential: &str,
    client_error: &str,
) -> Result<T, ApiError> {
    if credential.is_empty() {
        tracing::info!(client_error = %client_error.chars().take(40).collect::<String>(),
            "passkey ceremony not completed in the browser");
        return Err(AccountError::PasskeyRejected("not_completed").into());
    }
    serde_json::from_str(credential).map_err(|_| AccountError::PasskeyRejected("invalid").into())
}

/// `POST /login/passkey`: the session cookie, and on to `return_to`.
pub async fn submit(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<AnswerForm>,
) -> Response {
    let Some((return_to, target)) = posted_return_to(&state, form.return_to.clone()) else {
        return page.refuse(&state, "invalid_return_to", StatusCode::BAD_REQUEST);
    };
    let outcome = match form.credential() {
        Ok(credential) => passkey_login::finish(&state, client.0, &form.ceremony, &credential)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(session) => signed_in(&state, &session, &target),
        Err(e) => login_view(&return_to)
            .problem("passkey-login-form", e)
            .render(&state, &page),
    }
}

/// `POST /login/mfa/passkey`: the second step with a passkey.
pub async fn second_step(
    State(state): State<AppState>,
    client: Client,
    Posted { page, form }: Posted<AnswerForm>,
) -> Response {
    let Some((return_to, target)) = posted_return_to(&state, form.return_to.clone()) else {
        return page.refuse(&state, "invalid_return_to", StatusCode::BAD_REQUEST);
    };
    let outcome = match form.credential() {
        Ok(credential) => {
            passkey_login::finish_second_step(&state, client.0, &form.ceremony, &credential)
                .await
                .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(session) => signed_in(&state, &session, &target),
        // The challenge is gone: start again from the password.
        Err(e @ ApiError::Account(AccountError::InvalidChallenge)) => login_view(&return_to)
            .problem("login-form", e)
            .render(&state, &page),
        Err(e) => mfa_view(&form.challenge, &return_to)
            .problem("mfa-form", e)
            .render(&state, &page),
    }
}
