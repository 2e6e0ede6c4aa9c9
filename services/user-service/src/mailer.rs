//! Getting emails from the outbox onto `email_queue`, and domain events onto the events exchange.
//!
//! The request that writes an outbox entry publishes it at once (fast path) and deletes it on
//! the broker's confirm. Whatever is left, because the broker was down or the process died, is
//! published by the relay, which polls the outbox on every replica. An email can thus be
//! published twice (publish confirmed, delete failed); the mail service drops duplicates by
//! message id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::amqp::Topology;
use common::shutdown::Shutdown;
use common::telemetry::propagation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ExchangeKind};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::Metrics;
use crate::store::outbox::{Destination, OutboxEntry, OutboxStore};
use crate::store::{StoreError, chain};

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a publisher owns an entry before another may try it.
const LEASE_SECS: i64 = 30;

/// Why a publish failed; the driver's error stays the cause (logs and spans get the chain).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker unreachable")]
    Connect(#[source] lapin::Error),
    #[error("connecting to the broker timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("publish failed")]
    Publish(#[source] lapin::Error),
    #[error("broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("broker refused the message: {0}")]
    Refused(String),
    /// The service is stopping: the entry stays in the outbox for a relay to publish.
    #[error("the publisher is closed (the service is stopping)")]
    Closed,
}

/// A lazily (re)connected AMQP channel in confirm mode.
pub struct Publisher {
    url: SecretString,
    /// The broker user of `url`, set as every message's `user_id`: RabbitMQ checks it against
    /// the connection's user, so the mail service can trust it.
    user: Option<String>,
    topology: Topology,
    events_exchange: String,
    link: Mutex<Option<(Connection, Channel)>>,
    connected: AtomicBool,
    /// Set once by [`Publisher::close`], under `link`'s lock: no connection is opened after
    /// it. One opened while the process exits would leave lapin's I/O thread connecting on a
    /// runtime that is gone.
    closed: AtomicBool,
}

impl Publisher {
    pub fn new(url: SecretString, topology: Topology, events_exchange: String) -> Self {
        Self {
            user: common::amqp::url_user(url.expose_secret()),
            url,
            topology,
            events_exchange,
            link: Mutex::new(None),
            connected: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The current channel, reconnecting (and re-declaring the topology) when it is gone.
    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut link = self.link.lock().await;
        if self.closed.load(Ordering::Relaxed) {
            return Err(PublishError::Closed);
        }
        if let Some((conn, channel)) = link.as_ref()
            && conn.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        self.connected.store(false, Ordering::Relaxed);
        *link = None;
        let open = async {
            let conn = common::amqp::connect(self.url.expose_secret(), "user-service").await?;
            let channel = conn.create_channel().await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            self.topology.declare(&channel).await?;
            channel
                .exchange_declare(
                    self.events_exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((conn, channel))
        };
        let (conn, channel) = tokio::time::timeout(CONNECT_TIMEOUT, open)
            .await
            .map_err(|_| PublishError::ConnectTimeout(CONNECT_TIMEOUT))?
            .map_err(PublishError::Connect)?;
        *link = Some((conn, channel.clone()));
        self.connected.store(true, Ordering::Relaxed);
        tracing::info!("connected to the broker");
        Ok(channel)
    }

    /// Connects if needed; for readiness reporting.
    pub async fn check(&self) -> Result<(), String> {
        self.channel().await.map(|_| ()).map_err(|e| chain(&e))
    }

    /// Publishes persistently and waits for the broker's confirm.
    pub async fn publish(&self, entry: &OutboxEntry) -> Result<(), PublishError> {
        let channel = self.channel().await?;
        let result = tokio::time::timeout(PUBLISH_TIMEOUT, self.publish_on(&channel, entry)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(PublishError::Timeout(PUBLISH_TIMEOUT)),
        };
        if result.is_err() {
            // Start from a clean channel next time: this one may be half broken.
            *self.link.lock().await = None;
            self.connected.store(false, Ordering::Relaxed);
        }
        result
    }

    async fn publish_on(&self, channel: &Channel, entry: &OutboxEntry) -> Result<(), PublishError> {
        let (exchange, routing_key, schema_version, mandatory) = match entry.destination {
            // Mandatory: an email that no queue takes is an error, not a drop.
            Destination::Email => (
                "",
                self.topology.queue.as_str(),
                common::email::SCHEMA_VERSION,
                true,
            ),
            // An event nobody subscribed to is normal.
            Destination::Event => (
                self.events_exchange.as_str(),
                entry.kind.as_str(),
                crate::events::SCHEMA_VERSION,
                false,
            ),
        };
        let mut headers = FieldTable::default();
        headers.insert(
            "x-schema-version".into(),
            AMQPValue::LongInt(schema_version as i32),
        );
        // The publish span's context: the consumer's span becomes its child.
        propagation::inject_amqp(&propagation::current_carrier(), &mut headers);
        let mut props = BasicProperties::default()
            .with_content_type(common::email::CONTENT_TYPE.into())
            .with_delivery_mode(2)
            .with_message_id(entry.id.as_str().into())
            .with_type(entry.kind.as_str().into())
            .with_app_id("user-service".into())
            .with_timestamp(entry.created_at().timestamp().max(0) as u64)
            .with_headers(headers);
        if let Some(user) = &self.user {
            props = props.with_user_id(user.as_str().into());
        }
        let confirm = channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory,
                    ..BasicPublishOptions::default()
                },
                entry.payload.as_bytes(),
                props,
            )
            .await
            .map_err(PublishError::Publish)?
            .await
            .map_err(PublishError::Publish)?;
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            // Mandatory and returned: the queue does not exist (deleted behind our back).
            Confirmation::Ack(Some(returned)) => {
                Err(PublishError::Refused(returned.reply_text.to_string()))
            }
            Confirmation::Nack(_) => Err(PublishError::Refused("nack".into())),
            Confirmation::NotRequested => Ok(()),
        }
    }

    /// Closes the connection for good: later publishes and readiness checks get
    /// [`PublishError::Closed`] instead of a new connection.
    pub async fn close(&self) {
        let mut link = self.link.lock().await;
        self.closed.store(true, Ordering::Relaxed);
        self.connected.store(false, Ordering::Relaxed);
        if let Some((conn, _)) = link.take() {
            let _ = conn.close(200, "shutting down".into()).await;
        }
    }
}

