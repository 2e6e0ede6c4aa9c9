//! Signing in with a passkey: without a password (a discoverable credential, no address
//! typed; or the address first, then one of its passkeys), and as the second login step of an
//! account with two-factor login. Passkeys require user verification (a PIN or biometrics on
//! the authenticator), so a passkey sign-in is two factors by itself and needs no code.

use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

use super::AccountError;
use super::limits::{self, Caller, Limit};
use super::new_session::{NewSession, admit, count, create_session, record_login};
use super::passkey_ceremony::{self, Started, keys_of, relying_party, take, verify_for};
use crate::crypto::{looks_like_token, token_digest};
use crate::domain::Email;
use crate::passkey_rp::refusal;
use crate::state::AppState;
use crate::store::passkey_ceremonies::{CeremonyPurpose, CeremonyState};
use crate::store::users::UserDoc;

/// The options of a passwordless sign-in. With an address of an account that has passkeys,
/// only its passkeys are offered; otherwise (no address, unknown address, no passkeys) any
/// discoverable one is, so the answer tells nobody who exists.
#[tracing::instrument(name = "passkey_login.begin", skip_all)]
pub async fn begin(
    state: &AppState,
    caller: &Caller,
    email: Option<&Email>,
) -> Result<Started<RequestChallengeResponse>, AccountError> {
    limits::enforce_client(state, Limit::LoginIp, caller).await?;
    let user = match email {
        Some(email) => state.users.find_by_email(email.as_str()).await?,
        None => None,
    };
    let rp = relying_party(state)?;
    let rejected = |e| AccountError::PasskeyRejected(refusal(&e));
    match user.filter(|u| !u.passkeys.is_empty()) {
        Some(user) => {
            let (options, auth) = rp
                .start_passkey_authentication(&keys_of(&user)?)
                .map_err(rejected)?;
            let purpose = CeremonyPurpose::SignIn {
                user_id: Some(user.id),
            };
            let ceremony = CeremonyState::Authentication(auth);
            passkey_ceremony::start(state, purpose, ceremony, options).await
        }
        None => {
            let (options, auth) = rp.start_discoverable_authentication().map_err(rejected)?;
            let purpose = CeremonyPurpose::SignIn { user_id: None };
            let ceremony = CeremonyState::Discoverable(auth);
            passkey_ceremony::start(state, purpose, ceremony, options).await
        }
    }
}

/// Finishes a passwordless sign-in: the session, as a password login (and its second step)
/// would create it.
#[tracing::instrument(name = "passkey_login.finish", skip_all)]
pub async fn finish(
    state: &AppState,
    caller: Caller,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<NewSession, AccountError> {
    limits::enforce_client(state, Limit::LoginIp, &caller).await?;
    let record = take(state, ceremony).await?;
    let CeremonyPurpose::SignIn { user_id } = record.purpose else {
        return Err(AccountError::PasskeyCeremonyInvalid);
    };
    let user_id = match (user_id, &record.state) {
        (Some(id), _) => id,
        (None, CeremonyState::Discoverable(_)) => relying_party(state)?
            .identify_discoverable_authentication(credential)
            .map(|(handle, _)| handle.hyphenated().to_string())
            .map_err(|e| rejected(state, refusal(&e)))?,
        (None, _) => return Err(AccountError::PasskeyCeremonyInvalid),
    };
    let user = state
        .users
        .find_by_id(&user_id)
        .await?
        .filter(|u| !u.passkeys.is_empty())
        .ok_or_else(|| rejected(state, "unknown_credential"))?;
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
    verify_for(state, &user, credential, record.state)
        .await
        .map_err(|e| count(state, e, "passkey_rejected"))?;
    limits::clear(state, Limit::MfaAccount, &user.id).await;
    admit(state, &user)?;
    signed_in(state, &user, caller, "passkey sign-in").await
}

/// A refused passwordless sign-in, counted.
fn rejected(state: &AppState, reason: &'static str) -> AccountError {
    count(
        state,
        AccountError::PasskeyRejected(reason),
        "passkey_rejected",
    )
}

async fn signed_in(
    state: &AppState,
    user: &UserDoc,
    caller: Caller,
    how: &'static str,
) -> Result<NewSession, AccountError> {
    let session = create_session(state, user, caller).await?;
    record_login(state, &user.id);
    state.metrics.logins.with_label_values(&["success"]).inc();
    state.metrics.account_action("passkey_sign_in", "done");
    tracing::info!(user_id = %user.id, session_id = %session.id, how, "session created");
    Ok(session)
}

/// The options of the second login step with a passkey, for a challenge a correct password
/// produced. Counts as one of the challenge's attempts.
#[tracing::instrument(name = "passkey_login.begin_second_step", skip_all)]
pub async fn begin_second_step(
    state: &AppState,
    challenge: &str,
) -> Result<Started<RequestChallengeResponse>, AccountError> {
    if !looks_like_token(challenge) {
        return Err(AccountError::InvalidChallenge);
    }
    let digest = token_digest(challenge);
    let (record, _) = state
        .redis
        .attempt_challenge(&digest, super::mfa_login::MAX_ATTEMPTS)
        .await?
        .ok_or(AccountError::InvalidChallenge)?;
    let user = state
        .users
        .find_by_id(&record.user_id)
        .await?
        .filter(|u| u.security_stamp == record.stamp)
        .ok_or(AccountError::InvalidChallenge)?;
    if user.passkeys.is_empty() {
        return Err(AccountError::PasskeyRejected("unknown_credential"));
    }
    let (options, auth) = relying_party(state)?
        .start_passkey_authentication(&keys_of(&user)?)
        .map_err(|e| AccountError::PasskeyRejected(refusal(&e)))?;
    let purpose = CeremonyPurpose::SecondStep {
        challenge_digest: digest,
        user_id: user.id,
    };
    let ceremony = CeremonyState::Authentication(auth);
    passkey_ceremony::start(state, purpose, ceremony, options).await
}

/// Finishes the second login step with a passkey: the challenge ends and the session is
/// created.
#[tracing::instrument(name = "passkey_login.finish_second_step", skip_all)]
pub async fn finish_second_step(
    state: &AppState,
    caller: Caller,
    ceremony: &str,
    credential: &PublicKeyCredential,
) -> Result<NewSession, AccountError> {
    limits::enforce_client(state, Limit::LoginIp, &caller).await?;
    let record = take(state, ceremony).await?;
    let CeremonyPurpose::SecondStep {
        challenge_digest,
        user_id,
    } = record.purpose
    else {
        return Err(AccountError::PasskeyCeremonyInvalid);
    };
    let user = state
        .users
        .find_by_id(&user_id)
        .await?
        .ok_or(AccountError::InvalidChallenge)?;
    limits::enforce(state, Limit::MfaAccount, &user.id).await?;
    verify_for(state, &user, credential, record.state)
        .await
        .map_err(|e| count(state, e, "passkey_rejected"))?;
    // The challenge ends here: this answer was its last.
    state
        .redis
        .take_challenge(&challenge_digest)
        .await?
        .filter(|c| c.user_id == user.id && c.stamp == user.security_stamp)
        .ok_or(AccountError::InvalidChallenge)?;
    limits::clear(state, Limit::MfaAccount, &user.id).await;
    signed_in(state, &user, caller, "second step with a passkey").await
}
