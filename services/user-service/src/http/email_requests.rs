//! The shape shared by "send me a link" requests (verification resend, password reset): the
//! address is validated and counted against the per-client and per-address limits, then the
//! request is answered at once and the lookup and sending happen afterwards. Answering first
//! keeps the response the same, in content and in time, whether or not the address has an
//! account (bench/enumeration.py measures it).

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;

use super::AppState;
use super::client::Client;
use super::docs::Accepted;
use super::error::ApiError;
use crate::account::AccountError;
use crate::account::limits::{self, Limit};
use crate::domain::Email;
use crate::store::chain;

pub(super) async fn accept<F, Fut>(
    state: AppState,
    client: &Client,
    raw_email: &str,
    detail: &'static str,
    what: &'static str,
    send: F,
) -> Result<(StatusCode, Json<Accepted>), ApiError>
where
    F: FnOnce(AppState, Email) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), AccountError>> + Send + 'static,
{
    handle(state, client, raw_email, what, send).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "accepted",
            detail,
        }),
    ))
}

/// Validates and counts the request, then sends in the background (the API's and the hosted
/// pages' "send me a link" forms).
pub(crate) async fn handle<F, Fut>(
    state: AppState,
    client: &Client,
    raw_email: &str,
    what: &'static str,
    send: F,
) -> Result<(), ApiError>
where
    F: FnOnce(AppState, Email) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), AccountError>> + Send + 'static,
{
    let email = Email::parse(raw_email)
        .map_err(|e| ApiError::invalid(vec![ApiError::field("email", e)]))?;
    limits::enforce_client(&state, Limit::EmailIp, &client.0).await?;
    limits::enforce(&state, Limit::EmailAddress, email.as_str()).await?;
    tokio::spawn(async move {
        if let Err(e) = send(state, email).await {
            tracing::warn!(error = %chain(&e), "{what} not sent");
        }
    });
    Ok(())
}
