//! Logging in: a password checked without revealing who exists, and a session bound to the
//! account's security stamp.

use super::limits::{self, Caller, Limit};
use super::mfa_login::{self, Challenge};
use super::new_session::{admit, count, create_session, record_login};
use super::{AccountError, passwords};
use crate::domain::{Email, Password};
use crate::state::AppState;

pub use super::new_session::NewSession;

/// What a correct password leads to: a session, or (two-factor login on) a challenge for the
/// second step.
pub enum LoginOutcome {
    Session(NewSession),
    MfaRequired(Challenge),
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
    admit(state, &user)?;
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
