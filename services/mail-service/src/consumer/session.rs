//! The session loop: a supervisor that keeps an AMQP session alive, consuming with a span per
//! delivery and draining in-flight messages on shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::amqp::{RetryQueueType, Topology};
use common::shutdown::Shutdown;
use common::telemetry::propagation;
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Channel, Connection, Consumer};
use secrecy::{ExposeSecret, SecretString};
use tracing::field::Empty;
use tracing::{Instrument, info, warn};

use super::delivery::Handler;
use super::routing::attempts;
use crate::metrics::Metrics;

/// First and longest wait between reconnection attempts.
const RECONNECT_MIN: Duration = Duration::from_millis(500);
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Wait between attempts at declaring the retry queues after one failed.
const REDECLARE_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// May carry a password: redacted in `Debug`.
    pub amqp_url: SecretString,
    pub topology: Topology,
    pub prefetch: u16,
    pub retry_delays: Vec<Duration>,
    pub retry_queue_type: RetryQueueType,
    pub shutdown_timeout: Duration,
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

/// One connection with its two channels and the consumer on the work queue.
struct Session {
    connection: Connection,
    /// Whether the retry queues were declared (see [`declare_retries`]).
    retries_declared: bool,
    consume: Channel,
    /// Dead-lettering publishes on its own channel in confirm mode: a confirm is the only
    /// proof the copy is stored before the original is acked.
    publish: Channel,
    consumer: Consumer,
}

impl Session {
    async fn open(settings: &ConsumerSettings, metrics: &Metrics) -> anyhow::Result<Session> {
        let connection =
            common::amqp::connect(settings.amqp_url.expose_secret(), "mail-service").await?;
        let consume = connection.create_channel().await?;
        let publish = connection.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        settings.topology.declare(&consume).await?;
        let retries_declared = declare_retries(&connection, settings, metrics).await;
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
        Ok(Session {
            connection,
            retries_declared,
            consume,
            publish,
            consumer,
        })
    }
}

/// One connection's life. `Ok` only after a clean shutdown; any other end is an error so the
/// supervisor reconnects.
async fn session(
    settings: &ConsumerSettings,
    handler: &Arc<Handler>,
    connected: &AtomicBool,
    shutdown: &Shutdown,
) -> anyhow::Result<()> {
    let Session {
        connection,
        retries_declared,
        consume,
        publish,
        consumer,
    } = Session::open(settings, &handler.metrics).await?;
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
        never = redeclare_retries(&connection, settings, &handler.metrics, retries_declared) => {
            match never {}
        }
        () = shutdown.wait() => {}
    }

    connected.store(false, Ordering::SeqCst);
    drain(&consume, tag, processing, settings.shutdown_timeout).await;
    close(&connection, [&consume, &publish]).await;
    Ok(())
}

/// Declares the retry queues on a channel of their own: a refused declaration closes its
/// channel. A failure (a classic retry queue whose node is down, arguments that changed) is
/// logged and counted but does not end the session: the work queue is consumed meanwhile, and
/// a message due for a retry is handed back to the work queue until a later attempt succeeds.
async fn declare_retries(
    connection: &Connection,
    settings: &ConsumerSettings,
    metrics: &Metrics,
) -> bool {
    let declared = async {
        let channel = connection.create_channel().await?;
        let topology = &settings.topology;
        topology
            .declare_retries(&channel, &settings.retry_delays, settings.retry_queue_type)
            .await?;
        channel.close(200, "declared".into()).await
    };
    match declared.await {
        Ok(()) => true,
        Err(e) => {
            metrics.retry_declare_failures.inc();
            warn!(error = %e, retry_in = ?REDECLARE_INTERVAL,
                "could not declare the retry queues; consuming without them");
            false
        }
    }
}

/// Tries again every [`REDECLARE_INTERVAL`] until the retry queues are declared, then waits
/// for ever (the session ends by other means).
async fn redeclare_retries(
    connection: &Connection,
    settings: &ConsumerSettings,
    metrics: &Metrics,
    mut declared: bool,
) -> Infallible {
    while !declared {
        tokio::time::sleep(REDECLARE_INTERVAL).await;
        declared = declare_retries(connection, settings, metrics).await;
    }
    std::future::pending().await
}

/// Cancels the consumer and gives the messages in flight `timeout` to finish.
async fn drain(
    consume: &Channel,
    tag: ShortString,
    processing: impl Future<Output = ()>,
    timeout: Duration,
) {
    info!("shutdown: cancelling consumer, finishing in-flight messages");
    if let Err(e) = consume
        .basic_cancel(tag, BasicCancelOptions::default())
        .await
    {
        warn!(error = %e, "could not cancel consumer");
    }
    // After the cancel the stream yields what was already delivered, then ends.
    if tokio::time::timeout(timeout, processing).await.is_err() {
        // Closing the channel returns the unacked messages to the queue.
        warn!("shutdown timeout reached with messages in flight; they will be redelivered");
    }
}

async fn close(connection: &Connection, channels: [&Channel; 2]) {
    for channel in channels {
        let _ = channel.close(200, "shutdown".into()).await;
    }
    if let Err(e) = connection.close(200, "shutdown".into()).await {
        warn!(error = %e, "could not close AMQP connection cleanly");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_debug_holds_no_password() {
        let settings = ConsumerSettings {
            amqp_url: "amqp://mail:s3cr3t@broker:5672/%2f".into(),
            topology: Topology::new("q"),
            prefetch: 1,
            retry_delays: vec![],
            retry_queue_type: RetryQueueType::Quorum,
            shutdown_timeout: Duration::from_secs(1),
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }
}
