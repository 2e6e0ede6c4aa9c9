//! The whole product path on real services: register → the verification email reaches the
//! SMTP server → confirm with its token → login → profile → logout.

use std::path::PathBuf;
use std::time::Duration;

use common::shutdown::Shutdown;
use serde_json::{Value, json};

use crate::helpers::*;

pub fn maildir() -> PathBuf {
    std::env::var("SMTP_SINK_MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.run/maildir").into())
}

/// The mail service as deployed, on this test's queue and key prefix, sending to the SMTP capture
/// server.
pub fn mail_config(queue: &str, prefix: &str) -> mail_service::Config {
    // The user service's test pages (`test_config`).
    mail_config_with_links(queue, prefix, "https://app.example.com")
}

/// `mail_config` with `link_origins` (`ALLOWED_LINK_ORIGINS`) the origins its links may point at.
pub fn mail_config_with_links(
    queue: &str,
    prefix: &str,
    link_origins: &str,
) -> mail_service::Config {
    let port = std::env::var("SMTP_SINK_PORT").unwrap_or_else(|_| "2525".into());
    let vars = [
        ("ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("AMQP_URL", amqp_url()),
        ("EMAIL_QUEUE", queue.to_owned()),
        ("PREFETCH", "4".to_owned()),
        ("SMTP_HOST", "127.0.0.1".to_owned()),
        ("SMTP_PORT", port),
        ("SMTP_TLS", "none".to_owned()),
        ("SMTP_TIMEOUT", "5s".to_owned()),
        ("SMTP_POOL_SIZE", "2".to_owned()),
        (
            "MAIL_FROM",
            "User Platform <no-reply@example.com>".to_owned(),
        ),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("RETRY_DELAYS", "1s".to_owned()),
        ("ALLOWED_LINK_ORIGINS", link_origins.to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
    ];
    let vars = vars
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .chain(redis_env());
    let env = common::config::Env::from_map(vars.collect());
    mail_service::Config::load(env).expect("mail-service test configuration is valid")
}

/// The raw messages the SMTP capture server received for `recipient`.
fn captured_for(recipient: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(maildir().join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path()).ok())
        .filter(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw)
                .and_then(|m| {
                    m.to()
                        .and_then(|to| to.first())
                        .and_then(|a| a.address().map(str::to_owned))
                })
                .is_some_and(|to| to.eq_ignore_ascii_case(recipient))
        })
        .collect()
}

pub async fn wait_for_email(recipient: &str) -> Vec<u8> {
    for _ in 0..150 {
        if let Some(raw) = captured_for(recipient).pop() {
            return raw;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no email for {recipient} reached the SMTP server");
}

#[tokio::test]
async fn register_verify_login_profile_logout() {
    let app = spawn_app().await;
    let mail = mail_service::Application::build(mail_config(
        &app.config.amqp.email_queue,
        &app.config.redis.key_prefix,
    ))
    .await
    .expect("mail-service builds");
    let (mail_stop, mail_shutdown) = Shutdown::new();
    let mail_task = tokio::spawn(mail.run_until_stopped(mail_shutdown));

    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), 202);

    let raw = wait_for_email(&email).await;
    let message = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert!(
        message
            .subject()
            .unwrap()
            .to_lowercase()
            .contains("confirm")
            || message.subject().unwrap().to_lowercase().contains("verify")
    );
    let text = message.body_text(0).expect("a text part").into_owned();
    assert!(message.body_html(0).is_some(), "an HTML part");
    let token = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Token: "))
        .expect("the token is in the text body")
        .trim()
        .to_owned();
    assert!(text.contains(&format!(
        "https://app.example.com/verify-email?token={token}"
    )));
    // Exactly one email, even though nothing else happened.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(captured_for(&email).len(), 1);

    let confirmed = app
        .post(
            "/v1/email-verifications/confirm",
            &json!({ "token": token }),
        )
        .await;
    assert_eq!(confirmed.status(), 200);

    let session: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let session_token = session["token"].as_str().unwrap();
    let me: Value = app.me(session_token).await.json().await.unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["email_verified"], true);

    let logout = app.logout(session_token).await;
    assert_eq!(logout.status(), 204);
    assert_eq!(app.me(session_token).await.status(), 401);

    mail_stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), mail_task).await;
    app.finish().await;
}
