//! Per-account bounds on sessions: a cap on live sessions (the oldest ends, counted), an index
//! pruned at every login, listing and revoking in pipelines.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn listed(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .call(Method::GET, "/v1/sessions", token, Value::Null)
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["sessions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_account_keeps_at_most_its_cap_of_sessions_the_oldest_ending() {
    let mut config = test_config();
    config.sessions.max_per_account = 2;
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(app.session(&email, PASSWORD).await);
        // Sessions are ordered by their creation second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(app.me(&tokens[0]).await.status(), 401, "the oldest ended");
    assert_eq!(
        app.me(&tokens[1]).await.status(),
        401,
        "the second oldest too"
    );
    assert_eq!(app.me(&tokens[2]).await.status(), 200);
    assert_eq!(app.me(&tokens[3]).await.status(), 200);
    assert_eq!(listed(&app, &tokens[3]).await.len(), 2);
    assert_eq!(app.metric("user_sessions_evicted_total").await, 2.0);

    // A logout leaves an index entry behind until the next login prunes it.
    assert_eq!(app.logout(&tokens[2]).await.status(), 204);
    let newest = app.session(&email, PASSWORD).await;
    assert_eq!(listed(&app, &newest).await.len(), 2);
    assert_eq!(
        app.metric("user_sessions_evicted_total").await,
        2.0,
        "nothing over the cap"
    );
    assert_eq!(app.me(&tokens[3]).await.status(), 200);

    // Revoking all others ends every one but the caller's.
    let revoked = app
        .call(Method::DELETE, "/v1/sessions", &newest, json!(null))
        .await;
    assert!(revoked.status().is_success(), "{}", revoked.status());
    assert_eq!(app.me(&tokens[3]).await.status(), 401);
    assert_eq!(listed(&app, &newest).await.len(), 1);
    app.finish().await;
}
