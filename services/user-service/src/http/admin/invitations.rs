//! `POST /admin/v1/users`: creating an account by invitation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use utoipa::ToSchema;

use super::docs::{AdminErrors, NeedsToken};
use super::users::AdminUser;
use crate::admin::audit::Actor;
use crate::admin::invite::{self, Invitation};
use crate::domain::{DisplayName, Email, Locale};
use crate::http::docs::{BodyErrors, ProblemDoc};
use crate::http::error::ApiError;
use crate::http::json::ApiJson;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    #[schema(format = "email", max_length = 254, example = "grace@example.com")]
    email: String,
    #[schema(min_length = 1, max_length = 100)]
    display_name: Option<String>,
    /// BCP 47 language tag of the user's emails (default `en`).
    #[schema(example = "en")]
    locale: Option<String>,
}

impl InviteBody {
    fn parse(self) -> Result<Invitation, ApiError> {
        let mut errors = Vec::new();
        let email = Email::parse(&self.email)
            .map_err(|e| errors.push(ApiError::field("email", e)))
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
        match (email, locale) {
            (Some(email), Some(locale)) if errors.is_empty() => Ok(Invitation {
                email,
                display_name,
                locale,
            }),
            _ => Err(ApiError::invalid(errors)),
        }
    }
}

/// Creates an account without a password and mails its owner a link to choose one (which
/// also confirms the address; it works for `VERIFICATION_TTL`).
#[utoipa::path(
    post,
    path = "/admin/v1/users",
    tag = "users",
    request_body = InviteBody,
    responses(
        (status = 201, body = AdminUser),
        (status = 409, description = "The address has an account (`email_taken`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        BodyErrors,
        NeedsToken,
        AdminErrors,
    )
)]
pub async fn invite(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    ApiJson(body): ApiJson<InviteBody>,
) -> Result<(StatusCode, Json<AdminUser>), ApiError> {
    let invitation = body.parse()?;
    let user = invite::invite(&state, &actor, invitation).await?;
    Ok((StatusCode::CREATED, Json(AdminUser::new(user, Some(0)))))
}
