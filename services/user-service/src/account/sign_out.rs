//! Signing out everywhere, on the owner's request or an operator's: the security stamp moves,
//! so every other session ends, and so do the second login steps waiting for a code (their
//! challenge records the stamp the password was checked under), logins racing the request
//! (`new_session::create_session`) and emailed links.

use super::owner::SessionRef;
use super::profile::current_user;
use super::{AccountError, stamps};
use crate::state::AppState;
use crate::store::users::{Updated, UserDoc};

/// Conditional writes retried when the account changed in between.
const ATTEMPTS: usize = 3;

/// Ends everything of the caller's account but the caller's session. Answers how many
/// sessions ended.
#[tracing::instrument(name = "account.sign_out_others", skip_all)]
pub async fn others(state: &AppState, session: SessionRef<'_>) -> Result<usize, AccountError> {
    let user = current_user(state, session.user_id).await?;
    everywhere(state, user, Some(session.keep())).await
}

/// Ends every session of `user` but `keep` (digest, id), every pending second step and every
/// emailed link. Answers how many sessions ended.
#[tracing::instrument(name = "account.sign_out_everywhere", skip_all, fields(user_id = %user.id))]
pub async fn everywhere(
    state: &AppState,
    user: UserDoc,
    keep: Option<(&str, &str)>,
) -> Result<usize, AccountError> {
    let mut user = user;
    for _ in 0..ATTEMPTS {
        let change = stamps::begin(state, &user).await?;
        let guard = change.guard(&user.email);
        match state.users.move_stamp(&user.id, &guard, &[]).await {
            Ok(Updated::Done) => {
                let revoked = stamps::committed(state, &change, keep).await;
                state.metrics.account_action("sign_out_everywhere", "done");
                tracing::info!(user_id = %user.id, revoked, "signed out everywhere");
                return Ok(revoked);
            }
            other => {
                stamps::abandoned(state, &change).await;
                other?;
            }
        }
        // Another change moved the stamp first: once more with the account as it is now.
        user = state
            .users
            .find_by_id(&user.id)
            .await?
            .ok_or(AccountError::NotFound)?;
    }
    Err(AccountError::Unauthorized)
}
