//! The admin API: its own listener, tokens, finding and inspecting users, disabling them and
//! ending their sessions, audited.

use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::Value;
use user_service::admin::tokens::AdminTokens;

use crate::helpers::*;

pub const OPS_TOKEN: &str = "ops-token-0123456789abcdef0123456789abcdef";
pub const CI_TOKEN: &str = "ci-token-0123456789abcdef0123456789abcdef";

/// An app with the admin API on, with two tokens (`ops` and `ci`).
pub async fn spawn_admin_app() -> TestApp {
    let mut config = test_config();
    with_admin_api(&mut config);
    spawn_with(config).await
}

/// The admin API on a port of its own, with the `ops` and `ci` tokens.
pub fn with_admin_api(config: &mut user_service::config::Config) {
    config.admin_api.addr = Some(([127, 0, 0, 1], 0).into());
    config.admin_api.tokens = AdminTokens::parse(&SecretString::from(format!(
        "ops:{OPS_TOKEN},ci:{CI_TOKEN}"
    )))
    .unwrap();
}

impl TestApp {
    /// An admin API request with the `ops` token.
    pub async fn admin_call(&self, method: Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.admin_api))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn admin_json(&self, method: Method, path: &str) -> Value {
        let response = self.admin_call(method, path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    /// A verified user's id (logged in through `/v1/users/me`).
    pub async fn user_id_of(&self, token: &str) -> String {
        let me: Value = self.me(token).await.json().await.unwrap();
        me["id"].as_str().unwrap().to_owned()
    }

    pub async fn auth_check(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/v1/auth/check", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn off_unless_configured() {
    let app = spawn_app().await;
    assert!(app.admin_api.is_empty());
    // Not on the public listener nor on the metrics one.
    for base in [&app.base, &app.admin] {
        let response = app
            .client
            .get(format!("{base}/admin/v1/users"))
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{base}");
    }
    app.finish().await;
}

#[tokio::test]
async fn without_a_valid_token_every_answer_is_401_and_nothing_changes() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let wrong = [
        None,
        Some("Bearer wrong-token-0123456789abcdef0123456789".to_owned()),
        Some(format!("Basic {OPS_TOKEN}")),
        Some(format!("Bearer {}", &OPS_TOKEN[..20])),
        Some(format!("Bearer {token}")),
    ];
    let paths = [
        (Method::GET, "/admin/v1/users".to_owned()),
        (Method::GET, format!("/admin/v1/users/{id}")),
        (Method::POST, format!("/admin/v1/users/{id}/disable")),
        (Method::DELETE, format!("/admin/v1/users/{id}/sessions")),
        (Method::GET, "/admin/openapi.json".to_owned()),
        (Method::GET, "/admin/no-such-path".to_owned()),
    ];
    for header in &wrong {
        for (method, path) in &paths {
            let mut request = app
                .client
                .request(method.clone(), format!("{}{path}", app.admin_api));
            if let Some(header) = header {
                request = request.header("authorization", header);
            }
            let (status, body) = problem(request.send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {header:?}");
            assert_eq!(body["code"], "unauthorized");
        }
    }
    assert!(
        app.metrics()
            .await
            .contains("user_admin_auth_failures_total 30"),
        "5 credentials x 6 paths refused"
    );
    // Still enabled, session alive, no event.
    assert_eq!(app.me(&token).await.status(), 200);
    let user = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(user["disabled"], false);
    assert_eq!(user["active_sessions"], 1);
    assert!(tap.drain(Duration::from_millis(500)).await.is_empty());
    tap.close().await;
    app.finish().await;
}

#[tokio::test]
async fn lists_with_filters_and_shows_one_user() {
    let app = spawn_admin_app().await;
    let verified = app.verified_user().await;
    let token = app.session(&verified, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    let unverified = format!("zz-{}", unique_email());
    assert_eq!(app.register(&unverified, PASSWORD).await.status(), 202);

    let all = app.admin_json(Method::GET, "/admin/v1/users").await;
    let emails: Vec<&str> = all["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [verified.as_str(), unverified.as_str()]);
    assert!(all.get("next_cursor").is_none());
    let first = &all["users"][0];
    assert_eq!(first["email_verified"], true);
    assert!(first.get("password_hash").is_none() && first.get("security_stamp").is_none());

    for (query, expected) in [
        ("email_prefix=ZZ-", vec![unverified.as_str()]),
        ("verified=true", vec![verified.as_str()]),
        ("verified=false&disabled=false", vec![unverified.as_str()]),
        ("disabled=true", vec![]),
        ("created_before=2000-01-01T00:00:00Z", vec![]),
        (
            "created_from=2000-01-01T00:00:00Z&limit=1",
            vec![verified.as_str()],
        ),
    ] {
        let page = app
            .admin_json(Method::GET, &format!("/admin/v1/users?{query}"))
            .await;
        let got: Vec<&str> = page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(got, expected, "{query}");
    }
    for bad in [
        "limit=0",
        "limit=501",
        "cursor=nope",
        "verified=maybe",
        "sort=email",
    ] {
        let response = app
            .admin_call(Method::GET, &format!("/admin/v1/users?{bad}"))
            .await;
        let (status, body) = problem(response).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }

    let user = app
        .admin_json(Method::GET, &format!("/admin/v1/users/{id}"))
        .await;
    assert_eq!(user["email"], verified.as_str());
    assert_eq!(user["active_sessions"], 1);
    assert_eq!(user["disabled"], false);
    assert!(user["created_at"].is_string() && user["updated_at"].is_string());
    assert!(user["last_login_at"].is_string(), "{user}");
    let missing = app
        .admin_call(
            Method::GET,
            "/admin/v1/users/00000000-0000-0000-0000-000000000000",
        )
        .await;
    assert_eq!(problem(missing).await.0, 404);
    app.finish().await;
}
