//! Issue 11's account-takeover and email-bombing defences, each against the real services:
//! the security stamp (links and sessions die together), bounded mail to caller-chosen
//! addresses.

use std::collections::HashMap;
use std::time::Duration;

use common::email::{EmailKind, EmailMessage};
use redis::AsyncCommands;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase for this test";

fn token_of(message: &EmailMessage) -> String {
    message.data["token"].as_str().expect("a token").to_owned()
}

async fn reset_password(app: &TestApp, email: &str, new_password: &str) {
    let asked = app
        .post("/v1/password-resets", &json!({ "email": email }))
        .await;
    assert_eq!(asked.status(), 202);
    let token = token_of(&app.next_email().await);
    let done = app
        .post(
            "/v1/password-resets/confirm",
            &json!({ "token": token, "new_password": new_password }),
        )
        .await;
    assert_eq!(done.status(), 204);
}

/// The takeover: someone with the victim's session and password asks for an email change to
/// their own address; the victim resets the password; the attacker's link must be dead.
#[tokio::test]
async fn a_password_reset_kills_a_pending_email_change() {
    let app = spawn_app().await;
    let victim = app.verified_user().await;
    let session = app.session(&victim, PASSWORD).await;
    let attacker = unique_email();
    let asked = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &session,
            json!({ "email": attacker, "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(asked.status(), 200);
    let mails = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(1)).await;
    let link = mails
        .iter()
        .find(|m| m.to.email == attacker && m.kind == EmailKind::VerifyEmail)
        .expect("the link goes to the new address");
    // The current address is told at once, without the link.
    let heads_up = mails
        .iter()
        .find(|m| m.to.email == victim && m.kind == EmailKind::EmailChangeRequested)
        .expect("the current address is told about the request");
    assert_eq!(heads_up.data["new_email"], attacker);
    assert!(heads_up.data.get("token").is_none() && heads_up.data.get("action_url").is_none());

    reset_password(&app, &victim, NEW_PASSWORD).await;
    let used = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token_of(link) }),
        )
        .await;
    let (status, body) = problem(used).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_token"))
    );
    let owner = app.session(&victim, NEW_PASSWORD).await;
    let me: serde_json::Value = app.me(&owner).await.json().await.unwrap();
    assert_eq!(me["email"], victim);
    app.finish().await;
}

/// A session whose key survived (as if its revocation had failed) is refused once the
/// password changed: the stamp, not the revocation, ends it.
#[tokio::test]
async fn a_session_left_behind_by_a_failed_revocation_is_refused() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let old = app.session(&email, PASSWORD).await;
    let current = app.session(&email, PASSWORD).await;
    let mut redis = redis_connection(&app.config);
    let key = user_service::store::keys::session_key(&app.config.redis.key_prefix, &old);
    let saved: HashMap<String, String> = redis.hgetall(&key).await.unwrap();
    assert!(!saved.is_empty());

    let changed = app
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &current,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status(), 204);
    // Put the old session back, as a revocation that failed would have left it.
    let fields: Vec<(String, String)> = saved.into_iter().collect();
    let _: () = redis.hset_multiple(&key, &fields).await.unwrap();
    let _: () = redis.expire(&key, 600).await.unwrap();

    assert_eq!(app.me(&old).await.status(), 401);
    let sessions = app
        .call(Method::GET, "/v1/sessions", &old, serde_json::Value::Null)
        .await;
    assert_eq!(sessions.status(), 401, "the Redis-only path refuses it too");
    assert_eq!(
        app.me(&current).await.status(),
        200,
        "the changing session stays"
    );
    app.finish().await;
}

/// Logins with the old password that race a password change: whatever the interleaving, no
/// session they created is accepted once the change is done.
#[tokio::test]
async fn logins_racing_a_password_change_keep_no_session() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let changer = app.session(&email, PASSWORD).await;
    let logins: Vec<_> = (0..16)
        .map(|_| {
            let (client, base, email) = (app.client.clone(), app.base.clone(), email.clone());
            tokio::spawn(async move {
                let response = client
                    .post(format!("{base}/v1/sessions"))
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await
                    .unwrap();
                if response.status() == 201 {
                    let body: serde_json::Value = response.json().await.unwrap();
                    Some(body["token"].as_str().unwrap().to_owned())
                } else {
                    None
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let changed = app
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &changer,
            json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(changed.status(), 204);
    let mut created = 0;
    for login in logins {
        if let Some(token) = login.await.unwrap() {
            created += 1;
            let check = app
                .call(Method::GET, "/v1/sessions", &token, serde_json::Value::Null)
                .await;
            assert_eq!(check.status(), 401, "an old-password session survived");
        }
    }
    eprintln!("{created} of 16 racing logins got a session; none survived the change");
    assert_eq!(app.me(&changer).await.status(), 200);
    app.finish().await;
}

/// Ten email-change requests naming one address mail it at most the per-address budget; the
/// account's own budget stops the requests; only the newest link works.
#[tokio::test]
async fn email_changes_are_bounded_and_only_the_newest_link_works() {
    let mut config = test_config();
    config.rate_limits.email_address = "3/1h".parse().unwrap();
    config.rate_limits.email_change_user = "5/1h".parse().unwrap();
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let session = app.session(&email, PASSWORD).await;
    let target = unique_email();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = app
            .call(
                Method::PATCH,
                "/v1/users/me",
                &session,
                json!({ "email": target, "current_password": PASSWORD }),
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    let mails = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(1)).await;
    let to_target: Vec<_> = mails.iter().filter(|m| m.to.email == target).collect();
    eprintln!(
        "10 requests -> statuses {statuses:?}, {} mails to the target",
        to_target.len()
    );
    assert_eq!(to_target.len(), 3, "the per-address budget");
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3);
    assert!(statuses[3..].iter().all(|s| *s == 429));
    // Only the newest pending change can be confirmed.
    let first = token_of(to_target[0]);
    let last = token_of(to_target[2]);
    let stale = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": first }),
        )
        .await;
    assert_eq!(stale.status(), 400);
    let fresh = app
        .post("/v1/email-verifications/confirm", &json!({ "token": last }))
        .await;
    assert_eq!(fresh.status(), 200);
    app.finish().await;
}

/// Signing up again and again with someone's address mails its owner at most the
/// per-address budget, from however many clients.
#[tokio::test]
async fn account_exists_notices_are_bounded_per_address() {
    let mut config = test_config();
    config.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    config.rate_limits.email_address = "3/1h".parse().unwrap();
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let mut statuses = Vec::new();
    for i in 0..10 {
        let response = app
            .client
            .post(format!("{}/v1/users", app.base))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({ "email": email, "password": PASSWORD, "display_name": "Call +1 555 0100" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let mails = drain_emails(&app.config.amqp.email_queue, Duration::from_secs(2)).await;
    let notices: Vec<_> = mails
        .iter()
        .filter(|m| m.kind == EmailKind::AccountExists)
        .collect();
    eprintln!(
        "10 signups -> statuses {statuses:?}, {} notices",
        notices.len()
    );
    // The verification at signup counted once; the rest of the budget went to notices.
    assert!(notices.len() <= 2, "{} notices", notices.len());
    assert!(
        notices.iter().all(|m| m.to.name.is_none()),
        "no caller-chosen name"
    );
    app.finish().await;
}
