//! `/v1/users`: registration, and the caller's profile, password and account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentSession;
use super::client::Client;
use super::docs::{
    Accepted, BodyErrors, Limited, NeedsSession, NewPasswordRefused, Unavailable, WrongPassword,
};
use super::error::{ApiError, FieldError};
use super::fields::{not_null, parse_registration, present, profile_changes};
use super::json::ApiJson;
use super::passkeys::{PasskeyAnswer, step_up};
use crate::account::AccountError;
use crate::account::owner::{self, SessionRef};
use crate::account::profile::{self, ProfileEdit};
use crate::account::registration::{self, Registration};
use crate::domain::Email;
use crate::store::from_bson_time;
use crate::store::users::UserDoc;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(format = "email", max_length = 254, example = "ada@example.com")]
    email: String,
    /// 15 to 1024 code points after NFKC normalisation. Refused by policy with 422 even
    /// within the schema: a common password (`password_too_common`), one unit repeated or
    /// one run of consecutive characters (`password_too_predictable`), containing the
    /// address's local part (`password_contains_email`), known from breaches
    /// (`password_breached`, when that check is on).
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    password: String,
    /// Shown to people; trimmed; see `pattern` (no control, invisible or text-direction
    /// characters, not blank). `null` is the same as absent.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    display_name: Option<String>,
    /// BCP 47 language tag of the emails, e.g. `en` or `de-CH` (`_` is taken for `-`);
    /// default `en`. `null` is the same as absent.
    #[serde(default)]
    #[schema(example = "en")]
    locale: Option<String>,
}

impl RegisterBody {
    fn parse(self) -> Result<Registration, ApiError> {
        parse_registration(
            &self.email,
            &self.password,
            self.display_name.as_deref(),
            self.locale.as_deref(),
        )
    }
}

/// Registers an account.
///
/// Answers 202 whether or not the address already has an account, so the
/// endpoint cannot be used to find out who is registered; the owner of an existing account
/// gets an email saying someone tried.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    request_body = RegisterBody,
    responses(
        (status = 202, description = "A verification email is on its way (or, for an address \
            that already has an account, a notice to its owner).", body = Accepted),
        BodyErrors,
        NewPasswordRefused,
        Limited,
        Unavailable,
    )
)]
pub async fn register(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let reg = body.parse()?;
    registration::register(&state, &client.0, reg).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "pending_verification",
            detail: "Check your inbox to confirm the address.",
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    id: String,
    email: String,
    email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    locale: String,
    /// Whether two-factor login (TOTP) is on.
    mfa_enabled: bool,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
}

impl From<UserDoc> for Profile {
    fn from(user: UserDoc) -> Self {
        Profile {
            id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            display_name: user.display_name,
            locale: user.locale,
            mfa_enabled: user.mfa.is_some(),
            created_at: from_bson_time(user.created_at),
            updated_at: from_bson_time(user.updated_at),
        }
    }
}

