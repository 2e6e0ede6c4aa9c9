//! `/v1/sessions`: login and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::CurrentSession;
use super::error::{ApiError, FieldError};
use super::json::ApiJson;
use crate::crypto::{new_token, token_digest};
use crate::domain::{Email, Password};
use crate::store::redis_store::SessionRecord;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    email: String,
    password: String,
}

#[derive(Serialize)]
struct NewSession {
    token: String,
    token_type: &'static str,
    expires_at: DateTime<Utc>,
}

/// `POST /v1/sessions`. An unknown address and a wrong password give the same answer after the
/// same work (a dummy argon2 verification), so the response reveals nothing about who exists.
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    if body.password.is_empty() {
        return Err(ApiError::Validation(vec![FieldError {
            field: "password",
            code: "password_required",
            detail: "password must not be empty".into(),
        }]));
    }
    let email = Email::parse(&body.email)
        .map_err(|e| ApiError::Validation(vec![ApiError::field("email", e)]))?;
    let password = Password::for_verification(&body.password);
    let user = state.users.find_by_email(email.as_str()).await?;
    let valid = state
        .hasher
        .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let user = match user {
        Some(user) if valid => user,
        _ => {
            state
                .metrics
                .logins
                .with_label_values(&["invalid_credentials"])
                .inc();
            return Err(ApiError::InvalidCredentials);
        }
    };
    // Only said after the password proved who is asking.
    if !user.email_verified && !state.config.allow_unverified_login {
        state
            .metrics
            .logins
            .with_label_values(&["email_not_verified"])
            .inc();
        return Err(ApiError::EmailNotVerified);
    }

    let token = new_token();
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(state.config.session_ttl)
        .unwrap_or_else(|_| chrono::Duration::days(1));
    let record = SessionRecord {
        user_id: user.id.clone(),
        created_at: now,
        expires_at: now + ttl,
    };
    state
        .redis
        .create_session(&token_digest(&token), &record)
        .await?;
    state.metrics.logins.with_label_values(&["success"]).inc();
    tracing::info!(user_id = %user.id, "session created");
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(NewSession {
            token,
            token_type: "Bearer",
            expires_at: record.expires_at,
        }),
    ))
}

/// `DELETE /v1/sessions/current`: the token stops working at once.
pub async fn logout(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<StatusCode, ApiError> {
    state.redis.delete_session(&session.digest).await?;
    tracing::info!(user_id = %session.user_id, "session ended");
    Ok(StatusCode::NO_CONTENT)
}
