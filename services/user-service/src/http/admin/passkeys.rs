//! `/admin/v1/users/{id}/passkeys`: a user's passkeys, and removing one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::Disclosed;
use super::docs::{AdminErrors, NeedsToken};
use crate::admin::audit::Actor;
use crate::admin::passkeys;
use crate::http::error::ApiError;
use crate::http::passkeys::PasskeyView;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct AdminPasskeyList {
    passkeys: Vec<PasskeyView>,
}

/// The user's passkeys, oldest first (never the keys themselves).
#[utoipa::path(
    get,
    path = "/admin/v1/users/{id}/passkeys",
    operation_id = "list_passkeys",
    tag = "users",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, body = AdminPasskeyList), NeedsToken, AdminErrors)
)]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(Extension<Disclosed>, Json<AdminPasskeyList>), ApiError> {
    let passkeys = passkeys::list(&state, &id).await?;
    let disclosed = Extension(Disclosed(passkeys.len()));
    Ok((
        disclosed,
        Json(AdminPasskeyList {
            passkeys: passkeys.into_iter().map(PasskeyView::from).collect(),
        }),
    ))
}

/// Removes one of the user's passkeys (a lost or stolen device): it signs in no more, every
/// session of the user ends, the owner is told by email; audited as `passkey_removed`.
#[utoipa::path(
    delete,
    path = "/admin/v1/users/{id}/passkeys/{passkey_id}",
    operation_id = "remove_passkey",
    tag = "users",
    params(
        ("id" = String, Path, description = "User id"),
        ("passkey_id" = String, Path, description = "Passkey id (the credential id, base64url)"),
    ),
    responses((status = 204, description = "Removed."), NeedsToken, AdminErrors)
)]
pub async fn remove(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((id, passkey_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    passkeys::remove(&state, &actor, &id, &passkey_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
