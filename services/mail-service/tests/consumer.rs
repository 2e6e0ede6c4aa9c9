//! End to end against the real RabbitMQ and SMTP capture server.

mod support;

use common::amqp::{HEADER_ATTEMPTS, HEADER_DEATH_REASON, header_str};
use mail_parser::MessageParser;
use serde_json::Value;
use support::{TestApp, recipient, verify_email, wait_for_mail};
use uuid::Uuid;

fn death_reason(m: &lapin::message::BasicGetMessage) -> String {
    let headers = m
        .delivery
        .properties
        .headers()
        .as_ref()
        .expect("dead letter has headers");
    header_str(headers, HEADER_DEATH_REASON)
        .expect("x-death-reason header")
        .to_owned()
}

/// The value after `Token: ` the way a test of the user flow would pull it out of the mail.
fn extract_token(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.trim_end().strip_prefix("Token: "))
        .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace))
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_email_is_delivered_with_token_and_message_id() {
    let app = TestApp::spawn().await;
    let to = recipient("");
    let token = format!("tok_{}", Uuid::new_v4().simple());
    let message = verify_email(&to, &token);
    app.publish(&message).await;

    let raw = wait_for_mail(&to).await;
    let mail = MessageParser::default().parse(&raw).expect("parsable mail");
    assert_eq!(mail.subject(), Some("Confirm your email address"));
    assert_eq!(
        mail.message_id(),
        Some(format!("{}@user-platform", message.message_id).as_str())
    );
    let from = mail.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("no-reply@example.com"));
    let to_addr = mail.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to_addr.address(), Some(to.as_str()));
    assert_eq!(to_addr.name(), Some("Ada Lovelace"));

    let text = mail.body_text(0).expect("text part");
    assert_eq!(extract_token(&text), Some(token.as_str()), "{text}");
    assert!(text.contains("Hello Ada Lovelace,"), "{text}");
    let html = mail.body_html(0).expect("html part");
    assert!(html.contains(&token), "{html}");
    // minijinja escapes `/` as `&#x2f;` too, which browsers decode in attributes.
    assert!(
        html.contains("<a href=\"https:&#x2f;&#x2f;app.example.com"),
        "{html}"
    );

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"mail_messages_consumed_total{kind="verify_email",outcome="sent"} 1"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_messages_are_dead_lettered_and_do_not_block_the_queue() {
    let app = TestApp::spawn().await;

    app.publish_raw(b"this is not json").await;
    let mut unknown: Value =
        serde_json::from_slice(&verify_email(&recipient(""), "t").encode()).unwrap();
    unknown["kind"] = "launch_missiles".into();
    let unknown = serde_json::to_vec(&unknown).unwrap();
    app.publish_raw(&unknown).await;
    let to = recipient("");
    app.publish(&verify_email(&to, "after-the-poison")).await;

    wait_for_mail(&to).await;

    let mut dead = [app.next_dead_letter().await, app.next_dead_letter().await];
    // Concurrent processing may dead-letter them in either order.
    dead.sort_by_key(|m| m.delivery.data.len());
    assert_eq!(dead[0].delivery.data, b"this is not json");
    let reason = death_reason(&dead[0]);
    assert!(reason.contains("not a valid email message"), "{reason}");
    assert_eq!(dead[1].delivery.data, unknown, "the body is kept as is");
    let reason = death_reason(&dead[1]);
    assert!(reason.contains("unknown variant"), "{reason}");
    assert_eq!(
        dead[1].delivery.properties.delivery_mode(),
        &Some(2),
        "dead letters are persistent"
    );

    let metrics = app.metrics().await;
    assert!(
        metrics
            .contains(r#"mail_messages_consumed_total{kind="unknown",outcome="dead_lettered"} 2"#),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn permanently_rejected_recipient_is_dead_lettered_not_retried() {
    let app = TestApp::spawn().await;
    let to = recipient("smtp550-");
    let message = verify_email(&to, "never-sent");
    app.publish(&message).await;

    let dead = app.next_dead_letter().await;
    assert_eq!(dead.delivery.data, message.encode());
    let reason = death_reason(&dead);
    assert!(reason.contains("550"), "{reason}");
    assert!(
        !reason.contains("never-sent"),
        "no token in the reason: {reason}"
    );
    assert!(!support::has_mail(&to));

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"mail_messages_consumed_total{kind="verify_email",outcome="dead_lettered"} 1"#
        ),
        "{metrics}"
    );
    // Every kind × outcome series exists from the start; none of the retried ones moved.
    assert!(
        metrics
            .lines()
            .filter(|l| l.contains(r#"outcome="retried""#))
            .all(|l| l.ends_with(" 0")),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failure_is_retried_then_dead_lettered() {
    let app = TestApp::spawn().await;
    let to = recipient("smtp451-");
    let message = verify_email(&to, "later");
    app.publish(&message).await;

    let dead = app.next_dead_letter().await;
    assert_eq!(dead.delivery.data, message.encode());
    let reason = death_reason(&dead);
    // Two retry levels in the test configuration: three attempts in all.
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(reason.contains("451"), "{reason}");
    let headers = dead.delivery.properties.headers().as_ref().unwrap();
    assert!(
        headers.inner().contains_key(HEADER_ATTEMPTS),
        "the attempt count travels with the message"
    );

    let metrics = app.metrics().await;
    for (outcome, n) in [("retried", 2), ("dead_lettered", 1)] {
        let series =
            format!(r#"mail_messages_consumed_total{{kind="verify_email",outcome="{outcome}"}}"#);
        assert_eq!(
            support::metric(&metrics, &series),
            f64::from(n),
            "{metrics}"
        );
    }
    assert_eq!(
        support::metric(
            &metrics,
            r#"mail_smtp_failures_total{class="transient",kind="verify_email"}"#
        ),
        3.0,
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_endpoints_answer() {
    let app = TestApp::spawn().await;

    let health = app
        .http
        .get(app.admin_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let ready = app.http.get(app.admin_url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let report: Value = ready.json().await.unwrap();
    assert_eq!(report["checks"]["rabbitmq"]["status"], "up", "{report}");
    assert_eq!(report["checks"]["rabbitmq"]["required"], true, "{report}");
    assert_eq!(report["checks"]["redis"]["status"], "up", "{report}");
    assert_eq!(report["checks"]["redis"]["required"], true, "{report}");
    assert_eq!(report["checks"]["smtp"]["status"], "up", "{report}");
    assert_eq!(report["checks"]["smtp"]["required"], false, "{report}");
    assert_eq!(report["status"], "ready", "{report}");

    let metrics = app.metrics().await;
    assert!(metrics.contains("mail_messages_in_flight 0"), "{metrics}");
    app.stop().await;
}
