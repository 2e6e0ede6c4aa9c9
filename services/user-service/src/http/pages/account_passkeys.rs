//! Passkeys from the account page: adding one (name, password and a code with two-factor
//! login on → a page that creates it in the browser → the answer posted back), renaming and
//! removing. Listing is part of the account page.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::account::{after, code};
use super::guard::{Posted, SignedIn};
use super::passkey_login::browser_answer;
use super::view::View;
use crate::account::passkeys;
use crate::http::AppState;
use crate::http::error::ApiError;

fn parse_name(raw: &str) -> Result<String, ApiError> {
    passkeys::parse_name(raw).map_err(|e| ApiError::invalid(vec![ApiError::field("name", e)]))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AddForm {
    name: String,
    password: String,
    totp_code: String,
}

/// `POST /account/passkeys`: the page that creates the passkey, its options with it.
pub async fn begin(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<AddForm>,
) -> Response {
    let started = async {
        let name = parse_name(&form.name)?;
        let code = code(form.totp_code.clone())?;
        let started =
            passkeys::begin_enrolment(&state, session.session_ref(), &form.password, code.as_ref())
                .await?;
        let options = serde_json::to_string(&started.options).map_err(|_| ApiError::Internal)?;
        Ok::<_, ApiError>((name, started.ceremony, options))
    }
    .await;
    match started {
        Ok((name, ceremony, options)) => View::new("passkey-enrol", "passkey_enrol_title")
            .signed_in()
            .with("name", name)
            .with("ceremony", ceremony)
            .with("options", options)
            .render(&state, &page),
        Err(e) => after(&state, &page, &session, "passkey-add-form", Err(e)).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CreateForm {
    name: String,
    ceremony: String,
    credential: String,
    client_error: String,
}

/// `POST /account/passkeys/create`: the authenticator's answer (or the browser's error).
pub async fn create(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<CreateForm>,
) -> Response {
    let outcome = async {
        let name = parse_name(&form.name)?;
        let credential = browser_answer(&form.credential, &form.client_error)?;
        passkeys::finish_enrolment(
            &state,
            session.session_ref(),
            &form.ceremony,
            name,
            &credential,
        )
        .await?;
        Ok("passkey_added")
    }
    .await;
    after(&state, &page, &session, "passkey-add-form", outcome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasskeyForm {
    passkey_id: String,
    name: String,
}

/// `POST /account/passkeys/rename`.
pub async fn rename(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<PasskeyForm>,
) -> Response {
    let outcome = async {
        let name = parse_name(&form.name)?;
        passkeys::rename(&state, &session.user_id, &form.passkey_id, name).await?;
        Ok("passkey_renamed")
    }
    .await;
    after(&state, &page, &session, "passkeys", outcome).await
}

/// `POST /account/passkeys/remove`: every other session ends; this one stays.
pub async fn remove(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<PasskeyForm>,
) -> Response {
    let outcome = passkeys::remove_own(&state, session.session_ref(), &form.passkey_id)
        .await
        .map(|_| "passkey_removed")
        .map_err(ApiError::from);
    after(&state, &page, &session, "passkeys", outcome).await
}
