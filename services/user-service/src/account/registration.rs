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
    // Hash in both branches so a taken address costs the same time as a free one.
    let password_hash = state.hasher.hash(&reg.password).await?;
    let user = new_account(&reg.email, password_hash, reg.display_name, &reg.locale);

    // The token goes to Redis first: if that fails nothing else has happened yet.
    let (verify, digest) = verification_email(state, &user, &user.email, None).await?;
    let registered = registered_event(&user);
    let entries = vec![email_entry(&verify), event_entry(&registered)];

    match state.users.insert_with_outbox(&user, &entries).await? {
        Inserted::Created => {
            state.metrics.signups.with_label_values(&["created"]).inc();
            tracing::info!(user_id = %user.id, "user registered");
            state.mailer.dispatch(entries);
        }
        Inserted::EmailTaken => {
            state
                .metrics
                .signups
                .with_label_values(&["email_taken"])
                .inc();
            notify_owner(state, &user, digest).await?;
        }
    }
    Ok(())
}

/// Writes a notice to the owner of a taken address about someone else's attempt (nothing the
/// caller chose, no display name, goes into it) and drops, after the answer, the verification
/// token made for the attempt. The notice's outbox write stands in for the account's: a new
/// address writes the account and its outbox entries, a taken one this entry, so both answers
/// wait for one MongoDB write (bench/enumeration.py measures the difference).
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
    let queued = state.mailer.enqueue(email_entry(&notice)).await;
    let redis = state.redis.clone();
    tokio::spawn(async move {
        if let Err(e) = redis.drop_verification(&digest).await {
            tracing::warn!(error = %chain(&e), "unused verification token not dropped");
        }
    });
    Ok(queued?)
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
    }
}

/// `user.registered` for a new account.
pub(crate) fn registered_event(user: &UserDoc) -> DomainEvent {
    DomainEvent::new(EventType::Registered, &user.id)
        .with("email", user.email.as_str())
        .with("locale", user.locale.as_str())
}
