//! Deleting an account and changing its password, on the owner's request.

use common::email::EmailKind;

use super::messages::{email_entry, event_entry, notice};
use super::profile::current_user;
use super::second_factor::{self, StepUp};
use super::{AccountError, passwords, stamps};
use crate::domain::Email;
use crate::events::{DomainEvent, EventType};
use crate::state::AppState;
use crate::store::outbox::OutboxEntry;
use crate::store::users::UserDoc;

/// The caller's session: which account, and which session to keep through a password change.
pub struct SessionRef<'a> {
    pub user_id: &'a str,
    pub digest: &'a str,
    pub id: &'a str,
}

impl<'a> SessionRef<'a> {
    /// The session a stamp change keeps: its digest and id.
    pub fn keep(&self) -> (&'a str, &'a str) {
        (self.digest, self.id)
    }
}

/// Replaces the password after checking the current one (and a code, with two-factor login
/// on); every other session ends.
#[tracing::instrument(name = "account.change_password", skip_all)]
pub async fn change_password(
    state: &AppState,
    session: SessionRef<'_>,
    current: &str,
    new: &str,
    proof: Option<&StepUp>,
) -> Result<(), AccountError> {
    let user = current_user(state, session.user_id).await?;
    let email = Email::parse(&user.email).map_err(|_| AccountError::Unauthorized)?;
    let password = passwords::accept_new(state, new, &email, "new_password").await?;
    passwords::confirm(state, &user, current).await?;
    second_factor::step_up(state, &user, proof).await?;
    passwords::set(
        state,
        &user,
        &password,
        Some((session.digest, session.id)),
        passwords::Effects::default(),
    )
    .await
    .map_err(|e| match e {
        // The account changed under the request (another change won): log in again.
        AccountError::InvalidToken => AccountError::Unauthorized,
        e => e,
    })
}

/// Deletes the account after checking the password (and a code, with two-factor login on): every session and link ends at once, a
/// goodbye email and an event go out.
#[tracing::instrument(name = "account.delete", skip_all)]
pub async fn delete(
    state: &AppState,
    user_id: &str,
    password: &str,
    proof: Option<&StepUp>,
) -> Result<(), AccountError> {
    let user = current_user(state, user_id).await?;
    passwords::confirm(state, &user, password).await?;
    second_factor::step_up(state, &user, proof).await?;
    remove(state, &user, Vec::new())
        .await?
        .then_some(())
        .ok_or(AccountError::Unauthorized)
}

/// Deletes `user` if it still exists, with its goodbye email, the `user.deleted` event and
/// `extra` in the same transaction; ends every session and link. Answers whether it existed.
pub async fn remove(
    state: &AppState,
    user: &UserDoc,
    extra: Vec<OutboxEntry>,
) -> Result<bool, AccountError> {
    let goodbye = notice(user, EmailKind::AccountDeleted);
    let event = DomainEvent::new(EventType::Deleted, &user.id);
    let mut entries = vec![email_entry(&goodbye), event_entry(&event)];
    entries.extend(extra);
    let change = stamps::begin(state, user).await?;
    match state.users.delete_with_outbox(&user.id, &entries).await {
        Ok(true) => {}
        other => {
            stamps::abandoned(state, &change).await;
            other?;
            return Ok(false);
        }
    }
    state.mailer.dispatch(entries);
    stamps::committed(state, &change, None).await;
    state.metrics.account_action("delete", "done");
    tracing::info!(user_id = %user.id, "account deleted");
    Ok(true)
}
