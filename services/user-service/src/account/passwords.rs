//! Password rules shared by the workflows: the policy for new passwords, confirming the current
//! one, upgrading old hashes, and storing a new one.

use common::email::EmailKind;

use super::limits::{self, Limit};
use super::messages::{email_entry, event_entry, notice};
use super::{AccountError, stamps};
use crate::domain::{Email, Invalid, Password};
use crate::events::{DomainEvent, EventType};
use crate::pwned::Breach;
use crate::state::AppState;
use crate::store::chain;
use crate::store::users::{StampGuard, Updated, UserDoc};

/// A new password for an account with `email`: the policy, plus the optional breach check.
#[tracing::instrument(name = "password.accept_new", skip_all)]
pub async fn accept_new(
    state: &AppState,
    raw: &str,
    email: &Email,
    field: &'static str,
) -> Result<Password, AccountError> {
    let refuse = |e| AccountError::field(field, e);
    let password = Password::parse(raw).map_err(refuse)?;
    password.check_not_derived_from(email).map_err(refuse)?;
    password.check_not_common().map_err(refuse)?;
    check_not_breached(state, &password).await.map_err(refuse)?;
    Ok(password)
}

/// The optional online check (off by default; fails open, see `pwned`).
pub async fn check_not_breached(state: &AppState, password: &Password) -> Result<(), Invalid> {
    match state.pwned.check(password).await {
        Breach::Found(_) => Err(Invalid::new(
            "password_breached",
            "password appears in known data breaches; choose another",
        )),
        Breach::NotFound | Breach::Unknown => Ok(()),
    }
}

/// Checks the caller's password for a sensitive change. Attempts count against the account's
/// login limit, so these endpoints cannot be used to guess the password instead.
#[tracing::instrument(name = "password.confirm", skip_all, fields(user_id = %user.id))]
pub async fn confirm(state: &AppState, user: &UserDoc, raw: &str) -> Result<(), AccountError> {
    limits::enforce(state, Limit::LoginAccount, &user.email).await?;
    let ok = state
        .hasher
        .verify(
            &Password::for_verification(raw),
            Some(user.password_hash.as_str()),
        )
        .await?;
    if ok {
        limits::clear(state, Limit::LoginAccount, &user.email).await;
        Ok(())
    } else {
        Err(AccountError::WrongPassword)
    }
}

/// After a successful login: re-hashes a password stored with older parameters, in the
/// background so the login does not pay for a second argon2 run.
pub fn upgrade_hash_in_background(state: &AppState, user: &UserDoc, password: Password) {
    if !state.hasher.needs_rehash(&user.password_hash) {
        return;
    }
    let (hasher, users) = (state.hasher.clone(), state.users.clone());
    let (id, old) = (user.id.clone(), user.password_hash.clone());
    state.background.spawn(async move {
        match hasher.hash(&password).await {
            Ok(new) => match users.upgrade_hash(&id, &old, &new).await {
                Ok(()) => tracing::info!(user_id = %id, "password hash upgraded"),
                Err(e) => {
                    tracing::warn!(user_id = %id, error = %chain(&e), "hash upgrade not saved")
                }
            },
            Err(e) => tracing::warn!(user_id = %id, error = %chain(&e), "hash upgrade failed"),
        }
    });
}

/// What else a new password does, when it came through an emailed link.
#[derive(Debug, Default, Clone, Copy)]
pub struct Effects {
    /// The link was mailed to the address (an invitation): the address is verified too.
    pub proves_address: bool,
    /// The "this wasn't me" link of an `mfa_enabled` notice: the second factor goes too.
    pub removes_mfa: bool,
}

/// Stores a new password hash with its notice email and event and moves the stamp, so every
/// session but `keep` (digest, id) and every emailed link of the account ends. Only while the
/// account still has the address and stamp `user` was read with; otherwise `InvalidToken`
/// (the account changed meanwhile). `effects`: what the link it came through also does.
#[tracing::instrument(name = "password.set", skip_all, fields(user_id = %user.id))]
pub async fn set(
    state: &AppState,
    user: &UserDoc,
    password: &Password,
    keep: Option<(&str, &str)>,
    effects: Effects,
) -> Result<(), AccountError> {
    let hash = state.hasher.hash(password).await?;
    let message = notice(user, EmailKind::PasswordChanged);
    let event = DomainEvent::new(EventType::PasswordChanged, &user.id);
    let mut entries = vec![email_entry(&message), event_entry(&event)];
    let verifies = effects.proves_address && !user.email_verified;
    let removes_mfa = effects.removes_mfa && user.mfa.is_some();
    if removes_mfa {
        entries.push(email_entry(&notice(user, EmailKind::MfaDisabled)));
    }
    if verifies {
        let verified =
            DomainEvent::new(EventType::EmailVerified, &user.id).with("email", user.email.as_str());
        entries.push(event_entry(&verified));
    }
    let change = stamps::begin(state, user).await?;
    let guard = StampGuard {
        email: &user.email,
        stamp: &change.old,
        new_stamp: &change.new,
    };
    let updated = state
        .users
        .set_password_and_mfa(&user.id, &guard, &hash, (verifies, removes_mfa), &entries)
        .await;
    if !matches!(updated, Ok(Updated::Done)) {
        stamps::abandoned(state, &change).await;
        updated?;
        return Err(AccountError::InvalidToken);
    }
    state.mailer.dispatch(entries);
    stamps::committed(state, &change, keep).await;
    state.metrics.account_action("password_change", "done");
    tracing::info!(user_id = %user.id, removes_mfa, "password changed");
    Ok(())
}
