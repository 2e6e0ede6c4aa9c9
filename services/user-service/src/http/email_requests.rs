//! The shape shared by "send me a link" requests (verification resend, password reset): the
//! address is validated and counted against the per-client and per-address limits, then the
//! request is answered at once and the lookup and sending happen afterwards. Answering first
//! keeps the response the same, in content and in time, whether or not the address has an
//! account (bench/enumeration.py measures it).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::client::Client;
use super::docs::Accepted;
use super::error::ApiError;
use super::json::ApiJson;
use crate::account::limits::{self, Limit};
use crate::account::reset::RequestedBy;
use crate::account::{AccountError, reset, verification};
use crate::domain::Email;
use crate::store::chain;

/// The body of a "send me a link" request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    #[schema(format = "email", max_length = 254)]
    pub email: String,
}

/// Which link an address asks for.
#[derive(Clone, Copy)]
pub(crate) enum Link {
    /// A new verification link, for an unverified account.
    Verification,
    /// A password-reset link.
    PasswordReset,
}

impl Link {
    /// What the API answers, whatever happens.
    fn detail(self) -> &'static str {
        match self {
            Link::Verification => {
                "If the address has an unverified account, a new link is on its way."
            }
            Link::PasswordReset => "If the address has an account, a reset link is on its way.",
        }
    }

    /// For the log line of a failed send.
    fn what(self) -> &'static str {
        match self {
            Link::Verification => "verification email",
            Link::PasswordReset => "password reset link",
        }
    }

    async fn send(self, state: &AppState, email: &Email) -> Result<(), AccountError> {
        match self {
            Link::Verification => verification::resend(state, email, RequestedBy::Anyone).await,
            Link::PasswordReset => reset::send_link(state, email, RequestedBy::Anyone).await,
        }
    }
}

/// The answer of the API's link requests.
pub(super) type LinkAnswer = Result<(StatusCode, Json<Accepted>), ApiError>;

/// The API's answer: 202 with a detail that says nothing about the address.
pub(super) async fn accept(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<EmailRequest>,
    link: Link,
) -> LinkAnswer {
    handle(state, &client, &body.email, link).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail: link.detail(),
        }),
    ))
}

/// Validates and counts the request, then sends in the background (the API's and the hosted
/// pages' "send me a link" forms).
pub(crate) async fn handle(
    state: AppState,
    client: &Client,
    raw_email: &str,
    link: Link,
) -> Result<(), ApiError> {
    let email = Email::parse(raw_email)
        .map_err(|e| ApiError::invalid(vec![ApiError::field("email", e)]))?;
    limits::enforce_client(&state, Limit::EmailIp, &client.0).await?;
    limits::enforce(&state, Limit::EmailAddress, email.as_str()).await?;
    let background = state.background.clone();
    background.spawn(async move {
        if let Err(e) = link.send(&state, &email).await {
            tracing::warn!(error = %chain(&e), "{} not sent", link.what());
        }
    });
    Ok(())
}
