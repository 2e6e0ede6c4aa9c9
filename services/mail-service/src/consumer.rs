//! The queue consumer: a supervisor that keeps an AMQP session alive, and the handling of
//! one delivery (decode, render, send, then ack, dead-letter or requeue).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::amqp::{HEADER_DEATH_REASON, Topology};
use common::email::EmailMessage;
use common::shutdown::Shutdown;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use serde_json::Value;
use tracing::{info, warn};

use crate::metrics::{Metrics, Outcome};
use crate::smtp::{Mailer, SendError};
use crate::templates::Templates;

/// First and longest wait between reconnection attempts.
const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Bounds of the pause before requeueing after a transient SMTP failure. The pause keeps a
/// relay outage from spinning through the queue's delivery limit in milliseconds.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Reasons are for humans reading the dead-letter queue; bound them like any header.
const MAX_REASON_LEN: usize = 1024;

/// Label for messages whose kind is unknown because they did not decode.
const UNKNOWN_KIND: &str = "unknown";

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    pub amqp_url: String,
    pub topology: Topology,
    pub prefetch: u16,
    pub shutdown_timeout: Duration,
}

/// Everything needed to process one delivery, shared by all of them.
pub struct Handler {
    pub templates: Templates,
    pub mailer: Mailer,
    pub metrics: Metrics,
    pub dead_letter_queue: String,
}

