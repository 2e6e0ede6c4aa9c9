//! The queue is not trusted blindly: only messages a publisher user put there (RabbitMQ
//! validates `user_id`), with links on the allowed origins and not yet expired, are sent; what
//! is dead-lettered leaves the dead-letter queue after its TTL. Against the real RabbitMQ, with
//! broker users of their own where the test needs them.

mod support;

use std::time::Duration;

use common::amqp::{HEADER_DEATH_REASON, LAST_HAND_BACK, header_str};
use common::email::EmailMessage;
use lapin::options::{BasicGetOptions, BasicNackOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use support::smtp::TestSmtp;
use support::{
    Broker, BrokerUser, Scope, TIMEOUT, TestApp, has_mail, metric, publish_with, queue_depth,
    recipient, verify_email,
};

fn on(smtp: &TestSmtp) -> impl FnOnce(&mut mail_service::Config) {
    let port = smtp.port;
    move |c| c.smtp.port = port
}

fn reason(m: &lapin::message::BasicGetMessage) -> String {
    let headers = m.delivery.properties.headers().as_ref().unwrap();
    header_str(headers, HEADER_DEATH_REASON).unwrap().to_owned()
}

async fn wait_for_metric(app: &TestApp, series: &str, at_least: f64) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let metrics = app.metrics().await;
        if metric(&metrics, series) >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never reached {at_least}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A confirm-mode channel authenticated as `user`.
async fn channel_as(user: &BrokerUser) -> (Connection, Channel) {
    let connection = Connection::connect(&user.url(), ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    (connection, channel)
}

const REFUSED: &str = "mail_messages_refused_total";

#[tokio::test(flavor = "multi_thread")]
async fn messages_not_published_by_a_publisher_user_are_dead_lettered_unsent() {
    let smtp = TestSmtp::running().await;
    let app = TestApp::spawn_with(Scope::new(), on(&smtp)).await;
    let queue = app.topology.queue.clone();
    // Another broker user that may write to the queue: a compromised service, say.
    let intruder = BrokerUser::create("intruder", &format!("{queue}(\\..*)?"));
    let (intruder_conn, intruder_channel) = channel_as(&intruder).await;

    let (forged, anonymous, genuine) = (recipient(""), recipient(""), recipient(""));
    publish_with(
        &intruder_channel,
        &queue,
        &verify_email(&forged, "f").encode(),
        BasicProperties::default().with_user_id(intruder.name.as_str().into()),
    )
    .await;
    publish_with(
        &app.channel,
        &queue,
        &verify_email(&anonymous, "a").encode(),
        BasicProperties::default(),
    )
    .await;
    app.publish(&verify_email(&genuine, "g")).await;

    let mut reasons = vec![reason(&app.next_dead_letter().await)];
    let second = app.next_dead_letter().await;
    reasons.push(reason(&second));
    reasons.sort();
    assert_eq!(
        reasons,
        [
            "untrusted_publisher: no user_id".to_owned(),
            format!(
                "untrusted_publisher: user_id {:?} is not a publisher",
                intruder.name
            ),
        ]
    );
    // The copy is the mail service's own publish, with the dead-letter TTL.
    let props = &second.delivery.properties;
    assert_eq!(
        props.user_id().as_ref().map(|u| u.to_string()),
        Some(support::amqp_user())
    );
    assert_eq!(
        props.expiration().as_ref().map(|e| e.to_string()),
        Some("600000".to_owned())
    );
    support::eventually("the genuine message sent", || smtp.count_for(&genuine) == 1).await;
    assert_eq!(smtp.count_for(&forged) + smtp.count_for(&anonymous), 0);
    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            &format!(r#"{REFUSED}{{reason="untrusted_publisher"}}"#)
        ),
        2.0,
        "{metrics}"
    );
    let _ = intruder_conn.close(200, "done".into()).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn links_to_other_origins_and_expired_links_are_dead_lettered_unsent() {
    let smtp = TestSmtp::running().await;
    let app = TestApp::spawn_with(Scope::new(), on(&smtp)).await;
    let (phished, late, fresh) = (recipient(""), recipient(""), recipient(""));
    let phishing = verify_email(&phished, "p").with_data(
        "action_url",
        "https://app.example.com.attacker.test/verify?token=p",
    );
    let expired =
        verify_email(&late, "l").expires_at(chrono::Utc::now() - chrono::Duration::seconds(1));
    let valid = verify_email(&fresh, "v").expires_in(Duration::from_secs(3600));
    for message in [&phishing, &expired, &valid] {
        app.publish(message).await;
    }

    let mut dead: Vec<(String, Vec<u8>)> = Vec::new();
    for _ in 0..2 {
        let m = app.next_dead_letter().await;
        dead.push((reason(&m), m.delivery.data.clone()));
    }
    dead.sort();
    assert!(
        dead[0].0.starts_with("expired: link expired at"),
        "{dead:?}"
    );
    assert_eq!(EmailMessage::decode(&dead[0].1).unwrap(), expired);
    assert_eq!(
        dead[1].0,
        "link_origin: action_url outside the allowed origins"
    );
    assert_eq!(EmailMessage::decode(&dead[1].1).unwrap(), phishing);
    support::eventually("the valid message sent", || smtp.count_for(&fresh) == 1).await;
    assert_eq!(smtp.count_for(&phished) + smtp.count_for(&late), 0);
    let metrics = app.metrics().await;
    for reason in ["link_origin", "expired"] {
        let series = format!(r#"{REFUSED}{{reason="{reason}"}}"#);
        assert_eq!(metric(&metrics, &series), 1.0, "{metrics}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_copies_leave_the_dead_letter_queue_after_the_ttl() {
    let app = TestApp::spawn_with(Scope::new(), |c| {
        c.trust.dead_letter_ttl = Duration::from_secs(2);
    })
    .await;
    app.publish_raw(b"not an email").await;
    wait_for_metric(
        &app,
        r#"mail_messages_consumed_total{kind="unknown",outcome="dead_lettered"}"#,
        1.0,
    )
    .await;
    // Confirmed into the dead-letter queue; now it must go away on its own.
    let dead = app.topology.dead_letter_queue();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while queue_depth(&app.channel, &dead).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead letter never expired"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// The deployment the chart is heading for: the publisher and the mail service each with a
/// broker user of their own, allowed only this test's queues. Only the configured publisher is
/// trusted, and a message the mail service itself moved through a retry queue (republished as
/// its own user) is still accepted when it comes back.
#[tokio::test(flavor = "multi_thread")]
async fn with_separate_broker_users_only_the_publisher_is_trusted_and_retries_come_back() {
    let smtp = TestSmtp::running().await;
    let scope = Scope::new();
    let resources = format!("{}(\\..*)?", scope.topology.queue);
    let publisher = BrokerUser::create("publisher", &resources);
    let mailer = BrokerUser::create("mailer", &resources);
    let app = TestApp::spawn_with(scope, |c| {
        on(&smtp)(c);
        c.amqp_url = mailer.url().into();
        c.trust.own_user = mailer.name.clone();
        c.trust.publishers = vec![publisher.name.clone(), mailer.name.clone()];
        c.retry_delays = vec![Duration::from_millis(300); 8];
    })
    .await;
    let (publisher_conn, publisher_channel) = channel_as(&publisher).await;
    let queue = app.topology.queue.clone();

    smtp.reply_to_rcpt(451);
    let retried = recipient("");
    publish_with(
        &publisher_channel,
        &queue,
        &verify_email(&retried, "r").encode(),
        BasicProperties::default().with_user_id(publisher.name.as_str().into()),
    )
    .await;
    wait_for_metric(
        &app,
        r#"mail_messages_consumed_total{kind="verify_email",outcome="retried"}"#,
        2.0,
    )
    .await;
    smtp.reply_to_rcpt(0);
    support::eventually("sent after its retries", || smtp.count_for(&retried) == 1).await;

    // guest is a valid broker user but not this deployment's publisher.
    let outsider = recipient("");
    app.publish(&verify_email(&outsider, "o")).await;
    let dead = reason(&app.next_dead_letter().await);
    assert_eq!(
        dead,
        format!(
            "untrusted_publisher: user_id {:?} is not a publisher",
            support::amqp_user()
        )
    );
    assert_eq!(smtp.count_for(&outsider), 0);
    assert_eq!(smtp.count_for(&retried), 1);
    let _ = publisher_conn.close(200, "done".into()).await;
    app.stop().await;
}

/// A message handed back to the work queue again and again (consumers failing while they hold
/// it) is dead-lettered by the mail service itself before the broker's delivery limit: unsent,
/// with its reason and the dead-letter TTL. The broker's own copy would lose its expiration and
/// keep a live token in the dead-letter queue.
#[tokio::test(flavor = "multi_thread")]
async fn a_message_handed_back_too_often_is_dead_lettered_with_the_ttl_before_the_broker_does() {
    let scope = Scope::new();
    let broker = Broker::connect(&scope).await;
    let queue = scope.topology.queue.clone();
    let to = recipient("");
    broker
        .publish(&queue, &verify_email(&to, "handed-back"))
        .await;
    for _ in 0..LAST_HAND_BACK {
        let held = broker
            .channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
            .await
            .unwrap()
            .expect("the message is back in the work queue");
        held.delivery
            .acker
            .nack(BasicNackOptions {
                requeue: true,
                ..BasicNackOptions::default()
            })
            .await
            .unwrap();
    }
    let app = TestApp::spawn_with(scope, |c| {
        c.trust.dead_letter_ttl = Duration::from_secs(60);
    })
    .await;
    let dead = app.next_dead_letter().await;
    let headers = dead.delivery.properties.headers().clone().unwrap();
    let reason = header_str(&headers, HEADER_DEATH_REASON).unwrap();
    assert!(
        reason.starts_with(&format!("handed back {LAST_HAND_BACK} times")),
        "{reason}"
    );
    assert_eq!(
        dead.delivery
            .properties
            .expiration()
            .as_ref()
            .map(|e| e.as_str()),
        Some("60000")
    );
    assert!(!has_mail(&to), "nothing was sent");
    app.stop().await;
}
