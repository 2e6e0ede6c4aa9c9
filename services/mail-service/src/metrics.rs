//! Prometheus metrics of the consumer.
//!
//! Labels are bounded: `kind` is one of the `EmailKind`s or `unknown`, `outcome` and `class`
//! are fixed sets. Never a recipient, a message id or anything from `data`.

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

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
    /// Failed declarations of the retry queues (the session consumes on and tries again).
    pub retry_declare_failures: IntCounter,
}

/// Milliseconds matter: a healthy local relay answers in 1-5 ms.
const SEND_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds to hours: a backlog or a long retry loop shows up in the upper buckets.
const AGE_BUCKETS: [f64; 11] = [
    0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];
/// Compiling is sub-millisecond; a status write is one API round trip.
const RECONCILE_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

impl Metrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let r = Registrar(registry);
        Ok(Self {
            consumed: consumed(r)?,
            smtp_failures: r.counters(
                "mail_smtp_failures_total",
                "Failed SMTP sends, by kind (template) and class (transient, permanent).",
                &["kind", "class"],
            )?,
            smtp_send_duration: r.add(HistogramVec::new(
                HistogramOpts::new(
                    "mail_smtp_send_duration_seconds",
                    "Time to hand one message to the SMTP relay, by result.",
                )
                .buckets(SEND_BUCKETS.to_vec()),
                &["result"],
            )?)?,
            in_flight: r.add(IntGauge::new(
                "mail_messages_in_flight",
                "Deliveries being processed right now.",
            )?)?,
            message_age: r.histogram(
                "mail_message_age_seconds",
                "Time from a message's creation to its consumption (queue lag, retries included).",
                &AGE_BUCKETS,
            )?,
            template_reloads: r.counters(
                "mail_template_reloads_total",
                "Reloads of TEMPLATE_DIR after a change, by result.",
                &["result"],
            )?,
            template_reconciles: r.counters(
                "mail_template_reconciles_total",
                "EmailTemplate resources reconciled (TEMPLATE_SOURCE=kubernetes), by result.",
                &["result"],
            )?,
            template_reconcile_errors: r.counters(
                "mail_template_reconcile_errors_total",
                "Failures of the EmailTemplate controller, by stage (watch, status, publish).",
                &["stage"],
            )?,
            template_reconcile_duration: r.histogram(
                "mail_template_reconcile_duration_seconds",
                "Time to reconcile one EmailTemplate, status write included.",
                &RECONCILE_BUCKETS,
            )?,
            refused: refused(r)?,
            retry_declare_failures: r.add(IntCounter::new(
                "mail_retry_queue_declare_failures_total",
                "Failed declarations of the retry queues; until one succeeds, messages due for a \
                 retry are handed back to the work queue.",
            )?)?,
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

/// Every kind × outcome exists from the start at zero: a series born with its first event is
/// invisible to rate() until its second, so the first dead letter after a restart would not
/// count in the alerts and SLOs.
fn consumed(r: Registrar<'_>) -> prometheus::Result<IntCounterVec> {
    let consumed = r.counters(
        "mail_messages_consumed_total",
        "Messages taken off the email queue, by kind (template) and outcome.",
        &["kind", "outcome"],
    )?;
    let kinds = common::email::EmailKind::ALL.map(|k| k.as_str());
    for kind in kinds.into_iter().chain(["unknown"]) {
        for outcome in Outcome::ALL {
            consumed.with_label_values(&[kind, outcome.as_str()]);
        }
    }
    Ok(consumed)
}

/// Every refusal reason from the start at zero, like `consumed`.
fn refused(r: Registrar<'_>) -> prometheus::Result<IntCounterVec> {
    let refused = r.counters(
        "mail_messages_refused_total",
        "Messages dead-lettered unsent by the queue checks, by reason (untrusted_publisher, \
         link_origin, expired).",
        &["reason"],
    )?;
    for reason in crate::gate::Refusal::CODES {
        refused.with_label_values(&[reason]);
    }
    Ok(refused)
}

/// Creates metrics and registers them in one step.
#[derive(Clone, Copy)]
struct Registrar<'a>(&'a Registry);

impl Registrar<'_> {
    fn add<C: Collector + Clone + 'static>(self, collector: C) -> prometheus::Result<C> {
        self.0.register(Box::new(collector.clone()))?;
        Ok(collector)
    }

    fn counters(
        self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> prometheus::Result<IntCounterVec> {
        self.add(IntCounterVec::new(Opts::new(name, help), labels)?)
    }

    fn histogram(self, name: &str, help: &str, buckets: &[f64]) -> prometheus::Result<Histogram> {
        self.add(Histogram::with_opts(
            HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        )?)
    }
}
