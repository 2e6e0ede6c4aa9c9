//! The passkeys of an account: adding one (after the password, and a code with two-factor
//! login on), listing, renaming and removing them. A removal moves the stamp (every other
//! session ends) and mails the owner; so does an operator's (`admin`).

use common::email::EmailKind;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, RegisterPublicKeyCredential, RequestChallengeResponse,
};
use webauthn_rs_proto::{
    AuthenticatorSelectionCriteria, ResidentKeyRequirement, UserVerificationPolicy,
};

use super::messages::{email_entry, notice};
use super::owner::SessionRef;
use super::passkey_ceremony::{self, Started, credential_id, relying_party, take};
use super::profile::current_user;
use super::second_factor::{self, StepUp};
use super::{AccountError, passwords, stamps};
use crate::domain::{DisplayName, Invalid};
use crate::passkey_rp::refusal;
use crate::state::AppState;
use crate::store::outbox::OutboxEntry;
use crate::store::passkey_ceremonies::{CeremonyPurpose, CeremonyState};
use crate::store::users::{PasskeyDoc, Updated, UserDoc};

/// Passkeys one account may have.
pub const MAX_PASSKEYS: usize = 10;

/// A passkey's name: the rules of a display name (it is shown and mailed the same way:
/// trimmed, at most 100 characters, nothing invisible), reported for the field `name`.
pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    DisplayName::parse(raw)
        .map(DisplayName::into_inner)
        .map_err(|e| Invalid::new(e.code, e.detail.replace("display_name", "name")))
}

/// Starts adding a passkey: the password (and a code, with two-factor login on) first. The
/// ceremony is bound to this session and the account's stamp.
#[tracing::instrument(name = "passkeys.begin_enrolment", skip_all)]
pub async fn begin_enrolment(
    state: &AppState,
    session: SessionRef<'_>,
    password: &str,
    proof: Option<&StepUp>,
) -> Result<Started<CreationChallengeResponse>, AccountError> {
    let user = current_user(state, session.user_id).await?;
    passwords::confirm(state, &user, password).await?;
    second_factor::step_up(state, &user, proof).await?;
    if user.passkeys.len() >= MAX_PASSKEYS {
        return Err(AccountError::PasskeyLimit);
    }
    let handle = Uuid::parse_str(&user.id).map_err(|_| AccountError::Unauthorized)?;
    let existing = passkey_ceremony::keys_of(&user)?
        .iter()
        .map(|k| k.cred_id().clone())
        .collect();
    let display = user.display_name.as_deref().unwrap_or(&user.email);
    let (mut options, registration) = relying_party(state)?
        .start_passkey_registration(handle, &user.email, display, Some(existing))
        .map_err(|e| AccountError::PasskeyRejected(refusal(&e)))?;
    // A discoverable credential, so that it signs in without the address being typed.
    options.public_key.authenticator_selection = Some(AuthenticatorSelectionCriteria {
        authenticator_attachment: None,
        require_resident_key: true,
        resident_key: Some(ResidentKeyRequirement::Required),
        user_verification: UserVerificationPolicy::Required,
    });
    let purpose = CeremonyPurpose::Enrol {
        user_id: user.id.clone(),
        session_id: session.id.to_owned(),
        stamp: user.security_stamp.clone(),
    };
    let started = passkey_ceremony::start(
        state,
        purpose,
        CeremonyState::Registration(registration),
        options,
    )
    .await?;
    tracing::info!(user_id = %user.id, "passkey enrolment started");
    Ok(started)
}

/// Finishes adding a passkey with the authenticator's answer; the owner is told by email.
#[tracing::instrument(name = "passkeys.finish_enrolment", skip_all)]
pub async fn finish_enrolment(
    state: &AppState,
    session: SessionRef<'_>,
    ceremony: &str,
    name: String,
    credential: &RegisterPublicKeyCredential,
) -> Result<PasskeyDoc, AccountError> {
    let record = take(state, ceremony).await?;
    let (
        CeremonyPurpose::Enrol {
            user_id,
            session_id,
            stamp,
        },
        CeremonyState::Registration(registration),
    ) = (record.purpose, record.state)
    else {
        return Err(AccountError::PasskeyCeremonyInvalid);
    };
    if user_id != session.user_id || session_id != session.id {
        return Err(AccountError::PasskeyCeremonyInvalid);
    }
    let user = current_user(state, session.user_id).await?;
    if user.security_stamp != stamp {
        return Err(AccountError::PasskeyCeremonyInvalid);
    }
    let key = relying_party(state)?
        .finish_passkey_registration(credential, &registration)
        .map_err(|e| {
            let reason = refusal(&e);
            state.metrics.account_action("passkey_enrolment", reason);
            AccountError::PasskeyRejected(reason)
        })?;
    let added = new_doc(&key, name)?;
    if user.passkeys.iter().any(|p| p.id == added.id) {
        return Err(AccountError::PasskeyRejected("already_registered"));
    }
    let message =
        notice(&user, EmailKind::PasskeyAdded).with_data("passkey_name", added.name.clone());
    let entries = vec![email_entry(&message)];
    match state
        .users
        .add_passkey(&user.id, &stamp, &user.passkeys, &added, &entries)
        .await?
    {
        Updated::Done => {}
        _ => return Err(AccountError::Conflict),
    }
    state.mailer.dispatch(entries);
    state.metrics.account_action("passkey_enrolment", "done");
    tracing::info!(user_id = %user.id, "passkey added");
    Ok(added)
}

