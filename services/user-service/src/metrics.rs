//! Prometheus metrics of the user service.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub signups: IntCounterVec,
    pub logins: IntCounterVec,
    pub rate_limited: IntCounterVec,
    pub account_events: IntCounterVec,
    pub outbox_published: IntCounterVec,
    pub outbox_pending: IntGauge,
    pub outbox_expired: IntCounter,
    pub pwned_checks: IntCounterVec,
    pub auth_checks: IntCounterVec,
    pub auth_check_duration: HistogramVec,
    pub admin_actions: IntCounterVec,
    pub admin_auth_failures: IntCounter,
    pub page_refusals: IntCounterVec,
}

/// Why a hosted page refused a request (`user_page_refusals_total{reason}`).
pub const PAGE_REFUSALS: &[&str] = &[
    "csrf_failed",
    "cross_origin",
    "invalid_return_to",
    "invalid_body",
    "payload_too_large",
    "method_not_allowed",
];

/// The results of the forward-auth check (`user_auth_checks_total{result}`).
pub const AUTH_CHECK_RESULTS: &[&str] =
    &["ok", "missing", "invalid", "expired", "unverified", "error"];

impl Metrics {
    /// Creates the server-error series of every route at zero: a series born with its first
    /// event is invisible to rate() until its second, so a route's first 5xx after a start
    /// would not count in its SLO.
    pub fn start_routes_at_zero(&self, routes: &[(&str, &str)]) {
        for (method, route) in routes {
            for status in ["500", "503"] {
                self.http_requests
                    .with_label_values(&[method, route, status]);
            }
        }
    }

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
            rate_limited: IntCounterVec::new(
                Opts::new(
                    "user_rate_limited_total",
                    "Requests refused by a rate limit, by limit",
                ),
                &["limit"],
            )?,
            account_events: IntCounterVec::new(
                Opts::new(
                    "user_account_actions_total",
                    "Account lifecycle actions by action and outcome",
                ),
                &["action", "outcome"],
            )?,
            outbox_published: IntCounterVec::new(
                Opts::new(
                    "user_outbox_published_total",
                    "Outbox messages (emails and domain events) published to the broker, by \
                     destination, path (direct or relay) and result",
                ),
                &["destination", "path", "result"],
            )?,
            outbox_pending: IntGauge::new(
                "user_outbox_pending",
                "Emails and events written but not yet confirmed by the broker",
            )?,
            outbox_expired: IntCounter::new(
                "user_outbox_expired_total",
                "Outbox emails dropped unpublished because their link had expired",
            )?,
            pwned_checks: IntCounterVec::new(
                Opts::new(
                    "user_breached_password_checks_total",
                    "Breached-password range API lookups by result (breached, clean, error)",
                ),
                &["result"],
            )?,
            auth_checks: IntCounterVec::new(
                Opts::new(
                    "user_auth_checks_total",
                    "Forward-auth session checks by result (ok, missing, invalid, expired, \
                     unverified, error)",
                ),
                &["result"],
            )?,
            auth_check_duration: HistogramVec::new(
                HistogramOpts::new(
                    "user_auth_check_duration_seconds",
                    "Forward-auth session check latency (the Redis round trip included), by result",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                ]),
                &["result"],
            )?,
            admin_actions: IntCounterVec::new(
                Opts::new(
                    "user_admin_actions_total",
                    "Operators' actions through the admin API, by action",
                ),
                &["action"],
            )?,
            admin_auth_failures: IntCounter::new(
                "user_admin_auth_failures_total",
                "Admin API requests refused for a missing or unknown token",
            )?,
            page_refusals: IntCounterVec::new(
                Opts::new(
                    "user_page_refusals_total",
                    "Hosted-page requests refused before any workflow (csrf_failed, cross_origin, \
                     invalid_return_to, invalid_body, payload_too_large, method_not_allowed)",
                ),
                &["reason"],
            )?,
        };
        m.start_at_zero();
        registry.register(Box::new(m.admin_auth_failures.clone()))?;
        registry.register(Box::new(m.page_refusals.clone()))?;
        registry.register(Box::new(m.admin_actions.clone()))?;
        registry.register(Box::new(m.auth_checks.clone()))?;
        registry.register(Box::new(m.auth_check_duration.clone()))?;
        registry.register(Box::new(m.pwned_checks.clone()))?;
        registry.register(Box::new(m.http_requests.clone()))?;
        registry.register(Box::new(m.http_duration.clone()))?;
        registry.register(Box::new(m.signups.clone()))?;
        registry.register(Box::new(m.logins.clone()))?;
        registry.register(Box::new(m.rate_limited.clone()))?;
        registry.register(Box::new(m.account_events.clone()))?;
        registry.register(Box::new(m.outbox_published.clone()))?;
        registry.register(Box::new(m.outbox_pending.clone()))?;
        registry.register(Box::new(m.outbox_expired.clone()))?;
        Ok(m)
    }

    /// Creates every known label combination at zero, so each series exists from the first
    /// scrape: `rate()` and `increase()` then see the first event, and alerts on a series that
    /// has never moved do not silently match nothing.
    fn start_at_zero(&self) {
        for outcome in ["created", "email_taken"] {
            self.signups.with_label_values(&[outcome]);
        }
        for outcome in [
            "success",
            "invalid_credentials",
            "email_not_verified",
            "account_disabled",
            "mfa_required",
            "invalid_mfa_code",
        ] {
            self.logins.with_label_values(&[outcome]);
        }
        for limit in [
            "login_ip",
            "login_account",
            "signup_ip",
            "email_address",
            "email_ip",
            "mfa_account",
        ] {
            self.rate_limited.with_label_values(&[limit]);
        }
        for (action, outcome) in [
            ("email_change", "requested"),
            ("email_verification", "done"),
            ("password_change", "done"),
            ("password_reset", "requested"),
            ("password_reset", "done"),
            ("delete", "done"),
            ("mfa_enable", "done"),
            ("mfa_disable", "done"),
            ("mfa_recovery_code", "used"),
        ] {
            self.account_events.with_label_values(&[action, outcome]);
        }
        for destination in ["email", "event"] {
            for path in ["direct", "relay"] {
                for result in ["ok", "error"] {
                    self.outbox_published
                        .with_label_values(&[destination, path, result]);
                }
            }
        }
        for result in ["breached", "clean", "error"] {
            self.pwned_checks.with_label_values(&[result]);
        }
        for action in crate::admin::audit::ACTIONS {
            self.admin_actions.with_label_values(&[action]);
        }
        for reason in PAGE_REFUSALS {
            self.page_refusals.with_label_values(&[reason]);
        }
        for result in AUTH_CHECK_RESULTS {
            self.auth_checks.with_label_values(&[result]);
            self.auth_check_duration.with_label_values(&[result]);
        }
    }
}
