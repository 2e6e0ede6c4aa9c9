//! Operators' changes to an account: profile, verified address, emails, deletion.

use serde_json::json;

use super::audit::{self, Action, Actor};
use super::users::find;
use crate::account::messages::event_entry;
use crate::account::reset::RequestedBy;
use crate::account::{AccountError, owner, reset, verification};
use crate::domain::Email;
use crate::events::{DomainEvent, EventType};
use crate::state::AppState;
use crate::store::users::{ProfileChanges, Updated, UserDoc};

/// Sets the display name and/or locale. The change (never a secret) goes into the event.
#[tracing::instrument(name = "admin.update_profile", skip_all, fields(user_id = %user_id))]
pub async fn update(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    changes: ProfileChanges,
) -> Result<UserDoc, AccountError> {
    let user = find(state, user_id).await?;
    if changes.is_empty() {
        return Ok(user);
    }
    let mut change = serde_json::Map::new();
    if let Some(name) = &changes.display_name {
        change.insert("display_name".into(), json!(name));
    }
    if let Some(locale) = &changes.locale {
        change.insert("locale".into(), json!(locale));
    }
    let event = audit::event(actor, Action::Updated, &user.id, change.into());
    let entries = vec![event_entry(&event)];
    match state
        .users
        .update_profile_with_outbox(&user.id, &changes, &entries)
        .await?
    {
        Updated::Done => {
            state.mailer.dispatch(entries);
            audit::done(state, &event);
            find(state, user_id).await
        }
        _ => Err(AccountError::NotFound),
    }
}

/// Marks the current address verified (as its link would), with `user.email_verified` too.
#[tracing::instrument(name = "admin.mark_verified", skip_all, fields(user_id = %user_id))]
pub async fn mark_verified(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
) -> Result<UserDoc, AccountError> {
    let user = find(state, user_id).await?;
    if user.email_verified {
        return Ok(user);
    }
    let verified =
        DomainEvent::new(EventType::EmailVerified, &user.id).with("email", user.email.as_str());
    let event = audit::event(
        actor,
        Action::EmailVerified,
        &user.id,
        json!({ "email": user.email, "email_verified": true }),
    );
    let entries = vec![event_entry(&verified), event_entry(&event)];
    let outcome = state
        .users
        .mark_verified(&user.id, &user.email, &user.security_stamp, &entries)
        .await?;
    if outcome != Updated::Done {
        return Err(AccountError::Conflict);
    }
    state.mailer.dispatch(entries);
    if let Err(e) = state.sessions.mark_verified(&user.id).await {
        tracing::warn!(user_id, error = %crate::store::chain(&e), "sessions not marked verified");
    }
    audit::done(state, &event);
    find(state, user_id).await
}

/// Which email an operator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mail {
    Verification,
    PasswordReset,
}

/// Sends a new verification link (only to an unverified address: `Conflict` otherwise) or a
/// password-reset link, exactly as the public endpoints would.
#[tracing::instrument(name = "admin.send_email", skip_all, fields(user_id = %user_id))]
pub async fn send_email(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    mail: Mail,
) -> Result<(), AccountError> {
    let user = find(state, user_id).await?;
    let email = Email::parse(&user.email).map_err(|_| AccountError::Conflict)?;
    let kind = match mail {
        Mail::Verification if user.email_verified => return Err(AccountError::Conflict),
        Mail::Verification => {
            verification::resend(state, &email, RequestedBy::Operator).await?;
            "verify_email"
        }
        Mail::PasswordReset => {
            reset::send_link(state, &email, RequestedBy::Operator).await?;
            "password_reset"
        }
    };
    let event = audit::event(actor, Action::EmailSent, &user.id, json!({ "email": kind }));
    state.mailer.enqueue(event_entry(&event)).await?;
    audit::done(state, &event);
    Ok(())
}

/// Deletes the account with the same effects as its owner deleting it (goodbye email,
/// `user.deleted`, every session and link ended), plus the audit event.
#[tracing::instrument(name = "admin.delete", skip_all, fields(user_id = %user_id))]
pub async fn delete(state: &AppState, actor: &Actor, user_id: &str) -> Result<(), AccountError> {
    let user = find(state, user_id).await?;
    let event = audit::event(
        actor,
        Action::Deleted,
        &user.id,
        json!({ "email": user.email }),
    );
    if !owner::remove(state, &user, vec![event_entry(&event)]).await? {
        return Err(AccountError::NotFound);
    }
    audit::done(state, &event);
    Ok(())
}
