//! The tests' RabbitMQ: reading what the app published (emails on a queue, events through a
//! tap on the exchange) and removing what a test declared.

use std::time::Duration;

use common::email::EmailMessage;
use lapin::BasicProperties;
use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use serde_json::Value;
use uuid::Uuid;

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The next message on `queue`, waiting up to 10 s for it.
pub async fn next_email_on(queue: &str) -> EmailMessage {
    next_delivery_on(queue).await.1
}

/// The next message on `queue` with its AMQP properties, waiting up to 10 s for it.
pub async fn next_delivery_on(queue: &str) -> (BasicProperties, EmailMessage) {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    for _ in 0..100 {
        if let Some(m) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let _ = conn.close(200, "done".into()).await;
            let message = EmailMessage::decode(&m.delivery.data).expect("a valid message");
            return (m.delivery.properties, message);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message arrived on {queue}");
}

pub async fn queue_depth(queue: &str) -> u32 {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let q = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
    q.message_count()
}

pub async fn delete_queues(queue: &str) {
    if let Ok(conn) = common::amqp::connect(&amqp_url(), "user-service-tests").await {
        if let Ok(channel) = conn.create_channel().await {
            // The mail service's retry queues too, where a test ran one.
            let retries = (0..3).map(|level| format!("{queue}.retry.{level}"));
            for q in [queue.to_owned(), format!("{queue}.dead")]
                .into_iter()
                .chain(retries)
            {
                let _ = channel
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

pub async fn delete_exchange(exchange: &str) {
    if let Ok(conn) = common::amqp::connect(&amqp_url(), "user-service-tests").await {
        if let Ok(channel) = conn.create_channel().await {
            let _ = channel
                .exchange_delete(exchange.into(), Default::default())
                .await;
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

/// A private queue bound to the events exchange with `#`, to see every domain event the app
/// publishes. Declares the exchange itself (with the app's arguments) so it can be bound before
/// the app starts.
pub struct EventTap {
    connection: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
}

impl EventTap {
    pub async fn bind(exchange: &str) -> Self {
        let connection = common::amqp::connect(&amqp_url(), "user-service-tests")
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let queue = format!("events_tap_{}", Uuid::new_v4().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "#".into(),
                Default::default(),
                Default::default(),
            )
            .await
            .unwrap();
        Self {
            connection,
            channel,
            queue,
        }
    }

    /// The types of every event that arrives within `wait`.
    pub async fn drain(&self, wait: Duration) -> Vec<String> {
        self.drain_events(wait)
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every event that arrives within `wait`, whole.
    pub async fn drain_events(&self, wait: Duration) -> Vec<Value> {
        tokio::time::sleep(wait).await;
        let mut types = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let event: Value = serde_json::from_slice(&message.delivery.data).unwrap();
            // The routing key is the type, so consumers can bind by type.
            assert_eq!(
                event["type"].as_str(),
                Some(message.delivery.routing_key.as_str())
            );
            types.push(event);
        }
        types
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Every message on `queue` until none has arrived for `settle` (background sends included).
pub async fn drain_emails(queue: &str, settle: Duration) -> Vec<EmailMessage> {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut messages = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < settle {
        match channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(message) => {
                messages.push(EmailMessage::decode(&message.delivery.data).expect("valid"));
                quiet_since = std::time::Instant::now();
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _ = conn.close(200, "done".into()).await;
    messages
}
