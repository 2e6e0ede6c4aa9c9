//! A new session for an account whose credentials were just proved, by a password login or
//! by the second step of a two-factor one; and the count of login outcomes both keep.

use chrono::{DateTime, Utc};

use super::AccountError;
use super::limits::Caller;
use crate::crypto::{new_session_id, new_session_token, session_digest};
use crate::state::AppState;
use crate::store::sessions::{SessionRecord, StampCheck};
use crate::store::users::UserDoc;

/// A session just created; the token is shown to the client once.
pub struct NewSession {
    pub id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Counts a login attempt's outcome and hands its error back.
pub(super) fn count(state: &AppState, error: AccountError, outcome: &str) -> AccountError {
    state.metrics.logins.with_label_values(&[outcome]).inc();
    error
}

/// The account rules every login applies once the user proved who they are (a password or a
/// passkey): disabled accounts and (unless allowed) unverified addresses get no session.
pub(super) fn admit(state: &AppState, user: &UserDoc) -> Result<(), AccountError> {
    if user.disabled {
        return Err(count(
            state,
            AccountError::AccountDisabled,
            "account_disabled",
        ));
    }
    if !user.email_verified && !state.config.allow_unverified_login {
        return Err(count(
            state,
            AccountError::EmailNotVerified,
            "email_not_verified",
        ));
    }
    Ok(())
}

/// Stores a session under the stamp the password was checked with. If Redis holds another
/// stamp, either a change of the account raced this login (MongoDB has moved on: the session
/// is dropped and the login fails as if the password were wrong, which it now is) or a change
/// was abandoned half-way (MongoDB still has our stamp: Redis is set back to it; a change that
/// commits later re-writes Redis after its commit, which ends this session too).
#[tracing::instrument(name = "login.create_session", skip_all)]
pub(super) async fn create_session(
    state: &AppState,
    user: &UserDoc,
    caller: Caller,
) -> Result<NewSession, AccountError> {
    let token = new_session_token(&user.id);
    let digest = session_digest(&token);
    let now = Utc::now();
    let lifetime = chrono::Duration::from_std(state.sessions.policy().lifetime)
        .unwrap_or_else(|_| chrono::Duration::days(1));
    let record = SessionRecord {
        id: new_session_id(),
        user_id: user.id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetime,
        user_agent: caller.user_agent,
        ip: Some(caller.ip.to_string()),
        stamp: user.security_stamp.clone(),
        email_verified: user.email_verified,
        email: Some(user.email.clone()),
    };
    if state.sessions.create(&digest, &record).await? == StampCheck::Differs {
        let fresh = state.users.find_by_id(&user.id).await?;
        if fresh.is_some_and(|u| u.security_stamp == record.stamp) {
            state.sessions.set_stamp(&user.id, &record.stamp).await?;
        } else {
            state.sessions.revoke(&user.id, &record.id).await?;
            return Err(count(
                state,
                AccountError::InvalidCredentials,
                "invalid_credentials",
            ));
        }
    }
    Ok(NewSession {
        id: record.id,
        token,
        expires_at: record.expires_at,
    })
}

/// Notes the login time for operators, after the answer (a failure costs only the note). For
/// every login that ends in a session, with or without a second factor.
pub(super) fn record_login(state: &AppState, user_id: &str) {
    let (state, user_id) = (state.clone(), user_id.to_owned());
    let background = state.background.clone();
    background.spawn(async move {
        if let Err(e) = state.users.record_login(&user_id).await {
            tracing::warn!(user_id, error = %crate::store::chain(&e), "last login not recorded");
        }
    });
}
