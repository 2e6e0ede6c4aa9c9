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
        .with_http_client(BlockingClient::new(config.timeout, config.ca.clone()))
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
    /// PEM certificates trusted besides the built-in roots (a collector with a private CA).
    ca: Option<Vec<u8>>,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

impl BlockingClient {
    fn new(timeout: Duration, ca: Option<Vec<u8>>) -> Self {
        Self {
            timeout,
            ca,
            client: OnceLock::new(),
        }
    }

    fn build(&self) -> Result<reqwest::blocking::Client, String> {
        let mut builder = reqwest::blocking::Client::builder().timeout(self.timeout);
        if let Some(pem) = &self.ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| e.to_string())
    }

    fn send_now(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self
            .client
            .get_or_init(|| self.build())
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

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::testing::TestCa;

    /// An HTTPS "collector" on loopback that answers every request 200; returns its port.
    fn https_collector(rt: &tokio::runtime::Runtime, ca: &TestCa) -> u16 {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = ca.acceptor();
        rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    // The request's head and its one-byte body.
                    while !seen.ends_with(b"\r\n\r\nx") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let answer =
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                    let _ = tls.write_all(answer).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        port
    }

    /// A collector whose certificate a private CA signed: refused with the built-in roots,
    /// trusted with the certificate `OTEL_EXPORTER_OTLP_CERTIFICATE` names.
    #[test]
    fn a_collector_of_a_private_ca_is_trusted_only_with_its_ca() {
        let ca = TestCa::generate();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let port = https_collector(&rt, &ca);
        let request = || {
            let mut request = Request::new(Bytes::from_static(b"x"));
            *request.method_mut() = http::Method::POST;
            *request.uri_mut() = format!("https://127.0.0.1:{port}/v1/traces")
                .parse()
                .unwrap();
            request
        };
        let timeout = Duration::from_secs(5);
        let refused = BlockingClient::new(timeout, None).send_now(request());
        assert!(refused.is_err(), "an unknown CA must not be trusted");
        let pem = std::fs::read(ca.ca_file()).unwrap();
        let trusted = BlockingClient::new(timeout, Some(pem)).send_now(request());
        assert_eq!(trusted.unwrap().status(), 200);
    }
}
