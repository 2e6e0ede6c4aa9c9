//! The second factor and the security stamp: turning it on or off, signing out everywhere and
//! an operator's revoke-all end every other session, pending login and emailed link; a login
//! through the second factor is recorded like any other.

use std::time::Duration;

use common::email::EmailKind;
use mongodb::bson::{Document, doc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::spawn_admin_app;
use crate::helpers::*;
use crate::mfa::{answer, challenge, code_of, enrol, enrolled_user};

async fn reset_link(app: &TestApp, email: &str) -> String {
    let requested = app
        .post("/v1/password-resets", &json!({ "email": email }))
        .await;
    assert_eq!(requested.status(), 202);
    let message = app.next_email().await;
    assert_eq!(message.kind, EmailKind::PasswordReset);
    message.data["token"].as_str().unwrap().to_owned()
}

async fn use_reset(app: &TestApp, token: &str) -> reqwest::Response {
    let body = json!({ "token": token, "new_password": "a reset passphrase for ada" });
    app.post("/v1/password-resets/confirm", &body).await
}

#[tokio::test]
async fn turning_the_second_factor_on_or_off_ends_every_other_session_and_link() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let intruder = app.session(&email, PASSWORD).await;
    let owner = app.session(&email, PASSWORD).await;
    let link = reset_link(&app, &email).await;

    // On: the intruder's session and the pending link end; the enrolling session stays.
    let mut user = enrol(&app, email.clone(), owner.clone()).await;
    assert_eq!(app.me(&owner).await.status(), 200);
    assert_eq!(
        app.me(&intruder).await.status(),
        401,
        "a session survived the enrolment"
    );
    assert_eq!(
        code_of(use_reset(&app, &link).await).await,
        (400, "invalid_token".into())
    );

    // Off: a session made through the second factor ends too; the owner's stays.
    let pending = challenge(&app, &email, PASSWORD).await;
    let response = answer(&app, &pending, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(response.status(), 201);
    let other: Value = response.json().await.unwrap();
    let other = other["token"].as_str().unwrap().to_owned();
    assert_eq!(app.next_email().await.kind, EmailKind::MfaRecoveryCodeUsed);
    let link = reset_link(&app, &email).await;
    let body = json!({ "password": PASSWORD, "code": user.fresh_code().await });
    let off = app
        .call(Method::DELETE, "/v1/users/me/mfa/totp", &owner, body)
        .await;
    assert_eq!(off.status(), 204);
    assert_eq!(app.me(&owner).await.status(), 200);
    assert_eq!(
        app.me(&other).await.status(),
        401,
        "a session survived turning it off"
    );
    assert_eq!(
        code_of(use_reset(&app, &link).await).await,
        (400, "invalid_token".into())
    );
    app.finish().await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_pending_second_steps() {
    let app = spawn_admin_app().await;
    let mut user = enrolled_user(&app).await;
    // Someone with the password holds a challenge while the owner signs out everywhere.
    let pending = challenge(&app, &user.email, PASSWORD).await;
    let response = app
        .call(Method::DELETE, "/v1/sessions", &user.token, Value::Null)
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&user.token).await.status(), 200);
    let response = answer(&app, &pending, json!({ "code": user.fresh_code().await })).await;
    assert_eq!(
        code_of(response).await,
        (401, "invalid_mfa_challenge".into()),
        "a challenge survived signing out everywhere"
    );

    // The operator's revoke-all ends them too (and every session).
    let id = app.user_id_of(&user.token).await;
    let pending = challenge(&app, &user.email, PASSWORD).await;
    let response = app
        .admin_call(Method::DELETE, &format!("/admin/v1/users/{id}/sessions"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.me(&user.token).await.status(), 401);
    let response = answer(&app, &pending, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(
        code_of(response).await,
        (401, "invalid_mfa_challenge".into()),
        "a challenge survived the operator's revoke-all"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_login_through_the_second_factor_is_recorded() {
    let app = spawn_app().await;
    let user = enrolled_user(&app).await;
    let users = app.database().await.collection::<Document>("users");
    let before = users
        .find_one(doc! { "email": &user.email })
        .await
        .unwrap()
        .unwrap();
    let first = before.get_datetime("last_login_at").copied().ok();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pending = challenge(&app, &user.email, PASSWORD).await;
    let response = answer(&app, &pending, json!({ "recovery_code": user.recovery[0] })).await;
    assert_eq!(response.status(), 201);
    let mut recorded = None;
    for _ in 0..50 {
        let document = users
            .find_one(doc! { "email": &user.email })
            .await
            .unwrap()
            .unwrap();
        recorded = document.get_datetime("last_login_at").copied().ok();
        if recorded.is_some() && recorded != first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recorded.is_some() && recorded != first,
        "last_login_at not set by the second factor: {first:?} -> {recorded:?}"
    );
    app.finish().await;
}

#[tokio::test]
async fn the_owner_undoes_an_enrolment_they_did_not_make_from_the_notice() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    // Someone with the password (no second factor yet) enrols their own authenticator.
    let intruder = app.session(&email, PASSWORD).await;
    let user = enrol(&app, email.clone(), intruder.clone()).await;
    let notice = &user.enabled_notice;
    let url = notice.data["action_url"]
        .as_str()
        .expect("a link in the notice");
    assert!(
        url.starts_with("https://app.example.com/reset-password?token="),
        "{url}"
    );
    let undo = notice.data["token"].as_str().unwrap().to_owned();
    // A reset request (anyone can make one) does not replace it.
    reset_link(&app, &email).await;

    let new_password = "the owner's own passphrase again";
    let body = json!({ "token": undo, "new_password": new_password });
    let response = app.post("/v1/password-resets/confirm", &body).await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.me(&intruder).await.status(), 401);
    assert_eq!(
        app.session(&email, new_password).await.len(),
        43,
        "no second step any more"
    );
    let kinds: Vec<EmailKind> = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(1))
        .await
        .into_iter()
        .map(|m| m.kind)
        .collect();
    assert!(kinds.contains(&EmailKind::MfaDisabled), "{kinds:?}");
    // Single use.
    let body = json!({ "token": undo, "new_password": "yet another passphrase here" });
    let response = app.post("/v1/password-resets/confirm", &body).await;
    assert_eq!(code_of(response).await, (400, "invalid_token".into()));
    app.finish().await;
}
