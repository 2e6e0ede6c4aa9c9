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
