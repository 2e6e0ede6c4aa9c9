//! Issue 28's listener and configuration hardening, against the real services: the probe
//! port's header-read timeout, the connection cap, admin tokens that must look random, HSTS on
//! https pages, and the 2FA-off form's field cap.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use user_service::config::Config;

use crate::helpers::*;
use crate::page_client::Browser;

/// `test_config` with extra variables, read the way the binary reads them.
pub fn config_with(extra: &[(&str, &str)]) -> Result<Config, String> {
    let mut env = test_env();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let mut vars = common::config::Env::from_map(env.into_iter().collect());
    let mut config = Config::from_env(&mut vars).map_err(|e| e.to_string())?;
    config.rate_limits = user_service::config::RateLimits::OFF;
    Ok(config)
}

/// Whether the server closes `stream` within `within` (reading whatever comes).
async fn closes_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn the_probe_port_drops_clients_that_never_finish_their_header() {
    let app = spawn_app().await;
    let addr = app.admin.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closes_within(&mut slow, Duration::from_secs(9)).await,
        "a half-sent header kept the probe port's connection open"
    );
    // Probes still work.
    let ready = app
        .client
        .get(format!("{}/healthz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    app.finish().await;
}

/// Reads one HTTP response's head (up to the blank line) within `within`.
async fn answered_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test]
async fn the_public_listener_holds_at_most_http_max_connections() {
    let app = spawn_with(config_with(&[("HTTP_MAX_CONNECTIONS", "2")]).unwrap()).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut kept = TcpStream::connect(&addr).await.unwrap();
        kept.write_all(request).await.unwrap();
        assert!(
            answered_within(&mut kept, Duration::from_secs(5))
                .await
                .is_some()
        );
        open.push(kept);
    }
    // The third waits in the backlog while two keep-alive connections are open...
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(request).await.unwrap();
    assert!(
        answered_within(&mut third, Duration::from_millis(1500))
            .await
            .is_none(),
        "a third connection was served beyond HTTP_MAX_CONNECTIONS=2"
    );
    // ...and is served once one of them closes.
    drop(open.pop());
    let head = answered_within(&mut third, Duration::from_secs(5))
        .await
        .expect("served after a connection closed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(config_with(&[("HTTP_MAX_CONNECTIONS", "0")]).is_err());
    app.finish().await;
}

#[tokio::test]
async fn admin_tokens_must_look_random() {
    let with_token = |token: String| {
        config_with(&[
            ("ADMIN_API_ADDR", "127.0.0.1:39091"),
            ("ADMIN_API_TOKENS", &format!("ops:{token}")),
        ])
    };
    for weak in [
        "a".repeat(32),
        "password".repeat(4),
        "ab".repeat(20),
        "0123456789".repeat(4),
    ] {
        let err = with_token(weak.clone()).expect_err(&weak);
        assert!(err.contains("ADMIN_API_TOKENS"), "{err}");
        assert!(!err.contains(&weak[..8]), "the token is not quoted: {err}");
    }
    assert!(with_token("kJ3vQ9xW2mZr7TbN4yHc8LpD1sFg6AeU".to_owned()).is_ok());
    assert!(with_token(crate::admin::OPS_TOKEN.to_owned()).is_ok());
}

#[tokio::test]
async fn pages_over_https_tell_browsers_to_stay_on_https() {
    let app =
        spawn_with(config_with(&[("PUBLIC_URL", "https://accounts.example.com")]).unwrap()).await;
    let page = Browser::new(&app).get("/login").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=31536000"
    );
    app.finish().await;
    // On http://localhost (development) there is none: it would pin localhost to https.
    let app = spawn_app().await;
    let page = Browser::new(&app).get("/login").await;
    assert!(page.headers.get("strict-transport-security").is_none());
    app.finish().await;
}

#[tokio::test]
async fn the_second_factor_off_form_caps_its_code_field() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    let login = browser
        .post("/login", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(login.status, 303);
    browser.get("/account").await;
    let huge = "x".repeat(10_000);
    let page = browser
        .post(
            "/account/mfa/disable",
            &[("password", "not the password"), ("code", &huge)],
        )
        .await;
    assert_eq!(
        page.status, 422,
        "refused as a field error before any check"
    );
    // The account has no second factor, so the page shows no disable form to put the field
    // error at: the outcome says the body was refused, not that two-factor login is off.
    assert!(
        page.body.contains("data-state=\"validation_failed\""),
        "{}",
        page.body
    );
    app.finish().await;
}
