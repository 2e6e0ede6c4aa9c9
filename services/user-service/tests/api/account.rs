//! The account lifecycle after signup: profile, email change, password change, deletion, and
//! the caller's sessions.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a different and longer passphrase";

#[tokio::test]
async fn sessions_are_listed_and_revoked() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let phone = app
        .client
        .post(format!("{}/v1/sessions", app.base))
        .header("user-agent", "phone/1.0")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let laptop = app.session(&email, PASSWORD).await;
    let tablet = app.session(&email, PASSWORD).await;

    let list: Value = app
        .call(Method::GET, "/v1/sessions", &laptop, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let phone_view = sessions.iter().find(|s| s["id"] == phone["id"]).unwrap();
    assert_eq!(phone_view["user_agent"], "phone/1.0");
    assert_eq!(phone_view["ip"], "127.0.0.1");
    assert!(phone_view["created_at"].is_string() && phone_view["last_seen_at"].is_string());
    // Tokens never appear in the list.
    assert!(!list.to_string().contains(phone["token"].as_str().unwrap()));

    // One session ended from another device.
    let path = format!("/v1/sessions/{}", phone["id"].as_str().unwrap());
    assert_eq!(
        app.call(Method::DELETE, &path, &laptop, Value::Null)
            .await
            .status(),
        204
    );
    assert_eq!(app.me(phone["token"].as_str().unwrap()).await.status(), 401);
    let (status, body) = problem(app.call(Method::DELETE, &path, &laptop, Value::Null).await).await;
    assert_eq!((status, body["code"].as_str().unwrap()), (404, "not_found"));

    // Someone else's session id is not found either.
    let other = app.verified_user().await;
    let other_token = app.session(&other, PASSWORD).await;
    let tablet_id = sessions
        .iter()
        .find(|s| s["id"] != phone["id"] && s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = problem(
        app.call(
            Method::DELETE,
            &format!("/v1/sessions/{tablet_id}"),
            &other_token,
            Value::Null,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(app.me(&tablet).await.status(), 200);

    // Everything but the current session.
    let revoked: Value = app
        .call(Method::DELETE, "/v1/sessions", &laptop, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(app.me(&tablet).await.status(), 401);
    assert_eq!(app.me(&laptop).await.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn idle_sessions_end_and_no_session_outlives_its_lifetime() {
    let mut config = test_config();
    config.sessions.idle_timeout = Duration::from_secs(4);
    config.sessions.ttl = Duration::from_secs(60);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;

    // Used every two seconds, a session stays alive past its idle timeout...
    let active = app.session(&email, PASSWORD).await;
    let idle = app.session(&email, PASSWORD).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(app.me(&active).await.status(), 200);
    }
    // ...while one left alone has ended.
    assert_eq!(app.me(&idle).await.status(), 401);
    app.finish().await;

    let mut config = test_config();
    config.sessions.idle_timeout = Duration::from_secs(60);
    config.sessions.ttl = Duration::from_secs(4);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let started = std::time::Instant::now();
    while app.me(&token).await.status() == 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "session never ended"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    app.finish().await;
}

#[tokio::test]
async fn profile_updates_and_unknown_fields_are_refused() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;

    let updated: Value = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "display_name": "  Grace  ", "locale": "de-ch" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["display_name"], "Grace");
    assert_eq!(updated["locale"], "de-CH");

    // Mass assignment: fields the client may not set are refused, and nothing changes.
    for body in [
        json!({ "email_verified": false }),
        json!({ "display_name": "X", "roles": ["admin"] }),
        json!({ "password_hash": "$argon2id$..." }),
    ] {
        let (status, problem_body) =
            problem(app.call(Method::PATCH, "/v1/users/me", &token, body).await).await;
        assert_eq!(status, 400, "{problem_body}");
    }
    let (status, _) = problem(
        app.post(
            "/v1/users",
            &json!({ "email": unique_email(), "password": PASSWORD, "email_verified": true }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);

    let cleared: Value = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "display_name": null }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(cleared.get("display_name").is_none());
    assert_eq!(cleared["locale"], "de-CH");
    assert_eq!(cleared["email_verified"], true);
    let (status, body) = problem(
        app.call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "locale": "not a locale!" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "locale");
    app.finish().await;
}

#[tokio::test]
async fn changing_the_email_needs_the_password_and_the_new_address_confirmed() {
    let app = spawn_app().await;
    let events = EventTap::bind(&app.config.amqp.events_exchange).await;
    let old = app.verified_user().await;
    let token = app.session(&old, PASSWORD).await;
    let new = unique_email();

    let (status, body) = problem(
        app.call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "email": new }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "current_password_required");
    let (status, body) = problem(
        app.call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "email": new, "current_password": "not the password at all" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (403, "wrong_password")
    );

    let pending: Value = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "email": new.to_uppercase(), "current_password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    // The account keeps its address until the new one is confirmed.
    assert_eq!(pending["email"], old.as_str());
    assert_eq!(pending["email_change"]["new_email"], new.as_str());
    let verify = app.next_email().await;
    assert_eq!(
        (verify.kind, verify.to.email.as_str()),
        (EmailKind::VerifyEmail, new.as_str())
    );
    // The current address is told of the request at once, without the link.
    let heads_up = app.next_email().await;
    assert_eq!(
        (heads_up.kind, heads_up.to.email.as_str()),
        (EmailKind::EmailChangeRequested, old.as_str())
    );
    let confirmed = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": verify.data["token"] }),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    // The change moved the account's security stamp: every session ended.
    assert_eq!(app.me(&token).await.status(), 401);
    let token = app.session(&new, PASSWORD).await;
    let profile: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(profile["email"], new.as_str());
    assert_eq!(profile["email_verified"], true);
    // The old address is told, in case it was not its owner who asked.
    let notice = app.next_email().await;
    assert_eq!(
        (notice.kind, notice.to.email.as_str()),
        (EmailKind::EmailChanged, old.as_str())
    );
    assert_eq!(notice.data["new_email"], new.as_str());
    assert_eq!(app.login(&old, PASSWORD).await.status(), 401);
    assert_eq!(app.login(&new, PASSWORD).await.status(), 201);

    // An address that has an account: the same answer, and its owner is told instead.
    let taken = app.verified_user().await;
    let answer: Value = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &token,
            json!({ "email": taken, "current_password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["email_change"]["new_email"], taken.as_str());
    let told = app.next_email().await;
    assert_eq!(
        (told.kind, told.to.email.as_str()),
        (EmailKind::AccountExists, taken.as_str())
    );
    assert_eq!(told.to.name, None);
    let heads_up = app.next_email().await;
    assert_eq!(
        (heads_up.kind, heads_up.to.email.as_str()),
        (EmailKind::EmailChangeRequested, new.as_str())
    );

    let types = events.drain(Duration::from_millis(500)).await;
    assert!(
        types.contains(&"user.email_verified".to_owned()),
        "{types:?}"
    );
    events.close().await;
    app.finish().await;
}

#[tokio::test]
async fn a_password_change_ends_other_sessions_and_tells_the_owner() {
    let app = spawn_app().await;
    let events = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = app.verified_user().await;
    let here = app.session(&email, PASSWORD).await;
    let elsewhere = app.session(&email, PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let (status, body) = problem(
        app.call(
            Method::PUT,
            "/v1/users/me/password",
            &here,
            change("wrong wrong wrong wrong", NEW_PASSWORD),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (403, "wrong_password")
    );
    for (weak, code) in [
        ("short", "password_too_short"),
        ("1qazxsw23edcvfr4", "password_too_common"),
        ("xkcdxkcdxkcdxkcdxkcd", "password_too_predictable"),
    ] {
        let (status, body) = problem(
            app.call(
                Method::PUT,
                "/v1/users/me/password",
                &here,
                change(PASSWORD, weak),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(body["errors"][0]["code"], code);
        assert_eq!(body["errors"][0]["field"], "new_password");
        // The refused password is never echoed ("short" is part of the code's name).
        assert!(weak == "short" || !body.to_string().contains(weak));
    }

    let done = app
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &here,
            change(PASSWORD, NEW_PASSWORD),
        )
        .await;
    assert_eq!(done.status(), 204);
    assert_eq!(app.me(&here).await.status(), 200);
    assert_eq!(app.me(&elsewhere).await.status(), 401);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    assert_eq!(app.login(&email, NEW_PASSWORD).await.status(), 201);
    let notice = app.next_email().await;
    assert_eq!(
        (notice.kind, notice.to.email.as_str()),
        (EmailKind::PasswordChanged, email.as_str())
    );
    let types = events.drain(Duration::from_millis(500)).await;
    assert!(
        types.contains(&"user.password_changed".to_owned()),
        "{types:?}"
    );
    events.close().await;
    app.finish().await;
}

#[tokio::test]
async fn deleting_the_account_ends_everything_and_says_goodbye() {
    let app = spawn_app().await;
    let events = EventTap::bind(&app.config.amqp.events_exchange).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let other = app.session(&email, PASSWORD).await;

    let (status, body) = problem(
        app.call(
            Method::DELETE,
            "/v1/users/me",
            &token,
            json!({ "password": "not my password at all" }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (403, "wrong_password")
    );
    assert_eq!(user_count(&app, &email).await, 1);

    let deleted = app
        .call(
            Method::DELETE,
            "/v1/users/me",
            &token,
            json!({ "password": PASSWORD }),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(user_count(&app, &email).await, 0);
    assert_eq!(app.me(&token).await.status(), 401);
    assert_eq!(app.me(&other).await.status(), 401);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 401);
    let goodbye = app.next_email().await;
    assert_eq!(
        (goodbye.kind, goodbye.to.email.as_str()),
        (EmailKind::AccountDeleted, email.as_str())
    );
    let types = events.drain(Duration::from_millis(500)).await;
    assert!(types.contains(&"user.deleted".to_owned()), "{types:?}");
    // The address is free again.
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
    assert_eq!(app.next_email().await.kind, EmailKind::VerifyEmail);
    events.close().await;
    app.finish().await;
}
