//! The run-time check for an ingress missing from `TRUSTED_PROXIES`: most requests arriving
//! from one untrusted peer with `X-Forwarded-For` turn `user_untrusted_proxy_suspected` to 1.

use std::time::Duration;

use crate::helpers::*;

/// A series of `metrics`; NaN when absent (never equal to an expected value).
fn sample(metrics: &str, name: &str) -> f64 {
    metric_value(metrics, name).unwrap_or(f64::NAN)
}

/// Sends requests to the public listener, each with `X-Forwarded-For` as if through a proxy,
/// until the check has closed a window with them (it needs 20 in one window): returns the
/// gauge and the counter then.
async fn suspected_after_a_window(trusted: &str) -> (f64, f64) {
    let mut config = test_config();
    config.server.trusted_proxies = trusted.parse().unwrap();
    config.server.proxy_check_window = Duration::from_secs(1);
    let app = spawn_with(config).await;
    let mut sent = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for _ in 0..25 {
            let response = app
                .client
                .get(format!("{}/openapi.json", app.base))
                .header("x-forwarded-for", format!("198.51.100.{}", sent % 200))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let metrics = app.metrics().await;
        let suspected = sample(&metrics, "user_untrusted_proxy_suspected");
        let forwarded = sample(&metrics, "user_untrusted_forwarded_requests_total");
        if suspected == 1.0
            || (forwarded == 0.0 && sent >= 50)
            || tokio::time::Instant::now() > deadline
        {
            return (suspected, forwarded / f64::from(sent));
        }
    }
}

#[tokio::test]
async fn an_untrusted_peer_forwarding_most_requests_is_reported() {
    let (suspected, forwarded_share) = suspected_after_a_window("").await;
    assert_eq!(suspected, 1.0, "the loopback peer forwarded every request");
    assert_eq!(forwarded_share, 1.0, "every request counted");
}

#[tokio::test]
async fn a_trusted_proxy_is_not_reported() {
    let (suspected, forwarded_share) = suspected_after_a_window("127.0.0.1/32").await;
    assert_eq!(suspected, 0.0);
    assert_eq!(forwarded_share, 0.0);
}
