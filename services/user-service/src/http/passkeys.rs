//! The caller's passkeys under `/v1/users/me/passkeys`: adding one (options, then the
//! authenticator's answer), listing, renaming and removing them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::auth::CurrentSession;
use super::docs::{
    BodyErrors, Limited, NeedsSession, PasskeysUnconfigured, ProblemDoc, Unavailable, WrongPassword,
};
use super::error::{ApiError, FieldError};
use super::fields::optional_code;
use super::json::ApiJson;
use crate::account::passkey_ceremony::PasskeyProof;
use crate::account::passkey_ceremony::Started;
use crate::account::passkeys;
use crate::account::second_factor::StepUp;
use crate::store::from_bson_time;
use crate::store::users::PasskeyDoc;

/// A ceremony started: hand `options` to the browser (`PublicKeyCredential.parseCreationOptionsFromJSON`
/// / `parseRequestOptionsFromJSON` of its `publicKey`), then send the result with `ceremony`.
#[derive(Serialize, ToSchema)]
pub struct PasskeyCeremony {
    /// Single use; send it back with the authenticator's answer. Shown only here.
    ceremony: String,
    /// The WebAuthn options as JSON (`{"publicKey": {...}}`, base64url for binary values).
    #[schema(value_type = Object)]
    options: Value,
    expires_at: DateTime<Utc>,
}

impl PasskeyCeremony {
    pub fn new<T: Serialize>(started: Started<T>) -> Result<Self, ApiError> {
        let options = serde_json::to_value(&started.options).map_err(|_| ApiError::Internal)?;
        Ok(Self {
            ceremony: started.ceremony,
            options,
            expires_at: started.expires_at,
        })
    }
}

/// A passkey of the account.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    /// The credential id, base64url.
    id: String,
    name: String,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_at: Option<DateTime<Utc>>,
    /// Whether the authenticator may sync it to the owner's other devices, and has.
    backup_eligible: bool,
    backed_up: bool,
}

impl From<PasskeyDoc> for PasskeyView {
    fn from(doc: PasskeyDoc) -> Self {
        Self {
            id: doc.id,
            name: doc.name,
            created_at: from_bson_time(doc.created_at),
            last_used_at: doc.last_used_at.map(from_bson_time),
            backup_eligible: doc.backup_eligible,
            backed_up: doc.backed_up,
        }
    }
}

/// The authenticator's answer (`credential.toJSON()`), decoded; 422 `invalid_credential` if
/// it is not a WebAuthn credential in JSON form.
pub fn parse_credential<T: DeserializeOwned>(raw: Value) -> Result<T, ApiError> {
    serde_json::from_value(raw).map_err(|e| {
        ApiError::invalid(vec![FieldError {
            field: "credential",
            code: "invalid_credential",
            detail: format!("credential is not a WebAuthn credential in JSON form: {e}"),
        }])
    })
}

/// A passkey's answer to a step-up ceremony (`POST /v1/users/me/passkeys/step-up`), given in
/// place of `totp_code` for a sensitive change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswer {
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    ceremony: String,
    /// The browser's `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: Value,
}

/// The step-up of a sensitive change: `totp_code` or `passkey` (the schema allows one).
pub fn step_up(
    totp_code: Option<String>,
    passkey: Option<PasskeyAnswer>,
    session_id: &str,
) -> Result<Option<StepUp>, ApiError> {
    let code = optional_code(totp_code)?;
    match (code, passkey) {
        (Some(code), None) => Ok(Some(StepUp::Code(code))),
        (None, Some(answer)) => Ok(Some(StepUp::Passkey(Box::new(PasskeyProof {
            ceremony: answer.ceremony,
            session_id: session_id.to_owned(),
            credential: parse_credential(answer.credential)?,
        })))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::invalid(vec![FieldError {
            field: "passkey",
            code: "step_up_ambiguous",
            detail: "send totp_code or passkey, not both".to_owned(),
        }])),
    }
}

