//! `/v1/email-verifications`: resending the link, and confirming an address with it.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use common::email::{EmailKind, EmailMessage, Recipient};
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::email_requests;
use super::error::ApiError;
use super::json::ApiJson;
use super::openapi::{Accepted, BodyErrors, Limited, ProblemDoc, Unavailable};
use super::users::{email_entry, event_entry, verification_email};
use crate::crypto::{looks_like_token, token_digest};
use crate::domain::Email;
use crate::events::{DomainEvent, EventType};
use crate::store::users::Updated;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendBody {
    #[schema(format = "email")]
    email: String,
}

/// `POST /v1/email-verifications`: sends a new link to an address that has an unverified
/// account. Always 202, whether or not it did, so it reveals nothing about who is registered;
/// limited per address (no email bombing) and per client.
#[utoipa::path(
    post,
    path = "/v1/email-verifications",
    tag = "email-verifications",
    request_body = ResendBody,
    responses(
        (status = 202, description = "Handled; says nothing about the address.", body = Accepted),
        BodyErrors,
        Limited,
        Unavailable,
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<ResendBody>,
) -> Result<impl IntoResponse, ApiError> {
    email_requests::accept(
        state,
        &client,
        &body.email,
        "If the address has an unverified account, a new link is on its way.",
        "verification email",
        |state, email| async move { resend_link(&state, &email).await },
    )
    .await
}

async fn resend_link(state: &AppState, email: &Email) -> Result<(), ApiError> {
    if let Some(user) = state.users.find_by_email(email.as_str()).await?
        && !user.email_verified
    {
        let (message, _) = verification_email(state, &user, &user.email, None).await?;
        state.mailer.enqueue(email_entry(&message)).await?;
        tracing::info!(user_id = %user.id, "verification email resent");
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    /// The token from the email's link.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$")]
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
    tag = "email-verifications",
    request_body = ConfirmBody,
    responses(
        (status = 200, body = Verified),
        (status = 409, description = "The new address was taken by another account meanwhile \
            (`email_taken`).", body = ProblemDoc, content_type = "application/problem+json"),
        BodyErrors,
        Unavailable,
    )
)]
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Verified>, ApiError> {
    if !looks_like_token(&body.token) {
        return Err(ApiError::InvalidToken);
    }
    let record = state
        .redis
        .take_verification(&token_digest(&body.token))
        .await?
        .ok_or(ApiError::InvalidToken)?;
    let verified = DomainEvent::new(EventType::EmailVerified, &record.user_id)
        .with("email", record.email.as_str());

    let outcome = match &record.previous {
        None => {
            // The address may have changed since the email went out: then the token proves
            // nothing. Already verified (an older link used first) is fine.
            let entries = vec![event_entry(&verified)];
            let outcome = state
                .users
                .update_with_outbox(
                    &record.user_id,
                    doc! { "email": &record.email, "email_verified": false },
                    doc! { "$set": { "email_verified": true, "updated_at": mongodb::bson::DateTime::now() } },
                    &entries,
                )
                .await?;
            if outcome == Updated::Done {
                state.mailer.dispatch(entries);
            } else if state
                .users
                .find_by_id(&record.user_id)
                .await?
                .is_some_and(|u| u.email == record.email && u.email_verified)
            {
                return Ok(Json(Verified {
                    email_verified: true,
                    email: record.email,
                }));
            }
            outcome
        }
        Some(previous) => {
            let user = state.users.find_by_id(&record.user_id).await?;
            let Some(user) = user.filter(|u| &u.email == previous) else {
                return Err(ApiError::InvalidToken);
            };
            let notice = EmailMessage::new(
                Recipient {
                    email: previous.clone(),
                    name: user.display_name.clone(),
                },
                EmailKind::EmailChanged,
                &user.locale,
            )
            .with_data("new_email", record.email.as_str());
            let entries = vec![email_entry(&notice), event_entry(&verified)];
            let outcome = state
                .users
                .update_with_outbox(
                    &record.user_id,
                    doc! { "email": previous },
                    doc! { "$set": {
                        "email": &record.email,
                        "email_verified": true,
                        "updated_at": mongodb::bson::DateTime::now(),
                    } },
                    &entries,
                )
                .await?;
            if outcome == Updated::Done {
                state.mailer.dispatch(entries);
                tracing::info!(user_id = %record.user_id, "email changed");
            }
            outcome
        }
    };
    match outcome {
        Updated::Done => {
            state
                .metrics
                .account_events
                .with_label_values(&["email_verification", "done"])
                .inc();
            tracing::info!(user_id = %record.user_id, "email verified");
            Ok(Json(Verified {
                email_verified: true,
                email: record.email,
            }))
        }
        Updated::NoMatch => Err(ApiError::InvalidToken),
        Updated::EmailTaken => Err(ApiError::EmailTaken),
    }
}
