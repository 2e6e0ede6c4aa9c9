//! The OpenAPI 3.1 document of the public API, generated from the handlers' annotations and
//! the request and response types, served at `GET /openapi.json`.

use axum::Json;
use utoipa::{Modify, OpenApi};

use super::docs::bearer_scheme;
use super::{
    forward_auth, mfa, passkey_sessions, passkeys, password_resets, sessions, users, verifications,
};

pub(crate) mod rules;

use rules::Rules;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "User platform API",
        description = "Registration, email verification, sessions, profile and password \
                       management. Errors are RFC 9457 `application/problem+json` documents \
                       with a stable `code`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        users::register,
        users::me,
        users::update_me,
        users::delete_me,
        users::change_password,
        verifications::resend,
        verifications::confirm,
        password_resets::request,
        password_resets::confirm,
        sessions::login,
        sessions::list,
        sessions::revoke_others,
        sessions::logout,
        sessions::revoke,
        mfa::enrol,
        mfa::confirm,
        mfa::disable,
        mfa::login,
        passkeys::options,
        passkeys::step_up_options,
        passkeys::add,
        passkeys::list,
        passkeys::rename,
        passkeys::remove,
        passkey_sessions::options,
        passkey_sessions::login,
        passkey_sessions::second_step_options,
        passkey_sessions::second_step,
        forward_auth::check,
    ),
    modifiers(&BearerAuth, &Rules),
    tags(
        (name = "users", description = "Accounts and profiles"),
        (name = "email-verifications", description = "Confirming email addresses"),
        (name = "password-resets", description = "Forgotten passwords"),
        (name = "sessions", description = "Login, logout and the caller's sessions"),
        (name = "mfa", description = "Two-factor login (TOTP) and recovery codes"),
        (name = "passkeys", description = "Passkeys (WebAuthn): adding, listing, renaming, removing"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        bearer_scheme(
            openapi,
            "session",
            "The opaque session token from `POST /v1/sessions`.",
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
