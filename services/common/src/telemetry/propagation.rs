//! W3C trace context (`traceparent`, `tracestate`) in and out of HTTP headers, AMQP message
//! headers and the outbox, so one trace follows a request through the queue to the SMTP send.
//! Without tracing on, nothing is injected and extraction yields an empty context.

use std::collections::BTreeMap;

use lapin::types::{AMQPValue, FieldTable, ShortString};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The carried fields: `traceparent` and, when set, `tracestate`. Small and free of personal
/// data, so it can be stored next to a message (the outbox) and copied with it.
pub type Carrier = BTreeMap<String, String>;

/// The trace context of `span`, as a carrier; empty when it has none (tracing off).
pub fn carrier_of(span: &tracing::Span) -> Carrier {
    let cx = span.context();
    let mut carrier = Carrier::new();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut MapInjector(&mut carrier));
    }
    carrier
}

/// The trace context of the current span.
pub fn current_carrier() -> Carrier {
    carrier_of(&tracing::Span::current())
}

/// Makes `span` continue the trace in `carrier` (a no-op when it is empty). Call it before the
/// span is first entered.
pub fn continue_from_carrier(span: &tracing::Span, carrier: &Carrier) {
    if !carrier.is_empty() {
        continue_from(span, &MapExtractor(carrier));
    }
}

fn continue_from(span: &tracing::Span, carrier: &impl Extractor) {
    let cx = TraceContextPropagator::new().extract(carrier);
    continue_context(span, cx);
}

fn continue_context(span: &tracing::Span, cx: Context) {
    if cx.span().span_context().is_valid() {
        // Fails only when tracing is off or the span already started: then it stays a root.
        let _ = span.set_parent(cx);
    }
}

/// Adds the carrier's fields to AMQP message headers.
pub fn inject_amqp(carrier: &Carrier, headers: &mut FieldTable) {
    for (key, value) in carrier {
        headers.insert(
            key.as_str().into(),
            AMQPValue::LongString(value.as_str().into()),
        );
    }
}

/// Makes `span` continue the trace carried in AMQP headers.
pub fn continue_from_amqp(span: &tracing::Span, headers: Option<&FieldTable>) {
    if let Some(headers) = headers {
        continue_from(span, &AmqpExtractor(headers));
    }
}

/// Makes `span` continue the trace of an incoming HTTP request (most carry none: then nothing
/// is parsed, and no context is built).
pub fn continue_from_http(span: &tracing::Span, headers: &http::HeaderMap) {
    if headers.contains_key("traceparent") {
        continue_from(span, &HttpExtractor(headers));
    }
}

struct MapInjector<'a>(&'a mut Carrier);

impl Injector for MapInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapExtractor<'a>(&'a Carrier);

impl Extractor for MapExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct AmqpExtractor<'a>(&'a FieldTable);

impl Extractor for AmqpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self.0.inner().get(&ShortString::from(key))? {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.0.inner().keys().map(ShortString::as_str).collect()
    }
}

struct HttpExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HttpExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn amqp_headers_round_trip() {
        let carrier: Carrier = [("traceparent".to_owned(), PARENT.to_owned())].into();
        let mut headers = FieldTable::default();
        inject_amqp(&carrier, &mut headers);
        let extractor = AmqpExtractor(&headers);
        assert_eq!(extractor.get("traceparent"), Some(PARENT));
        let cx = TraceContextPropagator::new().extract(&extractor);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn without_tracing_there_is_nothing_to_carry() {
        assert!(current_carrier().is_empty());
    }
}
