//! The AMQP topology both services rely on, declared identically by each (RabbitMQ refuses a
//! second declaration with different arguments), and connection helpers.

use std::time::Duration;

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ConnectionProperties};

/// Default work queue name.
pub const DEFAULT_QUEUE: &str = "email_queue";

/// How many times RabbitMQ redelivers a message (after consumer crashes or requeues) before it
/// dead-letters it. Quorum queues on RabbitMQ < 4 have no default, which would let a message
/// that crashes consumers loop forever.
pub const DELIVERY_LIMIT: i64 = 20;
/// The hand-backs after which the mail service dead-letters a message itself, before the
/// broker's delivery limit would: the broker's copy loses its expiration on the way (RabbitMQ
/// strips it), ours keeps the dead-letter TTL, so a live token does not stay in the queue.
pub const LAST_HAND_BACK: i64 = DELIVERY_LIMIT - 2;
/// The quorum queue's count of earlier deliveries that were handed back (nack, a closed
/// channel or a crashed consumer).
pub const HEADER_DELIVERY_COUNT: &str = "x-delivery-count";

/// Header carrying why a message was dead-lettered by a consumer.
pub const HEADER_DEATH_REASON: &str = "x-death-reason";

/// Header counting a message's failed delivery attempts, set by the consumer when it moves the
/// message to a retry queue. Absent on a first attempt. Our own rather than `x-death`, whose
/// counts RabbitMQ keeps per queue and reason.
pub const HEADER_ATTEMPTS: &str = "x-mail-attempts";

/// Type of the retry queues (`RETRY_QUEUE_TYPE`).
///
/// Classic (the default, what earlier releases declared): a retry queue lives on one broker
/// node, so with that node down no message can wait for a retry, and declaring the queue
/// fails. Quorum: replicated like the work queue, for brokers of three or more nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetryQueueType {
    #[default]
    Classic,
    Quorum,
}

impl RetryQueueType {
    /// The `x-queue-type` argument.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryQueueType::Classic => "classic",
            RetryQueueType::Quorum => "quorum",
        }
    }
}

impl std::str::FromStr for RetryQueueType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classic" => Ok(RetryQueueType::Classic),
            "quorum" => Ok(RetryQueueType::Quorum),
            other => Err(format!("{other:?} is not classic or quorum")),
        }
    }
}

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

    /// Retry queue `level` (0-based): where a message waits before its `level + 2`th attempt.
    pub fn retry_queue(&self, level: usize) -> String {
        format!("{}.retry.{level}", self.queue)
    }

    /// Declares one retry queue per delay: durable queues of type `kind` whose messages expire
    /// after the delay and are then dead-lettered back to the work queue. Idempotent for
    /// unchanged delays and type. Only the consumer declares them (the publisher need not know
    /// the schedule), so [`Topology::declare`] is unaffected.
    ///
    /// Changing a delay or the type changes the queue's arguments, which RabbitMQ refuses for an
    /// existing queue (`PRECONDITION_FAILED`): delete the old retry queue once it is empty, or
    /// add levels.
    pub async fn declare_retries(
        &self,
        channel: &Channel,
        delays: &[Duration],
        kind: RetryQueueType,
    ) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        for (level, delay) in delays.iter().enumerate() {
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), string(kind.as_str()));
            args.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            );
            args.insert("x-dead-letter-exchange".into(), string(""));
            args.insert("x-dead-letter-routing-key".into(), string(&self.queue));
            if kind == RetryQueueType::Quorum {
                // An expired message leaves the retry queue only once the work queue has
                // confirmed its copy (the default, at-most-once, drops it if that fails).
                // RabbitMQ requires reject-publish overflow for this strategy.
                args.insert("x-dead-letter-strategy".into(), string("at-least-once"));
                args.insert("x-overflow".into(), string("reject-publish"));
            }
            channel
                .queue_declare(self.retry_queue(level).as_str().into(), durable, args)
                .await?;
        }
        Ok(())
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

/// The user name a connection to `url` authenticates as (lapin's default `guest` when the URL
/// names none): the only value RabbitMQ accepts in the `user_id` property of what that
/// connection publishes. `None` if the URL does not parse (connecting would fail too).
pub fn url_user(url: &str) -> Option<String> {
    url.parse::<lapin::uri::AMQPUri>()
        .ok()
        .map(|uri| uri.authority.userinfo.username)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_user_is_the_decoded_user_name_or_guest() {
        assert_eq!(
            url_user("amqp://mail%2Dsvc:pw@h:5672/%2f").as_deref(),
            Some("mail-svc")
        );
        assert_eq!(url_user("amqps://h/vhost").as_deref(), Some("guest"));
        assert_eq!(url_user("not a url"), None);
    }

    #[test]
    fn retry_queue_type_parses_the_two_types_only() {
        assert_eq!("classic".parse(), Ok(RetryQueueType::Classic));
        assert_eq!("quorum".parse(), Ok(RetryQueueType::Quorum));
        assert!("stream".parse::<RetryQueueType>().is_err());
        assert_eq!(RetryQueueType::default(), RetryQueueType::Classic);
    }
}
