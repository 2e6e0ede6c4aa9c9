//! `/v1/password-resets`: a forgotten password, replaced through a link sent by email.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::docs::{Accepted, BodyErrors, Limited, NewPasswordRefused, TokenRefused, Unavailable};
use super::email_requests::{self, EmailRequest, Link, LinkAnswer};
use super::error::ApiError;
use super::fields::link_token;
use super::json::ApiJson;
use crate::account::reset;

/// `POST /v1/password-resets`: always 202, so it reveals nothing about who is registered;
/// limited per address (no email bombing) and per client. A new link invalidates older ones.
#[utoipa::path(post, path = "/v1/password-resets", tag = "password-resets", request_body = EmailRequest,
    responses((status = 202, description = "Handled; says nothing about the address.",
        body = Accepted), BodyErrors, Limited, Unavailable))]
pub async fn request(s: State<AppState>, c: Client, b: ApiJson<EmailRequest>) -> LinkAnswer {
    email_requests::accept(s, c, b, Link::PasswordReset).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResetConfirmBody)]
pub struct ConfirmBody {
    /// The token from the email's link. A well-formed token that is unknown, expired, used
    /// or superseded is a 400 `invalid_token`.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    token: String,
    /// 15 to 1024 code points after NFKC normalisation. Refused by policy with 422 even
    /// within the schema: `password_too_common`, `password_too_predictable`,
    /// `password_contains_email`, `password_breached` (see `POST /v1/users`); a refused
    /// password does not use the link up.
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    new_password: String,
}

/// `POST /v1/password-resets/confirm`: the token works once, only if it is the account's
/// newest and the account still has the address it was sent to. Ends every session and sends
/// a notice; the caller is not logged in (they log in with the new password).
#[utoipa::path(
    post,
    path = "/v1/password-resets/confirm",
    operation_id = "confirm_password_reset",
    tag = "password-resets",
    request_body = ConfirmBody,
    responses(
        (status = 204, description = "Password replaced; every session has ended (log in again)."),
        BodyErrors,
        TokenRefused,
        NewPasswordRefused,
        Unavailable,
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<StatusCode, ApiError> {
    let token = link_token(&body.token)?;
    reset::confirm(&state, token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
