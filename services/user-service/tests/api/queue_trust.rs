//! What the mail service relies on from the publisher: every email carries the broker-validated
//! `user_id` of the service's own broker user (on the direct path and from the outbox relay),
//! and an email whose link has expired is dropped from the outbox instead of published.

use std::time::Duration;

use common::email::{EmailKind, EmailMessage, Recipient};
use lapin::BasicProperties;
use user_service::store::outbox::{COLLECTION, OutboxEntry};
use uuid::Uuid;

use crate::helpers::*;

/// A RabbitMQ user of its own on the shared broker, created with `rabbitmqctl` (loopback, root
/// in CI) and deleted when dropped; its unique name touches nothing else.
struct BrokerUser {
    name: String,
    password: String,
}

impl BrokerUser {
    /// Allowed to configure, write and read only `resources` (a regular expression), and to
    /// publish through the default exchange. Read is needed too: RabbitMQ only lets a user
    /// declare a queue with a dead-letter exchange (`email_queue`) if it may read that queue.
    fn create(resources: &str) -> BrokerUser {
        let name = format!("up-test-user-service-{}", Uuid::new_v4().simple());
        let password = Uuid::new_v4().simple().to_string();
        rabbitmqctl(&["add_user", &name, &password]);
        let own = format!("^({resources})$");
        let write = format!("^(amq\\.default|{resources})$");
        rabbitmqctl(&["set_permissions", "-p", "/", &name, &own, &write, &own]);
        BrokerUser { name, password }
    }

    fn url(&self) -> String {
        let mut url = url::Url::parse(&amqp_url()).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some(&self.password)).unwrap();
        url.to_string()
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_user", &self.name]);
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (installed with RabbitMQ by scripts/services.sh)");
    assert!(
        out.status.success(),
        "rabbitmqctl {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
}

fn user_id(props: &BasicProperties) -> Option<String> {
    props.user_id().as_ref().map(|u| u.to_string())
}

/// With a broker user of its own (as in a least-privilege deployment), the service connects,
/// declares what it needs and publishes its emails with that user as `user_id`.
#[tokio::test]
async fn emails_carry_the_services_own_broker_user_as_user_id() {
    let mut config = test_config();
    let user = BrokerUser::create(&format!(
        "{}(\\..*)?|{}",
        config.amqp.email_queue,
        config.amqp.events_exchange.replace('.', "\\.")
    ));
    config.amqp.url = user.url().into();
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
    let (props, message) = next_delivery_on(&app.config.amqp.email_queue).await;
    assert_eq!(message.kind, EmailKind::VerifyEmail);
    assert_eq!(user_id(&props), Some(user.name.clone()));
    app.finish().await;
}

fn reset_email(expires_at: chrono::DateTime<chrono::Utc>) -> EmailMessage {
    EmailMessage::new(
        Recipient {
            email: unique_email(),
            name: None,
        },
        EmailKind::PasswordReset,
        "en",
    )
    .with_data("token", "t")
    .with_data(
        "action_url",
        "https://app.example.com/reset-password?token=t",
    )
    .expires_at(expires_at)
}

/// Two emails left in the outbox (as after a broker outage), one whose link has expired since:
/// the relay publishes only the live one, drops the other and counts it.
#[tokio::test]
async fn the_relay_drops_outbox_emails_whose_link_expired() {
    let app = spawn_app().await;
    let now = chrono::Utc::now();
    let stale = reset_email(now - chrono::Duration::seconds(1));
    let live = reset_email(now + chrono::Duration::hours(1));
    let outbox = app.database().await.collection::<OutboxEntry>(COLLECTION);
    // No lease: due for the relay at once.
    let entries = [&stale, &live].map(|m| OutboxEntry::new(m, chrono::Duration::zero()));
    outbox.insert_many(entries).await.unwrap();

    let (props, relayed) = next_delivery_on(&app.config.amqp.email_queue).await;
    assert_eq!(relayed.message_id, live.message_id);
    assert_eq!(relayed.expires_at, live.expires_at);
    assert_eq!(
        user_id(&props).as_deref(),
        common::amqp::url_user(&amqp_url()).as_deref()
    );
    for _ in 0..50 {
        if outbox
            .count_documents(mongodb::bson::doc! {})
            .await
            .unwrap()
            == 0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        outbox
            .count_documents(mongodb::bson::doc! {})
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        queue_depth(&app.config.amqp.email_queue).await,
        0,
        "the stale one was published"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.lines().any(|l| l == "user_outbox_expired_total 1"),
        "{metrics}"
    );
    app.finish().await;
}
