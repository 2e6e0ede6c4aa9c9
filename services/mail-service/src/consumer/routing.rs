//! Retry routing: where a handled delivery goes (acked, or a copy to the next retry queue or
//! the dead-letter queue), the copy's properties, and the confirmed publish that moves it.

use std::time::Duration;

use common::amqp::{HEADER_ATTEMPTS, HEADER_DEATH_REASON, HEADER_DELIVERY_COUNT, Topology};
use common::telemetry::propagation;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, ShortString};
use lapin::{BasicProperties, Channel};

use crate::metrics::Outcome;

/// Reasons are for humans reading the dead-letter queue; bound them like any header.
const MAX_REASON_LEN: usize = 1024;

/// What to do with a delivery once it has been handled.
pub(super) enum Disposition {
    /// Done: sent now, or before.
    Ack(Outcome),
    /// Failed in a way that may pass: try again after the next retry delay.
    Retry(String),
    /// Another replica is sending it; look again after the first retry delay without counting
    /// an attempt.
    Defer,
    /// Can never succeed.
    DeadLetter(String),
}

/// Where a delivery goes: acked in place, or moved as a copy.
pub(super) enum Route {
    Ack(Outcome),
    Move(Box<Move>),
}

/// A copy of the delivery for `queue`, with the properties it is published with.
pub(super) struct Move {
    pub queue: String,
    pub props: BasicProperties,
    pub outcome: Outcome,
    pub reason: String,
}

/// The retry and dead-letter queues, and how copies are published to them.
#[derive(Debug, Clone)]
pub struct RetryRouting {
    pub topology: Topology,
    pub retry_delays: Vec<Duration>,
    /// This service's broker user: the `user_id` of every copy it publishes (RabbitMQ refuses
    /// any other), so its retries come back as trusted.
    pub own_user: String,
    /// Per-message TTL of the copies it dead-letters.
    pub dead_letter_ttl: Duration,
}

impl RetryRouting {
    /// Where a delivery that failed `attempts` times before goes after `disposition`.
    pub(super) fn route(
        &self,
        disposition: Disposition,
        attempts: u32,
        original: &BasicProperties,
    ) -> Route {
        match self.give_up_after_last_retry(disposition, attempts) {
            Disposition::Ack(outcome) => Route::Ack(outcome),
            Disposition::Retry(reason) => Route::Move(Box::new(Move {
                queue: self.topology.retry_queue(attempts as usize),
                props: with_header(
                    self.copy_properties(original),
                    HEADER_ATTEMPTS,
                    AMQPValue::LongUInt(attempts + 1),
                ),
                outcome: Outcome::Retried,
                reason,
            })),
            Disposition::Defer => Route::Move(Box::new(Move {
                queue: self.topology.retry_queue(0),
                props: self.copy_properties(original),
                outcome: Outcome::Deferred,
                reason: "another replica is sending it".to_owned(),
            })),
            Disposition::DeadLetter(reason) => Route::Move(Box::new(Move {
                queue: self.topology.dead_letter_queue(),
                props: with_header(
                    self.copy_properties(original),
                    HEADER_DEATH_REASON,
                    AMQPValue::LongString(truncate(&reason, MAX_REASON_LEN).into()),
                )
                // The copy may hold a live token: it leaves the dead-letter queue after the TTL
                // (a per-message TTL, since the queue's arguments cannot change in place).
                .with_expiration(self.dead_letter_ttl.as_millis().to_string().into()),
                outcome: Outcome::DeadLettered,
                reason,
            })),
        }
    }

    /// A transient failure after the last retry becomes permanent.
    fn give_up_after_last_retry(&self, disposition: Disposition, attempts: u32) -> Disposition {
        match disposition {
            Disposition::Retry(reason) if attempts as usize >= self.retry_delays.len() => {
                Disposition::DeadLetter(format!(
                    "gave up after {} attempts: {reason}",
                    attempts + 1
                ))
            }
            other => other,
        }
    }

    /// The copy's properties, published as this service's broker user.
    fn copy_properties(&self, original: &BasicProperties) -> BasicProperties {
        copy_properties(original).with_user_id(self.own_user.as_str().into())
    }
}

