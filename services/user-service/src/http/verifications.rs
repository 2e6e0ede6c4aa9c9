//! `/v1/email-verifications`: resending the link, and confirming an address with it.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::docs::{Accepted, BodyErrors, Limited, ProblemDoc, TokenRefused, Unavailable};
use super::email_requests::{self, EmailRequest, Link, LinkAnswer};
use super::error::ApiError;
use super::fields::link_token;
use super::json::ApiJson;
use crate::account::verification;

/// `POST /v1/email-verifications`: sends a new link to an address that has an unverified
/// account. Always 202, whether or not it did, so it reveals nothing about who is registered;
/// limited per address (no email bombing) and per client.
#[utoipa::path(post, path = "/v1/email-verifications", tag = "email-verifications", request_body = EmailRequest,
    responses((status = 202, description = "Handled; says nothing about the address.",
        body = Accepted), BodyErrors, Limited, Unavailable))]
pub async fn resend(s: State<AppState>, c: Client, b: ApiJson<EmailRequest>) -> LinkAnswer {
    email_requests::accept(s, c, b, Link::Verification).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EmailConfirmBody)]
pub struct ConfirmBody {
    /// The token from the email's link. A well-formed token that is unknown, expired, used
    /// or superseded is a 400 `invalid_token`.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    token: String,
}

/// `POST /v1/email-verifications/confirm`: single use, whatever the outcome. Confirms a new
/// account's address, or completes an email change (the old address is told).
/// The confirmed address.
#[derive(Serialize, ToSchema)]
pub struct Verified {
    email_verified: bool,
    email: String,
}

#[utoipa::path(
    post,
    path = "/v1/email-verifications/confirm",
    operation_id = "confirm_email",
    tag = "email-verifications",
    request_body = ConfirmBody,
    responses(
        (status = 200, body = Verified),
        (status = 409, description = "The new address was taken by another account meanwhile \
            (`email_taken`).", body = ProblemDoc, content_type = "application/problem+json"),
        BodyErrors,
        TokenRefused,
        Unavailable,
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Verified>, ApiError> {
    let token = link_token(&body.token)?;
    let email = verification::confirm(&state, token).await?;
    Ok(Json(Verified {
        email_verified: true,
        email,
    }))
}
