//! What the passkey workflows share: a ceremony started (its state in Redis under a token's
//! digest, five minutes, taken once), the account's keys as the library wants them, and an
//! assertion checked against one account's passkeys (counter, flags and last use recorded).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableKey, Passkey, PublicKeyCredential, Webauthn,
};

use super::AccountError;
use crate::crypto::{looks_like_token, new_token, token_digest};
use crate::passkey_rp::refusal;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::passkey_ceremonies::{CeremonyPurpose, CeremonyRecord, CeremonyState};
use crate::store::users::{PasskeyDoc, UserDoc};

/// How long a ceremony can be answered.
pub const CEREMONY_TTL: Duration = Duration::from_secs(5 * 60);

/// A ceremony started: its token (shown to the client once), the options for the browser's
/// `navigator.credentials` call, and when it expires.
pub struct Started<T> {
    pub ceremony: String,
    pub options: T,
    pub expires_at: DateTime<Utc>,
}

/// Stores a ceremony's state and answers its token.
pub(super) async fn start<T>(
    state: &AppState,
    purpose: CeremonyPurpose,
    ceremony: CeremonyState,
    options: T,
) -> Result<Started<T>, AccountError> {
    let token = new_token();
    let record = CeremonyRecord {
        purpose,
        state: ceremony,
    };
    state
        .redis
        .put_passkey_ceremony(&token_digest(&token), &record, CEREMONY_TTL)
        .await?;
    Ok(Started {
        ceremony: token,
        options,
        expires_at: Utc::now() + chrono::Duration::seconds(CEREMONY_TTL.as_secs() as i64),
    })
}

/// Takes a ceremony (once): unknown, expired and used ones are refused alike.
pub(super) async fn take(state: &AppState, token: &str) -> Result<CeremonyRecord, AccountError> {
    if !looks_like_token(token) {
        return Err(AccountError::PasskeyCeremonyInvalid);
    }
    state
        .redis
        .take_passkey_ceremony(&token_digest(token))
        .await?
        .ok_or(AccountError::PasskeyCeremonyInvalid)
}

/// A passkey's answer to a step-up ceremony, and the session that presents it.
pub struct PasskeyProof {
    pub ceremony: String,
    pub session_id: String,
    pub credential: PublicKeyCredential,
}

/// The relying party, where passkeys are available (`PasskeySettings::available`).
pub(super) fn relying_party(state: &AppState) -> Result<&Webauthn, AccountError> {
    state
        .webauthn
        .as_ref()
        .ok_or(AccountError::PasskeysNotConfigured)
}

/// A credential id as stored and shown: base64url without padding.
pub fn credential_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

pub(super) fn parse_key(doc: &PasskeyDoc) -> Result<Passkey, AccountError> {
    serde_json::from_str(&doc.credential)
        .map_err(|e| AccountError::Store(StoreError::Corrupt(format!("passkey: {e}"))))
}

pub(super) fn keys_of(user: &UserDoc) -> Result<Vec<Passkey>, AccountError> {
    user.passkeys.iter().map(parse_key).collect()
}

/// Checks an assertion against `user`'s passkeys, then records the use (the new counter and
/// backup flags, the time). A refusal stores nothing.
#[tracing::instrument(name = "passkey.verify", skip_all, fields(user_id = %user.id))]
pub(super) async fn verify_for(
    state: &AppState,
    user: &UserDoc,
    credential: &PublicKeyCredential,
    ceremony: CeremonyState,
) -> Result<(), AccountError> {
    let keys = keys_of(user)?;
    let result = match ceremony {
        CeremonyState::Authentication(auth) => {
            relying_party(state)?.finish_passkey_authentication(credential, &auth)
        }
        CeremonyState::Discoverable(auth) => {
            let keys: Vec<DiscoverableKey> = keys.iter().map(DiscoverableKey::from).collect();
            relying_party(state)?.finish_discoverable_authentication(credential, auth, &keys)
        }
        CeremonyState::Registration(_) => return Err(AccountError::PasskeyCeremonyInvalid),
    };
    let result = result.map_err(|e| {
        let reason = refusal(&e);
        state.metrics.account_action("passkey_assertion", reason);
        if reason == "possible_clone" {
            // The alert UserServicePasskeyPossibleClone points operators here.
            tracing::warn!(user_id = %user.id, passkey_id = %credential.id,
                "passkey counter went back: two copies of its key may be in use; refused");
        } else {
            tracing::info!(user_id = %user.id, reason, error = %e, "passkey assertion refused");
        }
        AccountError::PasskeyRejected(reason)
    })?;
    record_use(state, user, &result).await;
    Ok(())
}

/// Checks a passkey's answer to a step-up ceremony of this session and account (taken once).
#[tracing::instrument(name = "passkey.verify_step_up", skip_all, fields(user_id = %user.id))]
pub(super) async fn verify_step_up(
    state: &AppState,
    user: &UserDoc,
    proof: &PasskeyProof,
) -> Result<(), AccountError> {
    let record = take(state, &proof.ceremony).await?;
    match &record.purpose {
        CeremonyPurpose::StepUp {
            user_id,
            session_id,
        } if *user_id == user.id && *session_id == proof.session_id => {}
        _ => return Err(AccountError::PasskeyCeremonyInvalid),
    }
    verify_for(state, user, &proof.credential, record.state).await
}

/// Stores the counter and flags of a successful assertion. A concurrent change of the
/// passkeys is re-read once; failing that, the use is only logged (the counter check of the
/// next sign-in still compares against the last stored value).
async fn record_use(state: &AppState, user: &UserDoc, result: &AuthenticationResult) {
    let mut current = user.passkeys.clone();
    for _ in 0..2 {
        let Some(updated) = updated(&current, result) else {
            return;
        };
        match state
            .users
            .replace_passkeys(&user.id, &current, &updated)
            .await
        {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %crate::store::chain(&e), "passkey use not recorded");
                return;
            }
        }
        match state.users.find_by_id(&user.id).await {
            Ok(Some(fresh)) => current = fresh.passkeys,
            _ => return,
        }
    }
    tracing::warn!(user_id = %user.id, "passkey use not recorded: the passkeys kept changing");
}

/// The passkeys with the used one's counter, flags and last use updated; `None` if it is gone.
fn updated(current: &[PasskeyDoc], result: &AuthenticationResult) -> Option<Vec<PasskeyDoc>> {
    let used = credential_id(result.cred_id().as_ref());
    let mut all = current.to_vec();
    let doc = all.iter_mut().find(|p| p.id == used)?;
    let mut key = parse_key(doc).ok()?;
    key.update_credential(result);
    doc.credential = serde_json::to_string(&key).ok()?;
    doc.backup_eligible = result.backup_eligible();
    doc.backed_up = result.backup_state();
    doc.last_used_at = Some(mongodb::bson::DateTime::now());
    Some(all)
}
