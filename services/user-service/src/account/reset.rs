//! A forgotten password, replaced through a link sent by email.

use common::email::{EmailKind, EmailMessage};

use super::messages::{email_entry, notice, with_link};
use super::{AccountError, passwords};
use crate::crypto::{new_token, token_digest};
use crate::domain::Email;
use crate::state::AppState;
use crate::store::redis_store::ResetRecord;
use crate::store::users::UserDoc;

/// Who asks for a link to be mailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedBy {
    /// Anyone who knows the address (the public endpoints and pages): a disabled account gets
    /// nothing.
    Anyone,
    /// An operator (admin API, audited): mailed even while the account is disabled, so it can
    /// be used once the operator enables the account; refused until then.
    Operator,
}

/// Sends a reset link if the address has an account (nothing otherwise, with the same answer;
/// nothing either for a disabled account unless an operator asks). The link is bound to the
/// address and the account's stamp, and a newer one replaces it.
#[tracing::instrument(name = "reset.request", skip_all)]
pub async fn send_link(
    state: &AppState,
    email: &Email,
    by: RequestedBy,
) -> Result<(), AccountError> {
    let Some(user) = state.users.find_by_email(email.as_str()).await? else {
        return Ok(());
    };
    if user.disabled && by == RequestedBy::Anyone {
        tracing::info!(user_id = %user.id, "password reset refused: account disabled");
        return Ok(());
    }
    let message = link_email(state, &user, LinkKind::Reset).await?;
    state.mailer.enqueue(email_entry(&message)).await?;
    state.metrics.account_action("password_reset", "requested");
    tracing::info!(user_id = %user.id, "password reset requested");
    Ok(())
}

/// What a set-password link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A forgotten password (`PASSWORD_RESET_TTL`).
    Reset,
    /// An operator's invitation to a new account (`VERIFICATION_TTL`); using it also proves
    /// the address.
    Invitation,
}

/// A set-password email with a fresh single-use token in Redis, bound to the account's
/// address and stamp (it replaces any older link). Confirmed by `confirm`.
pub async fn link_email(
    state: &AppState,
    user: &UserDoc,
    kind: LinkKind,
) -> Result<EmailMessage, AccountError> {
    let token = new_token();
    let invitation = kind == LinkKind::Invitation;
    let record = ResetRecord {
        user_id: user.id.clone(),
        email: user.email.clone(),
        stamp: user.security_stamp.clone(),
        invitation,
        removes_mfa: false,
    };
    let ttl = if invitation {
        state.config.links.verification_ttl
    } else {
        state.config.links.password_reset_ttl
    };
    state
        .redis
        .put_reset(&token_digest(&token), &record, ttl)
        .await?;
    let email_kind = if invitation {
        EmailKind::Invitation
    } else {
        EmailKind::PasswordReset
    };
    let page = &state.config.links.password_reset_url;
    let message = with_link(notice(user, email_kind), page, &token, &user.locale).expires_in(ttl);
    Ok(if invitation {
        message.with_data("expires_in_hours", ttl.as_secs().div_ceil(3600))
    } else {
        message.with_data("expires_in_minutes", ttl.as_secs().div_ceil(60))
    })
}

/// The `mfa_enabled` notice for `user`, with a "this wasn't me" link: a set-password link that
/// also removes the second factor, bound to `stamp` (the one the enrolment leaves) and single
/// use, for `VERIFICATION_TTL`. A reset request does not replace it.
pub async fn mfa_enabled_notice(
    state: &AppState,
    user: &UserDoc,
    stamp: &str,
) -> Result<EmailMessage, crate::store::StoreError> {
    let token = new_token();
    let record = ResetRecord {
        user_id: user.id.clone(),
        email: user.email.clone(),
        stamp: stamp.to_owned(),
        invitation: false,
        removes_mfa: true,
    };
    let ttl = state.config.links.verification_ttl;
    state
        .redis
        .put_reset(&token_digest(&token), &record, ttl)
        .await?;
    let page = &state.config.links.password_reset_url;
    let message = notice(user, EmailKind::MfaEnabled);
    Ok(with_link(message, page, &token, &user.locale)
        .with_data("expires_in_hours", ttl.as_secs().div_ceil(3600))
        .expires_in(ttl))
}

/// Uses a reset token: works once, only if it is the account's newest and the account still
/// has the address and stamp it was made for and is not disabled. Ends every session; the
/// caller is not logged in. A "this wasn't me" link also removes the second factor.
#[tracing::instrument(name = "reset.confirm", skip_all)]
pub async fn confirm(
    state: &AppState,
    token: &str,
    new_password: &str,
) -> Result<(), AccountError> {
    let digest = token_digest(token);
    let record = state
        .redis
        .peek_reset(&digest)
        .await?
        .ok_or(AccountError::InvalidToken)?;
    let user = state
        .users
        .find_by_id(&record.user_id)
        .await?
        .filter(|u| u.email == record.email && u.security_stamp == record.stamp && !u.disabled)
        .ok_or(AccountError::InvalidToken)?;
    let email = Email::parse(&user.email).map_err(|_| AccountError::InvalidToken)?;
    // Checked before the token is used up: a refused new password must not cost the link.
    let password = passwords::accept_new(state, new_password, &email, "new_password").await?;
    // Burning is the atomic step: of two concurrent confirmations only one gets here.
    if state.redis.take_reset(&digest).await?.as_ref() != Some(&record) {
        return Err(AccountError::InvalidToken);
    }
    // The write is guarded by the address and stamp too: a change between the check above and
    // here makes it a no-match, which is an invalid link.
    let effects = passwords::Effects {
        proves_address: record.invitation,
        removes_mfa: record.removes_mfa,
    };
    passwords::set(state, &user, &password, None, effects).await?;
    state.metrics.account_action("password_reset", "done");
    Ok(())
}
