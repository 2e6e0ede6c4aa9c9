//! Issue 28's admin API items, against the real binary and services: reads leave an audit
//! trail, refusals name the peer, failed authentications are limited per peer, and ending
//! every session of a user is one write with its audit event (the security stamp).

use std::time::Duration;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use user_service::admin::tokens::AdminTokens;

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::admin_audit::start_admin_binary;
use crate::helpers::*;

#[tokio::test]
async fn every_admin_read_is_an_audit_line_with_actor_filter_and_count() {
    let env = test_env();
    let (mut child, base, admin_api) = start_admin_binary(&env).await;
    let client = reqwest::Client::new();
    let email = unique_email();
    let registered = client
        .post(format!("{base}/v1/users"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client
                .get(path)
                .bearer_auth(OPS_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let listed = get(format!("{admin_api}/admin/v1/users?email_prefix={email}")).await;
    let id = listed["users"][0]["id"].as_str().unwrap().to_owned();
    get(format!("{admin_api}/admin/v1/users/{id}")).await;
    get(format!("{admin_api}/admin/v1/users/{id}/sessions")).await;
    let refused = client
        .get(format!("{admin_api}/admin/v1/users"))
        .bearer_auth("not-a-configured-token-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    // SAFETY: signals our own child, reaped by `wait` below.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let mut out = String::new();
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_to_string(&mut out).await.unwrap();
    let _ = child.wait().await;
    let lines: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let field = |l: &Value, name: &str| l.get("fields").unwrap_or(l).get(name).cloned();
    let read = |route: &str| {
        lines
            .iter()
            .find(|l| {
                l["target"] == "audit"
                    && field(l, "message") == Some(json!("admin request"))
                    && field(l, "route") == Some(json!(route))
            })
            .unwrap_or_else(|| panic!("no audit line for {route} in {out}"))
    };
    let list = read("/admin/v1/users");
    assert_eq!(field(list, "actor"), Some(json!("ops")));
    assert_eq!(field(list, "method"), Some(json!("GET")));
    assert_eq!(field(list, "results"), Some(json!(1)));
    assert!(
        field(list, "query")
            .and_then(|q| q.as_str().map(|q| q.contains("email_prefix=")))
            .unwrap_or(false),
        "the filter is in the line: {list}"
    );
    let one = read("/admin/v1/users/{id}");
    assert_eq!(field(one, "results"), Some(json!(1)));
    assert_eq!(
        field(one, "path"),
        Some(json!(format!("/admin/v1/users/{id}")))
    );
    let sessions = read("/admin/v1/users/{id}/sessions");
    assert_eq!(field(sessions, "results"), Some(json!(0)));
    let refusal = lines
        .iter()
        .find(|l| l["level"] == "WARN" && l["target"] == "audit")
        .expect("the refusal is logged");
    assert_eq!(field(refusal, "peer"), Some(json!("127.0.0.1")));
    assert!(!out.contains("not-a-configured-token") && !out.contains(OPS_TOKEN));
    drop_test_data(&env).await;
}

#[tokio::test]
async fn failed_admin_authentications_are_limited_per_peer() {
    // The limits as the binary reads them, with RATE_LIMIT_ADMIN_AUTH (default 10/1m) at 3.
    let mut vars = common::config::Env::from_map(
        test_env()
            .into_iter()
            .chain([("RATE_LIMIT_ADMIN_AUTH".to_owned(), "3/1m".to_owned())])
            .collect(),
    );
    let mut config = user_service::config::Config::from_env(&mut vars).unwrap();
    config.admin_api.addr = Some(([127, 0, 0, 1], 0).into());
    config.admin_api.tokens =
        AdminTokens::parse(&SecretString::from(format!("ops:{OPS_TOKEN}"))).unwrap();
    let app = spawn_with(config).await;
    let call = |token: &'static str| {
        app.client
            .get(format!("{}/admin/v1/users", app.admin_api))
            .bearer_auth(token)
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            call("guessed-token-0123456789abcdef0123456789")
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    // While the peer is over its budget, even a right token waits (no oracle for guesses).
    let right = call(OPS_TOKEN).await.unwrap();
    assert_eq!(right.status(), 429);
    assert!(right.headers().contains_key("retry-after"));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("user_rate_limited_total{limit=\"admin_auth\"} 2"),
        "{metrics}"
    );
    app.finish().await;
}

/// Ending every session moves the security stamp in the same write as the audit event: a
/// session the index lost track of ends too, and the event is on the queue.
#[tokio::test]
async fn ending_every_session_is_one_write_with_its_audit_event() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    // The session index loses the session (a Redis hiccup, a manual cleanup).
    let redis = redis::Client::open(redis_url()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let index = format!("{}user-sessions:{id}", app.config.redis.key_prefix);
    let _: () = redis::cmd("DEL")
        .arg(&index)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(app.auth_check(&token).await, 200);
    let tap = EventTap::bind(&app.config.amqp.events_exchange).await;
    let revoked = app
        .admin_call(Method::DELETE, &format!("/admin/v1/users/{id}/sessions"))
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(app.auth_check(&token).await, 401, "every session ended");
    let events = tap.drain(Duration::from_secs(2)).await;
    assert!(
        events.contains(&"user.admin.sessions_revoked".to_owned()),
        "{events:?}"
    );
    tap.close().await;
    app.finish().await;
}
