//! Two-factor login (TOTP) against the real services: enrolment, the second login step
//! (attempts, replay, recovery codes), step-up, password reset, encryption at rest and key
//! rotation. Codes are computed from the secret the enrolment shows, as an authenticator app
//! would; a code works once per 30-second step, so tests that need several wait for steps.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use secrecy::SecretSlice;
use serde_json::{Value, json};
use user_service::config::LimitSetting;
use user_service::totp;

use crate::helpers::*;

/// An enrolled account: its secret, recovery codes and the last step whose code was used.
pub struct Enrolled {
    pub email: String,
    pub token: String,
    pub secret: SecretSlice<u8>,
    pub recovery: Vec<String>,
    pub last_step: u64,
    /// The `mfa_enabled` notice the enrolment sent.
    pub enabled_notice: common::email::EmailMessage,
}

impl Enrolled {
    /// A code the server has not seen yet: of the step after the last one used, or of now,
    /// waiting for the next step when the one after the last used is not due yet.
    pub async fn fresh_code(&mut self) -> String {
        loop {
            let now = totp::current_step();
            let step = (self.last_step + 1).max(now);
            if step <= now + 1 {
                self.last_step = step;
                return totp::code_at(&self.secret, step);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A code that is wrong for every step the server accepts now.
    fn wrong_code(&self) -> String {
        let now = totp::current_step();
        let taken: Vec<String> = (now - 2..=now + 2)
            .map(|s| totp::code_at(&self.secret, s))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
            .find(|c| !taken.contains(c))
            .unwrap()
    }
}

/// A verified user with a session, enrolled in two-factor login.
pub async fn enrolled_user(app: &TestApp) -> Enrolled {
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    enrol(app, email, token).await
}

pub async fn enrol(app: &TestApp, email: String, token: String) -> Enrolled {
    let started = app
        .call(
            Method::POST,
            "/v1/users/me/mfa/totp",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(started.status(), 201);
    let body: Value = started.json().await.unwrap();
    let base32 = body["secret"].as_str().unwrap();
    assert!(
        body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(body["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret: SecretSlice<u8> = data_encoding::BASE32_NOPAD
        .decode(base32.as_bytes())
        .unwrap()
        .into();
    let step = totp::current_step();
    let confirmed = app
        .call(
            Method::POST,
            "/v1/users/me/mfa/totp/confirm",
            &token,
            json!({ "code": totp::code_at(&secret, step) }),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let body: Value = confirmed.json().await.unwrap();
    let recovery: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let notice = app.next_email().await;
    assert_eq!(
        (notice.kind, notice.to.email.as_str()),
        (EmailKind::MfaEnabled, email.as_str())
    );
    Enrolled {
        email,
        token,
        secret,
        recovery,
        last_step: step,
        enabled_notice: notice,
    }
}

/// Logs in with the password: the challenge of the second step.
pub async fn challenge(app: &TestApp, email: &str, password: &str) -> String {
    let response = app.login(email, password).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    assert!(body.get("token").is_none());
    body["challenge"].as_str().unwrap().to_owned()
}

pub async fn answer(app: &TestApp, challenge: &str, factor: Value) -> reqwest::Response {
    let mut body = json!({ "challenge": challenge });
    body.as_object_mut()
        .unwrap()
        .extend(factor.as_object().unwrap().clone());
    app.post("/v1/sessions/mfa", &body).await
}

pub async fn code_of(response: reqwest::Response) -> (u16, String) {
    let (status, body) = problem(response).await;
    (status, body["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn login_needs_the_code_once_and_wrong_codes_burn_the_challenge() {
    crate::logs::capture();
    let app = spawn_app().await;
    let mut user = enrolled_user(&app).await;
    let me: Value = app.me(&user.token).await.json().await.unwrap();
    assert_eq!(me["mfa_enabled"], true);

    // The code that confirmed the enrolment does not log in (replay).
    let first = challenge(&app, &user.email, PASSWORD).await;
    let replayed = totp::code_at(&user.secret, user.last_step);
    let response = answer(&app, &first, json!({ "code": replayed })).await;
    assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));
    // Four more wrong answers: the fifth burns the challenge, the right code comes too late.
    for _ in 0..4 {
        let response = answer(&app, &first, json!({ "code": user.wrong_code() })).await;
        assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));
    }
    let code = user.fresh_code().await;
    let response = answer(&app, &first, json!({ "code": code })).await;
    assert_eq!(
        code_of(response).await,
        (401, "invalid_mfa_challenge".into())
    );

    // A new challenge takes the code, once.
    let second = challenge(&app, &user.email, PASSWORD).await;
    let response = answer(&app, &second, json!({ "code": code })).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap();
    assert_eq!(app.me(token).await.status(), 200);
    let response = answer(&app, &second, json!({ "code": code })).await;
    assert_eq!(
        code_of(response).await,
        (401, "invalid_mfa_challenge".into())
    );
    let third = challenge(&app, &user.email, PASSWORD).await;
    let response = answer(&app, &third, json!({ "code": code })).await;
    assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));

    // A recovery code works once, typed loosely; the owner is told.
    let response = answer(&app, &third, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(response.status(), 201);
    let notice = app.next_email().await;
    assert_eq!(notice.kind, EmailKind::MfaRecoveryCodeUsed);
    assert_eq!(notice.data["remaining"], 9);
    let fourth = challenge(&app, &user.email, PASSWORD).await;
    let response = answer(&app, &fourth, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));
    let loose = user.recovery[1].replace('-', " ").to_uppercase();
    let response = answer(&app, &fourth, json!({ "recovery_code": loose })).await;
    assert_eq!(response.status(), 201);

    // Both factors, or neither, are refused; so is a wrong password (no challenge).
    let fifth = challenge(&app, &user.email, PASSWORD).await;
    let response = answer(&app, &fifth, json!({})).await;
    assert_eq!(response.status(), 422);
    let wrong = app.login(&user.email, "wrong password entirely").await;
    assert_eq!(wrong.status(), 401);

    // The logs saw all of it, and hold neither the secret nor a recovery code.
    let logs = crate::logs::text();
    assert!(
        logs.contains("second factor requested"),
        "logs are captured"
    );
    let base32 =
        data_encoding::BASE32_NOPAD.encode(secrecy::ExposeSecret::expose_secret(&user.secret));
    assert!(!logs.contains(&base32), "the TOTP secret was logged");
    for code in &user.recovery {
        assert!(!logs.contains(code.as_str()), "a recovery code was logged");
    }
    app.finish().await;
}

#[tokio::test]
async fn email_and_password_changes_need_a_current_code() {
    let app = spawn_app().await;
    let mut user = enrolled_user(&app).await;
    let token = user.token.clone();
    let new_email = unique_email();
    let patch = |body: Value| app.call(Method::PATCH, "/v1/users/me", &token, body);
    let change = json!({ "email": new_email, "current_password": PASSWORD });
    assert_eq!(
        code_of(patch(change.clone()).await).await,
        (403, "mfa_code_required".into())
    );
    let mut wrong = change.clone();
    wrong["totp_code"] = json!(user.wrong_code());
    assert_eq!(
        code_of(patch(wrong).await).await,
        (403, "invalid_mfa_code".into())
    );
    let mut malformed = change.clone();
    malformed["totp_code"] = json!("12ab");
    assert_eq!(patch(malformed).await.status(), 422);
    // Other edits need no code.
    assert_eq!(
        patch(json!({ "display_name": "Grace" })).await.status(),
        200
    );
    let mut right = change.clone();
    right["totp_code"] = json!(user.fresh_code().await);
    let response = patch(right).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email_change"]["new_email"], new_email);

    let new_password = "a brand new passphrase for ada";
    let put = |body: Value| app.call(Method::PUT, "/v1/users/me/password", &token, body);
    let body = json!({ "current_password": PASSWORD, "new_password": new_password });
    assert_eq!(
        code_of(put(body.clone()).await).await,
        (403, "mfa_code_required".into())
    );
    let mut right = body.clone();
    right["totp_code"] = json!(user.fresh_code().await);
    assert_eq!(put(right).await.status(), 204);
    // Still two-factor after the change.
    challenge(&app, &user.email, new_password).await;
    app.finish().await;
}

#[tokio::test]
async fn deletion_needs_a_code_and_reset_keeps_the_second_factor() {
    let app = spawn_app().await;
    let user = enrolled_user(&app).await;
    let response = app
        .call(
            Method::DELETE,
            "/v1/users/me",
            &user.token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(code_of(response).await, (403, "mfa_code_required".into()));

    // A password reset changes the password only: the second factor stays.
    let requested = app
        .post("/v1/password-resets", &json!({ "email": user.email }))
        .await;
    assert_eq!(requested.status(), 202);
    let reset = app.next_email().await;
    assert_eq!(reset.kind, EmailKind::PasswordReset);
    let new_password = "another fresh passphrase here";
    let confirmed = app
        .post(
            "/v1/password-resets/confirm",
            &json!({ "token": reset.data["token"], "new_password": new_password }),
        )
        .await;
    assert_eq!(confirmed.status(), 204);
    let pending = challenge(&app, &user.email, new_password).await;
    let response = answer(&app, &pending, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();

    // Turning it off takes password and a second factor; then the password alone logs in.
    let off = |body: Value| app.call(Method::DELETE, "/v1/users/me/mfa/totp", &token, body);
    let response = off(json!({ "password": PASSWORD, "recovery_code": user.recovery[1] })).await;
    assert_eq!(code_of(response).await, (403, "wrong_password".into()));
    let body = json!({ "password": new_password, "recovery_code": user.recovery[1] });
    assert_eq!(off(body.clone()).await.status(), 204);
    assert_eq!(
        code_of(off(body).await).await,
        (409, "mfa_not_enabled".into())
    );
    let kinds: Vec<EmailKind> = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(1))
        .await
        .into_iter()
        .map(|m| m.kind)
        .collect();
    assert!(kinds.contains(&EmailKind::MfaDisabled), "{kinds:?}");
    assert_eq!(app.login(&user.email, new_password).await.status(), 201);
    let response = app
        .call(
            Method::DELETE,
            "/v1/users/me",
            &token,
            json!({ "password": new_password }),
        )
        .await;
    assert_eq!(response.status(), 204);
    app.finish().await;
}

#[tokio::test]
async fn code_attempts_are_limited_per_account_across_challenges() {
    let mut config = test_config();
    config.rate_limits.mfa_account = LimitSetting::new(3, Duration::from_secs(60));
    let app = spawn_with(config).await;
    let mut user = enrolled_user(&app).await;
    // A right password buys a new challenge, not new guesses.
    for _ in 0..3 {
        let pending = challenge(&app, &user.email, PASSWORD).await;
        let response = answer(&app, &pending, json!({ "code": user.wrong_code() })).await;
        assert_eq!(code_of(response).await, (403, "invalid_mfa_code".into()));
    }
    let pending = challenge(&app, &user.email, PASSWORD).await;
    let code = user.fresh_code().await;
    let response = answer(&app, &pending, json!({ "code": code })).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    // Step-up counts against the same budget.
    let body = json!({ "password": PASSWORD, "totp_code": code });
    let response = app
        .call(Method::DELETE, "/v1/users/me", &user.token, body)
        .await;
    assert_eq!(response.status(), 429);
    app.finish().await;
}
