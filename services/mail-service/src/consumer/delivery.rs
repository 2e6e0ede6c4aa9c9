//! The handling of one delivery: decode, check, render, claim, send and record it, then ack
//! it or move it where [`RetryRouting`] says.

use std::time::{Duration, Instant};

use chrono::Utc;
use common::amqp::LAST_HAND_BACK;
use common::email::EmailMessage;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions};
use lapin::{BasicProperties, Channel};
use serde_json::Value;
use tracing::field::Empty;
use tracing::{Instrument, error, info, warn};
use uuid::Uuid;

use super::routing::{
    Disposition, Move, RetryRouting, Route, attempts, handed_back, publish_confirmed, with_trace,
};
use crate::gate::{Gate, Refusal};
use crate::idempotency::{Claim, ClaimOutcome, SentLog};
use crate::metrics::{Metrics, Outcome};
use crate::smtp::{Mailer, SendError, Slot};
use crate::templates::{RenderError, Rendered, TemplateStore};

/// Pause before handing a message back to the work queue when it could not be moved to its
/// retry or dead-letter queue.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);
/// Tries at writing the sent record before giving up (and acking anyway).
const RECORD_ATTEMPTS: u32 = 3;

/// Label for messages whose kind is unknown because they did not decode.
const UNKNOWN_KIND: &str = "unknown";

/// Everything needed to process one delivery, shared by all of them.
pub struct Handler {
    pub templates: TemplateStore,
    pub mailer: Mailer,
    pub sent_log: SentLog,
    pub metrics: Metrics,
    /// Publisher, link and expiry checks before anything is sent.
    pub gate: Gate,
    /// Where retries and dead letters go.
    pub routing: RetryRouting,
}

impl Handler {
    pub(super) async fn handle(&self, delivery: Delivery, publish: &Channel) {
        self.metrics.in_flight.inc();
        let _in_flight = scopeguard(|| self.metrics.in_flight.dec());

        let attempts = attempts(&delivery.properties);
        let (kind, message_id, disposition) = self.triage(&delivery).await;
        tracing::Span::current().record("email_kind", kind);
        let settled = match self
            .routing
            .route(disposition, attempts, &delivery.properties)
        {
            Route::Ack(outcome) => self.ack(&delivery, kind, message_id, outcome).await,
            Route::Move(copy) => {
                self.relocate(&delivery, publish, kind, message_id, copy)
                    .await
            }
        };
        if let Err(e) = settled {
            // The channel is gone; the broker redelivers the message on the next session.
            warn!(?message_id, kind, error = %e, "could not settle delivery");
        }
    }

    async fn ack(
        &self,
        delivery: &Delivery,
        kind: &'static str,
        message_id: Option<Uuid>,
        outcome: Outcome,
    ) -> lapin::Result<bool> {
        tracing::Span::current().record("outcome", outcome.as_str());
        self.metrics.consumed(kind, outcome);
        info!(
            ?message_id,
            kind,
            outcome = outcome.as_str(),
            "message done"
        );
        delivery.acker.ack(BasicAckOptions::default()).await
    }

    /// A copy goes to its queue and only once the broker has confirmed it is the original
    /// acked; otherwise the original goes back to the work queue. So a message is never in
    /// neither place (and for the instant between confirm and ack possibly in both, which the
    /// sent record absorbs).
    async fn relocate(
        &self,
        delivery: &Delivery,
        publish: &Channel,
        kind: &'static str,
        message_id: Option<Uuid>,
        copy: Box<Move>,
    ) -> lapin::Result<bool> {
        let Move {
            queue,
            props,
            outcome,
            reason,
        } = *copy;
        let span = tracing::Span::current();
        span.record("outcome", outcome.as_str());
        if matches!(outcome, Outcome::Retried | Outcome::DeadLettered) {
            span.record("otel.status_code", "error");
        }
        // The copy continues this trace: its next delivery is a child of this one.
        let props = with_trace(props);
        match publish_confirmed(publish, &queue, &delivery.data, props).await {
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
                requeue(delivery).await
            }
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
                let handed_back = handed_back(&delivery.properties);
                let disposition = match checked {
                    Ok(()) if i64::from(handed_back) >= LAST_HAND_BACK => {
                        Disposition::DeadLetter(format!(
                            "handed back {handed_back} times (consumers stopped or failed while \
                             holding it); dead-lettered before the broker's delivery limit"
                        ))
                    }
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

    async fn deliver(&self, message: &EmailMessage) -> Disposition {
        // Rendered before claiming: a template error is permanent and needs no claim.
        let rendered = match self.render(message) {
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
        match self.send(slot, message, &rendered).await {
            Ok(()) => {
                self.record_sent(&claim, message).await;
                Disposition::Ack(Outcome::Sent)
            }
            Err(e) => {
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

    /// Subject and bodies in the message's locale, `name` filled in from the recipient when
    /// the data lacks it.
    fn render(&self, message: &EmailMessage) -> Result<Rendered, RenderError> {
        let mut data = message.data.clone();
        if let Some(name) = &message.to.name {
            data.entry("name")
                .or_insert_with(|| Value::String(name.clone()));
        }
        tracing::info_span!(
            "email.render",
            email_kind = message.kind.as_str(),
            locale = %message.locale
        )
        .in_scope(|| {
            self.templates
                .current()
                .render(message.kind, &message.locale, &data)
        })
    }

    /// Hands the message to the relay in its own span, timed and counted by result.
    async fn send(
        &self,
        slot: Slot<'_>,
        message: &EmailMessage,
        rendered: &Rendered,
    ) -> Result<(), SendError> {
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
                rendered,
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
        if result.is_err() {
            self.metrics.smtp_failed(message.kind.as_str(), class);
        }
        result
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
