//! `/v1/email-verifications`.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::ApiJson;
use crate::crypto::{looks_like_token, token_digest};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    token: String,
}

/// `POST /v1/email-verifications/confirm`: single use, whatever the outcome.
pub async fn confirm(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Value>, ApiError> {
    if !looks_like_token(&body.token) {
        return Err(ApiError::InvalidToken);
    }
    let record = state
        .redis
        .take_verification(&token_digest(&body.token))
        .await?
        .ok_or(ApiError::InvalidToken)?;
    // The address may have changed since the email went out: then the token proves nothing.
    if !state
        .users
        .mark_verified(&record.user_id, &record.email)
        .await?
    {
        return Err(ApiError::InvalidToken);
    }
    tracing::info!(user_id = %record.user_id, "email verified");
    Ok(Json(json!({ "email_verified": true })))
}
