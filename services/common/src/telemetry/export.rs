//! Span export: OTLP over HTTP/protobuf from the SDK's batch thread, behind a bounded queue
//! whose drops are counted, so a slow or dead collector costs a request nothing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::Context;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, Span, SpanData, SpanExporter,
    SpanProcessor,
};
use prometheus::{IntCounterVec, Opts};

use super::config::TracingConfig;

/// `otel_spans_dropped_total{reason}`: spans that never reached the collector, because the
/// export queue was full (`queue_full`) or the collector failed or refused them
/// (`export_failed`). Process-wide; every admin registry exposes it.
pub static SPANS_DROPPED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    let counter = IntCounterVec::new(
        Opts::new(
            "otel_spans_dropped_total",
            "Finished spans not exported, by reason (queue_full, export_failed)",
        ),
        &["reason"],
    )
    .expect("a valid metric definition");
    for reason in ["queue_full", "export_failed"] {
        counter.with_label_values(&[reason]);
    }
    counter
});

/// The tracer provider of `config`: sampler, resource, and the bounded batch export.
pub fn provider(config: &TracingConfig) -> Result<SdkTracerProvider, String> {
    let headers: HashMap<String, String> = config.header_pairs().into_iter().collect();
    let otlp = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(config.timeout)
        .with_headers(headers)
        .with_http_client(BlockingClient::new(config.timeout))
        .build()
        .map_err(|e| e.to_string())?;
    let queued = Arc::new(AtomicUsize::new(0));
    let exporter = CountingExporter {
        inner: otlp,
        queued: queued.clone(),
        failing: AtomicBool::new(false),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(config.max_queue_size)
        .with_scheduled_delay(config.schedule_delay)
        .with_max_export_batch_size(config.max_export_batch_size)
        .build();
    let processor = BoundedQueue {
        inner: BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build(),
        queued,
        capacity: config.max_queue_size,
    };
    Ok(SdkTracerProvider::builder()
        .with_sampler(config.sampler.clone())
        .with_resource(
            Resource::builder_empty()
                .with_attributes(config.resource.clone())
                .build(),
        )
        .with_span_processor(processor)
        .build())
}

/// Admits a finished span to the batch processor only while fewer than `capacity` are waiting
/// or being exported; otherwise drops and counts it. The batch processor's own queue has the
/// same size, so it never drops one unseen.
#[derive(Debug)]
struct BoundedQueue<P> {
    inner: P,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

impl<P: SpanProcessor> SpanProcessor for BoundedQueue<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            SPANS_DROPPED.with_label_values(&["queue_full"]).inc();
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Frees the queue slots of every batch it is handed and counts the spans of a failed export.
#[derive(Debug)]
struct CountingExporter<E> {
    inner: E,
    queued: Arc<AtomicUsize>,
    /// Whether the last export failed: a failure is logged once, not every few seconds.
    failing: AtomicBool,
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        let result = self.inner.export(batch).await;
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        match &result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("span export works again");
                }
            }
            Err(e) => {
                SPANS_DROPPED
                    .with_label_values(&["export_failed"])
                    .inc_by(spans as u64);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "span export failed; spans are dropped until it works");
                }
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The exporter's HTTP client: reqwest's blocking client, made on the SDK's export thread at
/// the first export (a blocking client must not be made or dropped inside an async runtime),
/// so exporting never runs on, or waits for, the request-serving runtime.
#[derive(Debug)]
struct BlockingClient {
    timeout: Duration,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

impl BlockingClient {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            client: OnceLock::new(),
        }
    }

    fn send_now(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self
            .client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(self.timeout)
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| HttpError::from(e.clone()))?;
        let (parts, body) = request.into_parts();
        let response = client
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = response.status();
        // The collector's answer is a small protobuf (partial success) or nothing.
        let body = response.bytes()?;
        let mut out = Response::new(body);
        *out.status_mut() = status;
        Ok(out)
    }
}

impl HttpClient for BlockingClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.send_now(request) })
    }
}
