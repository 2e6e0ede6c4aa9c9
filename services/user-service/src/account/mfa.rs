//! Turning two-factor login (TOTP) on and off: an enrolment is started with the password (a
//! new secret, kept encrypted in Redis until confirmed), confirmed with a first code (the
//! secret moves to the account with ten recovery codes), and ended with password and code, or
//! by an operator (`remove`).

use std::time::Duration;

use common::email::EmailKind;
use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::{ExposeSecret, SecretString};

use super::limits::{self, Limit};
use super::messages::{email_entry, notice};
use super::owner::SessionRef;
use super::profile::current_user;
use super::recovery_codes;
use super::second_factor::{self, keys};
use super::{AccountError, passwords, reset, stamps};
use crate::state::AppState;
use crate::store::outbox::OutboxEntry;
use crate::store::user_mfa::MfaDoc;
use crate::store::users::UserDoc;
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
/// owner is told by email, and the recovery codes are returned (shown once, stored sealed).
/// The stamp moves: every other session, pending login and emailed link ends; the caller's
/// session stays.
#[tracing::instrument(name = "mfa.confirm_enrolment", skip_all)]
pub async fn confirm_enrolment(
    state: &AppState,
    session: SessionRef<'_>,
    code: &SecretString,
) -> Result<Vec<SecretString>, AccountError> {
    let keys = keys(state)?;
    let user = current_user(state, session.user_id).await?;
    if user.mfa.is_some() {
        return Err(AccountError::MfaAlreadyEnabled);
    }
    let sealed = state
        .redis
        .pending_mfa(&user.id)
        .await?
        .ok_or(AccountError::MfaNotPending)?;
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
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
    let mut entries = Vec::new();
    let enabled = stamps::apply(state, &user, Some(session.keep()), async |change| {
        // The owner's way back if this was not them: bound to the stamp this change leaves.
        let message = reset::mfa_enabled_notice(state, &user, &change.new).await?;
        entries.push(email_entry(&message));
        let guard = change.guard(&user.email);
        state
            .users
            .enable_mfa(&user.id, &guard, &mfa, &entries)
            .await
    })
    .await?;
    if !enabled {
        return Err(changed_meanwhile(state, &user.id, AccountError::MfaAlreadyEnabled).await);
    }
    state.mailer.dispatch(entries);
    if let Err(e) = state.redis.drop_pending_mfa(&user.id).await {
        tracing::warn!(user_id = %user.id, error = %crate::store::chain(&e), "pending enrolment not dropped; it expires");
    }
    limits::clear(state, Limit::MfaAccount, &user.id).await;
    count(state, "mfa_enable");
    tracing::info!(user_id = %user.id, "two-factor login enabled");
    Ok(codes)
}

/// Turns two-factor login off on the owner's request: password and a current code (or a
/// recovery code). The caller's session stays; every other one ends.
#[tracing::instrument(name = "mfa.disable", skip_all)]
pub async fn disable(
    state: &AppState,
    session: SessionRef<'_>,
    password: &str,
    factor: &second_factor::SecondFactor,
) -> Result<(), AccountError> {
    let user = current_user(state, session.user_id).await?;
    if user.mfa.is_none() {
        return Err(AccountError::MfaNotEnabled);
    }
    passwords::confirm(state, &user, password).await?;
    second_factor::check(state, &user, factor).await?;
    remove(state, &user, Some(session.keep()), Vec::new()).await
}

/// Removes the second factor of `user` without asking for it: for the owner after proving it
/// (`disable`, keeping their session `keep`), and for an operator's request (the admin API,
/// whose audit event comes as `extra`, in the same write). The stamp moves, so every other
/// session, pending login and emailed link ends. The owner is told by email.
#[tracing::instrument(name = "mfa.remove", skip_all, fields(user_id = %user.id))]
pub async fn remove(
    state: &AppState,
    user: &UserDoc,
    keep: Option<(&str, &str)>,
    extra: Vec<OutboxEntry>,
) -> Result<(), AccountError> {
    let mut entries = vec![email_entry(&notice(user, EmailKind::MfaDisabled))];
    entries.extend(extra);
    let removed = stamps::apply(state, user, keep, async |change| {
        let guard = change.guard(&user.email);
        state.users.disable_mfa(&user.id, &guard, &entries).await
    })
    .await?;
    if !removed {
        return Err(changed_meanwhile(state, &user.id, AccountError::MfaNotEnabled).await);
    }
    state.mailer.dispatch(entries);
    count(state, "mfa_disable");
    tracing::info!(user_id = %user.id, "two-factor login disabled");
    Ok(())
}

/// Why a guarded write did not match: `already` when the account is already there (the second
/// factor on, or off), `Unauthorized` when it changed otherwise (another change moved its stamp
/// and ended the caller's session: log in again).
async fn changed_meanwhile(state: &AppState, user_id: &str, already: AccountError) -> AccountError {
    let on = matches!(already, AccountError::MfaAlreadyEnabled);
    match state.users.find_by_id(user_id).await {
        Ok(Some(user)) if user.mfa.is_some() != on => AccountError::Unauthorized,
        Ok(Some(_)) => already,
        Ok(None) => AccountError::Unauthorized,
        Err(e) => e.into(),
    }
}

fn count(state: &AppState, action: &str) {
    state.metrics.account_action(action, "done");
}
