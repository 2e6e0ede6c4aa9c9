//! Disabling accounts and ending sessions through the admin API.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use serde_json::Value;

use crate::admin::spawn_admin_app;
use crate::helpers::*;

#[tokio::test]
async fn disable_ends_every_session_at_once_and_login_says_so_after_the_password() {
    let app = spawn_admin_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = app.verified_user().await;
    let first = app.session(&email, PASSWORD).await;
    let second = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&first).await;
    assert_eq!(app.auth_check(&second).await, 200);

    let user = app
        .admin_json(Method::POST, &format!("/admin/v1/users/{id}/disable"))
        .await;
    assert_eq!(user["disabled"], true);
    for token in [&first, &second] {
        assert_eq!(app.auth_check(token).await, 401);
        assert_eq!(app.me(token).await.status(), 401);
    }
    // Only a correct password learns that the account is disabled.
    let (status, body) = problem(app.login(&email, PASSWORD).await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("account_disabled"))
    );
    let (status, body) = problem(app.login(&email, "wrong password entirely").await).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let listed = app
        .admin_json(Method::GET, "/admin/v1/users?disabled=true")
        .await;
    assert_eq!(listed["users"][0]["id"], id.as_str());
    let again = app
        .admin_json(Method::POST, &format!("/admin/v1/users/{id}/disable"))
        .await;
    assert_eq!(again["disabled"], true);

    let enabled = app
        .admin_json(Method::POST, &format!("/admin/v1/users/{id}/enable"))
        .await;
    assert_eq!(enabled["disabled"], false);
    assert_eq!(
        app.me(&first).await.status(),
        401,
        "old sessions stay ended"
    );
    let fresh = app.session(&email, PASSWORD).await;
    assert_eq!(app.auth_check(&fresh).await, 200);

    let events = tap.drain_events(Duration::from_secs(2)).await;
    let admin: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("user.admin."))
        .collect();
    let mut types: Vec<&str> = admin.iter().map(|e| e["type"].as_str().unwrap()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["user.admin.disabled", "user.admin.enabled"],
        "idempotent repeat: none"
    );
    for event in &admin {
        assert_eq!(event["user_id"], id.as_str());
        assert_eq!(event["data"]["actor"], "ops");
    }
    let disabled = admin
        .iter()
        .find(|e| e["type"] == "user.admin.disabled")
        .unwrap();
    assert_eq!(disabled["data"]["change"]["disabled"], true);
    let metrics = app.metrics().await;
    assert!(metrics.contains("user_admin_actions_total{action=\"disabled\"} 1"));
    assert!(metrics.contains("user_logins_total{outcome=\"account_disabled\"} 1"));
    tap.close().await;
    app.finish().await;
}

#[tokio::test]
async fn lists_and_revokes_a_users_sessions() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let keep = app.session(&email, PASSWORD).await;
    let doomed = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&keep).await;
    let own: Value = app
        .call(Method::GET, "/v1/sessions", &doomed, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    let doomed_id = own["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}/sessions"))
        .await;
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 2);
    let one = app
        .admin_json(
            Method::DELETE,
            &format!("/admin/v1/users/{id}/sessions/{doomed_id}"),
        )
        .await;
    assert_eq!(one["revoked"], 1);
    assert_eq!(app.auth_check(&doomed).await, 401);
    assert_eq!(app.auth_check(&keep).await, 200);
    let gone = app
        .admin_call(
            Method::DELETE,
            &format!("/admin/v1/users/{id}/sessions/{doomed_id}"),
        )
        .await;
    assert_eq!(problem(gone).await.0, 404);

    let all = app
        .admin_json(Method::DELETE, &format!("/admin/v1/users/{id}/sessions"))
        .await;
    assert_eq!(all["revoked"], 1);
    assert_eq!(app.auth_check(&keep).await, 401);
    let user = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(user["active_sessions"], 0);
    app.finish().await;
}

#[tokio::test]
async fn enabling_keeps_the_links_sent_while_disabled() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    app.admin_json(Method::POST, &format!("/admin/v1/users/{id}/disable"))
        .await;
    let sent = app
        .admin_send(
            Method::POST,
            &format!("/admin/v1/users/{id}/emails"),
            &serde_json::json!({ "kind": "password_reset" }),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let message = app.next_email().await;
    assert_eq!(message.kind, common::email::EmailKind::PasswordReset);
    app.admin_json(Method::POST, &format!("/admin/v1/users/{id}/enable"))
        .await;
    let reset = app
        .post(
            "/v1/password-resets/confirm",
            &serde_json::json!({ "token": message.data["token"], "new_password": "after the lockout" }),
        )
        .await;
    assert_eq!(reset.status(), 204);
    assert_eq!(app.login(&email, "after the lockout").await.status(), 201);
    app.finish().await;
}

#[tokio::test]
async fn an_operator_removes_a_lost_second_factor_audited_and_the_owner_is_told() {
    let app = spawn_admin_app().await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let enrolled = crate::mfa::enrolled_user(&app).await;
    let id = app.user_id_of(&enrolled.token).await;
    let shown = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(shown["mfa_enabled"], true);
    // While it is on, the password alone gives no session.
    let login: Value = app
        .login(&enrolled.email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["mfa_required"], true);

    let user = app
        .admin_json(Method::DELETE, &format!("/admin/v1/users/{id}/mfa"))
        .await;
    assert_eq!(user["mfa_enabled"], false);
    assert_eq!(app.login(&enrolled.email, PASSWORD).await.status(), 201);
    let (status, body) = problem(
        app.admin_call(Method::DELETE, &format!("/admin/v1/users/{id}/mfa"))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("mfa_not_enabled"))
    );

    let events = tap.drain_events(Duration::from_secs(3)).await;
    let removed: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user.admin.mfa_removed")
        .collect();
    assert_eq!(removed.len(), 1, "{events:?}");
    assert_eq!(removed[0]["user_id"], id.as_str());
    assert_eq!(removed[0]["data"]["actor"], "ops");
    assert!(
        app.metrics()
            .await
            .contains("user_admin_actions_total{action=\"mfa_removed\"} 1")
    );
    let kinds: Vec<EmailKind> = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(1))
        .await
        .into_iter()
        .map(|m| m.kind)
        .collect();
    assert!(
        kinds.contains(&EmailKind::MfaDisabled),
        "the owner is told: {kinds:?}"
    );
    app.finish().await;
}
