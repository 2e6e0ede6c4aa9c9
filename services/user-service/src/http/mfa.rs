//! Two-factor login: enrolment and removal under `/v1/users/me/mfa/totp`, and the second login
//! step `POST /v1/sessions/mfa`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentSession;
use super::client::Client;
use super::docs::{
    BodyErrors, Limited, MfaUnconfigured, NeedsSession, ProblemDoc, Unavailable, WrongPassword,
};
use super::error::ApiError;
use super::fields::{parse_code, parse_factor, with_second_factor};
use super::json::ApiJson;
use super::sessions::NewSession;
use crate::account::AccountError;
use crate::account::{mfa, mfa_login};
use crate::crypto::looks_like_token;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// The account's password; a wrong one is a 403 `wrong_password`.
    #[schema(format = "password")]
    password: String,
}

/// A new TOTP secret, shown once; it takes effect when confirmed.
#[derive(Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32, for typing into an authenticator app (SHA-1, 6 digits, 30 s).
    secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    qr_svg: String,
    /// Confirm within this many seconds, or start again.
    expires_in_seconds: u64,
}

/// Starts turning two-factor login on: a new secret for an authenticator app. Nothing changes
/// until `POST /v1/users/me/mfa/totp/confirm` proves the app has it; a new call replaces the
/// secret of an enrolment in progress.
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp",
    tag = "mfa",
    security(("session" = [])),
    request_body = EnrolBody,
    responses(
        (status = 201, body = TotpEnrolment),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        (status = 409, description = "Two-factor login is already on (`mfa_already_enabled`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        MfaUnconfigured,
        Unavailable,
    )
)]
pub async fn enrol(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<EnrolBody>,
) -> Result<impl IntoResponse, ApiError> {
    let enrolment = mfa::begin_enrolment(&state, &session.user_id, &body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolment {
            secret: enrolment.secret.expose_secret().to_owned(),
            otpauth_uri: enrolment.otpauth_uri.expose_secret().to_owned(),
            qr_svg: enrolment.qr_svg.expose_secret().to_owned(),
            expires_in_seconds: enrolment.expires_in.as_secs(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TotpConfirmBody)]
pub struct ConfirmBody {
    /// The code the authenticator app shows now.
    #[schema(
        pattern = "^[0-9]{6}$",
        min_length = 6,
        max_length = 6,
        example = "123456"
    )]
    code: String,
}

/// The recovery codes: each logs in once in place of a code. Shown only here.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// Turns two-factor login on with a first code from the app; answers the ten recovery codes
/// (stored hashed, each usable once). The owner is told by email.
#[utoipa::path(
    post,
    path = "/v1/users/me/mfa/totp/confirm",
    operation_id = "confirm_totp",
    tag = "mfa",
    security(("session" = [])),
    request_body = ConfirmBody,
    responses(
        (status = 200, body = RecoveryCodes),
        BodyErrors,
        NeedsSession,
        (status = 403, description = "Wrong code (`invalid_mfa_code`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 409, description = "Already on (`mfa_already_enabled`), or no enrolment in \
            progress (`mfa_enrolment_not_started`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        Limited,
        MfaUnconfigured,
        Unavailable,
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let code = parse_code("code", &body.code).map_err(|e| ApiError::invalid(vec![e]))?;
    let codes = mfa::confirm_enrolment(&state, session.session_ref(), &code).await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
    }))
}

with_second_factor! {
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct DisableBody {
        /// The account's password; a wrong one is a 403 `wrong_password`.
        #[schema(format = "password")]
        password: String,
    }
}

/// Turns two-factor login off: password and a current code (or a recovery code). The owner
/// is told by email.
#[utoipa::path(
    delete,
    path = "/v1/users/me/mfa/totp",
    tag = "mfa",
    security(("session" = [])),
    request_body = DisableBody,
    responses(
        (status = 204, description = "Two-factor login is off."),
        BodyErrors,
        NeedsSession,
        (status = 403, description = "Wrong password (`wrong_password`) or code \
            (`invalid_mfa_code`).", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "Two-factor login is not on (`mfa_not_enabled`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        MfaUnconfigured,
        Unavailable,
    )
)]
pub async fn disable(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<DisableBody>,
) -> Result<StatusCode, ApiError> {
    let factor = parse_factor(body.code, body.recovery_code)?;
    mfa::disable(&state, session.session_ref(), &body.password, &factor).await?;
    Ok(StatusCode::NO_CONTENT)
}

with_second_factor! {
    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct MfaLoginBody {
        /// From the `200` answer of `POST /v1/sessions`.
        #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
        challenge: String,
    }
}

/// The second login step: the challenge with a current code or a recovery code gives the
/// session. A challenge lasts 5 minutes and takes 5 answers; each code works once.
#[utoipa::path(
    post,
    path = "/v1/sessions/mfa",
    operation_id = "login_mfa",
    tag = "sessions",
    request_body = MfaLoginBody,
    responses(
        (status = 201, body = NewSession),
        BodyErrors,
        (status = 401, description = "The challenge is unknown, expired, used or out of \
            attempts (`invalid_mfa_challenge`): log in again.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 403, description = "Wrong, used or expired code (`invalid_mfa_code`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        MfaUnconfigured,
        Unavailable,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<MfaLoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    let factor = parse_factor(body.code, body.recovery_code)?;
    if !looks_like_token(&body.challenge) {
        return Err(ApiError::Account(AccountError::InvalidChallenge));
    }
    let session = mfa_login::complete(&state, client.0, &body.challenge, factor).await?;
    Ok((StatusCode::CREATED, Json(NewSession::new(&state, session))))
}
