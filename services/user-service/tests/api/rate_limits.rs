//! Rate limits shared through Redis: per client address and per target account.

use std::net::IpAddr;

use serde_json::json;

use crate::helpers::*;

fn limit(spec: &str) -> user_service::config::LimitSetting {
    spec.parse().unwrap()
}

async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/sessions", app.base))
        .header("x-forwarded-for", format!("203.0.113.250, {ip}"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

async fn assert_limited(response: reqwest::Response) {
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After on a 429")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Whole seconds until the window ends, never zero.
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    let (status, body) = problem(response).await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (429, "rate_limited")
    );
}

#[tokio::test]
async fn guessing_one_account_from_many_addresses_hits_the_account_limit() {
    let mut config = test_config();
    config.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    config.rate_limits.login_account = limit("3/1m");
    config.rate_limits.login_ip = limit("100/1m");
    let app = spawn_with(config).await;
    let victim = app.verified_user().await;
    let bystander = app.verified_user().await;

    for n in 1..=3 {
        let response = login_from(
            &app,
            &format!("198.51.100.{n}"),
            &victim,
            "guess guess guess",
        )
        .await;
        assert_eq!(response.status(), 401);
    }
    // A fourth address, and even the right password, is refused while the window lasts.
    assert_limited(login_from(&app, "198.51.100.4", &victim, "guess guess guess").await).await;
    assert_limited(login_from(&app, "198.51.100.5", &victim, PASSWORD).await).await;
    // Other accounts are unaffected.
    assert_eq!(
        login_from(&app, "198.51.100.6", &bystander, PASSWORD)
            .await
            .status(),
        201
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"user_rate_limited_total{limit="login_account"} 2"#));
    app.finish().await;
}

#[tokio::test]
async fn a_successful_login_clears_the_account_count() {
    let mut config = test_config();
    config.rate_limits.login_account = limit("3/1m");
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    for _ in 0..2 {
        assert_eq!(app.login(&email, "guess guess guess").await.status(), 401);
    }
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    for _ in 0..2 {
        assert_eq!(app.login(&email, "guess guess guess").await.status(), 401);
    }
    assert_eq!(app.login(&email, PASSWORD).await.status(), 201);
    app.finish().await;
}

#[tokio::test]
async fn the_client_limit_counts_the_real_client_behind_trusted_proxies_only() {
    let mut config = test_config();
    config.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    config.rate_limits.login_ip = limit("2/1m");
    let app = spawn_with(config.clone()).await;
    let email = unique_email();
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, "192.0.2.7", &email, PASSWORD)
                .await
                .status(),
            401
        );
    }
    assert_limited(login_from(&app, "192.0.2.7", &email, PASSWORD).await).await;
    // Another client behind the same proxy has its own count.
    assert_eq!(
        login_from(&app, "192.0.2.8", &email, PASSWORD)
            .await
            .status(),
        401
    );
    app.finish().await;

    // Without trusted proxies a forged X-Forwarded-For changes nothing: the peer is counted.
    config = test_config();
    config.rate_limits.login_ip = limit("2/1m");
    let app = spawn_with(config).await;
    for n in 0..2 {
        let ip: IpAddr = format!("192.0.2.{n}").parse().unwrap();
        assert_eq!(
            login_from(&app, &ip.to_string(), &email, PASSWORD)
                .await
                .status(),
            401
        );
    }
    assert_limited(login_from(&app, "192.0.2.99", &email, PASSWORD).await).await;
    app.finish().await;
}

#[tokio::test]
async fn email_requests_are_limited_per_address_without_revealing_it() {
    let mut config = test_config();
    // The signup's verification email counts against the address too: 1 + 2 resets.
    config.rate_limits.email_address = limit("3/1h");
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    for _ in 0..2 {
        let response = app
            .post("/v1/password-resets", &json!({ "email": email }))
            .await;
        assert_eq!(response.status(), 202);
    }
    assert_limited(
        app.post("/v1/password-resets", &json!({ "email": email }))
            .await,
    )
    .await;
    // Unknown addresses are counted the same way: the limit reveals nothing.
    let unknown = unique_email();
    for _ in 0..3 {
        app.post("/v1/email-verifications", &json!({ "email": unknown }))
            .await;
    }
    assert_limited(
        app.post("/v1/email-verifications", &json!({ "email": unknown }))
            .await,
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn signups_are_limited_per_client() {
    let mut config = test_config();
    config.rate_limits.signup_ip = limit("2/10m");
    let app = spawn_with(config).await;
    for _ in 0..2 {
        assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
    }
    assert_limited(app.register(&unique_email(), PASSWORD).await).await;
    app.finish().await;
}
