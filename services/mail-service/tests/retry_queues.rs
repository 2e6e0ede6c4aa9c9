//! The retry queues' type (RETRY_QUEUE_TYPE) against the real RabbitMQ: quorum retry queues
//! delay and hand back like the classic ones, and a refused declaration of them does not stop
//! delivery.

mod support;

use std::time::{Duration, Instant};

use common::amqp::{HEADER_DEATH_REASON, RetryQueueType, header_str};
use lapin::Connection;
use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use support::{Broker, Scope, TestApp, recipient, verify_email, wait_for_mail};

const DECLARE_FAILURES: &str = "mail_retry_queue_declare_failures_total";

/// Declares `queue` with `args` (passively: only if it exists), on a channel of its own since
/// a refusal closes it: whether the broker accepted the declaration.
async fn declare_accepted(
    connection: &Connection,
    queue: &str,
    args: FieldTable,
    passive: bool,
) -> bool {
    let channel = connection.create_channel().await.unwrap();
    let options = QueueDeclareOptions {
        durable: true,
        passive,
        ..QueueDeclareOptions::default()
    };
    let accepted = channel
        .queue_declare(queue.into(), options, args)
        .await
        .is_ok();
    let _ = channel.close(200, "checked".into()).await;
    accepted
}

/// Polls `check` until it holds, for up to 20 s (the service tries again every 5 s).
async fn eventually_async<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn queue_type(kind: &str) -> FieldTable {
    let mut args = FieldTable::default();
    args.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
    args
}

/// A message that fails with 451 every time reaches the dead-letter queue after both retries.
async fn retried_then_dead_lettered(app: &TestApp) {
    app.publish(&verify_email(&recipient("smtp451-"), "later"))
        .await;
    let dead = app.next_dead_letter().await;
    let headers = dead.delivery.properties.headers().as_ref().unwrap();
    let reason = header_str(headers, HEADER_DEATH_REASON).unwrap();
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn quorum_retry_queues_delay_and_hand_back_like_classic_ones() {
    let app = TestApp::spawn_with(Scope::new(), |c| {
        c.retry_queue_type = RetryQueueType::Quorum;
    })
    .await;
    // The retry queues exist as quorum queues: a classic declaration of the same name is
    // refused as inequivalent.
    let broker = Broker::connect(&app.scope).await;
    let level0 = app.topology.retry_queue(0);
    let classic = queue_type("classic");
    assert!(declare_accepted(&broker.connection, &level0, FieldTable::default(), true).await);
    assert!(!declare_accepted(&broker.connection, &level0, classic, false).await);

    let started = Instant::now();
    retried_then_dead_lettered(&app).await;
    // Both delays (300 ms and 600 ms in the test configuration) were waited out.
    assert!(started.elapsed() >= Duration::from_millis(900));
    let metrics = app.metrics().await;
    let retried = r#"mail_messages_consumed_total{kind="verify_email",outcome="retried"}"#;
    assert_eq!(support::metric(&metrics, retried), 2.0, "{metrics}");
    assert_eq!(support::metric(&metrics, DECLARE_FAILURES), 0.0);
    let _ = broker.connection.close(200, "done".into()).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_retry_declaration_neither_stops_delivery_nor_lasts() {
    // A classic level-0 retry queue with another delay: the service's quorum declaration of it
    // is refused, as after switching RETRY_QUEUE_TYPE without deleting the old queues.
    let scope = Scope::new();
    let broker = Broker::connect(&scope).await;
    let mut old = queue_type("classic");
    old.insert("x-message-ttl".into(), AMQPValue::LongLongInt(3_600_000));
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let level0 = scope.topology.retry_queue(0);
    broker
        .channel
        .queue_declare(level0.as_str().into(), durable, old)
        .await
        .unwrap();
    let app = TestApp::spawn_with(scope, |c| c.retry_queue_type = RetryQueueType::Quorum).await;

    // Consuming anyway: a message that needs no retry is delivered.
    let to = recipient("declare-");
    app.publish(&verify_email(&to, "now")).await;
    wait_for_mail(&to).await;
    assert!(support::metric(&app.metrics().await, DECLARE_FAILURES) >= 1.0);

    // Once the old queue is gone, a later attempt declares the quorum ones and retries work.
    broker
        .channel
        .queue_delete(level0.as_str().into(), QueueDeleteOptions::default())
        .await
        .unwrap();
    let connection = &broker.connection;
    let none = FieldTable::default;
    eventually_async("the retry queues declared again", || {
        declare_accepted(connection, &level0, none(), true)
    })
    .await;
    assert!(!declare_accepted(connection, &level0, queue_type("classic"), false).await);
    retried_then_dead_lettered(&app).await;
    let _ = broker.connection.close(200, "done".into()).await;
    app.stop().await;
}

/// A shell command of the drill (`drills/rabbitmq-cluster.sh`), run to completion.
fn drill_command(var: &str) {
    let command = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
    let status = std::process::Command::new("sh")
        .args(["-c", &command])
        .status()
        .unwrap();
    assert!(status.success(), "{var} failed: {status}");
}

/// Drill only (`drills/rabbitmq-cluster.sh`, on a three-node cluster): classic retry queues
/// whose node is stopped. The service still delivers, counts the failed declarations, and
/// once the node is back declares them and retries again, without a restart.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the three-node cluster of drills/rabbitmq-cluster.sh"]
async fn drill_classic_retry_queues_on_a_stopped_node() {
    let scope = Scope::new();
    let other = std::env::var("DRILL_OTHER_NODE_URL").expect("DRILL_OTHER_NODE_URL");
    let connection = Connection::connect(&other, Default::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    // Declared through the other node, the classic retry queues live there.
    scope.topology.declare(&channel).await.unwrap();
    let delays = scope.config().retry_delays;
    let classic = RetryQueueType::Classic;
    let topology = &scope.topology;
    topology
        .declare_retries(&channel, &delays, classic)
        .await
        .unwrap();
    let _ = connection.close(200, "declared".into()).await;
    drill_command("DRILL_STOP_OTHER_NODE");

    let app = TestApp::spawn_with(scope, |c| c.retry_queue_type = classic).await;
    let to = recipient("node-down-");
    app.publish(&verify_email(&to, "now")).await;
    wait_for_mail(&to).await;
    assert!(support::metric(&app.metrics().await, DECLARE_FAILURES) >= 1.0);

    drill_command("DRILL_START_OTHER_NODE");
    // Declared again: no new failure over more than one 5 s round.
    let mut stable = false;
    for _ in 0..10 {
        let before = support::metric(&app.metrics().await, DECLARE_FAILURES);
        tokio::time::sleep(Duration::from_secs(6)).await;
        if support::metric(&app.metrics().await, DECLARE_FAILURES) == before {
            stable = true;
            break;
        }
    }
    assert!(
        stable,
        "declarations still failing after the node came back"
    );
    retried_then_dead_lettered(&app).await;
    app.stop().await;
}
