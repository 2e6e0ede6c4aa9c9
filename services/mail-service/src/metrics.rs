//! Prometheus metrics of the consumer.
//!
//! Labels are bounded: `kind` is one of the `EmailKind`s or `unknown`, `outcome` and `class`
//! are fixed sets. Never a recipient, a message id or anything from `data`.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

/// What happened to a consumed message, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the relay.
    Sent,
    /// Already sent before (a redelivery or re-publish): acked without sending.
    Duplicate,
    /// Another replica held the claim: parked in the first retry queue, no attempt counted.
    Deferred,
    /// Failed transiently: moved to the next retry queue.
    Retried,
    /// Failed permanently, or transiently after the last retry: moved to the dead-letter queue.
    DeadLettered,
    /// Could not be moved where it belonged: handed back to the work queue.
    Requeued,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Sent,
        Outcome::Duplicate,
        Outcome::Deferred,
        Outcome::Retried,
        Outcome::DeadLettered,
        Outcome::Requeued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Duplicate => "duplicate",
            Outcome::Deferred => "deferred",
            Outcome::Retried => "retried",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Requeued => "requeued",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    consumed: IntCounterVec,
    smtp_failures: IntCounterVec,
    /// By `result`: `accepted`, `transient` or `permanent`.
    pub smtp_send_duration: HistogramVec,
    pub in_flight: IntGauge,
    pub message_age: Histogram,
    /// Template reloads by `result` (`ok`, `error`).
    pub template_reloads: IntCounterVec,
    /// EmailTemplate reconciles by `result` (see `controller::Verdict::as_str`).
    pub template_reconciles: IntCounterVec,
    /// Kubernetes API and publishing failures of the EmailTemplate controller, by `stage`
    /// (`watch`, `status`, `publish`).
    pub template_reconcile_errors: IntCounterVec,
    pub template_reconcile_duration: Histogram,
    /// Messages refused before sending, by `reason` (`crate::gate::Refusal::code`).
    refused: IntCounterVec,
}

impl Metrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let consumed = IntCounterVec::new(
            Opts::new(
                "mail_messages_consumed_total",
                "Messages taken off the email queue, by kind (template) and outcome.",
            ),
            &["kind", "outcome"],
        )?;
        let smtp_failures = IntCounterVec::new(
            Opts::new(
                "mail_smtp_failures_total",
                "Failed SMTP sends, by kind (template) and class (transient, permanent).",
            ),
            &["kind", "class"],
        )?;
        // Milliseconds matter: a healthy local relay answers in 1-5 ms.
        let smtp_send_duration = HistogramVec::new(
            HistogramOpts::new(
                "mail_smtp_send_duration_seconds",
                "Time to hand one message to the SMTP relay, by result.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["result"],
        )?;
        let in_flight = IntGauge::new(
            "mail_messages_in_flight",
            "Deliveries being processed right now.",
        )?;
        // Seconds to hours: a backlog or a long retry loop shows up in the upper buckets.
        let message_age = Histogram::with_opts(
            HistogramOpts::new(
                "mail_message_age_seconds",
                "Time from a message's creation to its consumption (queue lag, retries included).",
            )
            .buckets(vec![
                0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
            ]),
        )?;
        let template_reloads = IntCounterVec::new(
            Opts::new(
                "mail_template_reloads_total",
                "Reloads of TEMPLATE_DIR after a change, by result.",
            ),
            &["result"],
        )?;
        let template_reconciles = IntCounterVec::new(
            Opts::new(
                "mail_template_reconciles_total",
                "EmailTemplate resources reconciled (TEMPLATE_SOURCE=kubernetes), by result.",
            ),
            &["result"],
        )?;
        let template_reconcile_errors = IntCounterVec::new(
            Opts::new(
                "mail_template_reconcile_errors_total",
                "Failures of the EmailTemplate controller, by stage (watch, status, publish).",
            ),
            &["stage"],
        )?;
        // Compiling is sub-millisecond; a status write is one API round trip.
        let template_reconcile_duration = Histogram::with_opts(
            HistogramOpts::new(
                "mail_template_reconcile_duration_seconds",
                "Time to reconcile one EmailTemplate, status write included.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
        )?;
        let refused = IntCounterVec::new(
            Opts::new(
                "mail_messages_refused_total",
                "Messages dead-lettered unsent by the queue checks, by reason (untrusted_publisher, \
                 link_origin, expired).",
            ),
            &["reason"],
        )?;
        for reason in crate::gate::Refusal::CODES {
            refused.with_label_values(&[reason]);
        }
        registry.register(Box::new(refused.clone()))?;
        registry.register(Box::new(template_reconciles.clone()))?;
        registry.register(Box::new(template_reconcile_errors.clone()))?;
        registry.register(Box::new(template_reconcile_duration.clone()))?;
        // Every kind × outcome exists from the start at zero: a series born with its first
        // event is invisible to rate() until its second, so the first dead letter after a
        // restart would not count in the alerts and SLOs.
        let kinds = common::email::EmailKind::ALL.map(|k| k.as_str());
        for kind in kinds.into_iter().chain(["unknown"]) {
            for outcome in Outcome::ALL {
                consumed.with_label_values(&[kind, outcome.as_str()]);
            }
        }
        registry.register(Box::new(consumed.clone()))?;
        registry.register(Box::new(smtp_failures.clone()))?;
        registry.register(Box::new(smtp_send_duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(message_age.clone()))?;
        registry.register(Box::new(template_reloads.clone()))?;
        Ok(Self {
            consumed,
            smtp_failures,
            smtp_send_duration,
            in_flight,
            message_age,
            template_reloads,
            template_reconciles,
            template_reconcile_errors,
            template_reconcile_duration,
            refused,
        })
    }

    /// `kind` is `unknown` for a body that did not decode, keeping the label set bounded.
    pub fn consumed(&self, kind: &str, outcome: Outcome) {
        self.consumed
            .with_label_values(&[kind, outcome.as_str()])
            .inc();
    }

    pub fn refused(&self, reason: &str) {
        self.refused.with_label_values(&[reason]).inc();
    }

    pub fn smtp_failed(&self, kind: &str, class: &str) {
        self.smtp_failures.with_label_values(&[kind, class]).inc();
    }
}
