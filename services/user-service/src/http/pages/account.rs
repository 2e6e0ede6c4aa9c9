//! `/account`: the signed-in browser's profile, address, password, sessions, second factor
//! and account deletion, each through the same workflow as the API.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::guard::{Posted, SignedIn, clear_session_cookie};
use super::page::Page;
use super::view::View;
use crate::account::AccountError;
use crate::account::owner::{self, SessionRef};
use crate::account::profile::{self, ProfileEdit};
use crate::account::second_factor::StepUp;
use crate::account::sign_out;
use crate::domain::{DisplayName, Email, Locale};
use crate::http::AppState;
use crate::http::error::{ApiError, FieldError};
use crate::http::fields::optional_code;
use crate::store::from_bson_time;
use crate::store::users::{PasskeyDoc, ProfileChanges};

#[derive(Serialize)]
struct SessionRow {
    id: String,
    current: bool,
    device: Option<String>,
    ip: Option<String>,
    created_at: String,
    created_label: String,
    last_seen_at: String,
    last_seen_label: String,
}

fn label(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The account page with the account's current state; the caller adds the outcome.
pub(super) async fn account_view(state: &AppState, session: &SignedIn) -> Result<View, ApiError> {
    let user = profile::current_user(state, &session.user_id).await?;
    let sessions: Vec<SessionRow> = state
        .sessions
        .list(&session.user_id)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            current: s.digest == session.digest,
            id: s.record.id,
            device: s.record.user_agent.as_deref().map(super::device::describe),
            ip: s.record.ip,
            created_at: s.record.created_at.to_rfc3339(),
            created_label: label(s.record.created_at),
            last_seen_at: s.record.last_seen_at.to_rfc3339(),
            last_seen_label: label(s.record.last_seen_at),
        })
        .collect();
    let locales: Vec<_> = state
        .site
        .locales()
        .into_iter()
        .map(|(tag, name)| json!({ "tag": tag, "name": name }))
        .collect();
    let passkeys: Vec<Value> = user.passkeys.iter().map(passkey_row).collect();
    Ok(View::new("account", "account_title")
        .signed_in()
        .with(
            "user",
            json!({
                "email": user.email,
                "email_verified": user.email_verified,
                "display_name": user.display_name,
                "locale": state.site.negotiate(Some(&user.locale), None),
                "mfa_enabled": user.mfa.is_some(),
            }),
        )
        .with("sessions", sessions)
        .with("passkeys", passkeys)
        .with("locales", locales)
        .with("mfa_available", state.config.mfa.keys.is_some()))
}

/// A row of the passkeys table.
fn passkey_row(p: &PasskeyDoc) -> Value {
    let created = from_bson_time(p.created_at);
    let used = p.last_used_at.map(from_bson_time);
    json!({
        "id": p.id,
        "name": p.name,
        "backed_up": p.backed_up,
        "created_at": created.to_rfc3339(),
        "created_label": label(created),
        "last_used_at": used.map(|t| t.to_rfc3339()),
        "last_used_label": used.map(label),
    })
}

/// Renders the account page after an action: `done` on success, the error at `form` else.
pub(super) async fn after(
    state: &AppState,
    page: &Page,
    session: &SignedIn,
    form: &'static str,
    outcome: Result<&'static str, ApiError>,
) -> Response {
    // A session that ended with the action (or meanwhile) goes to the login page.
    let view = match account_view(state, session).await {
        Ok(view) => view,
        Err(ApiError::Account(AccountError::Unauthorized)) => return page.redirect("/login"),
        Err(e) => {
            return View::refusal("internal_error", StatusCode::OK)
                .problem("", e)
                .render(state, page);
        }
    };
    match outcome {
        Ok(done) => view.done(done),
        Err(ApiError::Account(AccountError::Unauthorized)) => return page.redirect("/login"),
        Err(e) => view.problem(form, e),
    }
    .render(state, page)
}

