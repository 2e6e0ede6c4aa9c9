//! `/v1/sessions`: login, the caller's sessions, logout and revocation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentSession;
use super::client::Client;
use super::docs::{BodyErrors, Limited, NeedsSession, ProblemDoc, Unavailable};
use super::error::{ApiError, FieldError};
use super::json::ApiJson;
use crate::account::login;
use crate::account::sign_out;
use crate::domain::{Email, Password};
use crate::store::sessions::SessionRecord;

/// The longest password a login takes, in characters: far above the 1024 of the policy (an
/// older policy's password still works), and a bound on the work one attempt can cause.
const MAX_LOGIN_PASSWORD: usize = 4096;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
    /// Not held to the policy for new passwords (a policy change locks nobody out); only
    /// normalised. Empty: `password_required`; longer than 4096 characters: `password_too_long`.
    #[schema(format = "password", min_length = 1, max_length = 4096)]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct NewSession {
    id: String,
    /// Send as `Authorization: Bearer <token>`; shown only here.
    token: String,
    #[schema(example = "Bearer")]
    token_type: &'static str,
    expires_at: DateTime<Utc>,
    idle_timeout_seconds: u64,
}

impl NewSession {
    pub fn new(state: &AppState, session: login::NewSession) -> Self {
        Self {
            id: session.id,
            token: session.token,
            token_type: "Bearer",
            expires_at: session.expires_at,
            idle_timeout_seconds: state.sessions.policy().idle_timeout.as_secs(),
        }
    }
}

/// Two-factor login is on: the password was right; answer the challenge with a code at
/// `POST /v1/sessions/mfa`.
#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    mfa_required: bool,
    /// Send to `POST /v1/sessions/mfa` with the code; shown only here.
    challenge: String,
    expires_at: DateTime<Utc>,
}

/// `POST /v1/sessions`. An unknown address and a wrong password give the same answer after the
/// same work (a dummy argon2 verification), so the response reveals nothing about who exists.
/// Attempts are limited per client address and per target account (whatever address they
/// come from); a successful login clears the account's count.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    request_body = LoginBody,
    responses(
        (status = 201, body = NewSession),
        (status = 200, description = "Right password of an account with two-factor login: \
            no session yet; answer the challenge at `POST /v1/sessions/mfa`.", body = MfaRequired),
        (status = 401, description = "Unknown address or wrong password, indistinguishably \
            (`invalid_credentials`).", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, description = "Right password, but the address is not confirmed yet \
            (`email_not_verified`) or an operator disabled the account (`account_disabled`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        BodyErrors,
        Limited,
        Unavailable,
    )
)]
pub async fn login(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (email, password) = login_input(&body.email, &body.password)?;
    Ok(
        match login::login(&state, client.0, &email, password).await? {
            login::LoginOutcome::Session(session) => {
                (StatusCode::CREATED, Json(NewSession::new(&state, session))).into_response()
            }
            login::LoginOutcome::MfaRequired(challenge) => Json(MfaRequired {
                mfa_required: true,
                challenge: challenge.token,
                expires_at: challenge.expires_at,
            })
            .into_response(),
        },
    )
}

/// The address and password of a login, checked for shape only (the same for the API and the
/// hosted login page).
pub(crate) fn login_input(email: &str, password: &str) -> Result<(Email, Password), ApiError> {
    if password.is_empty() {
        return Err(ApiError::invalid(vec![FieldError {
            field: "password",
            code: "password_required",
            detail: "password must not be empty".into(),
        }]));
    }
    if password.chars().count() > MAX_LOGIN_PASSWORD {
        return Err(ApiError::invalid(vec![FieldError {
            field: "password",
            code: "password_too_long",
            detail: format!("password must be at most {MAX_LOGIN_PASSWORD} characters"),
        }]));
    }
    let email =
        Email::parse(email).map_err(|e| ApiError::invalid(vec![ApiError::field("email", e)]))?;
    Ok((email, Password::for_verification(password)))
}

/// A session as its owner and an operator see it.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    id: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
}

impl From<SessionRecord> for SessionInfo {
    fn from(s: SessionRecord) -> Self {
        SessionInfo {
            id: s.id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            user_agent: s.user_agent,
            ip: s.ip,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[serde(flatten)]
    session: SessionInfo,
    /// The session of this request.
    current: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// How many sessions ended.
    revoked: usize,
}

/// The caller's active sessions, newest first.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "sessions",
    security(("session" = [])),
    responses((status = 200, body = SessionList), NeedsSession, Unavailable)
)]
pub async fn list(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<SessionList>, ApiError> {
    let sessions: Vec<SessionView> = state
        .sessions
        .list(&session.user_id)
        .await?
        .into_iter()
        .map(|s| SessionView {
            current: s.digest == session.digest,
            session: s.record.into(),
        })
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// Logs out: the token stops working at once.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    security(("session" = [])),
    responses((status = 204, description = "Logged out."), NeedsSession, Unavailable)
)]
pub async fn logout(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<StatusCode, ApiError> {
    state.sessions.revoke(&session.user_id, &session.id).await?;
    tracing::info!(user_id = %session.user_id, session_id = %session.id, "session ended");
    Ok(StatusCode::NO_CONTENT)
}

/// Ends one of the caller's sessions (e.g. a lost device).
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "sessions",
    security(("session" = [])),
    params(("id" = String, Path, description = "A session id from `GET /v1/sessions`")),
    responses(
        (status = 204, description = "Ended."),
        (status = 404, description = "No such session of the caller's.", body = ProblemDoc,
            content_type = "application/problem+json"),
        NeedsSession,
        Unavailable,
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if id.len() > 64 || !state.sessions.revoke(&session.user_id, &id).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(user_id = %session.user_id, session_id = %id, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller except the current one.
#[utoipa::path(
    delete,
    path = "/v1/sessions",
    tag = "sessions",
    security(("session" = [])),
    responses((status = 200, body = Revoked), NeedsSession, Unavailable)
)]
pub async fn revoke_others(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<Revoked>, ApiError> {
    let revoked = sign_out::others(&state, session.session_ref()).await?;
    Ok(Json(Revoked { revoked }))
}
