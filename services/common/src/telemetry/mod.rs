//! Logs and traces.
//!
//! Logs: JSON lines on stdout, filtered by `RUST_LOG` (default `info`); a line written inside
//! a span carries that span's `trace_id` and `span_id`. Traces: every `tracing` span at `info`
//! or above becomes an OpenTelemetry span, exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) is set; see [`config`] for the
//! variables and [`export`] for how a dead collector is kept from costing anything. A span's
//! fields in the log lines are written once and extended in place (`span_fields`); `otel.*`
//! fields go to the traces only.

pub mod config;
pub mod export;
pub mod propagation;
mod span_fields;

use std::sync::{Arc, OnceLock};

use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::dispatcher::WeakDispatch;
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

use crate::config::{ConfigError, Env};
pub use config::TracingConfig;

/// The process's logging and tracing set-up. Keep it until exit and call
/// [`Telemetry::shutdown`] there, which exports the spans still queued.
pub struct Telemetry {
    service: &'static str,
    filter: String,
    pretty: bool,
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Reads `RUST_LOG`, `LOG_FORMAT` and the OpenTelemetry variables; problems are recorded in
    /// `env`. Tracing is off without an endpoint.
    pub fn from_env(env: &mut Env, service: &'static str) -> Self {
        let filter = env
            .optional_opt::<String>("RUST_LOG")
            .unwrap_or_else(|| "info".into());
        if EnvFilter::try_new(&filter).is_err() {
            // The parser's message quotes the value; configuration errors never do.
            env.invalid(
                "RUST_LOG",
                "not a valid filter (e.g. info or info,user_service=debug)",
            );
        }
        let pretty = env
            .optional_opt::<String>("LOG_FORMAT")
            .is_some_and(|v| v.eq_ignore_ascii_case("pretty"));
        let provider = TracingConfig::from_env(env, service).and_then(|config| {
            export::provider(&config)
                .map_err(|e| env.invalid("OTEL_EXPORTER_OTLP_ENDPOINT", e))
                .ok()
        });
        Self {
            service,
            filter,
            pretty,
            provider,
        }
    }

    /// Whether spans are exported.
    pub fn is_tracing(&self) -> bool {
        self.provider.is_some()
    }

    /// A subscriber writing logs to stdout.
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch_to(std::io::stdout)
    }

    /// A subscriber writing logs to `writer` (tests capture them).
    pub fn dispatch_to<W>(&self, writer: W) -> Dispatch
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = EnvFilter::try_new(&self.filter).unwrap_or_else(|_| EnvFilter::new("info"));
        let dispatch = Arc::new(OnceLock::new());
        let logs = if self.pretty {
            fmt::layer()
                .with_target(false)
                .with_writer(writer)
                .with_filter(filter)
                .boxed()
        } else {
            let json = fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false);
            fmt::layer()
                .json()
                .fmt_fields(span_fields::SpanFields)
                .event_format(WithTraceIds {
                    format: json,
                    dispatch: dispatch.clone(),
                })
                .with_writer(writer)
                .with_filter(filter)
                .boxed()
        };
        // Spans are exported whatever `RUST_LOG` says: a quieter log must not cut traces.
        let traces = self.provider.as_ref().map(|provider| {
            // Without busy/idle time, thread and source-location attributes, and without making
            // each span's context current on every poll: costs per span that nothing here reads.
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(self.service))
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_location(false)
                .with_context_activation(false)
                .with_filter(LevelFilter::INFO)
        });
        Dispatch::new(
            tracing_subscriber::registry()
                .with(logs)
                .with(traces)
                .with(CaptureDispatch(dispatch)),
        )
    }

    /// Exports what is still queued (bounded by the exporter's timeout) and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not flush the last spans");
        }
    }
}

/// A service's start: telemetry, then its configuration (`load`), every problem of either printed
/// (prefixed with the service's name) before the exit code 2, which tells an operator "fix the
/// deployment", not "the service crashed".
pub fn start<C, E: std::fmt::Display>(
    service: &'static str,
    load: impl FnOnce() -> Result<C, E>,
) -> Result<(Telemetry, C), std::process::ExitCode> {
    match (init(service), load()) {
        (Ok(telemetry), Ok(config)) => Ok((telemetry, config)),
        (telemetry, config) => {
            let problems = [
                telemetry.err().map(|e| e.to_string()),
                config.err().map(|e| e.to_string()),
            ];
            for problem in problems.into_iter().flatten() {
                eprintln!("{service}: {problem}");
            }
            Err(std::process::ExitCode::from(2))
        }
    }
}

/// Installs the process-wide subscriber from the process environment. A configuration problem
/// is returned like any other (the caller exits with status 2).
pub fn init(service: &'static str) -> Result<Telemetry, ConfigError> {
    let mut env = Env::from_process();
    let telemetry = Telemetry::from_env(&mut env, service);
    env.finish()?;
    // A second init (tests that start several services in one process) is harmless.
    if tracing::dispatcher::set_global_default(telemetry.dispatch()).is_ok() {
        tracing::info!(
            service,
            version = env!("CARGO_PKG_VERSION"),
            tracing = telemetry.is_tracing(),
            "logging initialised"
        );
    }
    Ok(telemetry)
}

/// The JSON line of the wrapped format with `trace_id` and `span_id` of the current span
/// added, so a log line leads to its trace and back.
struct WithTraceIds<F> {
    format: F,
    /// The subscriber this format is part of: the span's OpenTelemetry context is read through
    /// it (inside an event, `tracing`'s current dispatcher is not available).
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl<F> WithTraceIds<F> {
    fn ids(&self, span: &tracing::span::Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
        let otel_span = cx.span();
        let sc = otel_span.span_context();
        sc.is_valid()
            .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let ids = ctx.lookup_current().and_then(|span| self.ids(&span.id()));
        let Some((trace_id, span_id)) = ids else {
            return self.format.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.format
            .format_event(ctx, Writer::new(&mut line), event)?;
        match line.rfind('}') {
            Some(end) => {
                let (head, tail) = line.split_at(end);
                write!(
                    writer,
                    "{head},\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"{tail}"
                )
            }
            None => writer.write_str(&line),
        }
    }
}

/// Hands the subscriber it is registered in to [`WithTraceIds`].
struct CaptureDispatch(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}
