//! A dependency that hangs (connection open, no answer) gives a 503 problem document within
//! `REQUEST_TIMEOUT`, never a hung request, and the service recovers when it answers again.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::proxy::StallingProxy;

async fn assert_unavailable_within(app: &TestApp, limit: Duration) {
    let started = Instant::now();
    let (status, body) = problem(app.register(&unique_email(), PASSWORD).await).await;
    let took = started.elapsed();
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (503, "service_unavailable")
    );
    assert!(took < limit, "answered after {took:?}");
}

async fn wait_until_registers(app: &TestApp) {
    for _ in 0..60 {
        if app.register(&unique_email(), PASSWORD).await.status() == 202 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the service did not recover");
}

#[tokio::test]
async fn a_stalled_mongodb_gives_503_within_the_request_timeout() {
    let proxy = StallingProxy::start("127.0.0.1:27017".into()).await;
    let mut config = test_config();
    config.mongodb.uri =
        format!("mongodb://127.0.0.1:{}/?directConnection=true", proxy.port).into();
    config.server.request_timeout = Duration::from_secs(2);
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
    app.next_email().await;

    proxy.stall(true);
    // The driver's own server selection would wait 30 s by default; the request may not.
    assert_unavailable_within(&app, Duration::from_secs(6)).await;
    proxy.stall(false);
    wait_until_registers(&app).await;
    app.finish().await;
}

#[tokio::test]
async fn a_stalled_redis_gives_503_within_the_request_timeout() {
    let proxy = StallingProxy::start("127.0.0.1:6379".into()).await;
    let mut config = test_config();
    use_standalone_redis(&mut config, &format!("redis://127.0.0.1:{}", proxy.port));
    config.server.request_timeout = Duration::from_secs(2);
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);

    proxy.stall(true);
    assert_unavailable_within(&app, Duration::from_secs(6)).await;
    // The answer given at the deadline is counted like any other.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/v1/users",status="503"} 1"#),
        "{metrics}"
    );
    proxy.stall(false);
    wait_until_registers(&app).await;
    app.finish().await;
}
