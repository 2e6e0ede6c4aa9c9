//! `/v1/users`: registration and the caller's profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use common::email::{EmailKind, EmailMessage, Recipient};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentSession;
use super::error::ApiError;
use super::json::ApiJson;
use crate::crypto::{new_token, token_digest};
use crate::domain::{DisplayName, Email, Locale, Password};
use crate::mailer::Mailer;
use crate::store::outbox::OutboxEntry;
use crate::store::redis_store::VerificationRecord;
use crate::store::to_bson_time;
use crate::store::users::{Inserted, UserDoc};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    email: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    locale: Option<String>,
}

struct Registration {
    email: Email,
    password: Password,
    display_name: Option<DisplayName>,
    locale: Locale,
}

impl RegisterBody {
    /// Every field is checked, so the client learns about all problems at once.
    fn parse(self) -> Result<Registration, ApiError> {
        let mut errors = Vec::new();
        let email = Email::parse(&self.email)
            .map_err(|e| errors.push(ApiError::field("email", e)))
            .ok();
        let password = Password::parse(&self.password)
            .map_err(|e| errors.push(ApiError::field("password", e)))
            .ok();
        let display_name = match self.display_name.as_deref().map(DisplayName::parse) {
            Some(Ok(name)) => Some(name),
            Some(Err(e)) => {
                errors.push(ApiError::field("display_name", e));
                None
            }
            None => None,
        };
        let locale = Locale::parse(self.locale.as_deref().unwrap_or("en"))
            .map_err(|e| errors.push(ApiError::field("locale", e)))
            .ok();
        if let (Some(email), Some(password)) = (&email, &password)
            && let Err(e) = password.check_not_derived_from(email)
        {
            errors.push(ApiError::field("password", e));
        }
        match (email, password, locale) {
            (Some(email), Some(password), Some(locale)) if errors.is_empty() => Ok(Registration {
                email,
                password,
                display_name,
                locale,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// `POST /v1/users`. Answers 202 whether or not the address already has an account, so the
/// endpoint cannot be used to find out who is registered; the owner of an existing account
/// gets an email saying someone tried.
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let reg = body.parse()?;
    // Hash in both branches so a taken address costs the same time as a free one.
    let password_hash = state.hasher.hash(&reg.password).await?;
    let now = Utc::now();
    let user = UserDoc {
        id: Uuid::now_v7().to_string(),
        email: reg.email.as_str().to_owned(),
        email_verified: false,
        password_hash,
        display_name: reg.display_name.map(DisplayName::into_inner),
        locale: reg.locale.as_str().to_owned(),
        created_at: to_bson_time(now),
        updated_at: to_bson_time(now),
    };
    let recipient = Recipient {
        email: user.email.clone(),
        name: user.display_name.clone(),
    };

    // The token goes to Redis first: if that fails nothing else has happened yet.
    let token = new_token();
    let digest = token_digest(&token);
    let record = VerificationRecord {
        user_id: user.id.clone(),
        email: user.email.clone(),
    };
    state
        .redis
        .put_verification(&digest, &record, state.config.verification_ttl)
        .await?;

    let verify = EmailMessage::new(recipient.clone(), EmailKind::VerifyEmail, &user.locale)
        .with_data("token", token.as_str())
        .with_data(
            "action_url",
            format!("{}?token={token}", state.config.verify_email_url),
        )
        .with_data(
            "expires_in_hours",
            state.config.verification_ttl.as_secs().div_ceil(3600),
        );
    let entry = OutboxEntry::new(&verify, Mailer::lease());

    match state.users.insert_with_email(&user, &entry).await? {
        Inserted::Created => {
            state.metrics.signups.with_label_values(&["created"]).inc();
            tracing::info!(user_id = %user.id, "user registered");
            state.mailer.dispatch(entry);
        }
        Inserted::EmailTaken => {
            state
                .metrics
                .signups
                .with_label_values(&["email_taken"])
                .inc();
            let _ = state.redis.drop_verification(&digest).await;
            let notice = EmailMessage::new(recipient, EmailKind::AccountExists, &user.locale);
            state
                .mailer
                .enqueue(OutboxEntry::new(&notice, Mailer::lease()))
                .await?;
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "status": "pending_verification",
            "detail": "Check your inbox to confirm the address.",
        })),
    ))
}

#[derive(Serialize)]
pub struct Profile {
    id: String,
    email: String,
    email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    locale: String,
    created_at: chrono::DateTime<Utc>,
}

/// `GET /v1/users/me`.
pub async fn me(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<Profile>, ApiError> {
    // A session can outlive its account for a moment (deleted elsewhere): treat it as gone.
    let user = state
        .users
        .find_by_id(&session.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    Ok(Json(Profile {
        id: user.id,
        email: user.email,
        email_verified: user.email_verified,
        display_name: user.display_name,
        locale: user.locale,
        created_at: crate::store::from_bson_time(user.created_at),
    }))
}
