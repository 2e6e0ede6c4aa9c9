//! An account's passkeys for operators: listing them, and removing one (a lost or stolen
//! device), audited as `passkey_removed`; the owner is told by email and every session ends.

use serde_json::json;

use super::audit::{self, Action, Actor};
use super::users::find;
use crate::account::messages::event_entry;
use crate::account::{AccountError, passkeys};
use crate::state::AppState;
use crate::store::users::PasskeyDoc;

/// The account's passkeys; `NotFound` for an unknown user.
#[tracing::instrument(name = "admin.list_passkeys", skip_all, fields(user_id = %user_id))]
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<PasskeyDoc>, AccountError> {
    Ok(find(state, user_id).await?.passkeys)
}

/// Removes one passkey with its audit event in the same write; `NotFound` for an unknown user
/// or passkey.
#[tracing::instrument(name = "admin.remove_passkey", skip_all, fields(user_id = %user_id))]
pub async fn remove(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    passkey_id: &str,
) -> Result<(), AccountError> {
    let user = find(state, user_id).await?;
    let passkey = user
        .passkeys
        .iter()
        .find(|p| p.id == passkey_id)
        .ok_or(AccountError::NotFound)?;
    let change = json!({ "passkey_removed": { "id": passkey.id, "name": passkey.name } });
    let event = audit::event(actor, Action::PasskeyRemoved, &user.id, change);
    passkeys::remove(state, &user, passkey_id, None, vec![event_entry(&event)]).await?;
    audit::done(state, &event);
    Ok(())
}
