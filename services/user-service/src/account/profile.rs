//! The caller's profile: reading it, editing it, and asking for a new email address.

use common::email::{EmailKind, EmailMessage};

use super::limits::{self, Limit};
use super::messages::{email_entry, event_entry, notice, to_unproven};
use super::second_factor::{self, StepUp};
use super::verification::verification_email;
use super::{AccountError, passwords};
use crate::domain::Email;
use crate::events::{DomainEvent, EventType};
use crate::state::AppState;
use crate::store::users::{ProfileChanges, Updated, UserDoc};

/// The caller's account. A session can outlive its account for a moment (deleted elsewhere):
/// then the session is treated as gone.
#[tracing::instrument(name = "account.current_user", skip_all)]
pub async fn current_user(state: &AppState, user_id: &str) -> Result<UserDoc, AccountError> {
    state
        .users
        .find_by_id(user_id)
        .await?
        .ok_or(AccountError::Unauthorized)
}

/// A profile edit whose fields are valid.
pub struct ProfileEdit {
    pub changes: ProfileChanges,
    /// A new address, with the current password that authorises it.
    pub new_email: Option<(Email, String)>,
    /// A current one-time code or a passkey: required with `new_email` when two-factor login
    /// is on.
    pub step_up: Option<StepUp>,
}

/// Applies an edit; a new address is only asked for (a link goes there). A change of the display
/// name or locale emits `user.profile_changed` in the same transaction; an edit that changes
/// neither writes nothing. Returns the profile and the address now pending, if any.
#[tracing::instrument(name = "account.update_profile", skip_all)]
pub async fn update(
    state: &AppState,
    user_id: &str,
    edit: ProfileEdit,
) -> Result<(UserDoc, Option<String>), AccountError> {
    let mut user = current_user(state, user_id).await?;
    let mut pending = None;
    if let Some((email, password)) = edit.new_email {
        passwords::confirm(state, &user, &password).await?;
        second_factor::step_up(state, &user, edit.step_up.as_ref()).await?;
        if email.as_str() != user.email {
            request_email_change(state, &user, &email).await?;
            pending = Some(email.as_str().to_owned());
        }
    }
    if let Some(event) = profile_changed(&user, &edit.changes) {
        let entries = vec![event_entry(&event)];
        let updated = state
            .users
            .update_profile_with_outbox(&user.id, &edit.changes, &entries)
            .await?;
        if updated != Updated::Done {
            return Err(AccountError::Unauthorized);
        }
        state.mailer.dispatch(entries);
        user = current_user(state, user_id).await?;
    }
    Ok((user, pending))
}

/// `user.profile_changed` with the fields `changes` would change on `user` (a removed display
/// name as `null`), or `None` when it changes nothing: then nothing is written either.
pub fn profile_changed(user: &UserDoc, changes: &ProfileChanges) -> Option<DomainEvent> {
    let mut event = DomainEvent::new(EventType::ProfileChanged, &user.id);
    if let Some(name) = changes.display_name.as_ref()
        && *name != user.display_name
    {
        event = event.with("display_name", name.clone());
    }
    if let Some(locale) = changes.locale.as_ref()
        && *locale != user.locale
    {
        event = event.with("locale", locale.as_str());
    }
    (!event.data.is_empty()).then_some(event)
}

/// Sends the verification link to the new address, or, when that address already has an
/// account, tells its owner someone tried: the answer is the same, so this cannot be used to
/// find out who is registered. The current address is told a change was asked for (without the
/// link). Limited per account and per recipient address; a new request replaces the pending one.
///
/// Both paths do the same work, so neither the answer nor its time tells them apart: the link is
/// made and stored (replacing the pending change) whether or not the address is free; for a
/// taken one it is never sent, so it can never be used (and would meet the unique address).
#[tracing::instrument(name = "account.request_email_change", skip_all)]
async fn request_email_change(
    state: &AppState,
    user: &UserDoc,
    email: &Email,
) -> Result<(), AccountError> {
    limits::enforce(state, Limit::EmailChangeUser, &user.id).await?;
    limits::enforce(state, Limit::EmailAddress, email.as_str()).await?;
    let taken = state.users.find_by_email(email.as_str()).await?.is_some();
    let (link, _) =
        verification_email(state, user, email.as_str(), Some(user.email.clone())).await?;
    let message = if taken {
        EmailMessage::new(
            to_unproven(email.as_str()),
            EmailKind::AccountExists,
            &user.locale,
        )
    } else {
        link
    };
    let heads_up =
        notice(user, EmailKind::EmailChangeRequested).with_data("new_email", email.as_str());
    state.mailer.enqueue(email_entry(&message)).await?;
    state.mailer.enqueue(email_entry(&heads_up)).await?;
    state.metrics.account_action("email_change", "requested");
    tracing::info!(user_id = %user.id, "email change requested");
    Ok(())
}
