//! Moving a user's security stamp: the one mechanism that ends every session and every emailed
//! link of an account at once (password change and reset, email change, deletion, turning
//! two-factor login on or off, signing out everywhere).
//!
//! The stamp lives in MongoDB (the truth) and in Redis (what session checks read). A change
//! writes the new stamp to Redis first, so that once the new password (or address) is stored no
//! older session is accepted even if what follows fails; then commits the change in MongoDB
//! guarded by the stamp it read; then writes Redis again, which overrides a login that settled
//! on the old stamp in between (see `login`). A change that does not commit puts the old stamp
//! back if nobody moved it since.

use crate::crypto::new_stamp;
use crate::state::AppState;
use crate::store::users::{StampGuard, Updated, UserDoc};
use crate::store::{StoreError, chain};

use super::AccountError;

pub struct StampChange {
    pub user_id: String,
    pub old: String,
    pub new: String,
}

impl StampChange {
    /// The condition and the new stamp of the MongoDB write, for an account at `email`.
    pub fn guard<'a>(&'a self, email: &'a str) -> StampGuard<'a> {
        StampGuard {
            email,
            stamp: &self.old,
            new_stamp: &self.new,
        }
    }
}

/// The whole dance for one change of `user`: `begin`, the MongoDB `write` (given the change,
/// guarded by the stamp read), then `committed` (keeping `keep`) or `abandoned`. Answers
/// whether the write matched.
pub async fn apply(
    state: &AppState,
    user: &UserDoc,
    keep: Option<(&str, &str)>,
    write: impl AsyncFnOnce(&StampChange) -> Result<Updated, StoreError>,
) -> Result<bool, AccountError> {
    let change = begin(state, user).await?;
    match write(&change).await {
        Ok(Updated::Done) => {
            committed(state, &change, keep).await;
            Ok(true)
        }
        other => {
            abandoned(state, &change).await;
            other?;
            Ok(false)
        }
    }
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
/// this tidies the index). Failures here are logged, not returned: the change is done. Answers
/// how many sessions were revoked (0 when the index could not be tidied).
#[tracing::instrument(name = "stamp.committed", skip_all)]
pub async fn committed(
    state: &AppState,
    change: &StampChange,
    keep: Option<(&str, &str)>,
) -> usize {
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
        Ok(revoked) => {
            tracing::info!(user_id = %change.user_id, revoked, "sessions revoked");
            revoked
        }
        Err(e) => {
            tracing::warn!(user_id = %change.user_id, error = %chain(&e),
                "sessions not revoked; their stamp refuses them");
            0
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