/// The caller's profile.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    responses((status = 200, body = Profile), NeedsSession, Unavailable)
)]
pub async fn me(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(
        profile::current_user(&state, &session.user_id)
            .await?
            .into(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// `null` removes the display name; absent leaves it alone. Trimmed; see `pattern` (no
    /// control, invisible or text-direction characters, not blank).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    display_name: Option<Option<String>>,
    /// BCP 47 language tag of the emails, e.g. `en` or `de-CH`; `null` is the same as absent.
    #[serde(default)]
    #[schema(example = "de-CH")]
    locale: Option<String>,
    /// A new address: needs `current_password` (`dependentRequired`), and takes effect once
    /// confirmed through the link sent to it.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, format = "email", max_length = 254)]
    email: Option<String>,
    /// The account's password, required with `email`; a wrong one is a 403 `wrong_password`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, format = "password")]
    current_password: Option<String>,
    /// With `email` and two-factor login on: a current code from the authenticator app (else 403
    /// `mfa_code_required`; a wrong or used one is a 403 `invalid_mfa_code`).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, pattern = "^[0-9]{6}$", min_length = 6, max_length = 6)]
    totp_code: Option<String>,
    /// In place of `totp_code`: a passkey's answer to a step-up ceremony.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = PasskeyAnswer)]
    passkey: Option<PasskeyAnswer>,
}

/// The profile after an update, and the pending email change if one was asked for.
#[derive(Serialize, ToSchema)]
pub struct ProfileUpdate {
    #[serde(flatten)]
    profile: Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_change: Option<EmailChange>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChange {
    status: &'static str,
    new_email: String,
    detail: &'static str,
}

/// `PATCH /v1/users/me`: display name and locale at once; a new email address only with the
/// current password, and only once the new address is verified (a link goes there; until
/// then the account keeps its current address).
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    request_body = PatchBody,
    responses(
        (status = 200, body = ProfileUpdate),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<ProfileUpdate>, ApiError> {
    let edit = body.parse(&session.id)?;
    let (user, pending) = profile::update(&state, &session.user_id, edit).await?;
    Ok(Json(ProfileUpdate {
        profile: user.into(),
        email_change: pending.map(|new_email| EmailChange {
            status: "pending_verification",
            new_email,
            detail: "Confirm the new address with the link sent to it; until then the current address stays.",
        }),
    }))
}

impl PatchBody {
    /// Every field is checked, so the client learns about all problems at once.
    fn parse(self, session_id: &str) -> Result<ProfileEdit, ApiError> {
        let mut errors = Vec::new();
        let changes = profile_changes(self.display_name, self.locale, &mut errors);
        let new_email = match self.email.as_deref().map(Email::parse) {
            Some(Ok(email)) => Some(email),
            Some(Err(e)) => {
                errors.push(FieldError::new("email", e));
                None
            }
            None => None,
        };
        if new_email.is_some() && self.current_password.is_none() {
            errors.push(FieldError {
                field: "current_password",
                code: "current_password_required",
                detail: "changing the email requires current_password".into(),
            });
        }
        let step_up = match step_up(self.totp_code, self.passkey, session_id) {
            Ok(proof) => proof,
            Err(ApiError::Account(AccountError::Validation(e))) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e),
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(errors));
        }
        Ok(ProfileEdit {
            changes,
            new_email: new_email.zip(self.current_password),
            step_up,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    /// A wrong one is a 403 `wrong_password`.
    #[schema(format = "password")]
    current_password: String,
    /// 15 to 1024 code points after NFKC normalisation. Refused by policy with 422 even
    /// within the schema: `password_too_common`, `password_too_predictable`,
    /// `password_contains_email`, `password_breached` (see `POST /v1/users`).
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    new_password: String,
    /// With two-factor login on: a current code from the authenticator app (else 403
    /// `mfa_code_required`; a wrong or used one is a 403 `invalid_mfa_code`).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, pattern = "^[0-9]{6}$", min_length = 6, max_length = 6)]
    totp_code: Option<String>,
    /// In place of `totp_code`: a passkey's answer to a step-up ceremony.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = PasskeyAnswer)]
    passkey: Option<PasskeyAnswer>,
}

/// `PUT /v1/users/me/password`: ends every other session and tells the owner by email.
#[utoipa::path(
    put,
    path = "/v1/users/me/password",
    tag = "users",
    security(("session" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed; every other session has ended."),
        BodyErrors,
        NewPasswordRefused,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    let proof = step_up(body.totp_code, body.passkey, &session.id)?;
    let session = SessionRef {
        user_id: &session.user_id,
        digest: &session.digest,
        id: &session.id,
    };
    owner::change_password(
        &state,
        session,
        &body.current_password,
        &body.new_password,
        proof.as_ref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// The account's password; a wrong one is a 403 `wrong_password`.
    #[schema(format = "password")]
    password: String,
    /// With two-factor login on: a current code from the authenticator app (else 403
    /// `mfa_code_required`; a wrong or used one is a 403 `invalid_mfa_code`).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = String, pattern = "^[0-9]{6}$", min_length = 6, max_length = 6)]
    totp_code: Option<String>,
    /// In place of `totp_code`: a passkey's answer to a step-up ceremony.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = PasskeyAnswer)]
    passkey: Option<PasskeyAnswer>,
}

/// `DELETE /v1/users/me` {password}: deletes the account and every session, says goodbye.
#[utoipa::path(
    delete,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    request_body = DeleteBody,
    responses(
        (status = 204, description = "The account and its sessions are gone."),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn delete_me(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<StatusCode, ApiError> {
    let proof = step_up(body.totp_code, body.passkey, &session.id)?;
    owner::delete(&state, &session.user_id, &body.password, proof.as_ref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
