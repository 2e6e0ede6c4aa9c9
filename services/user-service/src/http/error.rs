//! The one error type of the HTTP layer and its RFC 9457 `application/problem+json` form.

use std::borrow::Cow;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::problem::{self, Kind};
use crate::account::AccountError;
pub use crate::account::FieldError;
use crate::domain::Invalid;
use crate::store::{StoreError, chain};

/// What the HTTP layer answers with: an account workflow's outcome, or a refusal of the
/// request itself (its body, its route, its admin token, its time).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Account(AccountError),
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
    /// The admin API's 401: no configured admin token.
    #[error("missing or invalid admin token")]
    AdminUnauthorized,
    /// A session cookie on an unsafe request from another origin (forward-auth).
    #[error("cross-origin request with a session cookie")]
    CrossOrigin,
    /// No such route.
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0} unavailable")]
    Unavailable(&'static str),
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn field(field: &'static str, invalid: Invalid) -> FieldError {
        FieldError::new(field, invalid)
    }

    /// Invalid fields of a request (422 `validation_failed`).
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        ApiError::Account(AccountError::Validation(errors))
    }

    /// The problem kind: status, code, title and default detail.
    pub(crate) fn kind(&self) -> &'static Kind {
        match self {
            ApiError::Account(e) => account_kind(e),
            ApiError::MalformedJson(_) => &problem::MALFORMED_JSON,
            ApiError::InvalidBody(_) => &problem::INVALID_BODY,
            ApiError::InvalidQuery(_) => &problem::INVALID_QUERY,
            ApiError::UnsupportedMediaType => &problem::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => &problem::PAYLOAD_TOO_LARGE,
            ApiError::AdminUnauthorized => &problem::ADMIN_UNAUTHORIZED,
            ApiError::CrossOrigin => &problem::CROSS_ORIGIN,
            ApiError::NotFound => &problem::NOT_FOUND,
            ApiError::MethodNotAllowed => &problem::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => &problem::UNAVAILABLE,
            ApiError::Internal => &problem::INTERNAL,
        }
    }

    /// How long to wait before retrying, for a rate limit.
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            ApiError::Account(AccountError::RateLimited(wait)) => Some(*wait),
            _ => None,
        }
    }

    pub(crate) fn detail(&self) -> Cow<'_, str> {
        match self {
            ApiError::MalformedJson(d) | ApiError::InvalidBody(d) | ApiError::InvalidQuery(d) => {
                Cow::Borrowed(d)
            }
            ApiError::Account(AccountError::RateLimited(wait)) => Cow::Owned(format!(
                "Too many attempts; retry in {} seconds.",
                wait.as_secs().max(1)
            )),
            ApiError::Account(AccountError::PasskeyRejected(reason)) => {
                Cow::Borrowed(passkey_refusal(reason))
            }
            _ => Cow::Borrowed(self.kind().detail),
        }
    }
}

/// The detail of a refused passkey answer, by the reason `passkey_rp::refusal` gives.
fn passkey_refusal(reason: &str) -> &'static str {
    match reason {
        "origin" => "The answer came from an origin this service does not accept (origin).",
        "rp_id" => "The passkey belongs to another site: its relying-party id differs (rp_id).",
        "user_verification" => {
            "The authenticator did not verify the user with a PIN or biometrics, which passkeys \
             require here (user_verification)."
        }
        "challenge" => "The answer is not for this ceremony's challenge (challenge).",
        "unknown_credential" => {
            "This passkey is not registered for the account, or no longer (unknown_credential)."
        }
        "possible_clone" => {
            "The passkey's signature counter went back, as a cloned authenticator's would; it is \
             refused (possible_clone)."
        }
        "already_registered" => "This passkey is already registered (already_registered).",
        _ => "The passkey's answer could not be verified (invalid).",
    }
}

