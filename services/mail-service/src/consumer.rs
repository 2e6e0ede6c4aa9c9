//! The queue consumer: a supervisor that keeps an AMQP session alive, and the handling of
//! one delivery (decode, render, claim, send, record, then ack it or move it to a retry or the
//! dead-letter queue). The whole flow is described in `docs/mail-delivery.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::amqp::{HEADER_ATTEMPTS, HEADER_DEATH_REASON, Topology};
use common::email::EmailMessage;
use common::shutdown::Shutdown;
use common::telemetry::propagation;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tracing::field::Empty;
use tracing::{Instrument, error, info, warn};
use uuid::Uuid;

use crate::gate::{Gate, Refusal};
use crate::idempotency::{Claim, ClaimOutcome, SentLog};
use crate::metrics::{Metrics, Outcome};
use crate::smtp::{Mailer, SendError};
use crate::templates::TemplateStore;

/// First and longest wait between reconnection attempts.
const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Pause before handing a message back to the work queue when it could not be moved to its
/// retry or dead-letter queue.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);
/// Tries at writing the sent record before giving up (and acking anyway).
const RECORD_ATTEMPTS: u32 = 3;
/// Reasons are for humans reading the dead-letter queue; bound them like any header.
const MAX_REASON_LEN: usize = 1024;

/// Label for messages whose kind is unknown because they did not decode.
const UNKNOWN_KIND: &str = "unknown";

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// May carry a password: redacted in `Debug`.
    pub amqp_url: SecretString,
    pub topology: Topology,
    pub prefetch: u16,
    pub retry_delays: Vec<Duration>,
    pub shutdown_timeout: Duration,
}

