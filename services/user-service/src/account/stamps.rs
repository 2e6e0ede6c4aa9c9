//! Moving a user's security stamp: the one mechanism that ends every session and every emailed
//! link of an account at once (password change and reset, email change, deletion).
//!
//! The stamp lives in MongoDB (the truth) and in Redis (what session checks read). A change
//! writes the new stamp to Redis first, so that once the new password (or address) is stored no
//! older session is accepted even if what follows fails; then commits the change in MongoDB
//! guarded by the stamp it read; then writes Redis again, which overrides a login that settled
//! on the old stamp in between (see `login`). A change that does not commit puts the old stamp
//! back if nobody moved it since.

use crate::crypto::new_stamp;
use crate::state::AppState;
use crate::store::chain;
use crate::store::users::UserDoc;

use super::AccountError;

pub struct StampChange {
    pub user_id: String,
    pub old: String,
    pub new: String,
}

/// Announces a new stamp in Redis; nothing has changed in MongoDB yet.
#[tracing::instrument(name = "stamp.begin", skip_all, fields(user_id = %user.id))]
pub async fn begin(state: &AppState, user: &UserDoc) -> Result<StampChange, AccountError> {
    let change = StampChange {
        user_id: user.id.clone(),
        old: user.security_stamp.clone(),
        new: new_stamp(),
    };
    state
        .sessions
        .set_stamp(&change.user_id, &change.new)
        .await?;
    Ok(change)
}

/// After MongoDB committed: confirms the stamp in Redis, keeps `keep` (a session digest and id)
/// alive under it, and revokes the other sessions (they are already refused by their stamp;
/// this tidies the index). Failures here are logged, not returned: the change is done.
#[tracing::instrument(name = "stamp.committed", skip_all)]
pub async fn committed(state: &AppState, change: &StampChange, keep: Option<(&str, &str)>) {
    if let Err(e) = state.sessions.set_stamp(&change.user_id, &change.new).await {
        tracing::warn!(user_id = %change.user_id, error = %chain(&e), "stamp not re-written");
    }
    if let Some((digest, _)) = keep
        && let Err(e) = state.sessions.restamp(digest, &change.new).await
    {
        tracing::warn!(user_id = %change.user_id, error = %chain(&e), "current session not kept");
    }
    match state
        .sessions
        .revoke_all(&change.user_id, keep.map(|(_, id)| id))
        .await
    {
        Ok(revoked) => tracing::info!(user_id = %change.user_id, revoked, "sessions revoked"),
        Err(e) => {
            tracing::warn!(user_id = %change.user_id, error = %chain(&e),
                "sessions not revoked; their stamp refuses them")
        }
    }
}

/// The change did not commit: the old stamp goes back unless another change moved it.
#[tracing::instrument(name = "stamp.abandoned", skip_all)]
pub async fn abandoned(state: &AppState, change: &StampChange) {
    if let Err(e) = state
        .sessions
        .restore_stamp(&change.user_id, &change.new, &change.old)
        .await
    {
        tracing::warn!(user_id = %change.user_id, error = %chain(&e),
            "stamp not restored; the next login settles it");
    }
}
