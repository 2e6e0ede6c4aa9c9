//! Turning two-factor login (TOTP) on and off: an enrolment is started with the password (a
//! new secret, kept encrypted in Redis until confirmed), confirmed with a first code (the
//! secret moves to the account with ten recovery codes), and ended with password and code, or
//! by an operator (`remove`).

use std::time::Duration;

use common::email::EmailKind;
use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::{ExposeSecret, SecretString};

use super::messages::{email_entry, notice};
use super::profile::current_user;
use super::recovery_codes;
use super::second_factor::{self, keys};
use super::{AccountError, passwords};
use crate::state::AppState;
use crate::store::outbox::OutboxEntry;
use crate::store::user_mfa::MfaDoc;
use crate::store::users::{Updated, UserDoc};
use crate::totp;

/// How long an enrolment waits for its first code.
pub const ENROLMENT_TTL: Duration = Duration::from_secs(15 * 60);

/// A secret to add to an authenticator app: shown once, never stored in the clear.
pub struct Enrolment {
    /// Base32, for typing in.
    pub secret: SecretString,
    pub otpauth_uri: SecretString,
    /// The URI as a QR code (SVG).
    pub qr_svg: SecretString,
    pub expires_in: Duration,
}

/// Starts an enrolment after checking the password; a new one replaces one in progress.
#[tracing::instrument(name = "mfa.begin_enrolment", skip_all)]
pub async fn begin_enrolment(
    state: &AppState,
    user_id: &str,
    password: &str,
) -> Result<Enrolment, AccountError> {
    let keys = keys(state)?;
    let user = current_user(state, user_id).await?;
    if user.mfa.is_some() {
        return Err(AccountError::MfaAlreadyEnabled);
    }
    passwords::confirm(state, &user, password).await?;
    let secret = totp::new_secret();
    let sealed = keys.seal(&secret, &user.id);
    state
        .redis
        .put_pending_mfa(&user.id, &sealed, ENROLMENT_TTL)
        .await?;
    let uri = totp::otpauth_uri(&secret, &state.config.mfa.issuer, &user.email);
    let qr = QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    tracing::info!(user_id = %user.id, "two-factor enrolment started");
    Ok(Enrolment {
        secret: totp::to_base32(&secret).into(),
        otpauth_uri: uri.into(),
        qr_svg: qr.into(),
        expires_in: ENROLMENT_TTL,
    })
}

/// Confirms the enrolment in progress with a first code: two-factor login is on from now, the
/// owner is told by email, and the recovery codes are returned (shown once, stored hashed).
#[tracing::instrument(name = "mfa.confirm_enrolment", skip_all)]
pub async fn confirm_enrolment(
    state: &AppState,
    user_id: &str,
    code: &SecretString,
) -> Result<Vec<SecretString>, AccountError> {
    let keys = keys(state)?;
    let user = current_user(state, user_id).await?;
    if user.mfa.is_some() {
        return Err(AccountError::MfaAlreadyEnabled);
    }
    let sealed = state
        .redis
        .pending_mfa(&user.id)
        .await?
        .ok_or(AccountError::MfaNotPending)?;
    super::limits::enforce(state, super::limits::Limit::MfaAccount, &user.id).await?;
    let secret = keys.open(&sealed, &user.id)?;
    let step = totp::matching_step(&secret, code.expose_secret(), totp::current_step())
        .and_then(|s| i64::try_from(s).ok())
        .ok_or(AccountError::InvalidMfaCode)?;
    let (codes, digests) = recovery_codes::new_codes(keys, &user.id);
    let mfa = MfaDoc {
        secret: keys.seal(&secret, &user.id),
        enabled_at: mongodb::bson::DateTime::now(),
        recovery_codes: digests,
        last_step: step,
    };
    let entries = vec![email_entry(&notice(&user, EmailKind::MfaEnabled))];
    if state.users.enable_mfa(&user.id, &mfa, &entries).await? != Updated::Done {
        return Err(AccountError::MfaAlreadyEnabled);
    }
    state.mailer.dispatch(entries);
    if let Err(e) = state.redis.drop_pending_mfa(&user.id).await {
        tracing::warn!(user_id = %user.id, error = %crate::store::chain(&e), "pending enrolment not dropped; it expires");
    }
    super::limits::clear(state, super::limits::Limit::MfaAccount, &user.id).await;
    count(state, "mfa_enable");
    tracing::info!(user_id = %user.id, "two-factor login enabled");
    Ok(codes)
}

/// Turns two-factor login off on the owner's request: password and a current code (or a
/// recovery code).
#[tracing::instrument(name = "mfa.disable", skip_all)]
pub async fn disable(
    state: &AppState,
    user_id: &str,
    password: &str,
    factor: &second_factor::SecondFactor,
) -> Result<(), AccountError> {
    let user = current_user(state, user_id).await?;
    if user.mfa.is_none() {
        return Err(AccountError::MfaNotEnabled);
    }
    passwords::confirm(state, &user, password).await?;
    second_factor::check(state, &user, factor).await?;
    remove(state, &user, Vec::new()).await
}

/// Removes the second factor of `user` without asking for it: for the owner after proving it
/// (`disable`), and for an operator's request (the admin API, whose audit event comes as
/// `extra`, in the same write). The owner is told by email.
#[tracing::instrument(name = "mfa.remove", skip_all, fields(user_id = %user.id))]
pub async fn remove(
    state: &AppState,
    user: &UserDoc,
    extra: Vec<OutboxEntry>,
) -> Result<(), AccountError> {
    let mut entries = vec![email_entry(&notice(user, EmailKind::MfaDisabled))];
    entries.extend(extra);
    if state.users.disable_mfa(&user.id, &entries).await? != Updated::Done {
        return Err(AccountError::MfaNotEnabled);
    }
    state.mailer.dispatch(entries);
    count(state, "mfa_disable");
    tracing::info!(user_id = %user.id, "two-factor login disabled");
    Ok(())
}

fn count(state: &AppState, action: &str) {
    state.metrics.account_action(action, "done");
}
