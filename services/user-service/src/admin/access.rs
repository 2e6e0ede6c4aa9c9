//! Disabling and enabling accounts, and ending their sessions.

use serde_json::json;

use super::audit::{self, Action, Actor};
use super::users::find;
use crate::account::messages::event_entry;
use crate::account::{AccountError, mfa, stamps};
use crate::state::AppState;
use crate::store::outbox::OutboxEntry;
use crate::store::users::{StampGuard, Updated, UserDoc};

/// Conditional writes retried when the account changed in between.
const ATTEMPTS: usize = 3;

/// Disables (or enables) an account. Disabling moves the security stamp, which ends every
/// session and emailed link of the account at once (the session check reads the stamp in
/// Redis); from then on login answers `account_disabled` after a correct password. Enabling
/// leaves the stamp (links sent while disabled keep working). Setting what is already set
/// changes nothing and records nothing.
#[tracing::instrument(name = "admin.set_disabled", skip_all, fields(user_id = %user_id))]
pub async fn set_disabled(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    disabled: bool,
) -> Result<UserDoc, AccountError> {
    for _ in 0..ATTEMPTS {
        let user = find(state, user_id).await?;
        if user.disabled == disabled {
            return Ok(user);
        }
        let action = if disabled {
            Action::Disabled
        } else {
            Action::Enabled
        };
        let event = audit::event(actor, action, &user.id, json!({ "disabled": disabled }));
        let entries = vec![event_entry(&event)];
        let written = if disabled {
            disable(state, &user, &entries).await?
        } else {
            let guard = StampGuard {
                email: &user.email,
                stamp: &user.security_stamp,
                new_stamp: &user.security_stamp,
            };
            state
                .users
                .set_disabled(&user.id, &guard, false, &entries)
                .await?
                == Updated::Done
        };
        if written {
            state.mailer.dispatch(entries);
            audit::done(state, &event);
            return find(state, user_id).await;
        }
    }
    Err(AccountError::Conflict)
}

/// Sets `disabled` and moves the stamp (Redis first, then MongoDB, then Redis again). Answers
/// whether MongoDB took the write (the account did not change in between).
async fn disable(
    state: &AppState,
    user: &UserDoc,
    entries: &[OutboxEntry],
) -> Result<bool, AccountError> {
    let change = stamps::begin(state, user).await?;
    let guard = StampGuard {
        email: &user.email,
        stamp: &change.old,
        new_stamp: &change.new,
    };
    match state
        .users
        .set_disabled(&user.id, &guard, true, entries)
        .await
    {
        Ok(Updated::Done) => {
            stamps::committed(state, &change, None).await;
            Ok(true)
        }
        other => {
            stamps::abandoned(state, &change).await;
            other?;
            Ok(false)
        }
    }
}

/// Removes the account's second factor (an owner who lost the authenticator and the recovery
/// codes), with the audit event in the same write; the owner is told by email.
/// `MfaNotEnabled` when there is none.
#[tracing::instrument(name = "admin.remove_mfa", skip_all, fields(user_id = %user_id))]
pub async fn remove_mfa(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
) -> Result<UserDoc, AccountError> {
    let user = find(state, user_id).await?;
    if user.mfa.is_none() {
        return Err(AccountError::MfaNotEnabled);
    }
    let change = json!({ "mfa_enabled": false });
    let event = audit::event(actor, Action::MfaRemoved, &user.id, change);
    mfa::remove(state, &user, None, vec![event_entry(&event)]).await?;
    audit::done(state, &event);
    find(state, user_id).await
}

/// Ends one session (`Some(id)`) or all of them. Answers how many ended; `NotFound` for an
/// unknown user or session. The audit event is never missing for a session that ended: all of
/// them end by moving the security stamp, in the same MongoDB write as the event (emailed
/// links end with them, as on disabling); one ends after its event is written (it was seen
/// alive just before, so at worst the event records a session that expired meanwhile).
#[tracing::instrument(name = "admin.revoke_sessions", skip_all, fields(user_id = %user_id))]
pub async fn revoke_sessions(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    session_id: Option<&str>,
) -> Result<usize, AccountError> {
    match session_id {
        Some(id) => revoke_one(state, actor, user_id, id).await,
        None => revoke_all(state, actor, user_id).await,
    }
}

async fn revoke_one(
    state: &AppState,
    actor: &Actor,
    user_id: &str,
    session_id: &str,
) -> Result<usize, AccountError> {
    let user = find(state, user_id).await?;
    let live = state.sessions.list(&user.id).await?;
    if !live.iter().any(|s| s.record.id == session_id) {
        return Err(AccountError::NotFound);
    }
    let change = json!({ "session_id": session_id, "revoked": 1 });
    let event = audit::event(actor, Action::SessionsRevoked, &user.id, change);
    state.mailer.enqueue(event_entry(&event)).await?;
    state.sessions.revoke(&user.id, session_id).await?;
    audit::done(state, &event);
    Ok(1)
}

async fn revoke_all(state: &AppState, actor: &Actor, user_id: &str) -> Result<usize, AccountError> {
    for _ in 0..ATTEMPTS {
        let user = find(state, user_id).await?;
        let revoked = state.sessions.list(&user.id).await?.len();
        let change = json!({ "all": true, "revoked": revoked });
        let event = audit::event(actor, Action::SessionsRevoked, &user.id, change);
        let entries = vec![event_entry(&event)];
        let stamp = stamps::begin(state, &user).await?;
        let guard = StampGuard {
            email: &user.email,
            stamp: &stamp.old,
            new_stamp: &stamp.new,
        };
        match state.users.move_stamp(&user.id, &guard, &entries).await {
            Ok(Updated::Done) => {
                stamps::committed(state, &stamp, None).await;
                state.mailer.dispatch(entries);
                // Tidies the index; the sessions already ended with the stamp.
                if let Err(e) = state.sessions.revoke_all(&user.id, None).await {
                    tracing::warn!(error = %crate::store::chain(&e), "could not tidy the session index");
                }
                audit::done(state, &event);
                return Ok(revoked);
            }
            other => {
                stamps::abandoned(state, &stamp).await;
                other?;
            }
        }
    }
    Err(AccountError::Conflict)
}

/// A user's current sessions, newest first.
#[tracing::instrument(name = "admin.sessions", skip_all, fields(user_id = %user_id))]
pub async fn sessions(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<crate::store::sessions::SessionRecord>, AccountError> {
    let user = find(state, user_id).await?;
    Ok(state
        .sessions
        .list(&user.id)
        .await?
        .into_iter()
        .map(|s| s.record)
        .collect())
}
