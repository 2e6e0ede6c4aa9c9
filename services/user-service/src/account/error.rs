//! The one error type of the account workflows. The HTTP layer maps it to a problem document
//! once (`http::error`); causes from the stores and the hasher are kept as `#[source]`.

use std::time::Duration;

use crate::crypto::HashError;
use crate::domain::Invalid;
use crate::secret_box::SealError;
use crate::store::StoreError;

/// One invalid field of a request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub detail: String,
}

impl FieldError {
    pub fn new(field: &'static str, invalid: Invalid) -> Self {
        Self {
            field,
            code: invalid.code,
            detail: invalid.detail,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// The session's account is gone or the session is no longer valid.
    #[error("no valid session")]
    Unauthorized,
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
    RateLimited(Duration),
    #[error("not found")]
    NotFound,
    /// Right password, but an operator disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// The account kept changing under the request; nothing was written.
    #[error("conflicting change")]
    Conflict,
    #[error("store failed")]
    Store(#[from] StoreError),
    #[error("password hashing failed")]
    Hash(#[from] HashError),
    /// Two-factor login is not configured on this server (no encryption key).
    #[error("two-factor login not configured")]
    MfaNotConfigured,
    /// Passkeys are not available on this server (`PUBLIC_URL` is an IP address).
    #[error("passkeys not configured")]
    PasskeysNotConfigured,
    #[error("two-factor login already enabled")]
    MfaAlreadyEnabled,
    #[error("two-factor login not enabled")]
    MfaNotEnabled,
    /// A confirmation without an enrolment in progress (none, or it expired).
    #[error("no two-factor enrolment in progress")]
    MfaNotPending,
    /// The change needs a current one-time code (two-factor login is on).
    #[error("one-time code required")]
    MfaCodeRequired,
    /// Wrong, used or expired one-time code or recovery code.
    #[error("invalid one-time code")]
    InvalidMfaCode,
    /// The login challenge is unknown, expired, used or out of attempts.
    #[error("invalid login challenge")]
    InvalidChallenge,
    /// The passkey ceremony is unknown, expired, used, or not this session's.
    #[error("invalid passkey ceremony")]
    PasskeyCeremonyInvalid,
    /// The relying party refused the authenticator's answer; the stable reason
    /// (`passkey_rp::refusal`).
    #[error("passkey refused: {0}")]
    PasskeyRejected(&'static str),
    /// The account has as many passkeys as it may.
    #[error("too many passkeys")]
    PasskeyLimit,
    #[error("sealed secret unusable")]
    Seal(#[from] SealError),
}

impl AccountError {
    /// A single invalid field.
    pub fn field(field: &'static str, invalid: Invalid) -> Self {
        AccountError::Validation(vec![FieldError::new(field, invalid)])
    }
}
