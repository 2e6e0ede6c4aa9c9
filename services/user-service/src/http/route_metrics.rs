//! The request counter and latency histogram of each route a router serves, looked up without a
//! lock.
//!
//! `MetricVec::with_label_values` hashes the label values, takes the vector's read lock and
//! clones the child (a reference count), all on cache lines every worker thread shares: per
//! request and per metric, several atomic writes that bounce between the cores. A router knows
//! its routes when it is built, so its table holds one slot per (route, method, status): a slot
//! resolves its series at first use (a series appears in `/metrics` when first counted, as
//! before) and is read with one atomic load after that.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{Method, StatusCode};
use prometheus::{Histogram, IntCounter};

use crate::metrics::Metrics;

/// The route label of a request no route matched (the fallback's 404 and 405).
pub const UNMATCHED: &str = "unmatched";

/// The methods with slots; others (rare, and refused with 405) take the labelled lookup.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// The statuses with slots: those the services answer. Others take the labelled lookup.
const STATUSES: [u16; 28] = [
    200, 201, 202, 204, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409, 410,
    412, 413, 415, 422, 429, 500, 501, 503, 504,
];

/// Statuses counted at zero on every listed route, so a route's first 5xx shows in `rate()`.
const STARTED_AT_ZERO: [StatusCode; 2] = [
    StatusCode::INTERNAL_SERVER_ERROR,
    StatusCode::SERVICE_UNAVAILABLE,
];

/// The series of one route and method.
#[derive(Default)]
struct Slots {
    duration: OnceLock<Histogram>,
    requests: [OnceLock<IntCounter>; STATUSES.len()],
}

/// The slots of a router's routes (and of [`UNMATCHED`]).
pub struct RouteMetrics {
    metrics: Metrics,
    routes: HashMap<&'static str, Box<[Slots; METHODS.len()]>>,
}

impl RouteMetrics {
    /// The table of `routes` (method, route template), with their 500 and 503 counters at zero
    /// (an event is invisible to `rate()` until its second, so a route's first 5xx after a
    /// start would not count in its SLO).
    pub fn new(metrics: &Metrics, routes: &[(&'static str, &'static str)]) -> Self {
        let mut table = Self {
            metrics: metrics.clone(),
            routes: HashMap::new(),
        };
        table.routes.entry(UNMATCHED).or_default();
        for &(method, route) in routes {
            table.routes.entry(route).or_default();
            let method = Method::from_bytes(method.as_bytes()).expect("a route's method");
            for status in STARTED_AT_ZERO {
                table.count(&method, route, status, |_| ());
            }
        }
        table
    }

    /// Counts and times one answered request. `route` is the matched template or
    /// [`UNMATCHED`], never the raw path (ids and tokens would become label values).
    pub fn record(&self, method: &Method, route: &str, status: StatusCode, seconds: f64) {
        let duration = || {
            self.metrics
                .http_duration
                .with_label_values(&[method.as_str(), route])
        };
        match self.slots(method, route) {
            Some(slots) => slots.duration.get_or_init(duration).observe(seconds),
            None => duration().observe(seconds),
        }
        self.count(method, route, status, |counter| counter.inc());
    }

    /// Calls `f` with the request counter of (method, route, status).
    fn count(&self, method: &Method, route: &str, status: StatusCode, f: impl Fn(&IntCounter)) {
        let counter = || {
            self.metrics
                .http_requests
                .with_label_values(&[method.as_str(), route, status.as_str()])
        };
        let at = STATUSES.iter().position(|s| *s == status.as_u16());
        match (self.slots(method, route), at) {
            (Some(slots), Some(at)) => f(slots.requests[at].get_or_init(counter)),
            _ => f(&counter()),
        }
    }

    fn slots(&self, method: &Method, route: &str) -> Option<&Slots> {
        let at = METHODS.iter().position(|m| m == method)?;
        self.routes.get(route).map(|slots| &slots[at])
    }
}

#[cfg(test)]
mod tests {
    use prometheus::Registry;

    use super::*;

    fn count(registry: &Registry, labels: [&str; 3]) -> Option<f64> {
        let families = registry.gather();
        let family = families
            .iter()
            .find(|f| f.name() == "http_requests_total")?;
        family
            .get_metric()
            .iter()
            .find(|m| {
                let values: Vec<&str> = m.get_label().iter().map(|l| l.value()).collect();
                values == labels
            })
            .map(|m| m.get_counter().value())
    }

    #[test]
    fn slots_and_labelled_lookups_count_the_same_series() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).expect("metrics");
        let table = RouteMetrics::new(&metrics, &[("GET", "/v1/users/me")]);
        assert_eq!(count(&registry, ["GET", "/v1/users/me", "503"]), Some(0.0));
        assert_eq!(count(&registry, ["GET", "/v1/users/me", "200"]), None);

        let ok = StatusCode::OK;
        table.record(&Method::GET, "/v1/users/me", ok, 0.001);
        table.record(&Method::GET, "/v1/users/me", ok, 0.001);
        // No slot: an odd status, an odd method, a route the table does not list.
        table.record(&Method::GET, "/v1/users/me", StatusCode::IM_A_TEAPOT, 0.001);
        let brew = Method::from_bytes(b"BREW").unwrap();
        table.record(&brew, UNMATCHED, StatusCode::METHOD_NOT_ALLOWED, 0.001);
        table.record(&Method::GET, "/elsewhere", ok, 0.001);
        table.record(&Method::GET, UNMATCHED, StatusCode::NOT_FOUND, 0.001);

        assert_eq!(count(&registry, ["GET", "/v1/users/me", "200"]), Some(2.0));
        assert_eq!(count(&registry, ["GET", "/v1/users/me", "418"]), Some(1.0));
        assert_eq!(count(&registry, ["BREW", UNMATCHED, "405"]), Some(1.0));
        assert_eq!(count(&registry, ["GET", "/elsewhere", "200"]), Some(1.0));
        assert_eq!(count(&registry, ["GET", UNMATCHED, "404"]), Some(1.0));
        let observed = metrics
            .http_duration
            .with_label_values(&["GET", "/v1/users/me"])
            .get_sample_count();
        assert_eq!(observed, 3);
    }
}
