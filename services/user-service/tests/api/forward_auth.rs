//! `/v1/auth/check` behind a real nginx (`auth_request`), as an ingress would use it.

use std::time::Duration;

use redis::AsyncCommands;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::nginx;
use crate::proxy::StallingProxy;

async fn through(proxy: &nginx::Nginx, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", proxy.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let me: Value = app.me(token).await.json().await.unwrap();
    me["id"].as_str().unwrap().to_owned()
}

async fn check_counts(app: &TestApp, result: &str) -> f64 {
    app.metric(&format!("user_auth_checks_total{{result=\"{result}\"}}"))
        .await
}

#[tokio::test]
async fn nginx_passes_only_authenticated_requests_with_the_callers_identity() {
    let app = spawn_app().await;
    let proxy = nginx::start(&app.base).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = user_id(&app, &token).await;

    let anonymous = through(&proxy, "/orders", None).await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        proxy.upstream.count(),
        0,
        "the upstream never sees a refused request"
    );
    assert_eq!(
        through(&proxy, "/orders", Some("not-a-token"))
            .await
            .status(),
        401
    );
    assert_eq!(proxy.upstream.count(), 0);

    let allowed = through(&proxy, "/orders", Some(&token)).await;
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.text().await.unwrap(), "hello");
    assert_eq!(proxy.upstream.last("x-user-id"), Some(id.clone()));
    assert_eq!(
        proxy.upstream.last("x-user-email-verified").as_deref(),
        Some("true")
    );
    let sessions: Value = app
        .call(Method::GET, "/v1/sessions", &token, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        proxy.upstream.last("x-session-id").as_deref(),
        sessions["sessions"][0]["id"].as_str()
    );

    // A client cannot name itself: its X-User-* headers are overwritten, and without a
    // session they get nowhere.
    let forged = reqwest::Client::new()
        .get(format!("{}/orders", proxy.base))
        .bearer_auth(&token)
        .header("X-User-Id", "someone-else")
        .header("X-User-Email-Verified", "true")
        .header("X-Session-Id", "someone-elses-session")
        .header("X-Auth-Source", "cookie")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200);
    assert_eq!(proxy.upstream.last("x-user-id"), Some(id));
    // Every identity header is replaced, as docs/api.md configures nginx (issue 28).
    assert_eq!(
        proxy.upstream.last("x-session-id").as_deref(),
        sessions["sessions"][0]["id"].as_str()
    );
    assert_eq!(
        proxy.upstream.last("x-auth-source").as_deref(),
        Some("bearer")
    );
    let before = proxy.upstream.count();
    let forged_alone = reqwest::Client::new()
        .get(format!("{}/orders", proxy.base))
        .header("X-User-Id", "someone-else")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_alone.status(), 401);
    assert_eq!(proxy.upstream.count(), before);

    // Logout ends it at once.
    assert_eq!(app.logout(&token).await.status(), 204);
    assert_eq!(through(&proxy, "/orders", Some(&token)).await.status(), 401);
    assert_eq!(proxy.upstream.count(), before);
    app.finish().await;
}

#[tokio::test]
async fn revoked_and_superseded_sessions_are_refused_and_counted() {
    let app = spawn_app().await;
    let proxy = nginx::start(&app.base).await;
    let email = app.verified_user().await;
    let phone = app.session(&email, PASSWORD).await;
    let laptop = app.session(&email, PASSWORD).await;
    let tablet = app.session(&email, PASSWORD).await;
    let id = user_id(&app, &phone).await;
    assert_eq!(through(&proxy, "/", Some(&phone)).await.status(), 200);

    // Revoked from another device.
    let revoked = app
        .call(Method::DELETE, "/v1/sessions", &laptop, Value::Null)
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(through(&proxy, "/", Some(&phone)).await.status(), 401);
    assert_eq!(through(&proxy, "/", Some(&tablet)).await.status(), 401);
    assert_eq!(through(&proxy, "/", Some(&laptop)).await.status(), 200);

    // A password change from another session moves the stamp: every older session has ended.
    let other = app.session(&email, PASSWORD).await;
    let changed = app
        .call(
            Method::PUT,
            "/v1/users/me/password",
            &other,
            json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase 42" }),
        )
        .await;
    assert_eq!(changed.status(), 204);
    assert_eq!(through(&proxy, "/", Some(&laptop)).await.status(), 401);

    // A session whose key outlived a change of its account (a revocation that failed, another
    // replica's change) ends by its stamp, and is counted as expired.
    let mut redis = redis_connection(&app.config);
    let stamp_key = user_service::store::keys::stamp_key(&app.config.redis.key_prefix, &id);
    let current: String = redis.get(&stamp_key).await.unwrap();
    let expired_before = check_counts(&app, "expired").await;
    let _: () = redis.set(&stamp_key, "moved-on").await.unwrap();
    assert_eq!(through(&proxy, "/", Some(&other)).await.status(), 401);
    assert_eq!(check_counts(&app, "expired").await, expired_before + 1.0);
    let _: () = redis.set(&stamp_key, &current).await.unwrap();
    let other = app.session(&email, "a brand new passphrase 42").await;
    assert_eq!(through(&proxy, "/", Some(&other)).await.status(), 200);
    assert!(check_counts(&app, "missing").await == 0.0);
    assert_eq!(through(&proxy, "/", None).await.status(), 401);
    assert_eq!(check_counts(&app, "missing").await, 1.0);
    assert_eq!(
        check_counts(&app, "invalid").await,
        3.0,
        "phone, tablet (revoked) and laptop (ended by the password change)"
    );
    app.finish().await;
}

