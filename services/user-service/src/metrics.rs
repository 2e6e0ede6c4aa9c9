//! Prometheus metrics of the user service.

use crate::store::sessions::CacheMetrics;
use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
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
    /// Both series of each `AUTH_CHECK_RESULTS` entry, resolved once (`auth_check`).
    auth_check_series: Vec<(IntCounter, Histogram)>,
    pub admin_actions: IntCounterVec,
    pub admin_auth_failures: IntCounter,
    /// Sessions ended because their account reached `SESSION_MAX_PER_ACCOUNT`.
    pub sessions_evicted: IntCounter,
    pub page_refusals: IntCounterVec,
    /// Public requests with `X-Forwarded-For` from a peer `TRUSTED_PROXIES` does not trust.
    pub untrusted_forwarded: IntCounter,
    /// 1 while most requests come through one untrusted proxy (`proxy_check`).
    pub untrusted_proxy_suspected: IntGauge,
    /// The in-process session copies (`store::sessions::cache`).
    pub session_cache: CacheMetrics,
}

/// Why a hosted page refused a request (`user_page_refusals_total{reason}`).
pub const PAGE_REFUSALS: &[&str] = &[
    "csrf_failed",
    "cross_origin",
    "invalid_return_to",
    "invalid_body",
    "payload_too_large",
    "method_not_allowed",
    "session_cookie_repeated",
];

/// The outcomes of `user_logins_total` (each starts at zero).
const LOGIN_OUTCOMES: &[&str] = &[
    "success",
    "invalid_credentials",
    "email_not_verified",
    "account_disabled",
    "mfa_required",
    "invalid_mfa_code",
    "passkey_rejected",
];

/// The `(action, outcome)` pairs of `user_account_actions_total` that start at zero (refusals
/// appear when they first happen).
const ACCOUNT_EVENTS: &[(&str, &str)] = &[
    ("email_change", "requested"),
    ("email_verification", "done"),
    ("password_change", "done"),
    ("password_reset", "requested"),
    ("password_reset", "done"),
    ("delete", "done"),
    ("mfa_enable", "done"),
    ("mfa_disable", "done"),
    ("mfa_recovery_code", "used"),
    ("passkey_enrolment", "done"),
    ("passkey_sign_in", "done"),
    ("passkey_removal", "done"),
];

/// Operators' actions through the admin API (`user_admin_actions_total{action}`), the names
/// `admin::audit::Action::name` gives.
pub const ADMIN_ACTIONS: &[&str] = &[
    "disabled",
    "enabled",
    "sessions_revoked",
    "updated",
    "email_verified",
    "email_sent",
    "deleted",
    "invited",
    "mfa_removed",
    "passkey_removed",
];

/// The results of the forward-auth check (`user_auth_checks_total{result}`).
pub const AUTH_CHECK_RESULTS: &[&str] =
    &["ok", "missing", "invalid", "expired", "unverified", "error"];

/// The buckets of the HTTP request latency (seconds).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The buckets of the forward-auth check latency (seconds): a Redis round trip.
const AUTH_CHECK_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

impl Metrics {
    /// Counts an account lifecycle action (`user_account_actions_total{action,outcome}`).
    pub fn account_action(&self, action: &str, outcome: &str) {
        self.account_events
            .with_label_values(&[action, outcome])
            .inc();
    }

