//! Verification links: made for a new account or a new address, resent, and confirmed.

use common::email::{EmailKind, EmailMessage};

use super::messages::{email_entry, event_entry, to_owner, to_unproven, with_link};
use super::reset::RequestedBy;
use super::{AccountError, stamps};
use crate::crypto::{new_token, token_digest};
use crate::domain::Email;
use crate::events::{DomainEvent, EventType};
use crate::state::AppState;
use crate::store::redis_store::VerificationRecord;
use crate::store::users::{StampGuard, Updated};

/// A verification email for `email` (a new account's, or the new address of an email change,
/// then `previous` is the current one) with a fresh single-use token in Redis, bound to the
/// account's stamp. Returns the message and the token's digest.
#[tracing::instrument(name = "verification.make", skip_all, fields(user_id = %user.id))]
pub async fn verification_email(
    state: &AppState,
    user: &crate::store::users::UserDoc,
    email: &str,
    previous: Option<String>,
) -> Result<(EmailMessage, String), AccountError> {
    let token = new_token();
    let digest = token_digest(&token);
    let change = previous.is_some();
    let record = VerificationRecord {
        user_id: user.id.clone(),
        email: email.to_owned(),
        previous,
        stamp: user.security_stamp.clone(),
    };
    let ttl = state.config.links.verification_ttl;
    if change {
        state.redis.put_email_change(&digest, &record, ttl).await?;
    } else {
        state.redis.put_verification(&digest, &record, ttl).await?;
    }
    // Until the link is used, the address is not proven to be this account's.
    let message = EmailMessage::new(to_unproven(email), EmailKind::VerifyEmail, &user.locale);
    let page = &state.config.links.verify_email_url;
    let message = with_link(message, page, &token, &user.locale)
        .with_data("expires_in_hours", ttl.as_secs().div_ceil(3600))
        .expires_in(ttl);
    Ok((message, digest))
}

/// Sends a new link to an address that has an unverified account (nothing otherwise; nothing
/// either for a disabled account unless an operator asks, see `RequestedBy`).
#[tracing::instrument(name = "verification.resend", skip_all)]
pub async fn resend(state: &AppState, email: &Email, by: RequestedBy) -> Result<(), AccountError> {
    if let Some(user) = state.users.find_by_email(email.as_str()).await?
        && !user.email_verified
        && (!user.disabled || by == RequestedBy::Operator)
    {
        let (message, _) = verification_email(state, &user, &user.email, None).await?;
        state.mailer.enqueue(email_entry(&message)).await?;
        tracing::info!(user_id = %user.id, "verification email resent");
    }
    Ok(())
}

/// Uses a verification token (single use, whatever the outcome): confirms a new account's
/// address, or completes an email change. Returns the confirmed address.
#[tracing::instrument(name = "verification.confirm", skip_all)]
pub async fn confirm(state: &AppState, token: &str) -> Result<String, AccountError> {
    let digest = token_digest(token);
    let record = state
        .redis
        .take_verification(&digest)
        .await?
        .ok_or(AccountError::InvalidToken)?;
    match record.previous.clone() {
        None => confirm_address(state, record).await,
        Some(previous) => {
            if !state
                .redis
                .take_email_change(&record.user_id, &digest)
                .await?
            {
                // A newer request replaced this one.
                return Err(AccountError::InvalidToken);
            }
            complete_email_change(state, record, &previous).await
        }
    }
}

#[tracing::instrument(name = "verification.confirm_address", skip_all)]
async fn confirm_address(
    state: &AppState,
    record: VerificationRecord,
) -> Result<String, AccountError> {
    let verified = DomainEvent::new(EventType::EmailVerified, &record.user_id)
        .with("email", record.email.as_str());
    let entries = vec![event_entry(&verified)];
    let outcome = state
        .users
        .mark_verified(&record.user_id, &record.email, &record.stamp, &entries)
        .await?;
    match outcome {
        Updated::Done => {
            state.mailer.dispatch(entries);
            mark_sessions_verified(state, &record.user_id).await;
            count_verified(state, &record.user_id);
            Ok(record.email)
        }
        // Already verified (an older link used first) is fine, if nothing else moved.
        _ if state
            .users
            .find_by_id(&record.user_id)
            .await?
            .is_some_and(|u| {
                u.email == record.email && u.email_verified && u.security_stamp == record.stamp
            }) =>
        {
            Ok(record.email)
        }
        _ => Err(AccountError::InvalidToken),
    }
}

/// Swaps in the new address if the account still has the address and the stamp the link was
/// made under; the stamp moves, so every session and other link of the account ends.
#[tracing::instrument(name = "verification.complete_email_change", skip_all)]
async fn complete_email_change(
    state: &AppState,
    record: VerificationRecord,
    previous: &str,
) -> Result<String, AccountError> {
    let user = state
        .users
        .find_by_id(&record.user_id)
        .await?
        .filter(|u| u.email == previous && u.security_stamp == record.stamp && !u.disabled)
        .ok_or(AccountError::InvalidToken)?;
    let notice = EmailMessage::new(to_owner(&user), EmailKind::EmailChanged, &user.locale)
        .with_data("new_email", record.email.as_str());
    let verified = DomainEvent::new(EventType::EmailVerified, &record.user_id)
        .with("email", record.email.as_str());
    let entries = vec![email_entry(&notice), event_entry(&verified)];
    let change = stamps::begin(state, &user).await?;
    let guard = StampGuard {
        email: previous,
        stamp: &change.old,
        new_stamp: &change.new,
    };
    let outcome = state
        .users
        .change_email(&user.id, &guard, &record.email, &entries)
        .await;
    match outcome {
        Ok(Updated::Done) => {
            state.mailer.dispatch(entries);
            stamps::committed(state, &change, None).await;
            tracing::info!(user_id = %record.user_id, "email changed");
            count_verified(state, &record.user_id);
            Ok(record.email)
        }
        other => {
            stamps::abandoned(state, &change).await;
            match other? {
                Updated::EmailTaken => Err(AccountError::EmailTaken),
                _ => Err(AccountError::InvalidToken),
            }
        }
    }
}

/// The sessions of a user who may log in unverified (ALLOW_UNVERIFIED_LOGIN) learn that the
/// address is now confirmed, for the forward-auth check. If Redis fails here they keep saying
/// "unverified", the safe side: the user logs in again.
async fn mark_sessions_verified(state: &AppState, user_id: &str) {
    if let Err(e) = state.sessions.mark_verified(user_id).await {
        tracing::warn!(user_id, error = %crate::store::chain(&e), "sessions not marked verified");
    }
}

fn count_verified(state: &AppState, user_id: &str) {
    state.metrics.account_action("email_verification", "done");
    tracing::info!(user_id, "email verified");
}
