//! A real OTLP/HTTP trace receiver: an HTTP server on a loopback port that decodes the
//! protobuf `ExportTraceServiceRequest`s the services send, as a collector would, and keeps
//! the spans for assertions. No collector binary is available to the tests, and a mock of the
//! exporter would prove nothing about the wire format.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;

/// One received span, flattened.
#[derive(Debug, Clone)]
pub struct Span {
    pub service: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// OTLP `SpanKind`: 2 server, 3 client, 4 producer, 5 consumer.
    pub kind: i32,
    pub attributes: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Store(Arc<Mutex<Vec<Span>>>);

pub struct Receiver {
    /// The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub endpoint: String,
    spans: Store,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let spans = Store::default();
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(spans.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            endpoint,
            spans,
            server,
        }
    }

    /// Every span of `trace_id` received so far.
    pub fn trace(&self, trace_id: &str) -> Vec<Span> {
        let spans = self.spans.0.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// The first span that `matches`, waiting up to `wait` for it to arrive.
    pub async fn wait_for(&self, wait: Duration, matches: impl Fn(&Span) -> bool) -> Span {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(span) = self.spans.0.lock().unwrap().iter().find(|s| matches(s)) {
                return span.clone();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no such span arrived within {wait:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn traces(State(store): State<Store>, body: Bytes) -> Response {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attributes(&r.attributes).remove("service.name"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(Span {
                    service: service.clone(),
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: span.name,
                    kind: span.kind,
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    store.0.lock().unwrap().extend(received);
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => s.clone(),
                any_value::Value::IntValue(i) => i.to_string(),
                any_value::Value::BoolValue(b) => b.to_string(),
                any_value::Value::DoubleValue(d) => d.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

/// The parent of `span` within `trace`, which must be there.
pub fn parent<'a>(trace: &'a [Span], span: &Span) -> &'a Span {
    trace
        .iter()
        .find(|s| s.span_id == span.parent_span_id)
        .unwrap_or_else(|| {
            panic!(
                "the parent of {} is not in the trace: {trace:#?}",
                span.name
            )
        })
}

/// The names from `span` up through its ancestors in `trace` (the root's parent may be a
/// caller's span, outside).
pub fn ancestry(trace: &[Span], span: &Span) -> Vec<String> {
    let mut names = vec![span.name.clone()];
    let mut current = span;
    while let Some(up) = trace.iter().find(|s| s.span_id == current.parent_span_id) {
        names.push(up.name.clone());
        current = up;
    }
    names
}
