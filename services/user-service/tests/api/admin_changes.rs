//! An operator's changes through the admin API: profile, verified address, emails, deletion.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::helpers::*;

impl TestApp {
    pub async fn admin_send(&self, method: Method, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.admin_api))
            .bearer_auth(OPS_TOKEN)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }
}

/// The events' types, sorted.
pub fn sorted_types(events: &[Value]) -> Vec<&str> {
    let mut types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    types
}

async fn registered_id(app: &TestApp, email: &str) -> String {
    let page = app
        .admin_json(
            Method::GET,
            &format!("/admin/v1/users?email_prefix={}", email.replace('@', "%40")),
        )
        .await;
    page["users"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn updates_the_profile_and_marks_the_address_verified() {
    let app = spawn_admin_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
    let id = registered_id(&app, &email).await;
    let path = format!("/admin/v1/users/{id}");

    let updated: Value = app
        .admin_send(
            Method::PATCH,
            &path,
            &json!({ "display_name": "Grace", "locale": "de-CH" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (updated["display_name"].as_str(), updated["locale"].as_str()),
        (Some("Grace"), Some("de-CH"))
    );
    let cleared: Value = app
        .admin_send(Method::PATCH, &path, &json!({ "display_name": null }))
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared.get("display_name").is_none());
    let (status, body) = problem(
        app.admin_send(
            Method::PATCH,
            &path,
            &json!({ "locale": "not a locale!", "email": "x@y.z" }),
        )
        .await,
    )
    .await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_body")));
    let (status, body) = problem(
        app.admin_send(Method::PATCH, &path, &json!({ "locale": "!!" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("validation_failed"))
    );

    // Unverified: login refused until an operator confirms the address.
    assert_eq!(app.login(&email, PASSWORD).await.status(), 403);
    let verified = app
        .admin_json(Method::POST, &format!("{path}/verify-email"))
        .await;
    assert_eq!(verified["email_verified"], true);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);

    // Events of different requests may arrive in any order (docs/events.md).
    let events = tap.drain_events(Duration::from_secs(2)).await;
    assert_eq!(
        sorted_types(&events),
        [
            "user.admin.email_verified",
            "user.admin.updated",
            "user.admin.updated",
            "user.email_verified",
            "user.profile_changed",
            "user.profile_changed",
            "user.registered",
        ]
    );
    let admin: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("user.admin."))
        .collect();
    assert!(admin.iter().all(|e| e["data"]["actor"] == "ops"));
    assert!(
        admin
            .iter()
            .any(|e| e["data"]["change"] == json!({ "display_name": "Grace", "locale": "de-CH" }))
    );
    tap.close().await;
    app.finish().await;
}

#[tokio::test]
async fn sends_verification_and_reset_emails_whose_links_work() {
    let app = spawn_admin_app().await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
    assert_eq!(app.next_email().await.kind, EmailKind::VerifyEmail);
    let id = registered_id(&app, &email).await;
    let path = format!("/admin/v1/users/{id}/emails");

    let sent = app
        .admin_send(Method::POST, &path, &json!({ "kind": "verification" }))
        .await;
    assert_eq!(sent.status(), 202);
    let message = app.next_email().await;
    assert_eq!(message.kind, EmailKind::VerifyEmail);
    let token = message.data["token"].as_str().unwrap().to_owned();
    let confirmed = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    let (status, body) = problem(
        app.admin_send(Method::POST, &path, &json!({ "kind": "verification" }))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "already verified"
    );

    let sent = app
        .admin_send(Method::POST, &path, &json!({ "kind": "password_reset" }))
        .await;
    assert_eq!(sent.status(), 202);
    let message = app.next_email().await;
    assert_eq!(message.kind, EmailKind::PasswordReset);
    let token = message.data["token"].as_str().unwrap().to_owned();
    let reset = app
        .post(
            "/v1/password-resets/confirm",
            &json!({ "token": token, "new_password": "a brand new passphrase" }),
        )
        .await;
    assert_eq!(reset.status(), 204);
    assert_eq!(
        app.login(&email, "a brand new passphrase").await.status(),
        201
    );
    app.finish().await;
}

#[tokio::test]
async fn deletes_like_the_owner_would() {
    let app = spawn_admin_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;

    let deleted = app
        .admin_call(Method::DELETE, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.auth_check(&token).await, 401);
    assert_eq!(user_count(&app, &email).await, 0);
    assert_eq!(app.next_email().await.kind, EmailKind::AccountDeleted);
    let again = app
        .admin_call(Method::DELETE, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(problem(again).await.0, 404);

    let events = tap.drain_events(Duration::from_secs(2)).await;
    let admin = events
        .iter()
        .find(|e| e["type"] == "user.admin.deleted")
        .expect("audit event");
    assert_eq!(admin["data"]["actor"], "ops");
    assert!(events.iter().any(|e| e["type"] == "user.deleted"));
    tap.close().await;
    app.finish().await;
}

#[tokio::test]
async fn an_invitation_mails_a_link_that_sets_the_password_and_confirms_the_address() {
    let app = spawn_admin_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = unique_email();
    let created = app
        .admin_send(
            Method::POST,
            "/admin/v1/users",
            &json!({ "email": email, "display_name": "Grace", "locale": "de" }),
        )
        .await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["email_verified"], false);
    let taken = app
        .admin_send(Method::POST, "/admin/v1/users", &json!({ "email": email }))
        .await;
    assert_eq!(problem(taken).await.1["code"], "email_taken");
    let invalid = app
        .admin_send(Method::POST, "/admin/v1/users", &json!({ "email": "nope" }))
        .await;
    assert_eq!(problem(invalid).await.0, 422);

    let message = app.next_email().await;
    assert_eq!(message.kind, EmailKind::Invitation);
    assert_eq!(message.to.email, email);
    assert_eq!(message.locale, "de");
    let url = message.data["action_url"].as_str().unwrap();
    assert!(
        url.starts_with(&app.config.links.password_reset_url),
        "{url}"
    );
    let token = message.data["token"].as_str().unwrap().to_owned();
    // The mail service renders it (the built-in template).
    let templates = mail_service::templates::Templates::new().unwrap();
    let rendered = templates
        .render(message.kind, &message.locale, &message.data)
        .unwrap();
    assert!(rendered.text.contains(url), "{}", rendered.text);

    let set = app
        .post(
            "/v1/password-resets/confirm",
            &json!({ "token": token, "new_password": "my own invited passphrase" }),
        )
        .await;
    assert_eq!(set.status(), 204);
    let session = app.session(&email, "my own invited passphrase").await;
    assert_eq!(app.auth_check(&session).await, 200);
    let id = user["id"].as_str().unwrap();
    let shown = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(shown["email_verified"], true);

    let events = tap.drain_events(Duration::from_secs(2)).await;
    assert_eq!(
        sorted_types(&events),
        [
            "user.admin.invited",
            "user.email_verified",
            "user.password_changed",
            "user.registered",
        ]
    );
    let invited = events
        .iter()
        .find(|e| e["type"] == "user.admin.invited")
        .unwrap();
    assert_eq!(invited["data"]["actor"], "ops");
    assert!(!invited.to_string().contains(&token));
    tap.close().await;
    app.finish().await;
}
