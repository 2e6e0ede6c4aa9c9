//! Registering an account.

use chrono::Utc;
use common::email::{EmailKind, EmailMessage};
use uuid::Uuid;

use super::limits::{self, Caller, Limit};
use super::messages::{email_entry, event_entry, to_unproven};
use super::passwords::check_not_breached;
use super::verification::verification_email;
use super::{AccountError, FieldError};
use crate::crypto::new_stamp;
use crate::domain::{DisplayName, Email, Locale, Password};
use crate::events::{DomainEvent, EventType};
use crate::state::AppState;
use crate::store::chain;
use crate::store::to_bson_time;
use crate::store::users::{Inserted, UserDoc};

/// A registration whose every field is valid.
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub display_name: Option<DisplayName>,
    pub locale: Locale,
}

/// Creates the account with its verification email, or, for an address that already has an
/// account, queues a notice to its owner; the caller cannot tell which (same answer, same
/// work). Limited per client and per recipient address.
#[tracing::instrument(name = "account.register", skip_all)]
pub async fn register(
    state: &AppState,
    caller: &Caller,
    reg: Registration,
) -> Result<(), AccountError> {
    limits::enforce_client(state, Limit::SignupIp, caller).await?;
    limits::enforce(state, Limit::EmailAddress, reg.email.as_str()).await?;
    check_not_breached(state, &reg.password)
        .await
        .map_err(|e| AccountError::Validation(vec![FieldError::new("password", e)]))?;
    // The same work on both paths, so a taken address costs the time a free one does: one
    // lookup, the hash, the token in Redis, and one committed transaction (the account with
    // its outbox entries, or the notice to the address's owner).
    let taken = state
        .users
        .find_by_email(reg.email.as_str())
        .await?
        .is_some();
    let password_hash = state.hasher.hash(&reg.password).await?;
    let user = new_account(&reg.email, password_hash, reg.display_name, &reg.locale);
    // The token goes to Redis first: if that fails nothing else has happened yet.
    let (verify, digest) = verification_email(state, &user, &user.email, None).await?;
    if !taken {
        let entries = vec![email_entry(&verify), event_entry(&registered_event(&user))];
        // A signup for the same address in between wins the race; this one is then told apart
        // below like any other taken address.
        if let Inserted::Created = state.users.insert_with_outbox(&user, &entries).await? {
            state.metrics.signups.with_label_values(&["created"]).inc();
            tracing::info!(user_id = %user.id, "user registered");
            state.mailer.dispatch(entries);
            return Ok(());
        }
    }
    state
        .metrics
        .signups
        .with_label_values(&["email_taken"])
        .inc();
    notify_owner(state, &user, digest).await
}

/// Writes a notice to the owner of a taken address about someone else's attempt (nothing the
/// caller chose, no display name, goes into it) in a transaction like an account's, and drops,
/// after the answer, the verification token made for the attempt.
async fn notify_owner(
    state: &AppState,
    user: &UserDoc,
    digest: String,
) -> Result<(), AccountError> {
    let notice = EmailMessage::new(
        to_unproven(&user.email),
        EmailKind::AccountExists,
        &user.locale,
    );
    let entries = vec![email_entry(&notice)];
    let written = state.users.write_outbox(&entries).await;
    let redis = state.redis.clone();
    state.background.spawn(async move {
        if let Err(e) = redis.drop_verification(&digest).await {
            tracing::warn!(error = %chain(&e), "unused verification token not dropped");
        }
    });
    written?;
    state.mailer.dispatch(entries);
    Ok(())
}

/// A new account: unverified, never logged in, no second factor, a fresh stamp.
pub(crate) fn new_account(
    email: &Email,
    password_hash: String,
    display_name: Option<DisplayName>,
    locale: &Locale,
) -> UserDoc {
    let now = to_bson_time(Utc::now());
    UserDoc {
        id: Uuid::now_v7().to_string(),
        email: email.as_str().to_owned(),
        email_verified: false,
        password_hash,
        display_name: display_name.map(DisplayName::into_inner),
        locale: locale.as_str().to_owned(),
        created_at: now,
        updated_at: now,
        security_stamp: new_stamp(),
        disabled: false,
        last_login_at: None,
        mfa: None,
        passkeys: Vec::new(),
    }
}

/// `user.registered` for a new account.
pub(crate) fn registered_event(user: &UserDoc) -> DomainEvent {
    DomainEvent::new(EventType::Registered, &user.id)
        .with("email", user.email.as_str())
        .with("locale", user.locale.as_str())
}
