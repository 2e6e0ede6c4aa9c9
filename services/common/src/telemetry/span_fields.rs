//! How the JSON log lines keep a span's fields (the `span` object of every line logged inside
//! it): a JSON object written once when the span starts and extended in place when a field is
//! recorded later.
//!
//! tracing-subscriber's own JSON field formatter builds a map of JSON values per span, and on
//! every later `record` parses the stored text back into a map, adds the field and writes it all
//! again; with the request span recording its status that was a parse and two serialisations per
//! request whether or not anything was logged. Fields named `otel.*` steer the trace export
//! (span name, kind, status) and are left out of the logs, as before they only repeated the
//! route and method.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// What a request span's fields take as JSON, with room to spare.
const SPAN_TEXT_CAPACITY: usize = 192;

/// The field formatter of the JSON log layer (`fmt::layer().json().fmt_fields(SpanFields)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFields;

impl<'w> FormatFields<'w> for SpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        // Room for a request span's fields: written without growing, then copied once.
        let mut text = String::with_capacity(SPAN_TEXT_CAPACITY);
        text.push('{');
        write_pairs(&mut text, fields)?;
        text.push('}');
        writer.write_str(&text)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let text = &mut current.fields;
        if text.pop() != Some('}') {
            // Not written by us (cannot happen): start over rather than write broken JSON.
            text.clear();
            text.push('{');
        }
        write_pairs(text, fields)?;
        text.push('}');
        Ok(())
    }
}

/// Appends `"name":value` pairs to an object's text that ends after `{` or after a value.
fn write_pairs(text: &mut String, fields: impl RecordFields) -> fmt::Result {
    let mut visitor = Pairs {
        first: text.ends_with('{'),
        text,
        result: Ok(()),
    };
    fields.record(&mut visitor);
    visitor.result
}

struct Pairs<'a> {
    text: &'a mut String,
    first: bool,
    result: fmt::Result,
}

impl Pairs<'_> {
    /// Starts a pair; false for the fields kept out of the logs.
    fn key(&mut self, field: &Field) -> bool {
        if field.name().starts_with("otel.") {
            return false;
        }
        if !std::mem::take(&mut self.first) {
            self.text.push(',');
        }
        self.string(format_args!("{}", field.name()));
        self.text.push(':');
        true
    }

    fn string(&mut self, value: fmt::Arguments<'_>) {
        self.text.push('"');
        let written = Escaped(self.text).write_fmt(value);
        self.result = self.result.and(written);
        self.text.push('"');
    }

    fn raw(&mut self, value: impl fmt::Display) {
        let written = write!(self.text, "{value}");
        self.result = self.result.and(written);
    }
}

impl Visit for Pairs<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.string(format_args!("{value:?}"));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.string(format_args!("{value}"));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            self.raw(value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            self.raw(value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.raw(value);
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.key(field) {
            return;
        }
        if value.is_finite() {
            self.raw(value);
        } else {
            // JSON has no NaN or infinity.
            self.string(format_args!("{value}"));
        }
    }
}

/// Writes text as the inside of a JSON string.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs of characters that need no escape are copied at once (ids, routes, methods: all).
        let mut rest = s;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
            self.0.push_str(&rest[..at]);
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c => write!(self.0, "\\u{:04x}", u32::from(c))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::prelude::*;

    use super::SpanFields;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn logged(work: impl FnOnce()) -> Vec<Value> {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .fmt_fields(SpanFields)
            .with_writer(lines.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), work);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).expect(l))
            .collect()
    }

    #[test]
    fn span_fields_are_a_json_object_extended_by_later_records() {
        let lines = logged(|| {
            let span = tracing::info_span!(
                "http.request",
                otel.name = "GET /x",
                route = "/x",
                note = %"quote \" backslash \\ newline \n tab \t bell \u{7}",
                count = 3u64,
                delta = -2i64,
                ok = true,
                ratio = 0.5f64,
                status = tracing::field::Empty,
            );
            let _entered = span.enter();
            tracing::info!("first");
            span.record("status", 200u64);
            span.record("otel.status_code", "error");
            tracing::info!("second");
        });
        assert_eq!(lines.len(), 2);
        let first = &lines[0]["span"];
        assert_eq!(first["route"], "/x");
        assert_eq!(
            first["note"],
            "quote \" backslash \\ newline \n tab \t bell \u{7}"
        );
        assert_eq!(first["count"], 3);
        assert_eq!(first["delta"], -2);
        assert_eq!(first["ok"], true);
        assert_eq!(first["ratio"], 0.5);
        assert_eq!(first["name"], "http.request");
        assert!(first.get("otel.name").is_none() && first.get("status").is_none());
        let second = &lines[1]["span"];
        assert_eq!(second["status"], 200);
        assert!(second.get("otel.status_code").is_none());
    }

    #[test]
    fn a_span_without_fields_and_odd_numbers_still_give_json() {
        let lines = logged(|| {
            let span = tracing::info_span!("quiet", value = tracing::field::Empty);
            let _entered = span.enter();
            tracing::info!("inside");
            span.record("value", f64::NAN);
            tracing::info!("after");
        });
        assert_eq!(lines[0]["span"], json!({"name": "quiet"}));
        assert_eq!(lines[1]["span"]["value"], "NaN");
    }
}
