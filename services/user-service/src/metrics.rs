//! Prometheus metrics of the user service.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct Metrics {
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub signups: IntCounterVec,
    pub logins: IntCounterVec,
    pub emails_published: IntCounterVec,
    pub outbox_pending: IntGauge,
}

impl Metrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let m = Metrics {
            http_requests: IntCounterVec::new(
                Opts::new("http_requests_total", "HTTP requests by route and status"),
                &["method", "route", "status"],
            )?,
            http_duration: HistogramVec::new(
                HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    ]),
                &["method", "route"],
            )?,
            signups: IntCounterVec::new(
                Opts::new("user_signups_total", "Registrations by outcome"),
                &["outcome"],
            )?,
            logins: IntCounterVec::new(
                Opts::new("user_logins_total", "Login attempts by outcome"),
                &["outcome"],
            )?,
            emails_published: IntCounterVec::new(
                Opts::new(
                    "user_emails_published_total",
                    "Email messages published to the queue, by path (direct or relay) and result",
                ),
                &["path", "result"],
            )?,
            outbox_pending: IntGauge::new(
                "user_email_outbox_pending",
                "Emails written but not yet confirmed by the broker",
            )?,
        };
        registry.register(Box::new(m.http_requests.clone()))?;
        registry.register(Box::new(m.http_duration.clone()))?;
        registry.register(Box::new(m.signups.clone()))?;
        registry.register(Box::new(m.logins.clone()))?;
        registry.register(Box::new(m.emails_published.clone()))?;
        registry.register(Box::new(m.outbox_pending.clone()))?;
        Ok(m)
    }
}