#[tokio::test]
async fn a_required_confirmed_address_is_checked_from_the_session() {
    let mut config = test_config();
    config.allow_unverified_login = true;
    let app = spawn_with(config).await;
    let proxy = nginx::start(&app.base).await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);
    let link = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = app.session(&email, PASSWORD).await;

    assert_eq!(through(&proxy, "/", Some(&token)).await.status(), 200);
    assert_eq!(
        proxy.upstream.last("x-user-email-verified").as_deref(),
        Some("false")
    );
    assert_eq!(
        through(&proxy, "/verified/", Some(&token)).await.status(),
        403
    );
    let direct = app
        .call(
            Method::GET,
            "/v1/auth/check?require_verified_email=true",
            &token,
            Value::Null,
        )
        .await;
    let (status, body) = problem(direct).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("email_not_verified"))
    );

    // Confirming the address updates the live session: no new login needed.
    let confirmed = app
        .post("/v1/email-verifications/confirm", &json!({ "token": link }))
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(
        through(&proxy, "/verified/", Some(&token)).await.status(),
        200
    );
    assert_eq!(
        proxy.upstream.last("x-user-email-verified").as_deref(),
        Some("true")
    );

    // A misspelt option fails closed.
    let typo = app
        .call(
            Method::GET,
            "/v1/auth/check?require_verifed_email=true",
            &token,
            Value::Null,
        )
        .await;
    let (status, body) = problem(typo).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );
    app.finish().await;
}

#[tokio::test]
async fn the_check_answers_every_method_with_the_identity_and_a_bearer_challenge() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
    ] {
        let ok = app
            .call(method.clone(), "/v1/auth/check", &token, Value::Null)
            .await;
        assert_eq!(ok.status(), 200, "{method}");
        assert!(ok.headers().contains_key("x-user-id"));
        let body: Value = ok.json().await.unwrap();
        assert_eq!(body["email_verified"], true);
        let refused = app
            .client
            .request(method.clone(), format!("{}/v1/auth/check", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{method}");
        assert_eq!(
            refused.headers()["www-authenticate"],
            "Bearer realm=\"user-platform\""
        );
    }
    let head = app
        .call(Method::HEAD, "/v1/auth/check", &token, Value::Null)
        .await;
    assert_eq!(head.status(), 200);
    let trace = app
        .call(Method::TRACE, "/v1/auth/check", &token, Value::Null)
        .await;
    assert_eq!(trace.status(), 405, "TRACE echoes requests: never answered");
    app.finish().await;
}

#[tokio::test]
async fn the_check_keeps_answering_while_mongodb_hangs() {
    let mongo = StallingProxy::start("127.0.0.1:27017".into()).await;
    let mut config = test_config();
    config.mongodb.uri =
        format!("mongodb://127.0.0.1:{}/?directConnection=true", mongo.port).into();
    config.server.request_timeout = Duration::from_secs(2);
    let app = spawn_with(config).await;
    let proxy = nginx::start(&app.base).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;

    mongo.stall(true);
    assert_eq!(
        app.me(&token).await.status(),
        503,
        "MongoDB is really gone for the API"
    );
    for _ in 0..20 {
        assert_eq!(through(&proxy, "/", Some(&token)).await.status(), 200);
    }
    assert_eq!(through(&proxy, "/", None).await.status(), 401);
    mongo.stall(false);
    app.finish().await;
}

/// The address, from the session, only when the setting is on; a client's own is never passed.
#[tokio::test]
async fn the_address_is_passed_on_only_when_configured() {
    let off = spawn_app().await;
    let proxy = nginx::start(&off.base).await;
    let email = off.verified_user().await;
    let token = off.session(&email, PASSWORD).await;
    let forged = reqwest::Client::new()
        .get(format!("{}/orders", proxy.base))
        .bearer_auth(&token)
        .header("X-User-Email", "someone@else.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200);
    assert_eq!(proxy.upstream.last("x-user-email"), None, "off by default");
    let direct = off
        .call(Method::GET, "/v1/auth/check", &token, Value::Null)
        .await;
    assert!(direct.headers().get("x-user-email").is_none());
    let body: Value = direct.json().await.unwrap();
    assert!(body.get("email").is_none());
    drop(proxy);
    off.finish().await;

    let mut config = test_config();
    config.forward_auth_email_header = true;
    let app = spawn_with(config).await;
    let proxy = nginx::start(&app.base).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let forged = reqwest::Client::new()
        .get(format!("{}/orders", proxy.base))
        .bearer_auth(&token)
        .header("X-User-Email", "someone@else.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 200);
    assert_eq!(proxy.upstream.last("x-user-email"), Some(email.clone()));
    let body: Value = app
        .call(Method::GET, "/v1/auth/check", &token, Value::Null)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["email"], email.as_str());

    // A session created before the address was kept: still valid, without the header.
    let mut redis = redis_connection(&app.config);
    let key = user_service::store::keys::session_key(&app.config.redis.key_prefix, &token);
    let removed: u32 = redis.hdel(&key, "email").await.unwrap();
    assert_eq!(removed, 1);
    assert_eq!(through(&proxy, "/orders", Some(&token)).await.status(), 200);
    assert_eq!(proxy.upstream.last("x-user-email"), None);
    app.finish().await;
}
