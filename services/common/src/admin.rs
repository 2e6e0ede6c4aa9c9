//! The admin server: `/healthz`, `/readyz` and `/metrics` on their own port, so probes and
//! scrapes never compete with (or get exposed next to) the public API.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::{Map, Value, json};

use crate::server::ConnectionLimits;

pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// How long one dependency check may take before it counts as down. Kubelet probes time out
/// after 1 s by default, so stay below that.
const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

struct Check {
    name: &'static str,
    required: bool,
    run: CheckFn,
}

/// The dependency checks behind `/readyz`, plus a draining switch flipped at shutdown so load
/// balancers stop sending work before the server stops accepting it.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Vec<Check>>,
    draining: Arc<AtomicBool>,
}

impl Readiness {
    pub fn builder() -> ReadinessBuilder {
        ReadinessBuilder { checks: Vec::new() }
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Runs every check concurrently; returns whether the service is ready and a report.
    pub async fn evaluate(&self) -> (bool, Value) {
        let results = futures_util::future::join_all(self.checks.iter().map(|c| {
            let run = c.run.clone();
            async move {
                let outcome = match tokio::time::timeout(CHECK_TIMEOUT, run()).await {
                    Ok(r) => r,
                    Err(_) => Err("timed out".to_owned()),
                };
                (c, outcome)
            }
        }))
        .await;

        let mut ready = !self.is_draining();
        let mut degraded = false;
        let mut report = Map::new();
        for (check, outcome) in results {
            let status = match outcome {
                Ok(()) => "up",
                Err(reason) => {
                    // The reason goes to the log only: driver errors can carry host names.
                    tracing::warn!(dependency = check.name, %reason, "readiness check failed");
                    if check.required {
                        ready = false;
                    } else {
                        degraded = true;
                    }
                    "down"
                }
            };
            report.insert(
                check.name.to_owned(),
                json!({ "status": status, "required": check.required }),
            );
        }
        let status = if self.is_draining() {
            "draining"
        } else if !ready {
            "not_ready"
        } else if degraded {
            "degraded"
        } else {
            "ready"
        };
        (ready, json!({ "status": status, "checks": report }))
    }
}

pub struct ReadinessBuilder {
    checks: Vec<Check>,
}

impl ReadinessBuilder {
    /// A dependency without which the service cannot do its work: when it is down the pod is
    /// taken out of rotation.
    pub fn required<F, Fut>(self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, true, check)
    }

    /// A dependency whose loss the service absorbs (reported as `degraded`, still ready).
    pub fn optional<F, Fut>(self, name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, false, check)
    }

    fn add<F, Fut>(mut self, name: &'static str, required: bool, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push(Check {
            name,
            required,
            run: Arc::new(move || Box::pin(check())),
        });
        self
    }

    pub fn build(self) -> Readiness {
        Readiness {
            checks: Arc::new(self.checks),
            draining: Arc::default(),
        }
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Registry,
    readiness: Readiness,
}

/// The admin router. Mount it on its own listener.
pub fn router(registry: Registry, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState {
            registry,
            readiness,
        })
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "alive" }))
}

async fn readyz(State(state): State<AdminState>) -> Response {
    let (ready, report) = state.readiness.evaluate().await;
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(report)).into_response()
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => ([(header::CONTENT_TYPE, encoder.format_type())], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A registry with the process collector (CPU, RSS, open fds) and the span export's drop
/// counter (`otel_spans_dropped_total`) already in it.
///
/// No constant labels: Prometheus' scrape config already adds `job`, `pod` and `service`, and
/// a clashing label would be renamed `exported_*` and break dashboards.
pub fn new_registry() -> Registry {
    let registry = Registry::new();
    // Cannot clash in a fresh registry.
    let _ = registry.register(Box::new(crate::telemetry::export::SPANS_DROPPED.clone()));
    #[cfg(target_os = "linux")]
    {
        // Registering can only fail on a name clash, impossible in a fresh registry.
        let _ = registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
    }
    registry
}

/// Serves the admin router until `until` completes, with the probe listener's limits
/// ([`ConnectionLimits::PROBES`]): a header-read timeout, an idle timeout and a connection cap,
/// like the public listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    until: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve(listener, router, ConnectionLimits::PROBES, until).await;
    Ok(())
}