fn new_doc(key: &webauthn_rs::prelude::Passkey, name: String) -> Result<PasskeyDoc, AccountError> {
    let credential = serde_json::to_value(key).map_err(|e| {
        AccountError::Store(crate::store::StoreError::Corrupt(format!("passkey: {e}")))
    })?;
    let flag = |name: &str| credential["cred"][name].as_bool().unwrap_or(false);
    Ok(PasskeyDoc {
        id: credential_id(key.cred_id().as_ref()),
        name,
        created_at: mongodb::bson::DateTime::now(),
        last_used_at: None,
        backup_eligible: flag("backup_eligible"),
        backed_up: flag("backup_state"),
        credential: credential.to_string(),
    })
}

/// A step-up ceremony over the account's passkeys, for a sensitive change in this session
/// (answered in the change's `passkey` field, in place of a code).
#[tracing::instrument(name = "passkeys.begin_step_up", skip_all)]
pub async fn begin_step_up(
    state: &AppState,
    session: SessionRef<'_>,
) -> Result<Started<RequestChallengeResponse>, AccountError> {
    let user = current_user(state, session.user_id).await?;
    if user.passkeys.is_empty() {
        return Err(AccountError::PasskeyRejected("unknown_credential"));
    }
    let (options, auth) = relying_party(state)?
        .start_passkey_authentication(&passkey_ceremony::keys_of(&user)?)
        .map_err(|e| AccountError::PasskeyRejected(refusal(&e)))?;
    let purpose = CeremonyPurpose::StepUp {
        user_id: user.id,
        session_id: session.id.to_owned(),
    };
    passkey_ceremony::start(state, purpose, CeremonyState::Authentication(auth), options).await
}

/// The account's passkeys, oldest first.
#[tracing::instrument(name = "passkeys.list", skip_all)]
pub async fn list(state: &AppState, user_id: &str) -> Result<Vec<PasskeyDoc>, AccountError> {
    Ok(current_user(state, user_id).await?.passkeys)
}

/// Renames one of the account's passkeys.
#[tracing::instrument(name = "passkeys.rename", skip_all)]
pub async fn rename(
    state: &AppState,
    user_id: &str,
    id: &str,
    name: String,
) -> Result<PasskeyDoc, AccountError> {
    let user = current_user(state, user_id).await?;
    let mut all = user.passkeys.clone();
    let doc = all
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or(AccountError::NotFound)?;
    doc.name = name;
    let renamed = doc.clone();
    if !state
        .users
        .replace_passkeys(&user.id, &user.passkeys, &all)
        .await?
    {
        return Err(AccountError::Conflict);
    }
    Ok(renamed)
}

/// Removes one of `user`'s passkeys: the stamp moves (every session but `keep` ends, and
/// with them any ceremony bound to them) and the owner is told by email. By the owner, or by
/// an operator (`keep` is then `None`; `extra`, the audit event, is written with it).
#[tracing::instrument(name = "passkeys.remove", skip_all, fields(user_id = %user.id))]
pub async fn remove(
    state: &AppState,
    user: &UserDoc,
    id: &str,
    keep: Option<(&str, &str)>,
    extra: Vec<OutboxEntry>,
) -> Result<PasskeyDoc, AccountError> {
    let removed = user
        .passkeys
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or(AccountError::NotFound)?;
    let remaining: Vec<PasskeyDoc> = user
        .passkeys
        .iter()
        .filter(|p| p.id != id)
        .cloned()
        .collect();
    let message =
        notice(user, EmailKind::PasskeyRemoved).with_data("passkey_name", removed.name.clone());
    let mut entries = vec![email_entry(&message)];
    entries.extend(extra);
    let written = stamps::apply(state, user, keep, async |change| {
        let guard = change.guard(&user.email);
        state
            .users
            .remove_passkey(&user.id, &guard, &user.passkeys, &remaining, &entries)
            .await
    })
    .await?;
    if !written {
        return Err(AccountError::Conflict);
    }
    state.mailer.dispatch(entries);
    state.metrics.account_action("passkey_removal", "done");
    tracing::info!(user_id = %user.id, "passkey removed");
    Ok(removed)
}

/// The owner removes one of their passkeys; their own session stays.
pub async fn remove_own(
    state: &AppState,
    session: SessionRef<'_>,
    id: &str,
) -> Result<PasskeyDoc, AccountError> {
    let user = current_user(state, session.user_id).await?;
    remove(state, &user, id, Some(session.keep()), Vec::new()).await
}
