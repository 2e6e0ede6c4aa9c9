//! `/v1/password-resets`: a forgotten password, replaced through a link sent by email.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::email::{EmailKind, EmailMessage};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::email_requests;
use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{Accepted, BodyErrors, Limited, Unavailable};
use super::users::{email_entry, recipient, set_password};
use crate::crypto::{looks_like_token, new_token, token_digest};
use crate::domain::Email;
use crate::store::redis_store::ResetRecord;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    #[schema(format = "email")]
    email: String,
}

/// `POST /v1/password-resets`: always 202, so it reveals nothing about who is registered;
/// limited per address (no email bombing) and per client. A new link invalidates older ones.
#[utoipa::path(
    post,
    path = "/v1/password-resets",
    tag = "password-resets",
    request_body = RequestBody,
    responses(
        (status = 202, description = "Handled; says nothing about the address.", body = Accepted),
        BodyErrors,
        Limited,
        Unavailable,
    )
)]
pub async fn request(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<RequestBody>,
) -> Result<impl IntoResponse, ApiError> {
    email_requests::accept(
        state,
        &client,
        &body.email,
        "If the address has an account, a reset link is on its way.",
        "password reset link",
        |state, email| async move { send_reset_link(&state, &email).await },
    )
    .await
}

async fn send_reset_link(state: &AppState, email: &Email) -> Result<(), ApiError> {
    if let Some(user) = state.users.find_by_email(email.as_str()).await? {
        let token = new_token();
        let record = ResetRecord {
            user_id: user.id.clone(),
            email: user.email.clone(),
        };
        let ttl = state.config.password_reset_ttl;
        state
            .redis
            .put_reset(&token_digest(&token), &record, ttl)
            .await?;
        let message = EmailMessage::new(
            recipient(&user, &user.email),
            EmailKind::PasswordReset,
            &user.locale,
        )
        .with_data("token", token.as_str())
        .with_data(
            "action_url",
            format!("{}?token={token}", state.config.password_reset_url),
        )
        .with_data("expires_in_minutes", ttl.as_secs().div_ceil(60));
        state.mailer.enqueue(email_entry(&message)).await?;
        state
            .metrics
            .account_events
            .with_label_values(&["password_reset", "requested"])
            .inc();
        tracing::info!(user_id = %user.id, "password reset requested");
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ResetConfirmBody)]
pub struct ConfirmBody {
    /// The token from the email's link.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
    token: String,
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    new_password: String,
}

/// `POST /v1/password-resets/confirm`: the token works once, only if it is the account's
/// newest and the account still has the address it was sent to. Ends every session and sends
/// a notice; the caller is not logged in (they log in with the new password).
#[utoipa::path(
    post,
    path = "/v1/password-resets/confirm",
    tag = "password-resets",
    request_body = ConfirmBody,
    responses(
        (status = 204, description = "Password replaced; every session has ended (log in again)."),
        BodyErrors,
        Unavailable,
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<StatusCode, ApiError> {
    if !looks_like_token(&body.token) {
        return Err(ApiError::InvalidToken);
    }
    let digest = token_digest(&body.token);
    let record = state
        .redis
        .peek_reset(&digest)
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let user = state
        .users
        .find_by_id(&record.user_id)
        .await?
        .filter(|u| u.email == record.email)
        .ok_or(ApiError::InvalidToken)?;
    let email = Email::parse(&user.email).map_err(|_| ApiError::Internal)?;
    // Checked before the token is used up: a refused new password must not cost the link.
    let password =
        super::users::accept_new_password(&state, &body.new_password, &email, "new_password")
            .await?;
    // Burning is the atomic step: of two concurrent confirmations only one gets here.
    if state.redis.take_reset(&digest).await?.as_ref() != Some(&record) {
        return Err(ApiError::InvalidToken);
    }
    // The account vanished between the two steps: the link is as good as expired.
    set_password(&state, &user, &password, None)
        .await
        .map_err(|e| match e {
            ApiError::Unauthorized => ApiError::InvalidToken,
            e => e,
        })?;
    state
        .metrics
        .account_events
        .with_label_values(&["password_reset", "done"])
        .inc();
    Ok(StatusCode::NO_CONTENT)
}