/// `props` with the current span's trace context in place of the one it arrived with.
pub(super) fn with_trace(props: BasicProperties) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    propagation::inject_amqp(&propagation::current_carrier(), &mut headers);
    props.with_headers(headers)
}

/// Publishes on a confirm-mode channel and waits for the broker to take responsibility.
pub(super) async fn publish_confirmed(
    publish: &Channel,
    queue: &str,
    body: &[u8],
    props: BasicProperties,
) -> anyhow::Result<()> {
    let confirmation = publish
        .basic_publish(
            "".into(),
            queue.into(),
            // Mandatory: a missing queue comes back as a return instead of vanishing.
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            props,
        )
        .await?
        .await?;
    // `Confirmation` is not exported by lapin, hence the predicates.
    if !confirmation.is_ack() {
        anyhow::bail!("broker refused the copy");
    }
    if confirmation.take_message().is_some() {
        anyhow::bail!("queue {queue} missing: the copy was returned");
    }
    Ok(())
}

/// Failed attempts so far, from our header.
pub(super) fn attempts(props: &BasicProperties) -> u32 {
    header_count(props, HEADER_ATTEMPTS)
}

/// How often the broker handed this delivery back before (`x-delivery-count`; 0 when absent).
pub(super) fn handed_back(props: &BasicProperties) -> u32 {
    header_count(props, HEADER_DELIVERY_COUNT)
}

fn header_count(props: &BasicProperties, name: &str) -> u32 {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(&ShortString::from(name)))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
            _ => None,
        })
        .unwrap_or(0)
}

/// The original's identifying properties, persistent. Expiration, priority and `user_id` are
/// left out: a parked message gets the dead-letter TTL, a retry's delay is the retry queue's,
/// and RabbitMQ only accepts our own user as `user_id` (set by `RetryRouting::copy_properties`).
fn copy_properties(original: &BasicProperties) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(original.headers().clone().unwrap_or_default());
    if let Some(v) = original.content_type() {
        props = props.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        props = props.with_content_encoding(v.clone());
    }
    if let Some(v) = original.message_id() {
        props = props.with_message_id(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        props = props.with_correlation_id(v.clone());
    }
    if let Some(v) = original.timestamp() {
        props = props.with_timestamp(*v);
    }
    if let Some(v) = original.kind() {
        props = props.with_type(v.clone());
    }
    if let Some(v) = original.app_id() {
        props = props.with_app_id(v.clone());
    }
    props
}

fn with_header(props: BasicProperties, name: &str, value: AMQPValue) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    headers.insert(name.into(), value);
    props.with_headers(headers)
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::amqp::header_str;
    use lapin::types::FieldTable;

    #[test]
    fn copies_keep_identity_and_add_headers() {
        let mut headers = FieldTable::default();
        headers.insert("trace".into(), AMQPValue::LongString("abc".into()));
        let original = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id("m-1".into())
            .with_expiration("1000".into())
            .with_headers(headers);
        let props = with_header(
            copy_properties(&original),
            HEADER_DEATH_REASON,
            AMQPValue::LongString("bad body".into()),
        );
        let headers = props.headers().as_ref().unwrap();
        assert_eq!(header_str(headers, HEADER_DEATH_REASON), Some("bad body"));
        assert_eq!(header_str(headers, "trace"), Some("abc"));
        assert_eq!(props.message_id().as_ref().unwrap().as_str(), "m-1");
        assert_eq!(*props.delivery_mode(), Some(2));
        assert!(props.expiration().is_none());
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("äbc", 1), "");
        assert_eq!(truncate("äbc", 2), "ä");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn attempts_come_from_our_header() {
        assert_eq!(attempts(&BasicProperties::default()), 0);
        let props = with_header(
            BasicProperties::default(),
            HEADER_ATTEMPTS,
            AMQPValue::LongUInt(2),
        );
        assert_eq!(attempts(&props), 2);
        // Other clients (a shovel, an operator's script) may re-encode the number.
        let props = with_header(props, HEADER_ATTEMPTS, AMQPValue::LongLongInt(3));
        assert_eq!(attempts(&props), 3);
    }
}
