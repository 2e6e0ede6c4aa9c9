//! Checking a second factor: a TOTP code (once per time step, with the key rotated on use) or
//! a recovery code (once), and the step-up rule for sensitive changes.

use base64::Engine;
use common::email::EmailKind;
use data_encoding::BASE32_NOPAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::AccountError;
use super::limits::{self, Limit};
use super::messages::{email_entry, notice};
use crate::secret_box::KeyRing;
use crate::state::AppState;
use crate::store::user_mfa::MfaDoc;
use crate::store::users::{Updated, UserDoc};
use crate::totp;

/// How many recovery codes an enrolment gets.
pub const RECOVERY_CODES: usize = 10;

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

/// Ten new recovery codes (`xxxxx-xxxxx`, 50 random bits each) and their digests for `user_id`.
pub(super) fn new_recovery_codes(user_id: &str) -> (Vec<SecretString>, Vec<String>) {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            let raw = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            let code = format!("{}-{}", &raw[..5], &raw[5..10]);
            let digest = recovery_digest(user_id, &raw[..10]);
            (SecretString::from(code), digest)
        })
        .unzip()
}

/// The digest of a normalised recovery code, bound to its account.
fn recovery_digest(user_id: &str, normalised: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"user-platform recovery code\0");
    hasher.update(user_id.as_bytes());
    hasher.update(b"\0");
    hasher.update(normalised.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(hasher.finalize())
}

/// A recovery code as typed: dashes and spaces dropped, case ignored.
fn normalise_recovery(raw: &str) -> String {
    raw.chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
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
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
    let digest = recovery_digest(&user.id, &normalise_recovery(code.expose_secret()));
    if !mfa.recovery_codes.contains(&digest) {
        return Err(AccountError::InvalidMfaCode);
    }
    let remaining = mfa.recovery_codes.len() - 1;
    let message = notice(user, EmailKind::MfaRecoveryCodeUsed).with_data("remaining", remaining);
    let entries = vec![email_entry(&message)];
    if state
        .users
        .use_recovery_code(&user.id, &digest, &entries)
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

/// The step-up rule: with two-factor login on, a sensitive change (email, password, deletion)
/// also needs a current code.
#[tracing::instrument(name = "mfa.step_up", skip_all)]
pub async fn step_up(
    state: &AppState,
    user: &UserDoc,
    code: Option<&SecretString>,
) -> Result<(), AccountError> {
    if user.mfa.is_none() {
        return Ok(());
    }
    let code = code.ok_or(AccountError::MfaCodeRequired)?;
    check_code(state, user, code).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_distinct_and_typed_loosely() {
        let (codes, digests) = new_recovery_codes("user-a");
        assert_eq!(codes.len(), RECOVERY_CODES);
        let first = codes[0].expose_secret();
        assert_eq!(first.len(), 11);
        let typed = format!(" {} ", first.to_uppercase().replace('-', " "));
        assert_eq!(
            recovery_digest("user-a", &normalise_recovery(&typed)),
            digests[0]
        );
        assert_ne!(
            recovery_digest("user-b", &normalise_recovery(first)),
            digests[0]
        );
        let mut unique = digests.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
    }
}
