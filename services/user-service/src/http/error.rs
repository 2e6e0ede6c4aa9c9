//! The one error type of the HTTP layer and its RFC 9457 `application/problem+json` form.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::account::AccountError;
pub use crate::account::FieldError;
use crate::domain::Invalid;
use crate::store::{StoreError, chain};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("malformed JSON")]
    MalformedJson(String),
    #[error("invalid body")]
    InvalidBody(String),
    #[error("invalid query")]
    InvalidQuery(String),
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// The admin API's 401: no configured admin token.
    #[error("missing or invalid admin token")]
    AdminUnauthorized,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("email not verified")]
    EmailNotVerified,
    #[error("invalid or expired token")]
    InvalidToken,
    #[error("wrong password")]
    WrongPassword,
    #[error("email address taken")]
    EmailTaken,
    #[error("rate limited")]
    RateLimited(std::time::Duration),
    #[error("not found")]
    NotFound,
    #[error("two-factor login not configured")]
    MfaNotConfigured,
    #[error("two-factor login already enabled")]
    MfaAlreadyEnabled,
    #[error("two-factor login not enabled")]
    MfaNotEnabled,
    #[error("no two-factor enrolment in progress")]
    MfaNotPending,
    #[error("one-time code required")]
    MfaCodeRequired,
    #[error("invalid one-time code")]
    InvalidMfaCode,
    #[error("invalid login challenge")]
    InvalidChallenge,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("account disabled")]
    AccountDisabled,
    #[error("conflicting change")]
    Conflict,
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn field(field: &'static str, invalid: Invalid) -> FieldError {
        FieldError::new(field, invalid)
    }

    pub(crate) fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            InvalidBody(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Invalid request body",
            ),
            InvalidQuery(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Invalid query string",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Unauthorized | AdminUnauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized")
            }
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            EmailNotVerified => (
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "Email not verified",
            ),
            InvalidToken => (
                StatusCode::BAD_REQUEST,
                "invalid_token",
                "Invalid or expired token",
            ),
            WrongPassword => (StatusCode::FORBIDDEN, "wrong_password", "Wrong password"),
            EmailTaken => (StatusCode::CONFLICT, "email_taken", "Email address taken"),
            RateLimited(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            MfaNotConfigured => (
                StatusCode::NOT_IMPLEMENTED,
                "mfa_not_configured",
                "Two-factor login not configured",
            ),
            MfaAlreadyEnabled => (
                StatusCode::CONFLICT,
                "mfa_already_enabled",
                "Two-factor login already enabled",
            ),
            MfaNotEnabled => (
                StatusCode::CONFLICT,
                "mfa_not_enabled",
                "Two-factor login not enabled",
            ),
            MfaNotPending => (
                StatusCode::CONFLICT,
                "mfa_enrolment_not_started",
                "No enrolment in progress",
            ),
            MfaCodeRequired => (
                StatusCode::FORBIDDEN,
                "mfa_code_required",
                "One-time code required",
            ),
            InvalidMfaCode => (
                StatusCode::FORBIDDEN,
                "invalid_mfa_code",
                "Invalid one-time code",
            ),
            InvalidChallenge => (
                StatusCode::UNAUTHORIZED,
                "invalid_mfa_challenge",
                "Invalid login challenge",
            ),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            AccountDisabled => (
                StatusCode::FORBIDDEN,
                "account_disabled",
                "Account disabled",
            ),
            Conflict => (StatusCode::CONFLICT, "conflict", "Conflicting change"),
            Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            ),
        }
    }

    pub(crate) fn detail(&self) -> String {
        use ApiError::*;
        match self {
            Validation(_) => "One or more fields are invalid; see `errors`.".into(),
            MalformedJson(d) | InvalidBody(d) | InvalidQuery(d) => d.clone(),
            UnsupportedMediaType => "Send the body as application/json.".into(),
            PayloadTooLarge => "The request body is too large.".into(),
            Unauthorized => "Send a valid session token as `Authorization: Bearer <token>`.".into(),
            AdminUnauthorized => "Send an admin token as `Authorization: Bearer <token>`.".into(),
            InvalidCredentials => "The email or the password is wrong.".into(),
            EmailNotVerified => "Confirm your email address before logging in.".into(),
            InvalidToken => "The token is invalid, expired or already used.".into(),
            WrongPassword => "The current password is wrong.".into(),
            EmailTaken => "Another account has this email address now.".into(),
            RateLimited(wait) => format!(
                "Too many attempts; retry in {} seconds.",
                wait.as_secs().max(1)
            ),
            NotFound => "No such resource.".into(),
            MfaNotConfigured => "Two-factor login is not configured on this server.".into(),
            MfaAlreadyEnabled => "Two-factor login is already on; turn it off first.".into(),
            MfaNotEnabled => "Two-factor login is not on for this account.".into(),
            MfaNotPending => {
                "No enrolment is in progress (or it expired); start one with POST /v1/users/me/mfa/totp.".into()
            }
            MfaCodeRequired => {
                "Two-factor login is on: send a current code from the authenticator app as `totp_code`.".into()
            }
            InvalidMfaCode => "The code is wrong, expired or already used.".into(),
            InvalidChallenge => {
                "The login challenge is unknown, expired, used or out of attempts; log in again.".into()
            }
            MethodNotAllowed => "This resource does not support that method.".into(),
            AccountDisabled => "This account has been disabled; contact support.".into(),
            Conflict => "The account changed during the request; retry.".into(),
            Unavailable(_) => "A backing service is unavailable; retry shortly.".into(),
            Internal => "An unexpected error occurred.".into(),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    /// The request's id (`X-Request-Id`), to quote in a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let problem = Problem {
            kind: format!("urn:user-platform:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            code,
            errors: match &self {
                ApiError::Validation(errors) => Some(errors),
                _ => None,
            },
            request_id: super::request_span::current_request_id().map(|id| id.to_string()),
        };
        let body = serde_json::to_vec(&problem).expect("a problem always serialises");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"user-platform\""),
                );
            }
            ApiError::AdminUnauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"user-platform-admin\""),
                );
            }
            ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::RateLimited(wait) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64),
                );
            }
            _ => {}
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let cause = chain(&e);
        match e.dependency() {
            Some(dependency) => {
                tracing::error!(dependency, error = %cause, "dependency unavailable");
                ApiError::Unavailable(dependency)
            }
            None => {
                tracing::error!(error = %cause, "corrupt stored data");
                ApiError::Internal
            }
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Validation(errors) => ApiError::Validation(errors),
            AccountError::Unauthorized => ApiError::Unauthorized,
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::EmailNotVerified => ApiError::EmailNotVerified,
            AccountError::InvalidToken => ApiError::InvalidToken,
            AccountError::WrongPassword => ApiError::WrongPassword,
            AccountError::EmailTaken => ApiError::EmailTaken,
            AccountError::RateLimited(wait) => ApiError::RateLimited(wait),
            AccountError::NotFound => ApiError::NotFound,
            AccountError::AccountDisabled => ApiError::AccountDisabled,
            AccountError::Conflict => ApiError::Conflict,
            AccountError::MfaNotConfigured => ApiError::MfaNotConfigured,
            AccountError::MfaAlreadyEnabled => ApiError::MfaAlreadyEnabled,
            AccountError::MfaNotEnabled => ApiError::MfaNotEnabled,
            AccountError::MfaNotPending => ApiError::MfaNotPending,
            AccountError::MfaCodeRequired => ApiError::MfaCodeRequired,
            AccountError::InvalidMfaCode => ApiError::InvalidMfaCode,
            AccountError::InvalidChallenge => ApiError::InvalidChallenge,
            AccountError::Seal(e) => {
                tracing::error!(error = %chain(&e), "a TOTP secret could not be opened; check MFA_ENCRYPTION_KEYS");
                ApiError::Internal
            }
            AccountError::Store(e) => e.into(),
            AccountError::Hash(e) => {
                tracing::error!(error = %chain(&e), "password hashing failed");
                ApiError::Internal
            }
        }
    }
}
