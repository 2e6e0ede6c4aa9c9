//! Signing in with a passkey: `POST /v1/sessions/passkey/options` and `/v1/sessions/passkey`
//! (without a password), and the second login step `POST /v1/sessions/mfa/passkey/options` and
//! `/v1/sessions/mfa/passkey`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::docs::{BodyErrors, Limited, PasskeysUnconfigured, ProblemDoc, Unavailable};
use super::error::ApiError;
use super::json::ApiJson;
use super::passkeys::{PasskeyCeremony, parse_credential};
use super::sessions::NewSession;
use crate::account::passkey_login;
use crate::domain::Email;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SignInOptionsBody {
    /// The address, when the user typed it first: only its passkeys are offered. Without it
    /// (or for an address without passkeys) any discoverable passkey is: the answer is the
    /// same whoever exists.
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: Option<String>,
}

/// Starts a passkey sign-in. The options ask for user verification; the discoverable ones
/// carry `"mediation": "conditional"` for autofill (a client may drop it for a button).
#[utoipa::path(
    post,
    path = "/v1/sessions/passkey/options",
    operation_id = "passkey_login_options",
    tag = "sessions",
    request_body = SignInOptionsBody,
    responses(
        (status = 200, body = PasskeyCeremony),
        BodyErrors,
        Limited,
        Unavailable,
        PasskeysUnconfigured,
    )
)]
pub async fn options(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<SignInOptionsBody>,
) -> Result<Json<PasskeyCeremony>, ApiError> {
    let email = body
        .email
        .map(|raw| Email::parse(&raw))
        .transpose()
        .map_err(|e| ApiError::invalid(vec![ApiError::field("email", e)]))?;
    let started = passkey_login::begin(&state, &client.0, email.as_ref()).await?;
    Ok(Json(PasskeyCeremony::new(started)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertionBody {
    /// From the options call.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    ceremony: String,
    /// The browser's `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: Value,
}

/// Signs in with a passkey: the session, as a password login gives it (a passkey needs no
/// second step: it is two factors with user verification).
#[utoipa::path(
    post,
    path = "/v1/sessions/passkey",
    operation_id = "login_passkey",
    tag = "sessions",
    request_body = PasskeyAssertionBody,
    responses(
        (status = 201, body = NewSession),
        BodyErrors,
        (status = 400, description = "The ceremony is unknown, expired or used \
            (`invalid_passkey_ceremony`): start again.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 403, description = "The answer was refused (`passkey_rejected`; the detail \
            names the reason: origin, rp_id, user_verification, challenge, \
            unknown_credential, possible_clone, invalid), or the account is disabled \
            (`account_disabled`) or unverified (`email_not_verified`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        Limited,
        Unavailable,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<PasskeyAssertionBody>,
) -> Result<impl IntoResponse, ApiError> {
    let credential = parse_credential(body.credential)?;
    let session = passkey_login::finish(&state, client.0, &body.ceremony, &credential).await?;
    Ok((StatusCode::CREATED, Json(NewSession::new(&state, session))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondStepOptionsBody {
    /// From the `200` answer of `POST /v1/sessions`.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    challenge: String,
}

/// Starts the second login step with one of the account's passkeys (counts as one of the
/// challenge's 5 attempts).
#[utoipa::path(
    post,
    path = "/v1/sessions/mfa/passkey/options",
    operation_id = "login_mfa_passkey_options",
    tag = "sessions",
    request_body = SecondStepOptionsBody,
    responses(
        (status = 200, body = PasskeyCeremony),
        BodyErrors,
        (status = 401, description = "The challenge is unknown, expired, used or out of \
            attempts (`invalid_mfa_challenge`): log in again.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 403, description = "The account has no passkey (`passkey_rejected`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        Unavailable,
        PasskeysUnconfigured,
    )
)]
pub async fn second_step_options(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SecondStepOptionsBody>,
) -> Result<Json<PasskeyCeremony>, ApiError> {
    let started = passkey_login::begin_second_step(&state, &body.challenge).await?;
    Ok(Json(PasskeyCeremony::new(started)?))
}

/// The second login step with a passkey: the challenge ends and the session is created.
#[utoipa::path(
    post,
    path = "/v1/sessions/mfa/passkey",
    operation_id = "login_mfa_passkey",
    tag = "sessions",
    request_body = PasskeyAssertionBody,
    responses(
        (status = 201, body = NewSession),
        BodyErrors,
        (status = 400, description = "The ceremony is unknown, expired or used \
            (`invalid_passkey_ceremony`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 401, description = "The challenge ended meanwhile \
            (`invalid_mfa_challenge`): log in again.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 403, description = "The answer was refused (`passkey_rejected`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        Unavailable,
    )
)]
pub async fn second_step(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<PasskeyAssertionBody>,
) -> Result<impl IntoResponse, ApiError> {
    let credential = parse_credential(body.credential)?;
    let session =
        passkey_login::finish_second_step(&state, client.0, &body.ceremony, &credential).await?;
    Ok((StatusCode::CREATED, Json(NewSession::new(&state, session))))
}
