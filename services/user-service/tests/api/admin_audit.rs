//! The audit log lines of the admin API, as the real binary writes them (JSON on stdout): what
//! an operator's log pipeline receives. A process of its own, so no other test's subscriber is
//! involved.

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::process::Child;

use crate::admin::OPS_TOKEN;
use crate::helpers::*;

/// The binary with the admin API on (the `ops` token), its stderr left out.
pub async fn start_admin_binary(env: &[(String, String)]) -> (Child, String, String) {
    let mut env = env.to_vec();
    env.push(("ADMIN_API_TOKENS".into(), format!("ops:{OPS_TOKEN}")));
    let binary = start_binary(&env, Stdio::null()).await;
    (binary.child, binary.base, binary.admin_api)
}

#[tokio::test]
async fn every_action_and_every_refusal_is_a_structured_audit_line() {
    let env = test_env();
    let (mut child, base, admin_api) = start_admin_binary(&env).await;
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