/// Consumes until shutdown, reconnecting whenever the session fails. `connected` tells
/// readiness whether a consumer is currently attached to the queue.
pub async fn run(
    settings: ConsumerSettings,
    handler: Arc<Handler>,
    connected: Arc<AtomicBool>,
    shutdown: Shutdown,
) {
    let mut backoff = RECONNECT_MIN;
    while !shutdown.is_triggered() {
        let result = session(&settings, &handler, &connected, &shutdown).await;
        // A session that got as far as consuming was healthy: start the backoff afresh.
        if connected.swap(false, Ordering::SeqCst) {
            backoff = RECONNECT_MIN;
        }
        match result {
            Ok(()) => break,
            Err(e) => warn!(error = %e, retry_in = ?backoff, "AMQP session ended"),
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = shutdown.wait() => break,
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
    info!("consumer stopped");
}

/// One connection's life. `Ok` only after a clean shutdown; any other end is an error so the
/// supervisor reconnects.
async fn session(
    settings: &ConsumerSettings,
    handler: &Arc<Handler>,
    connected: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let connection = common::amqp::connect(&settings.amqp_url, "mail-service").await?;
    let consume = connection.create_channel().await?;
    // Dead-lettering publishes on its own channel in confirm mode: a confirm is the only proof
    // the copy is stored before the original is acked.
    let publish = connection.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    settings.topology.declare(&consume).await?;
    consume
        .basic_qos(settings.prefetch, BasicQosOptions::default())
        .await?;
    let consumer = consume
        .basic_consume(
            settings.topology.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let tag = consumer.tag();
    connected.store(true, Ordering::SeqCst);
    info!(queue = %settings.topology.queue, prefetch = settings.prefetch, "consuming");

    let processing = consumer.for_each_concurrent(usize::from(settings.prefetch), |delivery| {
        let publish = &publish;
        async move {
            match delivery {
                Ok(delivery) => handler.handle(delivery, publish, shutdown).await,
                Err(e) => warn!(error = %e, "consumer error"),
            }
        }
    });
    tokio::pin!(processing);

    tokio::select! {
        () = &mut processing => {
            // The stream ends when the connection or channel dies, or the broker cancels us
            // (queue deleted): either way, start over.
            return Err(anyhow::anyhow!("consumer stream ended"));
        }
        () = shutdown.wait() => {}
    }

    connected.store(false, Ordering::SeqCst);
    info!("shutdown: cancelling consumer, finishing in-flight messages");
    if let Err(e) = consume
        .basic_cancel(tag, BasicCancelOptions::default())
        .await
    {
        warn!(error = %e, "could not cancel consumer");
    }
    // After the cancel the stream yields what was already delivered, then ends.
    if tokio::time::timeout(settings.shutdown_timeout, processing)
        .await
        .is_err()
    {
        // Closing the channel returns the unacked messages to the queue.
        warn!("shutdown timeout reached with messages in flight; they will be redelivered");
    }
    close(&connection, [&consume, &publish]).await;
    Ok(())
}

async fn close(connection: &Connection, channels: [&Channel; 2]) {
    for channel in channels {
        let _ = channel.close(200, "shutdown".into()).await;
    }
    if let Err(e) = connection.close(200, "shutdown".into()).await {
        warn!(error = %e, "could not close AMQP connection cleanly");
    }
}

/// What to do with a delivery once it has been handled.
enum Disposition {
    Ack,
    DeadLetter(String),
    Requeue,
}

impl Handler {
    async fn handle(&self, delivery: Delivery, publish: &Channel, shutdown: &Shutdown) {
        self.metrics.in_flight.inc();
        let _in_flight = scopeguard(|| self.metrics.in_flight.dec());

        let (kind, message_id, disposition) = match EmailMessage::decode(&delivery.data) {
            Ok(message) => {
                let disposition = self.deliver(&message, &delivery, shutdown).await;
                (message.kind.as_str(), Some(message.message_id), disposition)
            }
            Err(e) => (UNKNOWN_KIND, None, Disposition::DeadLetter(e.to_string())),
        };

        let result = match &disposition {
            Disposition::Ack => {
                self.metrics.consumed(kind, Outcome::Sent);
                info!(?message_id, kind, outcome = "sent", "email sent");
                delivery.acker.ack(BasicAckOptions::default()).await
            }
            Disposition::DeadLetter(reason) => {
                match self.dead_letter(&delivery, publish, reason).await {
                    Ok(()) => {
                        self.metrics.consumed(kind, Outcome::DeadLettered);
                        warn!(
                            ?message_id,
                            amqp_message_id = ?delivery.properties.message_id(),
                            kind,
                            outcome = "dead_lettered",
                            %reason,
                            "message dead-lettered"
                        );
                        delivery.acker.ack(BasicAckOptions::default()).await
                    }
                    Err(e) => {
                        // Not stored elsewhere, so it must go back to the queue; the
                        // delivery limit ends the loop if the dead-letter queue stays broken.
                        self.metrics.consumed(kind, Outcome::Retried);
                        warn!(?message_id, kind, outcome = "retried", error = %e,
                            "could not dead-letter message; requeueing");
                        requeue(&delivery).await
                    }
                }
            }
            Disposition::Requeue => {
                self.metrics.consumed(kind, Outcome::Retried);
                requeue(&delivery).await
            }
        };
        if let Err(e) = result {
            // The channel is gone; the broker redelivers the message on the next session.
            warn!(?message_id, kind, error = %e, "could not settle delivery");
        }
    }

    async fn deliver(
        &self,
        message: &EmailMessage,
        delivery: &Delivery,
        shutdown: &Shutdown,
    ) -> Disposition {
        if let Ok(age) = (Utc::now() - message.created_at).to_std() {
            self.metrics.message_age.observe(age.as_secs_f64());
        }
        let mut data = message.data.clone();
        if let Some(name) = &message.to.name {
            data.entry("name")
                .or_insert_with(|| Value::String(name.clone()));
        }
        let rendered = match self.templates.render(message.kind, &message.locale, &data) {
            Ok(r) => r,
            Err(e) => return Disposition::DeadLetter(e.to_string()),
        };

        let started = Instant::now();
        let result = self
            .mailer
            .send(
                message.message_id,
                &message.to.email,
                message.to.name.as_deref(),
                &rendered,
            )
            .await;
        self.metrics
            .smtp_send_duration
            .observe(started.elapsed().as_secs_f64());

        match result {
            Ok(()) => Disposition::Ack,
            Err(e @ SendError::Permanent(_)) => Disposition::DeadLetter(e.to_string()),
            Err(e @ SendError::Transient(_)) => {
                let delay = retry_delay(delivery);
                warn!(message_id = %message.message_id, kind = message.kind.as_str(),
                    outcome = "retried", error = %e, ?delay, "transient send failure");
                // At shutdown, hand it back at once rather than hold up the drain.
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.wait() => {}
                }
                Disposition::Requeue
            }
        }
    }

    /// Copies the delivery to the dead-letter queue with the reason attached and waits for the
    /// broker's confirm.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        publish: &Channel,
        reason: &str,
    ) -> anyhow::Result<()> {
        let confirmation = publish
            .basic_publish(
                "".into(),
                self.dead_letter_queue.as_str().into(),
                // Mandatory: a missing queue comes back as a return instead of vanishing.
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &delivery.data,
                dead_letter_properties(&delivery.properties, reason),
            )
            .await?
            .await?;
        // `Confirmation` is not exported by lapin, hence the predicates.
        if !confirmation.is_ack() {
            anyhow::bail!("broker refused the dead-lettered copy");
        }
        if confirmation.take_message().is_some() {
            anyhow::bail!("dead-letter queue missing: the copy was returned");
        }
        Ok(())
    }
}

async fn requeue(delivery: &Delivery) -> lapin::Result<bool> {
    delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await
}

/// Longer pauses for messages that have failed before. Quorum queues count deliveries in
/// `x-delivery-count`.
fn retry_delay(delivery: &Delivery) -> Duration {
    let count = delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(&ShortString::from("x-delivery-count")))
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongUInt(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    (RETRY_MIN * 2u32.saturating_pow(count.min(8))).min(RETRY_MAX)
}

/// The original's identifying properties plus the reason, persistent. Expiration and
/// priority are left out: a parked message must not expire before someone looks at it.
fn dead_letter_properties(original: &BasicProperties, reason: &str) -> BasicProperties {
    let mut headers = original.headers().clone().unwrap_or_default();
    headers.insert(
        HEADER_DEATH_REASON.into(),
        AMQPValue::LongString(truncate(reason, MAX_REASON_LEN).into()),
    );
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(headers);
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

/// Runs `f` when dropped, so the in-flight gauge is right even if the task is cancelled.
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::amqp::header_str;

    #[test]
    fn dead_letter_copy_keeps_identity_and_adds_reason() {
        let mut headers = FieldTable::default();
        headers.insert("trace".into(), AMQPValue::LongString("abc".into()));
        let original = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id("m-1".into())
            .with_expiration("1000".into())
            .with_headers(headers);
        let props = dead_letter_properties(&original, "bad body");
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
    fn retry_delay_grows_and_is_bounded() {
        let mut d = Delivery::mock(1, "".into(), "q".into(), false, vec![]);
        assert_eq!(retry_delay(&d), RETRY_MIN);
        let mut headers = FieldTable::default();
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(1));
        d.properties = BasicProperties::default().with_headers(headers.clone());
        assert_eq!(retry_delay(&d), Duration::from_secs(2));
        headers.insert("x-delivery-count".into(), AMQPValue::LongLongInt(19));
        d.properties = BasicProperties::default().with_headers(headers);
        assert_eq!(retry_delay(&d), RETRY_MAX);
    }
}
