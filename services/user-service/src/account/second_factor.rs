//! Checking a second factor: a TOTP code (once per time step, with the key rotated on use) or
//! a recovery code (once), and the step-up rule for sensitive changes.

use common::email::EmailKind;
use secrecy::{ExposeSecret, SecretString};

use super::AccountError;
use super::limits::{self, Limit};
use super::messages::{email_entry, notice};
use super::passkey_ceremony::{self, PasskeyProof};
use super::recovery_codes;
use crate::secret_box::KeyRing;
use crate::state::AppState;
use crate::store::user_mfa::MfaDoc;
use crate::store::users::{Updated, UserDoc};
use crate::totp;

/// What proves presence for a sensitive change with two-factor login on.
pub enum StepUp {
    /// A current code from the authenticator app.
    Code(SecretString),
    /// An assertion of one of the account's passkeys, for a step-up ceremony of the session.
    Passkey(Box<PasskeyProof>),
}

/// What a caller offers as the second factor.
pub enum SecondFactor {
    Code(SecretString),
    RecoveryCode(SecretString),
}

pub(super) fn keys(state: &AppState) -> Result<&KeyRing, AccountError> {
    state
        .config
        .mfa
        .keys
        .as_ref()
        .ok_or(AccountError::MfaNotConfigured)
}

/// Checks a TOTP code of `user` (who has two-factor login on): within one step of now, and
/// of a step after the last accepted one (a code works once). Counts against the account's
/// code limit; a correct code clears it. A secret under an older key is re-encrypted.
#[tracing::instrument(name = "mfa.check_code", skip_all, fields(user_id = %user.id))]
pub async fn check_code(
    state: &AppState,
    user: &UserDoc,
    code: &SecretString,
) -> Result<(), AccountError> {
    let mfa = user.mfa.as_ref().ok_or(AccountError::MfaNotEnabled)?;
    let keys = keys(state)?;
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
    let secret = keys.open(&mfa.secret, &user.id)?;
    let step = totp::matching_step(&secret, code.expose_secret(), totp::current_step())
        .and_then(|s| i64::try_from(s).ok())
        .filter(|s| *s > mfa.last_step)
        .ok_or(AccountError::InvalidMfaCode)?;
    let reseal = keys
        .is_stale(&mfa.secret)
        .then(|| keys.seal(&secret, &user.id));
    if !state
        .users
        .accept_totp_step(&user.id, &mfa.secret, step, reseal.as_ref())
        .await?
    {
        // A concurrent request used this step (or a later one) first.
        return Err(AccountError::InvalidMfaCode);
    }
    if reseal.is_some() {
        tracing::info!(user_id = %user.id, kid = keys.current_id(), "TOTP secret re-encrypted");
    }
    limits::clear(state, Limit::MfaAccount, &user.id).await;
    Ok(())
}

/// Uses up one recovery code of `user`; the owner is told by email how many are left.
#[tracing::instrument(name = "mfa.use_recovery_code", skip_all, fields(user_id = %user.id))]
pub async fn use_recovery_code(
    state: &AppState,
    user: &UserDoc,
    code: &SecretString,
) -> Result<(), AccountError> {
    let mfa: &MfaDoc = user.mfa.as_ref().ok_or(AccountError::MfaNotEnabled)?;
    let keys = keys(state)?;
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
    let entry = recovery_codes::find(keys, &user.id, &mfa.recovery_codes, code)
        .ok_or(AccountError::InvalidMfaCode)?;
    let remaining = mfa.recovery_codes.len() - 1;
    let message = notice(user, EmailKind::MfaRecoveryCodeUsed).with_data("remaining", remaining);
    let entries = vec![email_entry(&message)];
    if state
        .users
        .use_recovery_code(&user.id, entry, &entries)
        .await?
        != Updated::Done
    {
        return Err(AccountError::InvalidMfaCode);
    }
    state.mailer.dispatch(entries);
    limits::clear(state, Limit::MfaAccount, &user.id).await;
    state.metrics.account_action("mfa_recovery_code", "used");
    tracing::info!(user_id = %user.id, remaining, "recovery code used");
    Ok(())
}

/// Checks whichever second factor was offered.
pub async fn check(
    state: &AppState,
    user: &UserDoc,
    factor: &SecondFactor,
) -> Result<(), AccountError> {
    match factor {
        SecondFactor::Code(code) => check_code(state, user, code).await,
        SecondFactor::RecoveryCode(code) => use_recovery_code(state, user, code).await,
    }
}

/// The step-up rule: with two-factor login on, a sensitive change (email, password, deletion,
/// a new passkey) also needs a current code or a passkey.
#[tracing::instrument(name = "mfa.step_up", skip_all)]
pub async fn step_up(
    state: &AppState,
    user: &UserDoc,
    proof: Option<&StepUp>,
) -> Result<(), AccountError> {
    if user.mfa.is_none() {
        return Ok(());
    }
    match proof.ok_or(AccountError::MfaCodeRequired)? {
        StepUp::Code(code) => check_code(state, user, code).await,
        StepUp::Passkey(proof) => passkey_ceremony::verify_step_up(state, user, proof).await,
    }
}
