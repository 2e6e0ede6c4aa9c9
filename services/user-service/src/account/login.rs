//! Logging in: a password checked without revealing who exists, and a session bound to the
//! account's security stamp.

use chrono::{DateTime, Utc};

use super::limits::{self, Caller, Limit};
use super::mfa_login::{self, Challenge};
use super::{AccountError, passwords};
use crate::crypto::{new_session_id, new_token, token_digest};
use crate::domain::{Email, Password};
use crate::state::AppState;
use crate::store::sessions::{SessionRecord, StampCheck};
use crate::store::users::UserDoc;

/// What a correct password leads to: a session, or (two-factor login on) a challenge for the
/// second step.
pub enum LoginOutcome {
    Session(NewSession),
    MfaRequired(Challenge),
}

/// A session just created; the token is shown to the client once.
pub struct NewSession {
    pub id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// An unknown address and a wrong password give the same answer after the same work (a dummy
/// argon2 verification). Limited per client and per target account; success clears the
/// account's count.
#[tracing::instrument(name = "account.login", skip_all)]
pub async fn login(
    state: &AppState,
    caller: Caller,
    email: &Email,
    password: Password,
) -> Result<LoginOutcome, AccountError> {
    limits::enforce_client(state, Limit::LoginIp, &caller).await?;
    limits::enforce(state, Limit::LoginAccount, email.as_str()).await?;
    let user = state.users.find_by_email(email.as_str()).await?;
    let valid = state
        .hasher
        .verify(&password, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let user = match user {
        Some(user) if valid => user,
        _ => {
            return Err(count(
                state,
                AccountError::InvalidCredentials,
                "invalid_credentials",
            ));
        }
    };
    limits::clear(state, Limit::LoginAccount, email.as_str()).await;
    // Only said after the password proved who is asking.
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
    passwords::upgrade_hash_in_background(state, &user, password);
    if user.mfa.is_some() {
        let challenge = mfa_login::challenge(state, &user).await?;
        state
            .metrics
            .logins
            .with_label_values(&["mfa_required"])
            .inc();
        return Ok(LoginOutcome::MfaRequired(challenge));
    }
    let session = create_session(state, &user, caller).await?;
    record_login(state, &user.id);
    state.metrics.logins.with_label_values(&["success"]).inc();
    tracing::info!(user_id = %user.id, session_id = %session.id, "session created");
    Ok(LoginOutcome::Session(session))
}

/// Notes the login time for operators, after the answer (a failure costs only the note).
fn record_login(state: &AppState, user_id: &str) {
    let (state, user_id) = (state.clone(), user_id.to_owned());
    tokio::spawn(async move {
        if let Err(e) = state.users.record_login(&user_id).await {
            tracing::warn!(user_id, error = %crate::store::chain(&e), "last login not recorded");
        }
    });
}

pub(super) fn count(state: &AppState, error: AccountError, outcome: &str) -> AccountError {
    state.metrics.logins.with_label_values(&[outcome]).inc();
    error
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
    let token = new_token();
    let digest = token_digest(&token);
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
