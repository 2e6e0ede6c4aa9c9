//! Prometheus metrics of the consumer.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

/// What happened to a consumed message, the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    DeadLettered,
    Retried,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Retried => "retried",
        }
    }
}

#[derive(Clone)]
pub struct Metrics {
    consumed: IntCounterVec,
    pub smtp_send_duration: Histogram,
    pub in_flight: IntGauge,
    pub message_age: Histogram,
}

impl Metrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let consumed = IntCounterVec::new(
            Opts::new(
                "mail_messages_consumed_total",
                "Messages taken off the email queue, by kind and outcome.",
            ),
            &["kind", "outcome"],
        )?;
        let smtp_send_duration = Histogram::with_opts(
            HistogramOpts::new(
                "mail_smtp_send_duration_seconds",
                "Time to hand one message to the SMTP relay, failures included.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )?;
        let in_flight = IntGauge::new(
            "mail_messages_in_flight",
            "Deliveries being processed right now.",
        )?;
        // Seconds to hours: a backlog or a long retry loop shows up in the upper buckets.
        let message_age = Histogram::with_opts(
            HistogramOpts::new(
                "mail_message_age_seconds",
                "Time from a message's creation to its processing.",
            )
            .buckets(vec![
                0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
            ]),
        )?;
        registry.register(Box::new(consumed.clone()))?;
        registry.register(Box::new(smtp_send_duration.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(message_age.clone()))?;
        Ok(Self {
            consumed,
            smtp_send_duration,
            in_flight,
            message_age,
        })
    }

    /// `kind` is `unknown` for a body that did not decode, keeping the label set bounded.
    pub fn consumed(&self, kind: &str, outcome: Outcome) {
        self.consumed
            .with_label_values(&[kind, outcome.as_str()])
            .inc();
    }
}