/// Writes emails to the outbox and publishes them.
#[derive(Clone)]
pub struct Mailer {
    outbox: OutboxStore,
    publisher: Arc<Publisher>,
    metrics: Metrics,
    /// The publishes requests started ([`Mailer::dispatch`]), awaited at shutdown.
    dispatches: TaskTracker,
}

impl Mailer {
    pub fn new(outbox: OutboxStore, publisher: Arc<Publisher>, metrics: Metrics) -> Self {
        Self {
            outbox,
            publisher,
            metrics,
            dispatches: TaskTracker::new(),
        }
    }

    pub fn lease() -> chrono::Duration {
        chrono::Duration::seconds(LEASE_SECS)
    }

    /// Stores an email on its own (when no other write must be atomic with it) and sends it.
    pub async fn enqueue(&self, entry: OutboxEntry) -> Result<(), StoreError> {
        self.outbox.insert(&entry).await?;
        self.dispatch(vec![entry]);
        Ok(())
    }

    /// Publishes entries already in the outbox, in the background: the client's answer does
    /// not wait for the broker.
    pub fn dispatch(&self, entries: Vec<OutboxEntry>) {
        let this = self.clone();
        self.dispatches.spawn(async move {
            for entry in &entries {
                if !this.publish_and_remove(entry, "direct").await {
                    // The relay publishes the rest once the broker is back.
                    break;
                }
            }
        });
    }

    /// Stops publishing, at shutdown once no request can write to the outbox any more: gives
    /// the publishes requests started until `deadline` to finish, then closes the broker
    /// connection. What is not published by then stays in the outbox for another replica's
    /// relay (or this one's, after a restart).
    pub async fn close(&self, deadline: tokio::time::Instant) {
        let what = "publishes (their entries wait in the outbox)";
        crate::tasks::drain(&self.dispatches, deadline, what).await;
        self.publisher.close().await;
    }

    /// Publishes one entry in a span of the trace of the request that wrote it (whether that
    /// is now, or the relay's turn minutes later on another replica).
    async fn publish_and_remove(&self, entry: &OutboxEntry, path: &'static str) -> bool {
        let span = tracing::info_span!(
            "outbox.publish",
            otel.name = %format_args!("{} publish", entry.destination.as_str()),
            otel.kind = "producer",
            otel.status_code = Empty,
            messaging.system = "rabbitmq",
            messaging.message.id = %entry.id,
            message_kind = %entry.kind,
            path,
            attempts = entry.attempts,
        );
        propagation::continue_from_carrier(&span, &entry.trace);
        let published = self
            .publish_entry(entry, path)
            .instrument(span.clone())
            .await;
        if !published {
            span.record("otel.status_code", "error");
        }
        published
    }

    async fn publish_entry(&self, entry: &OutboxEntry, path: &'static str) -> bool {
        if entry.is_expired(chrono::Utc::now()) {
            // Its link no longer works: mailing it would only put a dead token on the way.
            self.metrics.outbox_expired.inc();
            tracing::info!(message_id = %entry.id, kind = %entry.kind, "outbox entry expired; dropped");
            if let Err(e) = self.outbox.remove(&entry.id).await {
                tracing::warn!(message_id = %entry.id, error = %e, "could not drop expired outbox entry");
            }
            return true;
        }
        match self.publisher.publish(entry).await {
            Ok(()) => {
                self.metrics
                    .outbox_published
                    .with_label_values(&[entry.destination.as_str(), path, "ok"])
                    .inc();
                if let Err(e) = self.outbox.remove(&entry.id).await {
                    // Published already: at worst the relay publishes it again and the mail
                    // service drops the duplicate.
                    tracing::warn!(message_id = %entry.id, error = %e, "could not clear outbox entry");
                }
                true
            }
            Err(e) => {
                self.metrics
                    .outbox_published
                    .with_label_values(&[entry.destination.as_str(), path, "error"])
                    .inc();
                tracing::warn!(message_id = %entry.id, kind = %entry.kind, error = %chain(&e),
                    "publish failed; the outbox relay will retry");
                false
            }
        }
    }

    /// Drains due outbox entries every `interval` until shutdown.
    pub async fn run_relay(self, interval: Duration, shutdown: Shutdown) {
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(interval) => {}
            }
            self.relay_once().await;
        }
    }

    /// Publishes every entry that is due; stops at the first failure (the broker is likely
    /// down, and each entry's back-off is already recorded).
    pub async fn relay_once(&self) -> usize {
        let mut published = 0;
        loop {
            match self.outbox.claim_due(Self::lease()).await {
                Ok(Some(entry)) => {
                    // On failure the claim has already pushed the entry one lease ahead: that
                    // is its back-off.
                    if !self.publish_and_remove(&entry, "relay").await {
                        break;
                    }
                    published += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay cannot read the outbox");
                    break;
                }
            }
        }
        if let Ok(pending) = self.outbox.pending().await {
            self.metrics.outbox_pending.set(pending as i64);
        }
        published
    }
}
