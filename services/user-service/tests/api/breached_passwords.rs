//! The optional breached-password check. The real range API is on the internet, which this
//! machine cannot reach, so an in-process server speaks its protocol over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use sha1::{Digest, Sha1};

use crate::helpers::*;

const BREACHED: &str = "this passphrase was in a breach";

#[derive(Clone, Default)]
struct Seen {
    prefixes: Arc<Mutex<Vec<(String, bool)>>>,
}

/// Answers like the range API: every suffix under the prefix with its count, plus padding.
async fn range(State(seen): State<Seen>, Path(prefix): Path<String>, headers: HeaderMap) -> String {
    seen.prefixes
        .lock()
        .unwrap()
        .push((prefix.clone(), headers.contains_key("add-padding")));
    let digest = hex::encode_upper(Sha1::digest(BREACHED.as_bytes()));
    let mut body = String::from("0000000000000000000000000000000000A:0\r\n");
    if digest.starts_with(&prefix) {
        body.push_str(&format!("{}:4242\r\n", &digest[5..]));
    }
    body
}

async fn range_api() -> (String, Seen, tokio::task::JoinHandle<()>) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/range/{prefix}", axum::routing::get(range))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen, server)
}

#[tokio::test]
async fn breached_passwords_are_refused_and_only_a_prefix_leaves() {
    let (url, seen, server) = range_api().await;
    let mut config = test_config();
    config.passwords.pwned_url = Some(url);
    let app = spawn_with(config).await;

    let (status, body) = problem(app.register(&unique_email(), BREACHED).await).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["code"], "password_breached");
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);

    let prefixes = seen.prefixes.lock().unwrap().clone();
    assert_eq!(prefixes.len(), 2);
    for (prefix, padded) in prefixes {
        assert_eq!(prefix.len(), 5, "only five hex digits are sent");
        assert!(padded);
    }
    server.abort();
    app.finish().await;
}

#[tokio::test]
async fn an_unreachable_range_api_fails_open() {
    // Nothing listens here, so every lookup fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = test_config();
    config.passwords.pwned_url = Some(format!("http://127.0.0.1:{port}"));
    config.passwords.pwned_timeout = Duration::from_millis(500);
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), BREACHED).await.status(), 202);
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"user_breached_password_checks_total{result="error"} 1"#));
    app.finish().await;
}
