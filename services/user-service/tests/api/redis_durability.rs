//! `REDIS_WAIT_REPLICAS`: session writes wait for replicas (when the suite runs against a
//! topology with replicas: TEST_REDIS_MODE=sentinel or cluster, scripts/redis-topologies.sh).

use std::time::{Duration, Instant};

use crate::helpers::*;

fn with_replicas() -> bool {
    matches!(
        std::env::var("TEST_REDIS_MODE").as_deref(),
        Ok("sentinel" | "cluster")
    )
}

#[tokio::test]
async fn session_writes_wait_for_replicas() {
    if !with_replicas() {
        eprintln!("skipped: needs replicas (TEST_REDIS_MODE=sentinel or cluster)");
        return;
    }
    // One replica exists for every primary: WAIT returns as soon as it has the write.
    let mut config = test_config();
    config.redis.wait_replicas = 1;
    config.redis.wait_timeout = Duration::from_secs(5);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let started = Instant::now();
    let token = app.session(&email, PASSWORD).await;
    assert_eq!(app.logout(&token).await.status(), 204);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    app.finish().await;

    // More replicas than exist: every session write waits the whole timeout, then succeeds.
    let mut config = test_config();
    config.redis.wait_replicas = 5;
    config.redis.wait_timeout = Duration::from_millis(700);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let started = Instant::now();
    let token = app.session(&email, PASSWORD).await;
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.me(&token).await.status(), 200);
    app.finish().await;
}

/// `WAIT` holds up the connection it runs on: a login waiting for replicas that do not come
/// must not hold up the session checks of everyone else, which share the service's main
/// connection. Runs in every mode (standalone has no replicas: the login waits the whole
/// timeout).
#[tokio::test]
async fn a_login_waiting_for_replicas_does_not_hold_up_session_checks() {
    let mut config = test_config();
    config.redis.wait_replicas = 5;
    config.redis.wait_timeout = Duration::from_millis(1900);
    let app = spawn_with(config).await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let login = {
        let (client, base, email) = (app.client.clone(), app.base.clone(), email.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = client
                .post(format!("{base}/v1/sessions"))
                .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
                .send()
                .await
                .unwrap();
            (answer.status(), started.elapsed())
        })
    };
    // The login has hashed its password and sits in WAIT by now (or the check comes first,
    // and proves nothing but passes).
    tokio::time::sleep(Duration::from_millis(900)).await;
    let started = Instant::now();
    assert_eq!(app.me(&token).await.status(), 200);
    let check = started.elapsed();
    let (status, login_took) = login.await.unwrap();
    assert_eq!(status, 201);
    assert!(
        login_took >= Duration::from_millis(1900),
        "the login waited: {login_took:?}"
    );
    assert!(
        check < Duration::from_millis(800),
        "a session check waited behind the login's WAIT: {check:?}"
    );
    app.finish().await;
}
