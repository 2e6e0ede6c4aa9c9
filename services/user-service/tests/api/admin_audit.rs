//! The audit log lines of the admin API, captured from the `audit` log target.

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

use crate::admin::spawn_admin_app;
use crate::helpers::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A subscriber for the test's thread (a `#[tokio::test]` runs the app's tasks on it) that
/// keeps the `audit` target's JSON lines, and what it captured.
fn capture() -> (tracing::subscriber::DefaultGuard, Captured) {
    let captured = Captured::default();
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_writer(captured.clone())
        .with_filter(tracing_subscriber::EnvFilter::new("audit=info"));
    let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    (guard, captured)
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[tokio::test]
async fn every_action_and_every_refusal_is_a_structured_audit_line() {
    let (_guard, captured) = capture();
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    app.admin_json(Method::POST, &format!("/admin/v1/users/{id}/disable"))
        .await;
    let refused = app
        .client
        .post(format!("{}/admin/v1/users/{id}/enable", app.admin_api))
        .bearer_auth("not-a-configured-token-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let lines = captured.lines();
    let action = lines
        .iter()
        .find(|l| l["user_id"] == id.as_str() && l["action"] == "user.admin.disabled")
        .unwrap_or_else(|| panic!("no audit line in {lines:?}"));
    assert_eq!(action["actor"], "ops");
    assert_eq!(action["message"], "admin action");
    assert!(action["event_id"].is_string());
    assert_eq!(action["change"], r#"{"disabled":true}"#);
    let refusal = lines
        .iter()
        .find(|l| l["path"] == format!("/admin/v1/users/{id}/enable"))
        .expect("the refusal is logged");
    assert_eq!(refusal["level"], "WARN");
    let text = serde_json::to_string(&lines).unwrap();
    assert!(
        !text.contains("not-a-configured-token"),
        "tokens never logged"
    );
    assert!(!text.contains(crate::admin::OPS_TOKEN));
    app.finish().await;
}
