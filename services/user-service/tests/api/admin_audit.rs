//! The audit log lines of the admin API, as the real binary writes them (JSON on stdout): what
//! an operator's log pipeline receives. A process of its own, so no other test's subscriber is
//! involved.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

use crate::admin::OPS_TOKEN;
use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The user-service binary with the admin API on, logging JSON at `info`; answers the child
/// and its public and admin API base URLs once it is ready.
pub async fn start_binary(env: &[(String, String)]) -> (Child, String, String) {
    let (http, admin, admin_api) = (free_port(), free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_user-service"))
        .env_clear()
        .envs(env.iter().cloned())
        .env("HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("ADMIN_API_ADDR", format!("127.0.0.1:{admin_api}"))
        .env("ADMIN_API_TOKENS", format!("ops:{OPS_TOKEN}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the user-service binary starts");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client
            .get(format!("http://127.0.0.1:{admin}/readyz"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status() == 200) {
            let base = format!("http://127.0.0.1:{http}");
            return (child, base, format!("http://127.0.0.1:{admin_api}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the user-service binary did not become ready");
}

#[tokio::test]
async fn every_action_and_every_refusal_is_a_structured_audit_line() {
    let env = test_env();
    let (mut child, base, admin_api) = start_binary(&env).await;
    let client = reqwest::Client::new();
    let email = unique_email();
    let body = json!({ "email": email, "password": PASSWORD });
    let registered = client
        .post(format!("{base}/v1/users"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let listed: Value = client
        .get(format!("{admin_api}/admin/v1/users?email_prefix={email}"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = listed["users"][0]["id"].as_str().unwrap().to_owned();
    let disable = format!("{admin_api}/admin/v1/users/{id}/disable");
    let disabled = client
        .post(&disable)
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    let refused = client
        .post(format!("{admin_api}/admin/v1/users/{id}/enable"))
        .bearer_auth("not-a-configured-token-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // SIGTERM: a graceful stop, which flushes the log.
    // SAFETY: signals our own child, reaped by `wait` below.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    let _ = child.wait().await;
    let lines: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let field = |l: &Value, name: &str| l.get("fields").unwrap_or(l).get(name).cloned();
    let action = lines
        .iter()
        .find(|l| field(l, "action") == Some(json!("user.admin.disabled")))
        .unwrap_or_else(|| panic!("no audit line in {out}"));
    assert_eq!(action["target"], "audit");
    assert_eq!(field(action, "actor"), Some(json!("ops")));
    assert_eq!(field(action, "user_id"), Some(json!(id)));
    assert_eq!(field(action, "message"), Some(json!("admin action")));
    assert!(field(action, "event_id").is_some_and(|v| v.is_string()));
    assert_eq!(field(action, "change"), Some(json!(r#"{"disabled":true}"#)));
    let refusal = lines
        .iter()
        .find(|l| field(l, "path") == Some(json!(format!("/admin/v1/users/{id}/enable"))))
        .expect("the refusal is logged");
    assert_eq!(refusal["level"], "WARN");
    assert_eq!(refusal["target"], "audit");
    assert!(
        !out.contains("not-a-configured-token"),
        "tokens never logged"
    );
    assert!(!out.contains(OPS_TOKEN));
    drop_test_data(&env).await;
}

/// What the binary created: its database, queues and exchange.
pub async fn drop_test_data(env: &[(String, String)]) {
    let var = |name: &str| env.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let client = mongodb::Client::with_uri_str(mongodb_uri()).await.unwrap();
    let _ = client.database(&var("MONGODB_DATABASE")).drop().await;
    delete_queues(&var("EMAIL_QUEUE")).await;
    delete_exchange(&var("EVENTS_EXCHANGE")).await;
}