    /// Creates every metric, each known label combination at zero, and registers them.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let mut m = Metrics {
            http_requests: defs::HTTP_REQUESTS.counter_vec()?,
            http_duration: defs::HTTP_DURATION.histogram_vec(HTTP_BUCKETS)?,
            signups: defs::SIGNUPS.counter_vec()?,
            logins: defs::LOGINS.counter_vec()?,
            rate_limited: defs::RATE_LIMITED.counter_vec()?,
            account_events: defs::ACCOUNT_EVENTS.counter_vec()?,
            outbox_published: defs::OUTBOX_PUBLISHED.counter_vec()?,
            outbox_pending: defs::OUTBOX_PENDING.gauge()?,
            outbox_expired: defs::OUTBOX_EXPIRED.counter()?,
            pwned_checks: defs::PWNED_CHECKS.counter_vec()?,
            auth_checks: defs::AUTH_CHECKS.counter_vec()?,
            auth_check_duration: defs::AUTH_CHECK_DURATION.histogram_vec(AUTH_CHECK_BUCKETS)?,
            admin_actions: defs::ADMIN_ACTIONS.counter_vec()?,
            admin_auth_failures: defs::ADMIN_AUTH_FAILURES.counter()?,
            sessions_evicted: defs::SESSIONS_EVICTED.counter()?,
            page_refusals: defs::PAGE_REFUSALS.counter_vec()?,
            untrusted_forwarded: defs::UNTRUSTED_FORWARDED.counter()?,
            untrusted_proxy_suspected: defs::UNTRUSTED_PROXY_SUSPECTED.gauge()?,
            session_cache: session_cache_metrics()?,
            auth_check_series: Vec::new(),
        };
        m.auth_check_series = AUTH_CHECK_RESULTS
            .iter()
            .map(|r| {
                (
                    m.auth_checks.with_label_values(&[r]),
                    m.auth_check_duration.with_label_values(&[r]),
                )
            })
            .collect();
        m.start_at_zero();
        for collector in m.collectors() {
            registry.register(collector)?;
        }
        Ok(m)
    }

    /// Every metric, in the order they are registered.
    fn collectors(&self) -> [Box<dyn Collector>; 21] {
        [
            Box::new(self.untrusted_forwarded.clone()),
            Box::new(self.untrusted_proxy_suspected.clone()),
            Box::new(self.admin_auth_failures.clone()),
            Box::new(self.sessions_evicted.clone()),
            Box::new(self.session_cache.lookups.clone()),
            Box::new(self.session_cache.invalidations.clone()),
            Box::new(self.session_cache.tracking.clone()),
            Box::new(self.page_refusals.clone()),
            Box::new(self.admin_actions.clone()),
            Box::new(self.auth_checks.clone()),
            Box::new(self.auth_check_duration.clone()),
            Box::new(self.pwned_checks.clone()),
            Box::new(self.http_requests.clone()),
            Box::new(self.http_duration.clone()),
            Box::new(self.signups.clone()),
            Box::new(self.logins.clone()),
            Box::new(self.rate_limited.clone()),
            Box::new(self.account_events.clone()),
            Box::new(self.outbox_published.clone()),
            Box::new(self.outbox_pending.clone()),
            Box::new(self.outbox_expired.clone()),
        ]
    }

    /// Creates every known label combination at zero, so each series exists from the first
    /// scrape: `rate()` and `increase()` then see the first event, and alerts on a series that
    /// has never moved do not silently match nothing.
    fn start_at_zero(&self) {
        for outcome in ["created", "email_taken"] {
            self.signups.with_label_values(&[outcome]);
        }
        for outcome in LOGIN_OUTCOMES {
            self.logins.with_label_values(&[outcome]);
        }
        for limit in [
            "login_ip",
            "login_account",
            "signup_ip",
            "email_address",
            "email_ip",
            "mfa_account",
            "admin_auth",
        ] {
            self.rate_limited.with_label_values(&[limit]);
        }
        for &(action, outcome) in ACCOUNT_EVENTS {
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
        for action in ADMIN_ACTIONS {
            self.admin_actions.with_label_values(&[action]);
        }
        for reason in PAGE_REFUSALS {
            self.page_refusals.with_label_values(&[reason]);
        }
    }
}

impl Metrics {
    /// The count and the latency of forward-auth checks with `result` (one of
    /// `AUTH_CHECK_RESULTS`), without a label lookup: the check runs before every request.
    pub fn auth_check(&self, result: &str) -> &(IntCounter, Histogram) {
        let index = AUTH_CHECK_RESULTS.iter().position(|r| *r == result);
        &self.auth_check_series[index.unwrap_or(AUTH_CHECK_RESULTS.len() - 1)]
    }
}

/// The cache's lookups by result, resolved once: a check counts without a label lookup.
fn session_cache_metrics() -> prometheus::Result<CacheMetrics> {
    let lookups = defs::SESSION_CACHE_LOOKUPS.counter_vec()?;
    Ok(CacheMetrics {
        hits: lookups.with_label_values(&["hit"]),
        misses: lookups.with_label_values(&["miss"]),
        lookups,
        invalidations: defs::SESSION_CACHE_INVALIDATIONS.counter()?,
        tracking: defs::SESSION_CACHE_TRACKING.gauge()?,
    })
}

/// A metric's name, help text and label names.
struct Def {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

impl Def {
    fn counter(&self) -> prometheus::Result<IntCounter> {
        IntCounter::new(self.name, self.help)
    }

    fn gauge(&self) -> prometheus::Result<IntGauge> {
        IntGauge::new(self.name, self.help)
    }

    fn counter_vec(&self) -> prometheus::Result<IntCounterVec> {
        IntCounterVec::new(Opts::new(self.name, self.help), self.labels)
    }

    fn histogram_vec(&self, buckets: &[f64]) -> prometheus::Result<HistogramVec> {
        let opts = HistogramOpts::new(self.name, self.help).buckets(buckets.to_vec());
        HistogramVec::new(opts, self.labels)
    }
}

/// The metrics, one definition each.
mod defs {
    use super::Def;

