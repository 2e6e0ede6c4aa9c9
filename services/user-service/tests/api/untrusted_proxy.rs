//! The run-time check for an ingress missing from `TRUSTED_PROXIES`: most requests arriving
//! from one untrusted peer with `X-Forwarded-For` turn `user_untrusted_proxy_suspected` to 1.

use std::time::Duration;

use crate::helpers::*;

fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(f64::NAN, |v| v.trim().parse().unwrap())
}

/// Sends `n` requests to the public listener, each with `X-Forwarded-For` as if through a proxy.
async fn forwarded_requests(app: &TestApp, n: usize) {
    for i in 0..n {
        let response = app
            .client
            .get(format!("{}/openapi.json", app.base))
            .header("x-forwarded-for", format!("198.51.100.{}", i % 200))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
}

async fn suspected_after_a_window(trusted: &str) -> (f64, f64) {
    let mut config = test_config();
    config.server.trusted_proxies = trusted.parse().unwrap();
    config.server.proxy_check_window = Duration::from_secs(1);
    let app = spawn_with(config).await;
    forwarded_requests(&app, 30).await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let metrics = app.metrics().await;
    (
        sample(&metrics, "user_untrusted_proxy_suspected"),
        sample(&metrics, "user_untrusted_forwarded_requests_total"),
    )
}

#[tokio::test]
async fn an_untrusted_peer_forwarding_most_requests_is_reported() {
    let (suspected, forwarded) = suspected_after_a_window("").await;
    assert_eq!(suspected, 1.0, "the loopback peer forwarded every request");
    assert_eq!(forwarded, 30.0);
}

#[tokio::test]
async fn a_trusted_proxy_is_not_reported() {
    let (suspected, forwarded) = suspected_after_a_window("127.0.0.1/32").await;
    assert_eq!(suspected, 0.0);
    assert_eq!(forwarded, 0.0);
}
