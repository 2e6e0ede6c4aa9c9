//! The AMQP topology both services rely on, declared identically by each (RabbitMQ refuses a
//! second declaration with different arguments), and connection helpers.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

/// Default work queue name.
pub const DEFAULT_QUEUE: &str = "email_queue";

/// How many times RabbitMQ redelivers a message (after consumer crashes or requeues) before it
/// dead-letters it. Quorum queues on RabbitMQ < 4 have no default, which would let a message
/// that crashes consumers loop forever.
pub const DELIVERY_LIMIT: i64 = 20;

/// Header carrying why a message was dead-lettered by a consumer.
pub const HEADER_DEATH_REASON: &str = "x-death-reason";

/// Names of the queues derived from the work queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub queue: String,
}

impl Topology {
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
        }
    }

    /// Where permanently failed messages are parked, with the reason in their headers.
    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// Declares the work queue and its dead-letter queue. Idempotent.
    ///
    /// Both are quorum queues: replicated and durable, with a delivery limit so a poison
    /// message cannot be redelivered forever.
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut dead_args = FieldTable::default();
        dead_args.insert("x-queue-type".into(), string("quorum"));
        channel
            .queue_declare(self.dead_letter_queue().as_str().into(), durable, dead_args)
            .await?;

        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), string("quorum"));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongLongInt(DELIVERY_LIMIT),
        );
        args.insert("x-dead-letter-exchange".into(), string(""));
        args.insert(
            "x-dead-letter-routing-key".into(),
            string(&self.dead_letter_queue()),
        );
        channel
            .queue_declare(self.queue.as_str().into(), durable, args)
            .await?;
        Ok(())
    }
}

fn string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// Opens a connection named after the service, so `rabbitmqctl list_connections` and the
/// management UI tell replicas apart.
pub async fn connect(url: &str, service: &str) -> lapin::Result<Connection> {
    let name = format!(
        "{service}@{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into())
    );
    let props = ConnectionProperties::default().with_connection_name(name.into());
    Connection::connect(url, props).await
}

/// A header value as text, if it is one.
pub fn header_str<'a>(headers: &'a FieldTable, name: &str) -> Option<&'a str> {
    let key: ShortString = name.into();
    match headers.inner().get(&key)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    }
}