    pub(super) const HTTP_REQUESTS: Def = Def {
        name: "http_requests_total",
        help: "HTTP requests by route and status",
        labels: &["method", "route", "status"],
    };
    pub(super) const HTTP_DURATION: Def = Def {
        name: "http_request_duration_seconds",
        help: "HTTP request latency",
        labels: &["method", "route"],
    };
    pub(super) const SIGNUPS: Def = Def {
        name: "user_signups_total",
        help: "Registrations by outcome",
        labels: &["outcome"],
    };
    pub(super) const LOGINS: Def = Def {
        name: "user_logins_total",
        help: "Login attempts by outcome",
        labels: &["outcome"],
    };
    pub(super) const RATE_LIMITED: Def = Def {
        name: "user_rate_limited_total",
        help: "Requests refused by a rate limit, by limit",
        labels: &["limit"],
    };
    pub(super) const ACCOUNT_EVENTS: Def = Def {
        name: "user_account_actions_total",
        help: "Account lifecycle actions by action and outcome",
        labels: &["action", "outcome"],
    };
    pub(super) const OUTBOX_PUBLISHED: Def = Def {
        name: "user_outbox_published_total",
        help: "Outbox messages (emails and domain events) published to the broker, by \
               destination, path (direct or relay) and result",
        labels: &["destination", "path", "result"],
    };
    pub(super) const OUTBOX_PENDING: Def = Def {
        name: "user_outbox_pending",
        help: "Emails and events written but not yet confirmed by the broker",
        labels: &[],
    };
    pub(super) const OUTBOX_EXPIRED: Def = Def {
        name: "user_outbox_expired_total",
        help: "Outbox emails dropped unpublished because their link had expired",
        labels: &[],
    };
    pub(super) const PWNED_CHECKS: Def = Def {
        name: "user_breached_password_checks_total",
        help: "Breached-password range API lookups by result (breached, clean, error)",
        labels: &["result"],
    };
    pub(super) const AUTH_CHECKS: Def = Def {
        name: "user_auth_checks_total",
        help: "Forward-auth session checks by result (ok, missing, invalid, expired, \
               unverified, error)",
        labels: &["result"],
    };
    pub(super) const AUTH_CHECK_DURATION: Def = Def {
        name: "user_auth_check_duration_seconds",
        help: "Forward-auth session check latency (the Redis round trip included), by result",
        labels: &["result"],
    };
    pub(super) const ADMIN_ACTIONS: Def = Def {
        name: "user_admin_actions_total",
        help: "Operators' actions through the admin API, by action",
        labels: &["action"],
    };
    pub(super) const SESSIONS_EVICTED: Def = Def {
        name: "user_sessions_evicted_total",
        help: "Oldest sessions ended because their account reached SESSION_MAX_PER_ACCOUNT",
        labels: &[],
    };
    pub(super) const SESSION_CACHE_LOOKUPS: Def = Def {
        name: "user_session_cache_lookups_total",
        help: "Session checks answered from this process's copies (hit) or from Redis (miss), \
               while the copies are enabled",
        labels: &["result"],
    };
    pub(super) const SESSION_CACHE_INVALIDATIONS: Def = Def {
        name: "user_session_cache_invalidations_total",
        help: "Notices from Redis of a changed session or stamp key (copies dropped)",
        labels: &[],
    };
    pub(super) const SESSION_CACHE_TRACKING: Def = Def {
        name: "user_session_cache_tracking",
        help: "1 while Redis tells this process of changed session keys and copies are used",
        labels: &[],
    };
    pub(super) const ADMIN_AUTH_FAILURES: Def = Def {
        name: "user_admin_auth_failures_total",
        help: "Admin API requests refused for a missing or unknown token",
        labels: &[],
    };
    pub(super) const PAGE_REFUSALS: Def = Def {
        name: "user_page_refusals_total",
        help: "Hosted-page requests refused before any workflow (csrf_failed, cross_origin, \
               invalid_return_to, invalid_body, payload_too_large, method_not_allowed, \
               session_cookie_repeated)",
        labels: &["reason"],
    };
    pub(super) const UNTRUSTED_FORWARDED: Def = Def {
        name: "user_untrusted_forwarded_requests_total",
        help: "Public requests carrying X-Forwarded-For from a peer that TRUSTED_PROXIES does \
               not trust (the header is ignored)",
        labels: &[],
    };
    pub(super) const UNTRUSTED_PROXY_SUSPECTED: Def = Def {
        name: "user_untrusted_proxy_suspected",
        help: "1 when, in the last check window, one untrusted peer forwarding X-Forwarded-For \
               sent most public requests (an ingress missing from TRUSTED_PROXIES)",
        labels: &[],
    };
}
