//! `/admin/v1/users/{id}/sessions`: a user's sessions, and ending them.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::Disclosed;
use super::docs::{AdminErrors, NeedsToken};
use crate::admin::access;
use crate::admin::audit::Actor;
use crate::http::error::ApiError;
use crate::http::sessions::SessionInfo;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AdminSessionList {
    sessions: Vec<SessionInfo>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminRevoked {
    /// How many sessions ended.
    revoked: usize,
}

/// The user's sessions valid now, newest first.
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}/sessions",
    operation_id = "list_sessions",
    tag = "sessions",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminSessionList), NeedsToken, AdminErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Extension<Disclosed>, Json<AdminSessionList>), ApiError> {
    let sessions = access::sessions(&state, &id).await?;
    let disclosed = Extension(Disclosed(sessions.len()));
    Ok((
        disclosed,
        Json(AdminSessionList {
            sessions: sessions.into_iter().map(SessionInfo::from).collect(),
        }),
    ))
}

/// Ends every session of the user.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/sessions",
    tag = "sessions",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminRevoked), NeedsToken, AdminErrors)
)]
pub async fn revoke_all(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Json<AdminRevoked>, ApiError> {
    let revoked = access::revoke_sessions(&state, &actor, &id, None).await?;
    Ok(Json(AdminRevoked { revoked }))
}

/// Ends one session of the user.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/sessions/{session_id}",
    tag = "sessions",
    params(
        ("id" = String, Path, description = "User id"),
        ("session_id" = String, Path, description = "Session id"),
    ),
    responses((status = 200, body = AdminRevoked), NeedsToken, AdminErrors)
)]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((id, session_id)): Path<(String, String)>,
) -> Result<Json<AdminRevoked>, ApiError> {
    let revoked = access::revoke_sessions(&state, &actor, &id, Some(&session_id)).await?;
    Ok(Json(AdminRevoked { revoked }))
}