/// The one table from account outcomes to problems.
fn account_kind(e: &AccountError) -> &'static Kind {
    use AccountError::*;
    match e {
        Validation(_) => &problem::VALIDATION,
        Unauthorized => &problem::UNAUTHORIZED,
        InvalidCredentials => &problem::INVALID_CREDENTIALS,
        EmailNotVerified => &problem::EMAIL_NOT_VERIFIED,
        InvalidToken => &problem::INVALID_TOKEN,
        WrongPassword => &problem::WRONG_PASSWORD,
        EmailTaken => &problem::EMAIL_TAKEN,
        RateLimited(_) => &problem::RATE_LIMITED,
        NotFound => &problem::NOT_FOUND,
        AccountDisabled => &problem::ACCOUNT_DISABLED,
        Conflict => &problem::CONFLICT,
        MfaNotConfigured => &problem::MFA_NOT_CONFIGURED,
        PasskeysNotConfigured => &problem::PASSKEYS_NOT_CONFIGURED,
        MfaAlreadyEnabled => &problem::MFA_ALREADY_ENABLED,
        MfaNotEnabled => &problem::MFA_NOT_ENABLED,
        MfaNotPending => &problem::MFA_NOT_PENDING,
        MfaCodeRequired => &problem::MFA_CODE_REQUIRED,
        InvalidMfaCode => &problem::INVALID_MFA_CODE,
        InvalidChallenge => &problem::INVALID_CHALLENGE,
        PasskeyCeremonyInvalid => &problem::INVALID_PASSKEY_CEREMONY,
        PasskeyRejected(_) => &problem::PASSKEY_REJECTED,
        PasskeyLimit => &problem::PASSKEY_LIMIT,
        Store(e) if e.dependency().is_some() => &problem::UNAVAILABLE,
        Store(_) | Seal(_) | Hash(_) => &problem::INTERNAL,
    }
}

/// Room for a problem document without validation errors, so most are written without growing.
const PROBLEM_CAPACITY: usize = 384;

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: TypeUri,
    title: &'static str,
    status: u16,
    detail: Cow<'a, str>,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
    /// The request's id (`X-Request-Id`), to quote in a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

/// A problem's `type`: its `code` under the platform's URN, written without building a string.
struct TypeUri(&'static str);

impl Serialize for TypeUri {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("urn:user-platform:problem:{}", self.0))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        let body = super::request_span::with_request_id(|request_id| {
            let problem = Problem {
                kind: TypeUri(kind.code),
                title: kind.title,
                status: kind.status.as_u16(),
                detail: self.detail(),
                code: kind.code,
                errors: match &self {
                    ApiError::Account(AccountError::Validation(errors)) => Some(errors),
                    _ => None,
                },
                request_id,
            };
            let mut body = Vec::with_capacity(PROBLEM_CAPACITY);
            serde_json::to_writer(&mut body, &problem).expect("a problem always serialises");
            body
        });
        let mut response = (kind.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let realm = match &self {
            ApiError::Account(AccountError::Unauthorized) => Some("Bearer realm=\"user-platform\""),
            ApiError::AdminUnauthorized => Some("Bearer realm=\"user-platform-admin\""),
            _ => None,
        };
        if let Some(realm) = realm {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(realm));
        }
        if kind.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(wait) = self.retry_after() {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        AccountError::Store(e).into()
    }
}

/// The workflow's outcome as it is; causes that the caller never sees (a dependency down,
/// corrupt data, a secret that cannot be opened, a hashing failure) are logged here, once.
impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match &e {
            AccountError::Store(cause) => match cause.dependency() {
                Some(dependency) => {
                    tracing::error!(dependency, error = %chain(cause), "dependency unavailable")
                }
                None => tracing::error!(error = %chain(cause), "corrupt stored data"),
            },
            AccountError::Seal(cause) => tracing::error!(
                error = %chain(cause),
                "a TOTP secret could not be opened; check MFA_ENCRYPTION_KEYS"
            ),
            AccountError::Hash(cause) => {
                tracing::error!(error = %chain(cause), "password hashing failed")
            }
            _ => {}
        }
        ApiError::Account(e)
    }
}
