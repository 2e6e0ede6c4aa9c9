use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::helpers::*;

/// A private Redis, so stopping it cannot disturb other tests.
async fn start_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server is installed (scripts/services.sh)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("private redis did not start");
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.admin))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn wait_for_readyz(app: &TestApp, want: u16) -> Value {
    for _ in 0..100 {
        let (status, body) = readyz(app).await;
        if status == want {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {want}");
}

#[tokio::test]
async fn readyz_follows_redis() {
    let port = free_port();
    let mut redis = start_redis(port).await;
    let mut config = test_config();
    use_standalone_redis(&mut config, &format!("redis://127.0.0.1:{port}"));
    config.rate_limits.login_ip = "100/1m".parse().unwrap();
    let app = spawn_with(config).await;

    let body = wait_for_readyz(&app, 200).await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["redis"]["status"], "up");
    assert_eq!(body["checks"]["mongodb"]["status"], "up");

    redis.kill().await.unwrap();
    let body = wait_for_readyz(&app, 503).await;
    assert_eq!(body["checks"]["redis"]["status"], "down");
    // Requests that need Redis fail cleanly meanwhile.
    let (status, problem_body) = problem(app.register(&unique_email(), PASSWORD).await).await;
    assert_eq!(
        (status, problem_body["code"].as_str().unwrap()),
        (503, "service_unavailable")
    );
    // Login limits cannot be counted: fail closed rather than allow unlimited guessing.
    let (status, problem_body) = problem(app.login(&unique_email(), PASSWORD).await).await;
    assert_eq!(
        (status, problem_body["code"].as_str().unwrap()),
        (503, "service_unavailable")
    );

    let _redis = start_redis(port).await;
    let body = wait_for_readyz(&app, 200).await;
    assert_eq!(body["checks"]["redis"]["status"], "up");
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
    app.finish().await;
}

#[tokio::test]
async fn healthz_and_metrics() {
    let app = spawn_app().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    app.register(&unique_email(), PASSWORD).await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"http_requests_total{method="POST",route="/v1/users",status="202"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket"));
    assert!(metrics.contains(r#"user_signups_total{outcome="created"} 1"#));
    app.finish().await;
}

/// The metric list the chart's alerts and dashboards are checked against
/// (scripts/metrics-exported.txt, generated from the sources) matches a real scrape.
#[tokio::test]
async fn every_metric_the_dashboards_may_use_is_exported() {
    let app = spawn_app().await;
    app.register(&unique_email(), PASSWORD).await;
    let scrape = app.metrics().await;
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/metrics-exported.txt"
    ))
    .unwrap();
    let mut checked = 0;
    for line in list.lines().filter(|l| !l.starts_with('#')) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, kind, labels, source] = fields[..] else {
            panic!("malformed line {line:?}");
        };
        // The user service's own, and the shared ones every service registers.
        if !source.starts_with("services/user-service/") && !source.starts_with("services/common/")
        {
            continue;
        }
        assert!(
            scrape.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} ({kind}) missing from /metrics"
        );
        for label in labels.split(',').filter(|l| *l != "-") {
            assert!(
                scrape
                    .lines()
                    .any(|l| l.starts_with(name) && l.contains(&format!("{label}=\""))),
                "{name} has no {label} label"
            );
        }
        checked += 1;
    }
    assert!(checked >= 9, "only {checked} user-service metrics listed");
    app.finish().await;
}
