//! Forgotten passwords: the reset link, its single use and its lifetime.

use common::email::EmailKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase for this";

async fn request_reset(app: &TestApp, email: &str) -> Value {
    let response = app
        .post("/v1/password-resets", &json!({ "email": email }))
        .await;
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

async fn confirm(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(
        "/v1/password-resets/confirm",
        &json!({ "token": token, "new_password": password }),
    )
    .await
}

#[tokio::test]
async fn a_reset_link_works_once_and_only_the_newest_one() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let session = app.session(&email, PASSWORD).await;

    // An unknown address gets the same answer and no email.
    let unknown = request_reset(&app, &unique_email()).await;
    let known = request_reset(&app, &email).await;
    assert_eq!(unknown, known);
    let first = app.next_email().await;
    assert_eq!(
        (first.kind, first.to.email.as_str()),
        (EmailKind::PasswordReset, email.as_str())
    );
    assert!(
        first.data["action_url"]
            .as_str()
            .unwrap()
            .starts_with("https://app.example.com/reset-password?token=")
    );
    request_reset(&app, &email).await;
    let second = app.next_email().await;
    assert_eq!(queue_depth(&app.config.amqp.email_queue).await, 0);
    let first_token = first.data["token"].as_str().unwrap();
    let second_token = second.data["token"].as_str().unwrap();

    // A newer link invalidates the older one.
    let (status, body) = problem(confirm(&app, first_token, NEW_PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_token")
    );

    // A refused new password does not use the link up.
    let (status, body) = problem(confirm(&app, second_token, "password123").await).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "new_password");
    let local = email.split('@').next().unwrap();
    let (status, body) =
        problem(confirm(&app, second_token, &format!("{local} is my password")).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "password_contains_email");

    assert_eq!(
        confirm(&app, second_token, NEW_PASSWORD).await.status(),
        204
    );
    let (status, body) = problem(confirm(&app, second_token, NEW_PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_token")
    );

    // Every session ended; no auto-login; the old password is gone.
    assert_eq!(app.me(&session).await.status(), 401);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    let token = app.session(&email, NEW_PASSWORD).await;
    assert_eq!(app.me(&token).await.status(), 200);
    let notice = app.next_email().await;
    assert_eq!(
        (notice.kind, notice.to.email.as_str()),
        (EmailKind::PasswordChanged, email.as_str())
    );
    app.finish().await;
}

#[tokio::test]
async fn a_reset_link_expires_and_is_bound_to_its_account() {
    let mut config = test_config();
    config.links.password_reset_ttl = std::time::Duration::from_secs(1);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    request_reset(&app, &email).await;
    let expired = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (status, body) = problem(confirm(&app, &expired, NEW_PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "invalid_token")
    );
    app.finish().await;

    // A link sent to an address the account no longer has does not work.
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let session = app.session(&email, PASSWORD).await;
    request_reset(&app, &email).await;
    let token = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new = unique_email();
    app.call(
        Method::PATCH,
        "/v1/users/me",
        &session,
        json!({ "email": new, "current_password": PASSWORD }),
    )
    .await;
    let verify = app.next_email().await;
    app.post(
        "/v1/email-verifications/confirm",
        &json!({ "token": verify.data["token"] }),
    )
    .await;
    let (status, _) = problem(confirm(&app, &token, NEW_PASSWORD).await).await;
    assert_eq!(status, 400);
    for bad in ["", "x", &"A".repeat(5000)] {
        let (status, body) = problem(confirm(&app, bad, NEW_PASSWORD).await).await;
        assert_eq!(
            (status, body["code"].as_str().unwrap()),
            (400, "invalid_token")
        );
    }
    app.finish().await;
}
