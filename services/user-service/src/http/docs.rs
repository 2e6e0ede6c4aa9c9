//! The response types of the public API's OpenAPI document: the problem document and the
//! responses that many operations share. Handlers name them in their `#[utoipa::path]`
//! annotations; this module imports no handler, so the document (`openapi.rs`) can list the
//! handlers without a circle.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, ToSchema};

/// Declares an HTTP bearer security scheme (the public API's session token, the admin API's
/// admin token).
pub(crate) fn bearer_scheme(openapi: &mut utoipa::openapi::OpenApi, name: &str, description: &str) {
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        name,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build(),
        ),
    );
}

/// An RFC 9457 problem document (content type `application/problem+json`).
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDoc {
    /// `urn:user-platform:problem:<code>`.
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    detail: String,
    /// Stable machine-readable error code, e.g. `validation_failed`, `rate_limited`.
    code: String,
    /// With `validation_failed`: every invalid field.
    errors: Option<Vec<FieldErrorDoc>>,
    /// The request's id, also in the `X-Request-Id` response header: the caller's own when it
    /// sent a plausible one, otherwise generated. Quote it when reporting a problem.
    request_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = FieldError)]
pub struct FieldErrorDoc {
    field: String,
    /// E.g. `password_too_short`, `password_too_common`, `invalid_email`; every code is listed
    /// in the `422` description of the operations that give it.
    code: String,
    detail: String,
}

/// The answer to a request that is handled without saying what happened (no enumeration).
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
    pub detail: &'static str,
}

/// What any endpoint that takes a JSON body can answer besides its own responses.
#[derive(IntoResponses)]
pub enum BodyErrors {
    /// Malformed JSON, an unknown field (`invalid_body`: fields that cannot be set are refused,
    /// never ignored) or a missing one.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
    /// Body larger than 64 KiB.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(ProblemDoc),
    /// Body not sent as `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(ProblemDoc),
    /// A field breaks a rule; `errors` lists every one, each with a stable field code:
    /// `invalid_email`, `invalid_display_name`, `display_name_invisible_character`,
    /// `invalid_locale`, `password_too_short`, `password_too_long`, `password_required`,
    /// `current_password_required`, `invalid_totp_code`, `invalid_recovery_code`,
    /// `mfa_factor_required`. The schema states each of these rules.
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(ProblemDoc),
}

/// The 422 of operations that take a new password: besides the rules the schema states, the
/// password policy refuses some passwords the schema cannot describe, so a body that is valid
/// by the schema can get this answer by design.
#[derive(IntoResponses)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub enum NewPasswordRefused {
    /// A field breaks a rule; `errors` lists every one. Field codes the schema states:
    /// `invalid_email`, `invalid_display_name`, `display_name_invisible_character`,
    /// `invalid_locale`, `password_too_short`, `password_too_long`. Field codes of the password
    /// policy, which no schema can state (so a schema-valid body can get them): the password is
    /// in the list of common passwords (`password_too_common`), is one short unit repeated or
    /// one run of consecutive characters (`password_too_predictable`), contains the address's
    /// local part (`password_contains_email`), or is known from breaches when that check is on
    /// (`password_breached`).
    #[response(status = 422, content_type = "application/problem+json")]
    Invalid(ProblemDoc),
}

/// The 400 of operations that take an emailed token: whether a token is live only the server
/// knows, so a body that is valid by the schema gets this answer unless it carries one.
#[derive(IntoResponses)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub enum TokenRefused {
    /// `invalid_token`: the token is unknown, expired, already used or superseded (a newer
    /// link, or the account's password or address changed since); by design, for any
    /// well-formed token that is not live. Also malformed JSON (`malformed_json`), an unknown
    /// or missing field or a wrong type (`invalid_body`).
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(ProblemDoc),
}

/// A dependency (MongoDB, Redis) did not answer in time; retry after `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(
    status = 503,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait"))
)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct Unavailable(#[to_schema] ProblemDoc);

/// No valid session token.
#[derive(IntoResponses)]
#[response(
    status = 401,
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String))
)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct NeedsSession(#[to_schema] ProblemDoc);

/// Too many requests; retry after `Retry-After` seconds.
#[derive(IntoResponses)]
#[response(
    status = 429,
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds until the limit's window ends"))
)]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct Limited(#[to_schema] ProblemDoc);

/// The current password was wrong (`wrong_password`). With two-factor login on, a change of
/// email or password and a deletion also need `totp_code`: missing, `mfa_code_required`;
/// wrong or used, `invalid_mfa_code`.
#[derive(IntoResponses)]
#[response(status = 403, content_type = "application/problem+json")]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct WrongPassword(#[to_schema] ProblemDoc);

/// Two-factor login is not configured on this server (`mfa_not_configured`: no
/// `MFA_ENCRYPTION_KEYS`).
#[derive(IntoResponses)]
#[response(status = 501, content_type = "application/problem+json")]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct MfaUnconfigured(#[to_schema] ProblemDoc);

/// Passkeys are not available on this server (`passkeys_not_configured`: its public URL is an
/// IP address, and WebAuthn needs a domain).
#[derive(IntoResponses)]
#[response(status = 501, content_type = "application/problem+json")]
#[allow(dead_code)] // Documents a response `ApiError` produces; never built.
pub struct PasskeysUnconfigured(#[to_schema] ProblemDoc);
