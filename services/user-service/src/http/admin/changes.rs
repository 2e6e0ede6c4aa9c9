//! `/admin/v1/users/{id}`: an operator's changes (profile, verified address, emails, deletion).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::docs::{AdminErrors, NeedsToken};
use super::users::AdminUser;
use crate::admin::audit::Actor;
use crate::admin::profile::{self, Mail};
use crate::http::docs::BodyErrors;
use crate::http::error::ApiError;
use crate::http::fields::{present, profile_changes};
use crate::http::json::ApiJson;
use crate::state::AppState;
use crate::store::users::ProfileChanges;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminPatch {
    /// `null` removes the display name; absent leaves it alone.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100)]
    display_name: Option<Option<String>>,
    /// BCP 47 language tag of the user's emails, e.g. `en` or `de-CH`.
    #[serde(default)]
    #[schema(example = "de-CH")]
    locale: Option<String>,
}

impl AdminPatch {
    fn parse(self) -> Result<ProfileChanges, ApiError> {
        let mut errors = Vec::new();
        let changes = profile_changes(self.display_name, self.locale, &mut errors);
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(ApiError::invalid(errors))
        }
    }
}

/// Sets the display name and/or the locale.
#[utoipa::path(
    patch,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body = AdminPatch,
    responses((status = 200, body = AdminUser), BodyErrors, NeedsToken, AdminErrors)
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AdminPatch>,
) -> Result<Json<AdminUser>, ApiError> {
    let changes = body.parse()?;
    let user = profile::update(&state, &actor, &id, changes).await?;
    Ok(Json(AdminUser::new(user, None)))
}

/// Marks the user's current address verified. Idempotent.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/verify-email",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUser), NeedsToken, AdminErrors)
)]
pub async fn verify_email(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let user = profile::mark_verified(&state, &actor, &id).await?;
    Ok(Json(AdminUser::new(user, None)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum MailKind {
    Verification,
    PasswordReset,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendEmail {
    /// `verification` (only for an unverified address; 409 otherwise) or `password_reset`.
    kind: MailKind,
}

/// Sends the user a new verification link or a password-reset link, as the public
/// endpoints would. Answers once the email is queued.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/emails",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    request_body = SendEmail,
    responses((status = 202, description = "Queued"), BodyErrors, NeedsToken, AdminErrors)
)]
pub async fn send_email(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SendEmail>,
) -> Result<StatusCode, ApiError> {
    let mail = match body.kind {
        MailKind::Verification => Mail::Verification,
        MailKind::PasswordReset => Mail::PasswordReset,
    };
    profile::send_email(&state, &actor, &id, mail).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Deletes the account, with the same effects as its owner deleting it: a goodbye email,
/// `user.deleted`, every session and link ended.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), NeedsToken, AdminErrors)
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    profile::delete(&state, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
