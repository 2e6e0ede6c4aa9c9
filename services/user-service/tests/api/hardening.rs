//! Issue 11's hardening, each against the real services: what goes into mail to other people,
//! HTTP headers and slow clients, IPv6 rate-limit subjects, address normalisation and the
//! reset write's guard.

use std::time::Duration;

use common::email::EmailKind;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

#[tokio::test]
async fn display_names_with_invisible_or_direction_characters_are_refused() {
    let app = spawn_app().await;
    for name in ["invoice\u{202E}fdp.exe", "a\u{2028}b", "zero\u{200B}width"] {
        let response = app
            .post(
                "/v1/users",
                &json!({ "email": unique_email(), "password": PASSWORD, "display_name": name }),
            )
            .await;
        let (status, body) = problem(response).await;
        assert_eq!(status, 422, "{name:?}");
        assert_eq!(body["errors"][0]["field"], "display_name");
        assert_eq!(
            body["errors"][0]["code"],
            "display_name_invisible_character"
        );
    }
    let email = app.verified_user().await;
    let session = app.session(&email, PASSWORD).await;
    let patched = app
        .call(
            Method::PATCH,
            "/v1/users/me",
            &session,
            json!({ "display_name": "x\u{2066}y" }),
        )
        .await;
    assert_eq!(problem(patched).await.0, 422);
    app.finish().await;
}

/// Mail to an address nobody has proven to be the account's carries no name the caller chose:
/// the verification email of a fresh signup, and the notice to an existing account's owner.
#[tokio::test]
async fn mail_to_unproven_addresses_carries_no_display_name() {
    let app = spawn_app().await;
    let email = unique_email();
    let signup = app
        .post(
            "/v1/users",
            &json!({ "email": email, "password": PASSWORD, "display_name": "Your Bank" }),
        )
        .await;
    assert_eq!(signup.status(), 202);
    let verify = app.next_email().await;
    assert_eq!(verify.kind, EmailKind::VerifyEmail);
    assert_eq!(verify.to.name, None);
    let again = app
        .post(
            "/v1/users",
            &json!({ "email": email, "password": PASSWORD, "display_name": "Call +1 555 0100" }),
        )
        .await;
    assert_eq!(again.status(), 202);
    let notice = app.next_email().await;
    assert_eq!(notice.kind, EmailKind::AccountExists);
    assert_eq!(notice.to.name, None);
    app.finish().await;
}

#[tokio::test]
async fn personal_answers_are_never_cached_nor_sniffed() {
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let session = app.session(&email, PASSWORD).await;
    for path in ["/v1/users/me", "/v1/sessions"] {
        let response = app
            .call(Method::GET, path, &session, serde_json::Value::Null)
            .await;
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    }
    let missing = app
        .client
        .get(format!("{}/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-content-type-options"], "nosniff");
    app.finish().await;
}

/// Reads until the server closes the connection; `None` if it is still open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_clients_are_disconnected() {
    let mut config = test_config();
    config.server.header_read_timeout = Duration::from_secs(1);
    config.server.keepalive_timeout = Duration::from_secs(1);
    let app = spawn_with(config).await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Half a header, then nothing: closed after the header-read timeout.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/users/me HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut slow, Duration::from_secs(5))
            .await
            .is_some(),
        "a half-sent header kept the connection open"
    );

    // One whole request, then idle: answered, then closed after the keep-alive timeout.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = closed_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection stayed open");
    assert!(seen.starts_with(b"HTTP/1.1 200"));

    // A header over HTTP_MAX_HEADER_BYTES is refused.
    let huge = format!(
        "GET /v1/users/me HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut big = TcpStream::connect(&addr).await.unwrap();
    let _ = big.write_all(huge.as_bytes()).await;
    let seen = closed_within(&mut big, Duration::from_secs(5))
        .await
        .expect("closed");
    assert!(
        seen.is_empty() || seen.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&seen)
    );
    app.finish().await;
}

/// One /64 is one subscriber: its addresses share one per-client budget.
#[tokio::test]
async fn ipv6_clients_are_limited_by_their_network() {
    let mut config = test_config();
    config.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    config.rate_limits.login_ip = "3/1m".parse().unwrap();
    let app = spawn_with(config).await;
    let mut statuses = Vec::new();
    for i in 1..=5 {
        let response = app
            .client
            .post(format!("{}/v1/sessions", app.base))
            .header("x-forwarded-for", format!("2001:db8:7:7:{i:x}::{i:x}"))
            .json(&json!({ "email": unique_email(), "password": "not the password at all" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // Another /64 has its own budget.
    let other = app
        .client
        .post(format!("{}/v1/sessions", app.base))
        .header("x-forwarded-for", "2001:db8:7:8::1")
        .json(&json!({ "email": unique_email(), "password": "not the password at all" }))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    app.finish().await;
}

#[tokio::test]
async fn an_address_is_one_account_whatever_its_unicode_form() {
    let app = spawn_app().await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let decomposed = format!("jo\u{0308}rg-{id}@example.com");
    let composed = format!("J\u{00F6}rg-{id}@example.com");
    assert_eq!(app.register(&decomposed, PASSWORD).await.status(), 202);
    let token = app.next_email().await.data["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirmed = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(confirmed.status(), 200);
    assert_eq!(app.login(&composed, PASSWORD).await.status(), 201);
    // 33 two-octet characters: within 64 code points, over 64 octets.
    let long = format!("{}@example.com", "\u{00E9}".repeat(33));
    assert_eq!(problem(app.register(&long, PASSWORD).await).await.0, 422);
    app.finish().await;
}

/// The password write of a reset carries the address and the stamp it was checked against: an
/// email change (or any other stamp move) between the check and the write makes it a no-match.
#[tokio::test]
async fn the_password_write_is_guarded_by_address_and_stamp() {
    use user_service::store::users::{StampGuard, Updated, UserStore};
    let app = spawn_app().await;
    let email = app.verified_user().await;
    let client = mongodb::Client::with_uri_str(app.config.mongodb.uri.expose_secret())
        .await
        .unwrap();
    let db = client.database(&app.config.mongodb.database);
    let store = UserStore::init(client, &db).await.unwrap();
    let user = store.find_by_email(&email).await.unwrap().unwrap();
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
    let moved = StampGuard {
        email: "someone-else@example.com",
        stamp: &user.security_stamp,
        new_stamp: "new-stamp-1",
    };
    assert_eq!(
        store
            .set_password(&user.id, &moved, hash, false, &[])
            .await
            .unwrap(),
        Updated::NoMatch
    );
    let stale = StampGuard {
        email: &email,
        stamp: "an-older-stamp",
        new_stamp: "new-stamp-2",
    };
    assert_eq!(
        store
            .set_password(&user.id, &stale, hash, false, &[])
            .await
            .unwrap(),
        Updated::NoMatch
    );
    assert_eq!(
        app.login(&email, PASSWORD).await.status(),
        201,
        "nothing was written"
    );
    app.finish().await;
}
