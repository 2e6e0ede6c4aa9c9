//! Two-factor login from the account page: set up (password → secret and QR code → first
//! code → recovery codes, shown once) and turn off (password and a code).

use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::account::after;
use super::guard::{Posted, SignedIn};
use super::view::View;
use crate::account::AccountError;
use crate::account::mfa;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::fields::{parse_code, parse_factor};

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    password: String,
}

/// `POST /account/mfa`: a new secret for the authenticator app (nothing changes yet).
pub async fn enrol(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<PasswordForm>,
) -> Response {
    match mfa::begin_enrolment(&state, &session.user_id, &form.password).await {
        Ok(enrolment) => {
            let svg = base64::engine::general_purpose::STANDARD
                .encode(enrolment.qr_svg.expose_secret().as_bytes());
            enrolment_view(enrolment.secret.expose_secret())
                .with("qr_data_uri", format!("data:image/svg+xml;base64,{svg}"))
                .render(&state, &page)
        }
        Err(e) => after(&state, &page, &session, "mfa-enrol-form", Err(e.into())).await,
    }
}

fn enrolment_view(secret: &str) -> View {
    View::new("mfa-enrol", "mfa_enrol_title")
        .signed_in()
        .with("secret", secret)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CodeForm {
    code: String,
}

/// `POST /account/mfa/confirm`: the first code turns two-factor login on; the recovery codes
/// are shown this once.
pub async fn confirm(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<CodeForm>,
) -> Response {
    let outcome = match parse_code("code", form.code.trim()) {
        Ok(code) => mfa::confirm_enrolment(&state, session.session_ref(), &code)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(ApiError::invalid(vec![e])),
    };
    match outcome {
        Ok(codes) => {
            let codes: Vec<&str> = codes.iter().map(|c| c.expose_secret()).collect();
            View::new("mfa-recovery-codes", "recovery_title")
                .signed_in()
                .with("codes", codes)
                .render(&state, &page)
        }
        // A wrong code: the same enrolment can be answered again (the key is not shown twice;
        // it is in the app already).
        Err(
            e @ (ApiError::Account(AccountError::Validation(_))
            | ApiError::Account(AccountError::InvalidMfaCode)),
        ) => View::new("mfa-enrol", "mfa_enrol_title")
            .signed_in()
            .problem("mfa-confirm-form", e)
            .render(&state, &page),
        Err(e) => after(&state, &page, &session, "mfa-enrol-form", Err(e)).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DisableForm {
    password: String,
    code: String,
}

/// `POST /account/mfa/disable`: the password and a current code or a recovery code.
pub async fn disable(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<DisableForm>,
) -> Response {
    // Parsed like the API's body: six digits are a code, anything else a recovery code of
    // at most 64 characters (refused before the password is checked).
    let code = form.code.trim().to_owned();
    let factor = if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        parse_factor(Some(code), None)
    } else {
        parse_factor(None, Some(code))
    };
    let outcome = match factor {
        Ok(factor) => mfa::disable(&state, session.session_ref(), &form.password, &factor)
            .await
            .map(|()| "mfa_disabled")
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    after(&state, &page, &session, "mfa-disable-form", outcome).await
}
