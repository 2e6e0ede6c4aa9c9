//! Exactly-once delivery against real RabbitMQ, Redis and an SMTP server speaking real SMTP over
//! TCP (in this process, so it can go down, refuse on demand and count what it accepted).

mod support;

use std::time::Duration;

use common::amqp::{HEADER_DEATH_REASON, header_str};
use lapin::options::BasicGetOptions;
use support::proxy::Proxy;
use support::smtp::TestSmtp;
use support::{Broker, Instance, Scope, TestApp, eventually, metric, verify_email};
use uuid::Uuid;

fn on(smtp: &TestSmtp) -> impl FnOnce(&mut mail_service::Config) {
    let port = smtp.port;
    move |c| c.smtp.port = port
}

fn unique_recipient() -> String {
    format!("{}@example.com", Uuid::new_v4())
}

const SENT: &str = r#"mail_messages_consumed_total{kind="verify_email",outcome="sent"}"#;
const DUPLICATE: &str = r#"mail_messages_consumed_total{kind="verify_email",outcome="duplicate"}"#;
const RETRIED: &str = r#"mail_messages_consumed_total{kind="verify_email",outcome="retried"}"#;

async fn wait_for_metric(app: &TestApp, series: &str, at_least: f64) -> String {
    let deadline = tokio::time::Instant::now() + support::TIMEOUT;
    loop {
        let metrics = app.metrics().await;
        if metric(&metrics, series) >= at_least {
            return metrics;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never reached {at_least}: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn redelivery_of_a_sent_message_sends_nothing() {
    let smtp = TestSmtp::running().await;
    let app = TestApp::spawn_with(Scope::new(), on(&smtp)).await;
    let to = unique_recipient();
    let message = verify_email(&to, "once");

    app.publish(&message).await;
    eventually("first delivery", || smtp.count_for(&to) == 1).await;
    let first = smtp.messages_for(&to).remove(0);
    assert!(
        first.contains(&format!(
            "Message-ID: <{}@user-platform>",
            message.message_id
        )),
        "{first}"
    );

    // The same message again, as a redelivery or an outbox re-publish would bring it.
    app.publish(&message).await;
    let metrics = wait_for_metric(&app, DUPLICATE, 1.0).await;
    assert_eq!(metric(&metrics, SENT), 1.0, "{metrics}");
    assert_eq!(smtp.count_for(&to), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_down_then_up_delivers_once_after_retries() {
    let mut smtp = TestSmtp::reserve().await;
    let app = TestApp::spawn_with(Scope::new(), |c| {
        on(&smtp)(c);
        c.retry_delays = vec![Duration::from_millis(400); 8];
    })
    .await;
    let to = unique_recipient();
    app.publish(&verify_email(&to, "patience")).await;

    // Connection refused: transient, so it goes round the retry queues.
    wait_for_metric(&app, RETRIED, 2.0).await;
    smtp.start().await;
    eventually("delivery once the relay is back", || {
        smtp.count_for(&to) == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.count_for(&to), 1, "delivered exactly once");
    let metrics = app.metrics().await;
    assert_eq!(metric(&metrics, SENT), 1.0, "{metrics}");
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains(r#"outcome="dead_lettered""#))
            .all(|l| l.ends_with(" 0")),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_4xx_is_retried_until_it_passes_and_5xx_is_dead_lettered_at_once() {
    let smtp = TestSmtp::running().await;
    let app = TestApp::spawn_with(Scope::new(), |c| {
        on(&smtp)(c);
        c.retry_delays = vec![Duration::from_millis(300); 8];
    })
    .await;

    smtp.reply_to_rcpt(451);
    let later = unique_recipient();
    app.publish(&verify_email(&later, "later")).await;
    wait_for_metric(&app, RETRIED, 2.0).await;
    smtp.reply_to_rcpt(0);
    eventually("4xx recipient delivered after the relay recovers", || {
        smtp.count_for(&later) == 1
    })
    .await;

    smtp.reply_to_rcpt(550);
    let never = unique_recipient();
    let message = verify_email(&never, "never");
    app.publish(&message).await;
    let dead = app.next_dead_letter().await;
    assert_eq!(dead.delivery.data, message.encode());
    let headers = dead.delivery.properties.headers().as_ref().unwrap();
    let reason = header_str(headers, HEADER_DEATH_REASON).unwrap();
    assert!(reason.contains("550"), "{reason}");
    // The whole cause chain, not only the outermost error.
    assert!(
        reason.starts_with("permanent SMTP failure: the relay refused the transaction: "),
        "{reason}"
    );
    assert!(!reason.contains("gave up"), "not retried: {reason}");
    smtp.reply_to_rcpt(0);

    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"mail_smtp_failures_total{class="permanent",kind="verify_email"}"#
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(smtp.count_for(&never), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_queue_send_each_message_exactly_once() {
    const N: usize = 200;
    let smtp = TestSmtp::running().await;
    let scope = Scope::new();
    let broker = Broker::connect(&scope).await;
    let configure = || {
        let mut c = scope.config();
        c.smtp.port = smtp.port;
        c
    };
    let a = Instance::start(configure()).await;
    let b = Instance::start(configure()).await;

    let recipients: Vec<String> = (0..N).map(|_| unique_recipient()).collect();
    for to in &recipients {
        broker
            .publish(&scope.topology.queue, &verify_email(to, "t"))
            .await;
    }
    eventually("every message delivered", || smtp.total() >= N).await;
    // Anything sent twice would arrive right after the first copy.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.total(), N);
    for to in &recipients {
        assert_eq!(smtp.count_for(to), 1, "{to}");
    }
    let sent = |m: &str| metric(m, SENT);
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    assert_eq!(sent(&ma) + sent(&mb), N as f64);
    assert!(
        sent(&ma) > 0.0 && sent(&mb) > 0.0,
        "both consumed: {} and {}",
        sent(&ma),
        sent(&mb)
    );

    a.stop().await;
    b.stop().await;
    scope.clean_up(&broker.channel, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_during_a_burst_then_restart_delivers_each_exactly_once() {
    const N: usize = 300;
    let smtp = TestSmtp::running().await;
    smtp.delay_data(Duration::from_millis(10));
    let scope = Scope::new();
    let broker = Broker::connect(&scope).await;
    let configure = || {
        let mut c = scope.config();
        c.smtp.port = smtp.port;
        c
    };

    let recipients: Vec<String> = (0..N).map(|_| unique_recipient()).collect();
    for to in &recipients {
        broker
            .publish(&scope.topology.queue, &verify_email(to, "t"))
            .await;
    }
    let first = Instance::start(configure()).await;
    eventually("the burst under way", || smtp.total() >= N / 10).await;
    // What SIGTERM triggers: stop consuming, drain in-flight messages, close.
    first.stop().await;
    let after_stop = smtp.total();
    assert!(
        after_stop < N,
        "the burst was interrupted ({after_stop} sent)"
    );

    let second = Instance::start(configure()).await;
    eventually("the rest delivered after restart", || smtp.total() >= N).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.total(), N);
    for to in &recipients {
        assert_eq!(smtp.count_for(to), 1, "{to}");
    }
    second.stop().await;

    // Nothing was parked on the way.
    let parked = broker
        .channel
        .basic_get(
            scope.topology.dead_letter_queue().as_str().into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .unwrap();
    assert!(parked.is_none());
    scope.clean_up(&broker.channel, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_reconnects_after_losing_the_broker_and_readiness_follows() {
    let smtp = TestSmtp::running().await;
    let mut proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let proxied = format!("amqp://guest:guest@127.0.0.1:{}/%2f", proxy.port);
    let app = TestApp::spawn_with(Scope::new(), |c| {
        on(&smtp)(c);
        c.amqp_url = proxied.into();
    })
    .await;
    let ready = || async {
        app.http
            .get(app.admin_url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    };

    proxy.cut().await;
    let deadline = tokio::time::Instant::now() + support::TIMEOUT;
    while ready().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still ready without a broker connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Published (directly to the broker) while the service is cut off.
    let to = unique_recipient();
    app.publish(&verify_email(&to, "after-the-outage")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(smtp.count_for(&to), 0);

    proxy.restore().await;
    eventually("delivery after reconnecting", || smtp.count_for(&to) == 1).await;
    assert!(ready().await, "ready again once consuming");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_claimed_by_a_crashed_replica_waits_for_the_claim_then_is_sent_once() {
    let smtp = TestSmtp::running().await;
    let scope = Scope::new();
    let app = TestApp::spawn_with(scope.clone(), on(&smtp)).await;
    let to = unique_recipient();
    let message = verify_email(&to, "claimed");

    // What a replica killed mid-send leaves behind: its claim, until the TTL ends it.
    let mut conn = support::redis_connection();
    let sent_key = format!("{}sent:{}", scope.prefix, message.message_id);
    let _: () = redis::cmd("SET")
        .arg(format!("{}sending:{{{sent_key}}}", scope.prefix))
        .arg("crashed-attempt")
        .arg("PX")
        .arg(1500)
        .query_async(&mut conn)
        .await
        .unwrap();

    app.publish(&message).await;
    let metrics = wait_for_metric(
        &app,
        r#"mail_messages_consumed_total{kind="verify_email",outcome="deferred"}"#,
        1.0,
    )
    .await;
    assert_eq!(metric(&metrics, SENT), 0.0, "{metrics}");
    assert_eq!(smtp.count_for(&to), 0);

    eventually("sent once the claim expired", || smtp.count_for(&to) == 1).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smtp.count_for(&to), 1);
    app.stop().await;
}

/// The service binary, configured through its environment like a Deployment would.
fn spawn_binary(scope: &Scope, smtp_port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_mail-service"))
        .env_clear()
        .env("AMQP_URL", support::amqp_url())
        .envs(support::redis_env())
        .env("REDIS_KEY_PREFIX", &scope.prefix)
        .env("EMAIL_QUEUE", &scope.topology.queue)
        .env("RETRY_DELAYS", "300ms,600ms")
        .env("SMTP_HOST", "127.0.0.1")
        .env("SMTP_PORT", smtp_port.to_string())
        .env("SMTP_TLS", "none")
        .env("MAIL_FROM", "no-reply@example.com")
        .env("ADMIN_ADDR", "127.0.0.1:0")
        .env("ALLOWED_LINK_ORIGINS", support::LINK_ORIGIN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        // Read after the exit: a panic on any thread (a driver's, say) shows only there.
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mail-service binary")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_process_during_a_burst_then_restart_delivers_each_exactly_once() {
    const N: usize = 300;
    let smtp = TestSmtp::running().await;
    smtp.delay_data(Duration::from_millis(10));
    let scope = Scope::new();
    let broker = Broker::connect(&scope).await;
    let recipients: Vec<String> = (0..N).map(|_| unique_recipient()).collect();
    for to in &recipients {
        broker
            .publish(&scope.topology.queue, &verify_email(to, "t"))
            .await;
    }

    let first = spawn_binary(&scope, smtp.port);
    eventually("the burst under way", || smtp.total() >= N / 10).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&exited.stderr);
    assert!(
        exited.status.success(),
        "clean exit after SIGTERM: {}; {stderr}",
        exited.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let after_stop = smtp.total();
    assert!(
        after_stop < N,
        "the burst was interrupted ({after_stop} sent)"
    );

    let second = spawn_binary(&scope, smtp.port);
    eventually("the rest delivered after restart", || smtp.total() >= N).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let exited = tokio::task::spawn_blocking(move || second.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&exited.stderr);
    assert!(
        exited.status.success() && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert_eq!(smtp.total(), N);
    for to in &recipients {
        assert_eq!(smtp.count_for(to), 1, "{to}");
    }
    scope.clean_up(&broker.channel, 2).await;
}
