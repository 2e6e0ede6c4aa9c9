//! `/v1/users`: registration, and the caller's profile, password and account.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::Utc;
use common::email::{EmailKind, EmailMessage, Recipient};
use mongodb::bson::{Document, doc};
use serde::{Deserialize, Deserializer, Serialize};

use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentSession;
use super::client::Client;
use super::error::ApiError;
use super::json::ApiJson;
use super::limits::{self, Limit};
use super::openapi::{Accepted, BodyErrors, Limited, NeedsSession, Unavailable, WrongPassword};
use crate::crypto::{new_token, token_digest};
use crate::domain::{DisplayName, Email, Invalid, Locale, Password};
use crate::events::{DomainEvent, EventType};
use crate::mailer::Mailer;
use crate::pwned::Breach;
use crate::store::outbox::OutboxEntry;
use crate::store::redis_store::VerificationRecord;
use crate::store::users::{Inserted, Updated, UserDoc};
use crate::store::{from_bson_time, to_bson_time};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(format = "email", example = "ada@example.com")]
    email: String,
    /// 15 to 1024 characters; not a common or predictable password, not containing the
    /// address.
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    password: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    display_name: Option<String>,
    /// BCP 47 language tag of the emails, e.g. `en` or `de-CH`; default `en`.
    #[serde(default)]
    #[schema(example = "en")]
    locale: Option<String>,
}

struct Registration {
    email: Email,
    password: Password,
    display_name: Option<DisplayName>,
    locale: Locale,
}