/// Everything needed to process one delivery, shared by all of them.
pub struct Handler {
    pub templates: TemplateStore,
    pub mailer: Mailer,
    pub sent_log: SentLog,
    pub metrics: Metrics,
    pub topology: Topology,
    pub retry_delays: Vec<Duration>,
    /// Publisher, link and expiry checks before anything is sent.
    pub gate: Gate,
    /// This service's broker user: the `user_id` of every copy it publishes (RabbitMQ refuses
    /// any other), so its retries come back as trusted.
    pub own_user: String,
    /// Per-message TTL of the copies it dead-letters.
    pub dead_letter_ttl: Duration,
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
    let connection =
        common::amqp::connect(settings.amqp_url.expose_secret(), "mail-service").await?;
    let consume = connection.create_channel().await?;
    // Dead-lettering publishes on its own channel in confirm mode: a confirm is the only proof
    // the copy is stored before the original is acked.
    let publish = connection.create_channel().await?;
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    settings.topology.declare(&consume).await?;
    settings
        .topology
        .declare_retries(&consume, &settings.retry_delays)
        .await?;
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
                Ok(delivery) => {
                    let span = consume_span(&delivery);
                    handler.handle(delivery, publish).instrument(span).await
                }
                Err(e) => warn!(error = %e, "consumer error"),
            }
        }
    });
    tokio::pin!(processing);

    // Without its publishing channel the session could still consume but never retry or
    // dead-letter (every such message would be requeued over and over): start over instead.
    let publish_lost = async {
        while publish.status().connected() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        () = &mut processing => {
            // The stream ends when the connection or channel dies, or the broker cancels us
            // (queue deleted): either way, start over.
            return Err(anyhow::anyhow!("consumer stream ended"));
        }
        () = publish_lost => {
            return Err(anyhow::anyhow!("publishing channel closed"));
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

impl Handler {
    async fn handle(&self, delivery: Delivery, publish: &Channel) {
        self.metrics.in_flight.inc();
        let _in_flight = scopeguard(|| self.metrics.in_flight.dec());

        let attempts = attempts(&delivery.properties);
        let (kind, message_id, disposition) = self.triage(&delivery).await;
        let span = tracing::Span::current();
        span.record("email_kind", kind);

        // A transient failure after the last retry becomes permanent.
        let disposition = match disposition {
            Disposition::Retry(reason) if attempts as usize >= self.retry_delays.len() => {
                Disposition::DeadLetter(format!(
                    "gave up after {} attempts: {reason}",
                    attempts + 1
                ))
            }
            other => other,
        };

        let (queue, props, outcome, reason) = match disposition {
            Disposition::Ack(outcome) => {
                span.record("outcome", outcome.as_str());
                self.metrics.consumed(kind, outcome);
                info!(
                    ?message_id,
                    kind,
                    outcome = outcome.as_str(),
                    "message done"
                );
                if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                    unsettled(message_id, kind, &e);
                }
                return;
            }
            Disposition::Retry(reason) => (
                self.topology.retry_queue(attempts as usize),
                with_header(
                    self.copy_properties(&delivery.properties),
                    HEADER_ATTEMPTS,
                    AMQPValue::LongUInt(attempts + 1),
                ),
                Outcome::Retried,
                reason,
            ),
            Disposition::Defer => (
                self.topology.retry_queue(0),
                self.copy_properties(&delivery.properties),
                Outcome::Deferred,
                "another replica is sending it".to_owned(),
            ),
            Disposition::DeadLetter(reason) => (
                self.topology.dead_letter_queue(),
                with_header(
                    self.copy_properties(&delivery.properties),
                    HEADER_DEATH_REASON,
                    AMQPValue::LongString(truncate(&reason, MAX_REASON_LEN).into()),
                )
                // The copy may hold a live token: it leaves the dead-letter queue after the TTL
                // (a per-message TTL, since the queue's arguments cannot change in place).
                .with_expiration(self.dead_letter_ttl.as_millis().to_string().into()),
                Outcome::DeadLettered,
                reason,
            ),
        };

        span.record("outcome", outcome.as_str());
        if matches!(outcome, Outcome::Retried | Outcome::DeadLettered) {
            span.record("otel.status_code", "error");
        }
        // The copy continues this trace: its next delivery is a child of this one.
        let props = with_trace(props);
        // A copy goes to `queue` and only once the broker has confirmed it is the original
        // acked; otherwise the original goes back to the work queue. So a message is never in
        // neither place (and for the instant between confirm and ack possibly in both, which
        // the sent record absorbs).
        let result = match publish_confirmed(publish, &queue, &delivery.data, props).await {
            Ok(()) => {
                self.metrics.consumed(kind, outcome);
                warn!(?message_id, amqp_message_id = ?delivery.properties.message_id(), kind,
                    outcome = outcome.as_str(), queue, %reason, "message moved");
                delivery.acker.ack(BasicAckOptions::default()).await
            }
            Err(e) => {
                span.record("outcome", Outcome::Requeued.as_str());
                self.metrics.consumed(kind, Outcome::Requeued);
                warn!(?message_id, kind, outcome = "requeued", queue, error = %e,
                    "could not move message; requeueing");
                // A pause, so a broken target queue does not spin the message through the
                // work queue's delivery limit in milliseconds.
                tokio::time::sleep(REQUEUE_PAUSE).await;
                requeue(&delivery).await
            }
        };
        if let Err(e) = result {
            unsettled(message_id, kind, &e);
        }
    }

    /// Decodes and checks a delivery, and sends it if it passes. Returns its kind label and
    /// message id for the metrics and logs.
    async fn triage(&self, delivery: &Delivery) -> (&'static str, Option<Uuid>, Disposition) {
        let publisher = self.gate.check_publisher(&delivery.properties);
        match EmailMessage::decode(&delivery.data) {
            Ok(message) => {
                if let Ok(age) = (Utc::now() - message.created_at).to_std() {
                    self.metrics.message_age.observe(age.as_secs_f64());
                }
                let checked =
                    publisher.and_then(|()| self.gate.check_message(&message, Utc::now()));
                let disposition = match checked {
                    Ok(()) => self.deliver(&message).await,
                    Err(refusal) => self.refuse(&refusal),
                };
                (message.kind.as_str(), Some(message.message_id), disposition)
            }
            Err(e) => {
                if let Some(age) = amqp_age(&delivery.properties) {
                    self.metrics.message_age.observe(age.as_secs_f64());
                }
                let disposition = match publisher {
                    Ok(()) => Disposition::DeadLetter(common::error_chain(&e)),
                    Err(refusal) => self.refuse(&refusal),
                };
                (UNKNOWN_KIND, None, disposition)
            }
        }
    }

    fn refuse(&self, refusal: &Refusal) -> Disposition {
        self.metrics.refused(refusal.code());
        Disposition::DeadLetter(refusal.reason())
    }

    /// The copy's properties, published as this service's broker user.
    fn copy_properties(&self, original: &BasicProperties) -> BasicProperties {
        copy_properties(original).with_user_id(self.own_user.as_str().into())
    }

    async fn deliver(&self, message: &EmailMessage) -> Disposition {
        let mut data = message.data.clone();
        if let Some(name) = &message.to.name {
            data.entry("name")
                .or_insert_with(|| Value::String(name.clone()));
        }
        // Rendered before claiming: a template error is permanent and needs no claim.
        let rendered = match tracing::info_span!(
            "email.render",
            email_kind = message.kind.as_str(),
            locale = %message.locale
        )
        .in_scope(|| {
            self.templates
                .current()
                .render(message.kind, &message.locale, &data)
        }) {
            Ok(r) => r,
            Err(e) => return Disposition::DeadLetter(common::error_chain(&e)),
        };

        let slot = match self.mailer.slot().await {
            Ok(slot) => slot,
            Err(e) => return Disposition::Retry(common::error_chain(&e)),
        };
        let claim = match self.sent_log.claim(message.message_id).await {
            Ok(ClaimOutcome::Claimed(claim)) => claim,
            Ok(ClaimOutcome::AlreadySent) => return Disposition::Ack(Outcome::Duplicate),
            Ok(ClaimOutcome::Busy) => return Disposition::Defer,
            // Without the record a send could duplicate one: wait for Redis instead.
            Err(e) => return Disposition::Retry(format!("idempotency store unavailable: {e}")),
        };

        let started = Instant::now();
        let send_span = tracing::info_span!(
            "smtp.send",
            otel.kind = "client",
            otel.status_code = Empty,
            message_id = %message.message_id,
            result = Empty,
        );
        let result = slot
            .send(
                message.message_id,
                &message.to.email,
                message.to.name.as_deref(),
                &rendered,
            )
            .instrument(send_span.clone())
            .await;
        let class = match &result {
            Ok(()) => "accepted",
            Err(SendError::Transient(_)) => "transient",
            Err(SendError::Permanent(_)) => "permanent",
        };
        send_span.record("result", class);
        if result.is_err() {
            send_span.record("otel.status_code", "error");
        }
        self.metrics
            .smtp_send_duration
            .with_label_values(&[class])
            .observe(started.elapsed().as_secs_f64());

        match result {
            Ok(()) => {
                self.record_sent(&claim, message).await;
                Disposition::Ack(Outcome::Sent)
            }
            Err(e) => {
                self.metrics.smtp_failed(message.kind.as_str(), class);
                if let Err(re) = self.sent_log.release(claim).await {
                    // The claim expires on its own; the retry may just be deferred once.
                    warn!(message_id = %message.message_id, error = %re, "could not release claim");
                }
                let reason = common::error_chain(&e);
                match e {
                    SendError::Permanent(_) => Disposition::DeadLetter(reason),
                    SendError::Transient(_) => Disposition::Retry(reason),
                }
            }
        }
    }

    /// The relay has the message: from here until the record exists, a crash means a
    /// duplicate. Retried briefly; if Redis stays away the message is still acked, since
    /// redelivering it would certainly duplicate it, and the claim keeps other replicas off it
    /// until it expires.
    async fn record_sent(&self, claim: &Claim, message: &EmailMessage) {
        for attempt in 1..=RECORD_ATTEMPTS {
            match self.sent_log.record_sent(claim).await {
                Ok(()) => return,
                Err(e) if attempt == RECORD_ATTEMPTS => {
                    error!(message_id = %message.message_id, error = %e,
                        "email sent but not recorded: a redelivery could duplicate it");
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await,
            }
        }
    }
}

/// The span of one delivery, continuing the trace its publisher put in the headers (the
/// request that caused the email, or this service's previous attempt at it).
fn consume_span(delivery: &Delivery) -> tracing::Span {
    let props = &delivery.properties;
    let span = tracing::info_span!(
        "email.consume",
        otel.name = "email_queue process",
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "rabbitmq",
        messaging.message.id = props.message_id().as_ref().map(|id| id.as_str()),
        attempt = attempts(props) + 1,
        email_kind = Empty,
        outcome = Empty,
    );
    propagation::continue_from_amqp(&span, props.headers().as_ref());
    span
}

/// `props` with the current span's trace context in place of the one it arrived with.
fn with_trace(props: BasicProperties) -> BasicProperties {
    let mut headers = props.headers().clone().unwrap_or_default();
    propagation::inject_amqp(&propagation::current_carrier(), &mut headers);
    props.with_headers(headers)
}

fn unsettled(message_id: Option<Uuid>, kind: &str, e: &lapin::Error) {
    // The channel is gone; the broker redelivers the message on the next session.
    warn!(?message_id, kind, error = %e, "could not settle delivery");
}

/// Publishes on a confirm-mode channel and waits for the broker to take responsibility.
async fn publish_confirmed(
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
fn attempts(props: &BasicProperties) -> u32 {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(&ShortString::from(HEADER_ATTEMPTS)))
        .and_then(|v| match v {
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::ShortUInt(n) => Some(u32::from(*n)),
            _ => None,
        })
        .unwrap_or(0)
}

/// Age from the AMQP timestamp (whole seconds), for bodies without a readable `created_at`.
fn amqp_age(props: &BasicProperties) -> Option<Duration> {
    let sent = (*props.timestamp())?;
    let now = u64::try_from(Utc::now().timestamp()).ok()?;
    now.checked_sub(sent).map(Duration::from_secs)
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

/// The original's identifying properties, persistent. Expiration, priority and `user_id` are
/// left out: a parked message gets the dead-letter TTL, a retry's delay is the retry queue's,
/// and RabbitMQ only accepts our own user as `user_id` (set by `Handler::copy_properties`).
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
    fn settings_debug_holds_no_password() {
        let settings = ConsumerSettings {
            amqp_url: "amqp://mail:s3cr3t@broker:5672/%2f".into(),
            topology: Topology::new("q"),
            prefetch: 1,
            retry_delays: vec![],
            shutdown_timeout: Duration::from_secs(1),
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
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