pub async fn show(State(state): State<AppState>, session: SignedIn, page: Page) -> Response {
    match account_view(&state, &session).await {
        Ok(view) => view.render(&state, &page),
        Err(ApiError::Account(AccountError::Unauthorized)) => {
            page.redirect("/login?return_to=%2Faccount")
        }
        Err(e) => View::refusal("internal_error", StatusCode::OK)
            .problem("", e)
            .render(&state, &page),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ProfileForm {
    display_name: String,
    locale: String,
}

/// `POST /account/profile`: an empty name removes it.
pub async fn profile(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<ProfileForm>,
) -> Response {
    let mut changes = ProfileChanges::default();
    let mut errors = Vec::new();
    let name = form.display_name.trim();
    changes.display_name = Some(match name {
        "" => None,
        name => DisplayName::parse(name)
            .map_err(|e| errors.push(ApiError::field("display_name", e)))
            .ok()
            .map(DisplayName::into_inner),
    });
    match Locale::parse(&form.locale) {
        Ok(locale) => changes.locale = Some(locale.as_str().to_owned()),
        Err(e) => errors.push(ApiError::field("locale", e)),
    }
    let outcome = if errors.is_empty() {
        let edit = ProfileEdit {
            changes,
            new_email: None,
            step_up: None,
        };
        profile::update(&state, &session.user_id, edit)
            .await
            .map(|_| "profile_saved")
            .map_err(ApiError::from)
    } else {
        Err(ApiError::invalid(errors))
    };
    after(&state, &page, &session, "profile-form", outcome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EmailForm {
    new_email: String,
    current_password: String,
    totp_code: String,
}

/// A form's `totp_code` (empty: none) as the step-up of a sensitive change.
pub(super) fn code(raw: String) -> Result<Option<StepUp>, ApiError> {
    optional_code(Some(raw.trim().to_owned()).filter(|c| !c.is_empty()))
        .map(|code| code.map(StepUp::Code))
}

fn required(field: &'static str, code: &'static str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(vec![FieldError {
            field,
            code,
            detail: format!("{field} is required"),
        }]));
    }
    Ok(())
}

/// `POST /account/email`: a link goes to the new address; the address changes once it is used.
pub async fn email(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<EmailForm>,
) -> Response {
    let outcome = async {
        let email = Email::parse(&form.new_email)
            .map_err(|e| ApiError::invalid(vec![ApiError::field("new_email", e)]))?;
        required(
            "current_password",
            "current_password_required",
            &form.current_password,
        )?;
        let edit = ProfileEdit {
            changes: ProfileChanges::default(),
            new_email: Some((email, form.current_password.clone())),
            step_up: code(form.totp_code.clone())?,
        };
        profile::update(&state, &session.user_id, edit).await?;
        Ok("email_change_pending")
    }
    .await;
    after(&state, &page, &session, "email-form", outcome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    totp_code: String,
}

/// `POST /account/password`: every other session ends; this one stays.
pub async fn password(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<PasswordForm>,
) -> Response {
    let outcome = async {
        required(
            "current_password",
            "current_password_required",
            &form.current_password,
        )?;
        let totp = code(form.totp_code.clone())?;
        let current = SessionRef {
            user_id: &session.user_id,
            digest: &session.digest,
            id: &session.id,
        };
        owner::change_password(
            &state,
            current,
            &form.current_password,
            &form.new_password,
            totp.as_ref(),
        )
        .await?;
        Ok("password_changed")
    }
    .await;
    after(&state, &page, &session, "password-form", outcome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevokeForm {
    session_id: String,
}

/// `POST /account/sessions/revoke`: ends one of the account's other sessions.
pub async fn revoke(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<RevokeForm>,
) -> Response {
    let outcome = async {
        if form.session_id.len() > 64 || !state.sessions.revoke(&session.user_id, &form.session_id).await? {
            return Err(ApiError::NotFound);
        }
        tracing::info!(user_id = %session.user_id, session_id = %form.session_id, "session revoked from the account page");
        Ok("session_revoked")
    }
    .await;
    after(&state, &page, &session, "sessions", outcome).await
}

/// `POST /account/sessions/revoke-others`.
pub async fn revoke_others(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, .. }: Posted<super::guard::NoFields>,
) -> Response {
    let outcome = sign_out::others(&state, session.session_ref())
        .await
        .map(|_| "sessions_revoked")
        .map_err(ApiError::from);
    after(&state, &page, &session, "revoke-others-form", outcome).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct DeleteForm {
    password: String,
    totp_code: String,
}

/// `POST /account/delete`: the account and every session go; so does the cookie.
pub async fn delete(
    State(state): State<AppState>,
    session: SignedIn,
    Posted { page, form }: Posted<DeleteForm>,
) -> Response {
    let outcome = async {
        required("password", "password_required", &form.password)?;
        let totp = code(form.totp_code.clone())?;
        owner::delete(&state, &session.user_id, &form.password, totp.as_ref()).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match outcome {
        Ok(()) => {
            let mut response = View::new("account-deleted", "deleted_title").render(&state, &page);
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_session_cookie(&state));
            response
        }
        Err(e) => after(&state, &page, &session, "delete-form", Err(e)).await,
    }
}