impl RegisterBody {
    /// Every field is checked, so the client learns about all problems at once.
    fn parse(self) -> Result<Registration, ApiError> {
        let mut errors = Vec::new();
        let email = Email::parse(&self.email)
            .map_err(|e| errors.push(ApiError::field("email", e)))
            .ok();
        let password = Password::parse(&self.password)
            .map_err(|e| errors.push(ApiError::field("password", e)))
            .ok();
        let display_name = match self.display_name.as_deref().map(DisplayName::parse) {
            Some(Ok(name)) => Some(name),
            Some(Err(e)) => {
                errors.push(ApiError::field("display_name", e));
                None
            }
            None => None,
        };
        let locale = Locale::parse(self.locale.as_deref().unwrap_or("en"))
            .map_err(|e| errors.push(ApiError::field("locale", e)))
            .ok();
        if let (Some(email), Some(password)) = (&email, &password)
            && let Err(e) = password
                .check_not_derived_from(email)
                .and_then(|()| password.check_not_common())
        {
            errors.push(ApiError::field("password", e));
        }
        match (email, password, locale) {
            (Some(email), Some(password), Some(locale)) if errors.is_empty() => Ok(Registration {
                email,
                password,
                display_name,
                locale,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

/// A new password for an account with `email`: the policy, plus the optional breach check.
pub(super) async fn accept_new_password(
    state: &AppState,
    raw: &str,
    email: &Email,
    field: &'static str,
) -> Result<Password, ApiError> {
    let refuse = |e| ApiError::Validation(vec![ApiError::field(field, e)]);
    let password = Password::parse(raw).map_err(refuse)?;
    password.check_not_derived_from(email).map_err(refuse)?;
    password.check_not_common().map_err(refuse)?;
    check_not_breached(state, &password).await.map_err(refuse)?;
    Ok(password)
}

/// The optional online check (off by default; fails open, see `pwned`).
async fn check_not_breached(state: &AppState, password: &Password) -> Result<(), Invalid> {
    match state.pwned.check(password).await {
        Breach::Found(_) => Err(Invalid::new(
            "password_breached",
            "password appears in known data breaches; choose another",
        )),
        Breach::NotFound | Breach::Unknown => Ok(()),
    }
}

/// Checks the caller's password for a sensitive change. Attempts count against the account's
/// login limit, so these endpoints cannot be used to guess the password instead.
pub(super) async fn confirm_password(
    state: &AppState,
    user: &UserDoc,
    raw: &str,
) -> Result<(), ApiError> {
    limits::enforce(state, Limit::LoginAccount, &user.email).await?;
    let ok = state
        .hasher
        .verify(
            &Password::for_verification(raw),
            Some(user.password_hash.as_str()),
        )
        .await?;
    if ok {
        limits::clear(state, Limit::LoginAccount, &user.email).await;
        Ok(())
    } else {
        Err(ApiError::WrongPassword)
    }
}

/// After a successful login: re-hashes a password stored with older parameters, in the
/// background so the login does not pay for a second argon2 run.
pub(super) fn upgrade_hash_in_background(state: &AppState, user: &UserDoc, password: Password) {
    if !state.hasher.needs_rehash(&user.password_hash) {
        return;
    }
    let (hasher, users) = (state.hasher.clone(), state.users.clone());
    let (id, old) = (user.id.clone(), user.password_hash.clone());
    tokio::spawn(async move {
        match hasher.hash(&password).await {
            Ok(new) => match users.upgrade_hash(&id, &old, &new).await {
                Ok(()) => tracing::info!(user_id = %id, "password hash upgraded"),
                Err(e) => tracing::warn!(user_id = %id, error = %e, "hash upgrade not saved"),
            },
            Err(e) => tracing::warn!(user_id = %id, error = %e, "hash upgrade failed"),
        }
    });
}

/// A verification email for `email` (a new account's, or the new address of an email change)
/// with a fresh single-use token stored in Redis.
pub(super) async fn verification_email(
    state: &AppState,
    user: &UserDoc,
    email: &str,
    previous: Option<String>,
) -> Result<(EmailMessage, String), ApiError> {
    let token = new_token();
    let digest = token_digest(&token);
    let record = VerificationRecord {
        user_id: user.id.clone(),
        email: email.to_owned(),
        previous,
    };
    state
        .redis
        .put_verification(&digest, &record, state.config.verification_ttl)
        .await?;
    let message = EmailMessage::new(recipient(user, email), EmailKind::VerifyEmail, &user.locale)
        .with_data("token", token.as_str())
        .with_data(
            "action_url",
            format!("{}?token={token}", state.config.verify_email_url),
        )
        .with_data(
            "expires_in_hours",
            state.config.verification_ttl.as_secs().div_ceil(3600),
        );
    Ok((message, digest))
}

pub(super) fn recipient(user: &UserDoc, email: &str) -> Recipient {
    Recipient {
        email: email.to_owned(),
        name: user.display_name.clone(),
    }
}

pub(super) fn email_entry(message: &EmailMessage) -> OutboxEntry {
    OutboxEntry::new(message, Mailer::lease())
}

pub(super) fn event_entry(event: &DomainEvent) -> OutboxEntry {
    OutboxEntry::event(event, Mailer::lease())
}

/// Registers an account.
///
/// Answers 202 whether or not the address already has an account, so the
/// endpoint cannot be used to find out who is registered; the owner of an existing account
/// gets an email saying someone tried.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    request_body = RegisterBody,
    responses(
        (status = 202, description = "A verification email is on its way (or, for an address \
            that already has an account, a notice to its owner).", body = Accepted),
        BodyErrors,
        Limited,
        Unavailable,
    )
)]
pub async fn register(
    State(state): State<AppState>,
    client: Client,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let reg = body.parse()?;
    limits::enforce(&state, Limit::SignupIp, &client.ip.to_string()).await?;
    check_not_breached(&state, &reg.password)
        .await
        .map_err(|e| ApiError::Validation(vec![ApiError::field("password", e)]))?;
    // Hash in both branches so a taken address costs the same time as a free one.
    let password_hash = state.hasher.hash(&reg.password).await?;
    let now = Utc::now();
    let user = UserDoc {
        id: Uuid::now_v7().to_string(),
        email: reg.email.as_str().to_owned(),
        email_verified: false,
        password_hash,
        display_name: reg.display_name.map(DisplayName::into_inner),
        locale: reg.locale.as_str().to_owned(),
        created_at: to_bson_time(now),
        updated_at: to_bson_time(now),
    };

    // The token goes to Redis first: if that fails nothing else has happened yet.
    let (verify, digest) = verification_email(&state, &user, &user.email, None).await?;
    let registered = DomainEvent::new(EventType::Registered, &user.id)
        .with("email", user.email.as_str())
        .with("locale", user.locale.as_str());
    let entries = vec![email_entry(&verify), event_entry(&registered)];

    match state.users.insert_with_outbox(&user, &entries).await? {
        Inserted::Created => {
            state.metrics.signups.with_label_values(&["created"]).inc();
            tracing::info!(user_id = %user.id, "user registered");
            state.mailer.dispatch(entries);
        }
        Inserted::EmailTaken => {
            state
                .metrics
                .signups
                .with_label_values(&["email_taken"])
                .inc();
            // After the answer: this extra work (a Redis delete, an outbox write) would
            // otherwise make a taken address measurably slower (bench/enumeration.py).
            let notice = EmailMessage::new(
                recipient(&user, &user.email),
                EmailKind::AccountExists,
                &user.locale,
            );
            let state = state.clone();
            tokio::spawn(async move {
                let _ = state.redis.drop_verification(&digest).await;
                if let Err(e) = state.mailer.enqueue(email_entry(&notice)).await {
                    tracing::warn!(error = %e, "account-exists notice not queued");
                }
            });
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            status: "pending_verification",
            detail: "Check your inbox to confirm the address.",
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct Profile {
    id: String,
    email: String,
    email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    locale: String,
    created_at: chrono::DateTime<Utc>,
    updated_at: chrono::DateTime<Utc>,
}

impl From<UserDoc> for Profile {
    fn from(user: UserDoc) -> Self {
        Profile {
            id: user.id,
            email: user.email,
            email_verified: user.email_verified,
            display_name: user.display_name,
            locale: user.locale,
            created_at: from_bson_time(user.created_at),
            updated_at: from_bson_time(user.updated_at),
        }
    }
}

/// The caller's account. A session can outlive its account for a moment (deleted elsewhere):
/// then the session is treated as gone.
pub(super) async fn current_user(
    state: &AppState,
    session: &CurrentSession,
) -> Result<UserDoc, ApiError> {
    state
        .users
        .find_by_id(&session.user_id)
        .await?
        .ok_or(ApiError::Unauthorized)
}

/// The caller's profile.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    responses((status = 200, body = Profile), NeedsSession, Unavailable)
)]
pub async fn me(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(current_user(&state, &session).await?.into()))
}

/// `null` and absent differ: absent leaves a field alone, `null` clears it.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    /// `null` removes the display name; absent leaves it alone.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    display_name: Option<Option<String>>,
    #[serde(default)]
    locale: Option<String>,
    /// A new address: needs `current_password`, and takes effect once confirmed through the
    /// link sent to it.
    #[serde(default)]
    #[schema(format = "email")]
    email: Option<String>,
    #[serde(default)]
    #[schema(format = "password")]
    current_password: Option<String>,
}

/// The profile after an update, and the pending email change if one was asked for.
#[derive(Serialize, ToSchema)]
pub struct ProfileUpdate {
    #[serde(flatten)]
    profile: Profile,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_change: Option<EmailChange>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailChange {
    status: &'static str,
    new_email: String,
    detail: &'static str,
}

/// `PATCH /v1/users/me`: display name and locale at once; a new email address only with the
/// current password, and only once the new address is verified (a link goes there; until
/// then the account keeps its current address).
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    request_body = PatchBody,
    responses(
        (status = 200, body = ProfileUpdate),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<ProfileUpdate>, ApiError> {
    let mut errors = Vec::new();
    let mut set = Document::new();
    let mut unset = Document::new();
    match body.display_name {
        Some(Some(raw)) => match DisplayName::parse(&raw) {
            Ok(name) => {
                set.insert("display_name", name.into_inner());
            }
            Err(e) => errors.push(ApiError::field("display_name", e)),
        },
        Some(None) => {
            unset.insert("display_name", "");
        }
        None => {}
    }
    if let Some(raw) = body.locale {
        match Locale::parse(&raw) {
            Ok(locale) => {
                set.insert("locale", locale.as_str());
            }
            Err(e) => errors.push(ApiError::field("locale", e)),
        }
    }
    let new_email = match body.email.as_deref().map(Email::parse) {
        Some(Ok(email)) => Some(email),
        Some(Err(e)) => {
            errors.push(ApiError::field("email", e));
            None
        }
        None => None,
    };
    if new_email.is_some() && body.current_password.is_none() {
        errors.push(super::error::FieldError {
            field: "current_password",
            code: "current_password_required",
            detail: "changing the email requires current_password".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }

    let mut user = current_user(&state, &session).await?;
    let mut email_change = None;
    if let (Some(email), Some(password)) = (new_email, body.current_password.as_deref()) {
        confirm_password(&state, &user, password).await?;
        if email.as_str() != user.email {
            email_change = Some(request_email_change(&state, &user, email).await?);
        }
    }
    if !set.is_empty() || !unset.is_empty() {
        set.insert("updated_at", mongodb::bson::DateTime::now());
        let mut update = doc! { "$set": set };
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        user = state
            .users
            .update_profile(&user.id, update)
            .await?
            .ok_or(ApiError::Unauthorized)?;
    }
    Ok(Json(ProfileUpdate {
        profile: user.into(),
        email_change,
    }))
}

/// Sends the verification link to the new address. If the address already has an account, its
/// owner is told someone tried instead: the answer is the same, so this cannot be used to find
/// out who is registered.
async fn request_email_change(
    state: &AppState,
    user: &UserDoc,
    email: Email,
) -> Result<EmailChange, ApiError> {
    let message = if state.users.find_by_email(email.as_str()).await?.is_some() {
        // Addressed to someone else: no name of this account in it.
        let to = Recipient {
            email: email.as_str().to_owned(),
            name: None,
        };
        EmailMessage::new(to, EmailKind::AccountExists, &user.locale)
    } else {
        verification_email(state, user, email.as_str(), Some(user.email.clone()))
            .await?
            .0
    };
    state.mailer.enqueue(email_entry(&message)).await?;
    state
        .metrics
        .account_events
        .with_label_values(&["email_change", "requested"])
        .inc();
    tracing::info!(user_id = %user.id, "email change requested");
    Ok(EmailChange {
        status: "pending_verification",
        new_email: email.as_str().to_owned(),
        detail: "Confirm the new address with the link sent to it; until then the current address stays.",
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    #[schema(format = "password")]
    current_password: String,
    #[schema(min_length = 15, max_length = 1024, format = "password")]
    new_password: String,
}

/// `PUT /v1/users/me/password`: ends every other session and tells the owner by email.
#[utoipa::path(
    put,
    path = "/v1/users/me/password",
    tag = "users",
    security(("session" = [])),
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed; every other session has ended."),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> Result<StatusCode, ApiError> {
    let user = current_user(&state, &session).await?;
    let email = Email::parse(&user.email).map_err(|_| ApiError::Internal)?;
    let password = accept_new_password(&state, &body.new_password, &email, "new_password").await?;
    confirm_password(&state, &user, &body.current_password).await?;
    set_password(&state, &user, &password, Some(&session.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores a new password hash with its notice email and event, then ends the user's sessions
/// (all but `keep`).
pub(super) async fn set_password(
    state: &AppState,
    user: &UserDoc,
    password: &Password,
    keep: Option<&str>,
) -> Result<(), ApiError> {
    let hash = state.hasher.hash(password).await?;
    let notice = EmailMessage::new(
        recipient(user, &user.email),
        EmailKind::PasswordChanged,
        &user.locale,
    );
    let event = DomainEvent::new(EventType::PasswordChanged, &user.id);
    let entries = vec![email_entry(&notice), event_entry(&event)];
    let updated = state
        .users
        .update_with_outbox(
            &user.id,
            doc! {},
            doc! { "$set": { "password_hash": hash, "updated_at": mongodb::bson::DateTime::now() } },
            &entries,
        )
        .await?;
    if updated != Updated::Done {
        return Err(ApiError::Unauthorized);
    }
    state.mailer.dispatch(entries);
    let revoked = state.sessions.revoke_all(&user.id, keep).await?;
    state
        .metrics
        .account_events
        .with_label_values(&["password_change", "done"])
        .inc();
    tracing::info!(user_id = %user.id, revoked, "password changed");
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    #[schema(format = "password")]
    password: String,
}

/// `DELETE /v1/users/me` {password}: deletes the account and every session, says goodbye.
#[utoipa::path(
    delete,
    path = "/v1/users/me",
    tag = "users",
    security(("session" = [])),
    request_body = DeleteBody,
    responses(
        (status = 204, description = "The account and its sessions are gone."),
        BodyErrors,
        NeedsSession,
        WrongPassword,
        Limited,
        Unavailable,
    )
)]
pub async fn delete_me(
    State(state): State<AppState>,
    session: CurrentSession,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<StatusCode, ApiError> {
    let user = current_user(&state, &session).await?;
    confirm_password(&state, &user, &body.password).await?;
    let goodbye = EmailMessage::new(
        recipient(&user, &user.email),
        EmailKind::AccountDeleted,
        &user.locale,
    );
    let event = DomainEvent::new(EventType::Deleted, &user.id);
    let entries = vec![email_entry(&goodbye), event_entry(&event)];
    if !state.users.delete_with_outbox(&user.id, &entries).await? {
        return Err(ApiError::Unauthorized);
    }
    state.mailer.dispatch(entries);
    state.sessions.revoke_all(&user.id, None).await?;
    state
        .metrics
        .account_events
        .with_label_values(&["delete", "done"])
        .inc();
    tracing::info!(user_id = %user.id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}
