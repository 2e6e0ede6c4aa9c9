//! The second login step: a correct password of an account with two-factor login yields a
//! challenge (Redis, five minutes, five attempts); the challenge with a current code or a
//! recovery code yields the session.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::AccountError;
use super::limits::{self, Caller, Limit};
use super::new_session::{NewSession, count, create_session, record_login};
use super::second_factor::{self, SecondFactor};
use crate::crypto::{new_token, token_digest};
use crate::state::AppState;
use crate::store::mfa_challenges::ChallengeRecord;
use crate::store::users::UserDoc;

/// How long a challenge can be answered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Answers a challenge takes; it dies with the last wrong one.
pub const MAX_ATTEMPTS: u32 = 5;

/// The token of a challenge (shown to the client once) and when it expires.
pub struct Challenge {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// A challenge for `user`, whose password was just proved; bound to the account's stamp.
#[tracing::instrument(name = "mfa.challenge", skip_all, fields(user_id = %user.id))]
pub async fn challenge(state: &AppState, user: &UserDoc) -> Result<Challenge, AccountError> {
    let token = new_token();
    let record = ChallengeRecord {
        user_id: user.id.clone(),
        stamp: user.security_stamp.clone(),
    };
    state
        .redis
        .put_challenge(&token_digest(&token), &record, CHALLENGE_TTL)
        .await?;
    tracing::info!(user_id = %user.id, "second factor requested");
    Ok(Challenge {
        token,
        expires_at: Utc::now() + chrono::Duration::seconds(CHALLENGE_TTL.as_secs() as i64),
    })
}

/// Answers a challenge. Every answer counts (at most five per challenge, plus the account's
/// code limit and the client's login limit); the right one ends the challenge and creates the
/// session exactly as a password login does.
#[tracing::instrument(name = "mfa.complete_login", skip_all)]
pub async fn complete(
    state: &AppState,
    caller: Caller,
    challenge: &str,
    factor: SecondFactor,
) -> Result<NewSession, AccountError> {
    limits::enforce_client(state, Limit::LoginIp, &caller).await?;
    let digest = token_digest(challenge);
    let (record, attempt) = state
        .redis
        .attempt_challenge(&digest, MAX_ATTEMPTS)
        .await?
        .ok_or(AccountError::InvalidChallenge)?;
    // The account must still be the one the password was checked against.
    let Some(user) = state
        .users
        .find_by_id(&record.user_id)
        .await?
        .filter(|u| u.security_stamp == record.stamp && u.mfa.is_some())
    else {
        state.redis.drop_challenge(&digest).await?;
        return Err(AccountError::InvalidChallenge);
    };
    if let Err(e) = second_factor::check(state, &user, &factor).await {
        if matches!(e, AccountError::InvalidMfaCode) {
            if attempt >= MAX_ATTEMPTS {
                state.redis.drop_challenge(&digest).await?;
            }
            return Err(count(state, e, "invalid_mfa_code"));
        }
        return Err(e);
    }
    if state.redis.take_challenge(&digest).await?.is_none() {
        // Answered concurrently; that answer got the session.
        return Err(AccountError::InvalidChallenge);
    }
    let session = create_session(state, &user, caller).await?;
    record_login(state, &user.id);
    state.metrics.logins.with_label_values(&["success"]).inc();
    tracing::info!(user_id = %user.id, session_id = %session.id, "session created after second factor");
    Ok(session)
}