/// Starts a step-up with one of the caller's passkeys: answer it in the `passkey` field of a
/// sensitive change (email, password, deletion, a new passkey) in place of `totp_code`, from
/// this session, within 5 minutes.
#[utoipa::path(
    post,
    path = "/v1/users/me/passkeys/step-up",
    operation_id = "passkey_step_up_options",
    tag = "passkeys",
    security(("session" = [])),
    responses(
        (status = 200, body = PasskeyCeremony),
        NeedsSession,
        (status = 403, description = "The account has no passkey (`passkey_rejected`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Unavailable,
        PasskeysUnconfigured,
    )
)]
pub async fn step_up_options(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<PasskeyCeremony>, ApiError> {
    let started = passkeys::begin_step_up(&state, session.session_ref()).await?;
    Ok(Json(PasskeyCeremony::new(started)?))
}

fn parse_name(raw: &str) -> Result<String, ApiError> {
    passkeys::parse_name(raw).map_err(|e| ApiError::invalid(vec![ApiError::field("name", e)]))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyOptionsBody {
    /// The account's password; a wrong one is a 403 `wrong_password`.
    #[schema(format = "password")]
    password: String,
    /// A current code: required with two-factor login on (`mfa_code_required`), unless
    /// `passkey` is given.
    #[schema(pattern = "^[0-9]{6}$", min_length = 6, max_length = 6)]
    totp_code: Option<String>,
    /// In place of `totp_code`: an existing passkey's answer to a step-up ceremony.
    passkey: Option<PasskeyAnswer>,
}

/// Starts adding a passkey: the password (and a code with two-factor login on) first. The
/// options ask for a discoverable credential with user verification; answer within 5
/// minutes from the same session at `POST /v1/users/me/passkeys`.
#[utoipa::path(
    post,
    path = "/v1/users/me/passkeys/options",
    operation_id = "passkey_registration_options",
    tag = "passkeys",
    security(("session" = [])),
    request_body = PasskeyOptionsBody,
    responses(
        (status = 200, body = PasskeyCeremony),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        (status = 409, description = "The account has 10 passkeys (`passkey_limit`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Limited,
        Unavailable,
        PasskeysUnconfigured,
    )
)]
pub async fn options(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<PasskeyOptionsBody>,
) -> Result<Json<PasskeyCeremony>, ApiError> {
    let proof = step_up(body.totp_code, body.passkey, &session.id)?;
    let started = passkeys::begin_enrolment(
        &state,
        session.session_ref(),
        &body.password,
        proof.as_ref(),
    )
    .await?;
    Ok(Json(PasskeyCeremony::new(started)?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyEnrolBody {
    /// From `POST /v1/users/me/passkeys/options`.
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", min_length = 43, max_length = 43)]
    ceremony: String,
    /// The owner's name for it ("Laptop", "Phone"): the rules of a display name.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The browser's `PublicKeyCredential` as JSON (`credential.toJSON()`).
    #[schema(value_type = Object)]
    credential: Value,
}

/// Adds the passkey the authenticator created. The owner is told by email.
#[utoipa::path(
    post,
    path = "/v1/users/me/passkeys",
    operation_id = "add_passkey",
    tag = "passkeys",
    security(("session" = [])),
    request_body = PasskeyEnrolBody,
    responses(
        (status = 201, body = PasskeyView),
        BodyErrors,
        (status = 400, description = "The ceremony is unknown, expired, used or another \
            session's (`invalid_passkey_ceremony`).", body = ProblemDoc,
            content_type = "application/problem+json"),
        NeedsSession,
        (status = 403, description = "The answer was refused (`passkey_rejected`; the detail \
            names the reason: origin, rp_id, user_verification, challenge, \
            already_registered, invalid).", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 409, description = "The account changed meanwhile (`conflict`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn add(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<PasskeyEnrolBody>,
) -> Result<impl IntoResponse, ApiError> {
    let name = parse_name(&body.name)?;
    let credential = parse_credential(body.credential)?;
    let added = passkeys::finish_enrolment(
        &state,
        session.session_ref(),
        &body.ceremony,
        name,
        &credential,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(added))))
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    passkeys: Vec<PasskeyView>,
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get,
    path = "/v1/users/me/passkeys",
    operation_id = "list_passkeys",
    tag = "passkeys",
    security(("session" = [])),
    responses((status = 200, body = PasskeyList), NeedsSession, Unavailable)
)]
pub async fn list(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<PasskeyList>, ApiError> {
    let passkeys = passkeys::list(&state, &session.user_id).await?;
    Ok(Json(PasskeyList {
        passkeys: passkeys.into_iter().map(PasskeyView::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRenameBody {
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// Renames one of the caller's passkeys.
#[utoipa::path(
    patch,
    path = "/v1/users/me/passkeys/{id}",
    operation_id = "rename_passkey",
    tag = "passkeys",
    security(("session" = [])),
    params(("id" = String, Path, description = "A passkey id from the list")),
    request_body = PasskeyRenameBody,
    responses(
        (status = 200, body = PasskeyView),
        BodyErrors,
        NeedsSession,
        (status = 404, description = "No such passkey of the caller's.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 409, description = "The passkeys changed meanwhile (`conflict`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyRenameBody>,
) -> Result<Json<PasskeyView>, ApiError> {
    let name = parse_name(&body.name)?;
    let renamed = passkeys::rename(&state, &session.user_id, &id, name).await?;
    Ok(Json(PasskeyView::from(renamed)))
}

/// Removes one of the caller's passkeys: it signs in no more, every other session ends, and
/// the owner is told by email.
#[utoipa::path(
    delete,
    path = "/v1/users/me/passkeys/{id}",
    operation_id = "remove_passkey",
    tag = "passkeys",
    security(("session" = [])),
    params(("id" = String, Path, description = "A passkey id from the list")),
    responses(
        (status = 204, description = "Removed."),
        NeedsSession,
        (status = 404, description = "No such passkey of the caller's.", body = ProblemDoc,
            content_type = "application/problem+json"),
        (status = 409, description = "The account changed meanwhile (`conflict`).",
            body = ProblemDoc, content_type = "application/problem+json"),
        Unavailable,
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    session: CurrentSession,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    passkeys::remove_own(&state, session.session_ref(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
