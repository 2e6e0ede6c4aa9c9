//! `/admin/v1/users`: finding, inspecting, disabling and enabling users.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Disclosed;
use super::docs::{AdminErrors, NeedsToken};
use crate::admin::access;
use crate::admin::audit::Actor;
use crate::admin::users::{self as workflow, Cursor, MAX_LIMIT};
use crate::http::error::ApiError;
use crate::state::AppState;
use crate::store::from_bson_time;
use crate::store::user_queries::UserFilter;
use crate::store::users::UserDoc;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Normalised addresses starting with this (case-insensitive).
    #[param(max_length = 254)]
    email_prefix: Option<String>,
    verified: Option<bool>,
    disabled: Option<bool>,
    /// Created at or after this instant (RFC 3339).
    created_from: Option<DateTime<Utc>>,
    /// Created before this instant (RFC 3339).
    created_before: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 200)]
    cursor: Option<String>,
    /// Users per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// A user as operators see it. Never the password hash or the security stamp.
#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    id: String,
    email: String,
    email_verified: bool,
    disabled: bool,
    /// Two-factor login (TOTP) is on.
    mfa_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    locale: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The last successful login; absent when none was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_login_at: Option<DateTime<Utc>>,
    /// Sessions valid now (only when one user is asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    active_sessions: Option<usize>,
}

impl AdminUser {
    pub fn new(user: UserDoc, active_sessions: Option<usize>) -> Self {
        Self {
            id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            disabled: user.disabled,
            mfa_enabled: user.mfa.is_some(),
            display_name: user.display_name,
            locale: user.locale,
            created_at: from_bson_time(user.created_at),
            updated_at: from_bson_time(user.updated_at),
            last_login_at: user.last_login_at.map(from_bson_time),
            active_sessions,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserPage {
    /// In creation order (ties by id).
    users: Vec<AdminUser>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Users matching every filter given, in creation order, a page at a time. Users created
/// during a walk come after it; a walk sees every user that existed when it started, once.
#[utoipa::path(
    get,
    path = "/admin/v1/users",
    tag = "users",
    params(ListQuery),
    responses((status = 200, body = UserPage), NeedsToken, AdminErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    uri: Uri,
) -> Result<(Extension<Disclosed>, Json<UserPage>), ApiError> {
    let axum::extract::Query(query) = axum::extract::Query::<ListQuery>::try_from_uri(&uri)
        .map_err(|rejection| ApiError::InvalidQuery(rejection.body_text()))?;
    let (filter, cursor, limit) = parse(query)?;
    let page = workflow::list(&state, &filter, cursor.as_ref(), limit).await?;
    let disclosed = Extension(Disclosed(page.users.len()));
    Ok((
        disclosed,
        Json(UserPage {
            users: page
                .users
                .into_iter()
                .map(|u| AdminUser::new(u, None))
                .collect(),
            next_cursor: page.next.map(|c| c.encode()),
        }),
    ))
}

fn parse(query: ListQuery) -> Result<(UserFilter, Option<Cursor>, u32), ApiError> {
    let cursor = query
        .cursor
        .map(|c| {
            Cursor::decode(&c)
                .ok_or_else(|| ApiError::InvalidQuery("`cursor` is not one this API gave.".into()))
        })
        .transpose()?;
    if query
        .email_prefix
        .as_ref()
        .is_some_and(|p| p.chars().count() > 254)
    {
        return Err(ApiError::InvalidQuery(
            "`email_prefix` is longer than 254 characters.".into(),
        ));
    }
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidQuery("`limit` must be 1 to 500.".into()));
    }
    let filter = UserFilter {
        email_prefix: query.email_prefix.map(|p| p.trim().to_lowercase()),
        verified: query.verified,
        disabled: query.disabled,
        created_from: query.created_from.map(crate::store::to_bson_time),
        created_before: query.created_before.map(crate::store::to_bson_time),
    };
    Ok((filter, cursor, limit))
}

/// One user, with the number of its sessions valid now.
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUser), NeedsToken, AdminErrors)
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Extension<Disclosed>, Json<AdminUser>), ApiError> {
    let view = workflow::get(&state, &id).await?;
    let user = AdminUser::new(view.user, Some(view.active_sessions));
    Ok((Extension(Disclosed(1)), Json(user)))
}

/// Disables the account: every session ends at once (the API and `/v1/auth/check` refuse
/// them), and login answers `account_disabled` after a correct password. Idempotent.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/disable",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUser), NeedsToken, AdminErrors)
)]
pub async fn disable(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let user = access::set_disabled(&state, &actor, &id, true).await?;
    Ok(Json(AdminUser::new(user, None)))
}

/// Enables a disabled account (its old sessions stay ended). Idempotent.
#[utoipa::path(
    post,
    path = "/admin/v1/users/{id}/enable",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUser), NeedsToken, AdminErrors)
)]
pub async fn enable(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let user = access::set_disabled(&state, &actor, &id, false).await?;
    Ok(Json(AdminUser::new(user, None)))
}

/// Removes the account's second factor, for an owner who lost both the authenticator and the
/// recovery codes (after verifying who they are); the owner is told by email. The next login
/// needs only the password, until the owner enrols again.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/mfa",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminUser), NeedsToken, AdminErrors)
)]
pub async fn remove_mfa(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let user = access::remove_mfa(&state, &actor, &id).await?;
    Ok(Json(AdminUser::new(user, None)))
}
