//! The problem kinds of the API: each one's HTTP status, stable `code`, title and English
//! detail, in one table. `http::error` picks the kind of an error; a new error needs one
//! entry here and one arm there.

use axum::http::StatusCode;

/// One kind of RFC 9457 problem document.
pub(crate) struct Kind {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    /// The detail, unless the error carries its own.
    pub detail: &'static str,
}

const fn kind(
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: &'static str,
) -> Kind {
    Kind {
        status,
        code,
        title,
        detail,
    }
}

use StatusCode as S;

pub(crate) const VALIDATION: Kind = kind(
    S::UNPROCESSABLE_ENTITY,
    "validation_failed",
    "Validation failed",
    "One or more fields are invalid; see `errors`.",
);
pub(crate) const MALFORMED_JSON: Kind =
    kind(S::BAD_REQUEST, "malformed_json", "Malformed JSON", "");
pub(crate) const INVALID_BODY: Kind =
    kind(S::BAD_REQUEST, "invalid_body", "Invalid request body", "");
pub(crate) const INVALID_QUERY: Kind =
    kind(S::BAD_REQUEST, "invalid_query", "Invalid query string", "");
pub(crate) const UNSUPPORTED_MEDIA_TYPE: Kind = kind(
    S::UNSUPPORTED_MEDIA_TYPE,
    "unsupported_media_type",
    "Unsupported media type",
    "Send the body as application/json.",
);
pub(crate) const PAYLOAD_TOO_LARGE: Kind = kind(
    S::PAYLOAD_TOO_LARGE,
    "payload_too_large",
    "Payload too large",
    "The request body is too large.",
);
pub(crate) const CROSS_ORIGIN: Kind = kind(
    S::FORBIDDEN,
    "cross_origin",
    "Cross-origin request refused",
    "A session cookie authorises a request other than GET, HEAD or OPTIONS only from the \
     application's own origin.",
);
pub(crate) const UNAUTHORIZED: Kind = kind(
    S::UNAUTHORIZED,
    "unauthorized",
    "Unauthorized",
    "Send a valid session token as `Authorization: Bearer <token>`.",
);
pub(crate) const ADMIN_UNAUTHORIZED: Kind = kind(
    S::UNAUTHORIZED,
    "unauthorized",
    "Unauthorized",
    "Send an admin token as `Authorization: Bearer <token>`.",
);
pub(crate) const INVALID_CREDENTIALS: Kind = kind(
    S::UNAUTHORIZED,
    "invalid_credentials",
    "Invalid credentials",
    "The email or the password is wrong.",
);
pub(crate) const EMAIL_NOT_VERIFIED: Kind = kind(
    S::FORBIDDEN,
    "email_not_verified",
    "Email not verified",
    "Confirm your email address before logging in.",
);
pub(crate) const INVALID_TOKEN: Kind = kind(
    S::BAD_REQUEST,
    "invalid_token",
    "Invalid or expired token",
    "The token is invalid, expired or already used.",
);
pub(crate) const WRONG_PASSWORD: Kind = kind(
    S::FORBIDDEN,
    "wrong_password",
    "Wrong password",
    "The current password is wrong.",
);
pub(crate) const EMAIL_TAKEN: Kind = kind(
    S::CONFLICT,
    "email_taken",
    "Email address taken",
    "Another account has this email address now.",
);
/// The detail names the wait (`http::error`).
pub(crate) const RATE_LIMITED: Kind = kind(
    S::TOO_MANY_REQUESTS,
    "rate_limited",
    "Too many requests",
    "",
);
pub(crate) const NOT_FOUND: Kind =
    kind(S::NOT_FOUND, "not_found", "Not found", "No such resource.");
pub(crate) const MFA_NOT_CONFIGURED: Kind = kind(
    S::NOT_IMPLEMENTED,
    "mfa_not_configured",
    "Two-factor login not configured",
    "Two-factor login is not configured on this server.",
);
pub(crate) const PASSKEYS_NOT_CONFIGURED: Kind = kind(
    S::NOT_IMPLEMENTED,
    "passkeys_not_configured",
    "Passkeys not configured",
    "Passkeys are not available on this server: its public URL is an IP address.",
);
pub(crate) const MFA_ALREADY_ENABLED: Kind = kind(
    S::CONFLICT,
    "mfa_already_enabled",
    "Two-factor login already enabled",
    "Two-factor login is already on; turn it off first.",
);
pub(crate) const MFA_NOT_ENABLED: Kind = kind(
    S::CONFLICT,
    "mfa_not_enabled",
    "Two-factor login not enabled",
    "Two-factor login is not on for this account.",
);
pub(crate) const MFA_NOT_PENDING: Kind = kind(
    S::CONFLICT,
    "mfa_enrolment_not_started",
    "No enrolment in progress",
    "No enrolment is in progress (or it expired); start one with POST /v1/users/me/mfa/totp.",
);
pub(crate) const MFA_CODE_REQUIRED: Kind = kind(
    S::FORBIDDEN,
    "mfa_code_required",
    "One-time code required",
    "Two-factor login is on: send a current code from the authenticator app as `totp_code`.",
);
pub(crate) const INVALID_MFA_CODE: Kind = kind(
    S::FORBIDDEN,
    "invalid_mfa_code",
    "Invalid one-time code",
    "The code is wrong, expired or already used.",
);
pub(crate) const INVALID_CHALLENGE: Kind = kind(
    S::UNAUTHORIZED,
    "invalid_mfa_challenge",
    "Invalid login challenge",
    "The login challenge is unknown, expired, used or out of attempts; log in again.",
);
pub(crate) const INVALID_PASSKEY_CEREMONY: Kind = kind(
    S::BAD_REQUEST,
    "invalid_passkey_ceremony",
    "Invalid passkey ceremony",
    "The passkey ceremony is unknown, expired or already used; start again.",
);
pub(crate) const PASSKEY_REJECTED: Kind = kind(
    S::FORBIDDEN,
    "passkey_rejected",
    "Passkey refused",
    "The passkey's answer could not be verified.",
);
pub(crate) const PASSKEY_LIMIT: Kind = kind(
    S::CONFLICT,
    "passkey_limit",
    "Too many passkeys",
    "The account has as many passkeys as it may have; remove one first.",
);
pub(crate) const METHOD_NOT_ALLOWED: Kind = kind(
    S::METHOD_NOT_ALLOWED,
    "method_not_allowed",
    "Method not allowed",
    "This resource does not support that method.",
);
pub(crate) const ACCOUNT_DISABLED: Kind = kind(
    S::FORBIDDEN,
    "account_disabled",
    "Account disabled",
    "This account has been disabled; contact support.",
);
pub(crate) const CONFLICT: Kind = kind(
    S::CONFLICT,
    "conflict",
    "Conflicting change",
    "The account changed during the request; retry.",
);
pub(crate) const UNAVAILABLE: Kind = kind(
    S::SERVICE_UNAVAILABLE,
    "service_unavailable",
    "Service unavailable",
    "A backing service is unavailable; retry shortly.",
);
pub(crate) const INTERNAL: Kind = kind(
    S::INTERNAL_SERVER_ERROR,
    "internal_error",
    "Internal error",
    "An unexpected error occurred.",
);
