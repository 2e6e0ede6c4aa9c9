//! The standard OpenTelemetry variables, read like every other setting: all problems at once,
//! each naming its variable, values never echoed (the headers usually hold an API key).

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::Sampler;
use secrecy::{ExposeSecret, SecretString};

use crate::config::Env;

/// Where and how spans are exported. `None` from [`TracingConfig::from_env`] means tracing
/// is off: no endpoint is set (or `OTEL_SDK_DISABLED=true`).
#[derive(Debug, Clone)]
pub struct TracingConfig {
    /// The full URL spans are POSTed to (`…/v1/traces`).
    pub endpoint: String,
    pub sampler: Sampler,
    /// `service.name`, `service.version` and `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<KeyValue>,
    /// `OTEL_EXPORTER_OTLP_HEADERS`: credentials of a hosted backend, hence secret.
    pub headers: Option<SecretString>,
    /// One export request, retries included.
    pub timeout: Duration,
    /// Finished spans waiting for export; past it they are dropped (and counted).
    pub max_queue_size: usize,
    pub schedule_delay: Duration,
    pub max_export_batch_size: usize,
    /// `OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE` or `OTEL_EXPORTER_OTLP_CERTIFICATE`: PEM
    /// certificates trusted besides the built-in roots, for a collector with a private CA.
    pub ca: Option<Vec<u8>>,
}

const PROTOCOL: &str = "http/protobuf";

impl TracingConfig {
    pub fn from_env(env: &mut Env, service: &str) -> Option<Self> {
        if env.flag("OTEL_SDK_DISABLED", false) {
            return None;
        }
        let endpoint = endpoint(env)?;
        check_protocol(env);
        let sampler = sampler(env);
        let resource = resource(env, service);
        let headers = headers(env);
        let timeout = millis(env, "OTEL_EXPORTER_OTLP_TIMEOUT", 10_000);
        let max_queue_size = env.optional("OTEL_BSP_MAX_QUEUE_SIZE", 2048usize).max(1);
        let ca = crate::pem::optional_certificates(env, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")
            .or_else(|| crate::pem::optional_certificates(env, "OTEL_EXPORTER_OTLP_CERTIFICATE"));
        Some(Self {
            endpoint,
            sampler,
            resource,
            headers,
            timeout: env
                .optional_opt::<u64>("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                .map_or(timeout, Duration::from_millis),
            max_queue_size,
            schedule_delay: millis(env, "OTEL_BSP_SCHEDULE_DELAY", 5_000),
            max_export_batch_size: env
                .optional("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512usize)
                .clamp(1, max_queue_size),
            ca,
        })
    }

    /// The export headers as pairs (already checked to parse).
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .as_ref()
            .and_then(|h| parse_pairs(h.expose_secret()).ok())
            .unwrap_or_default()
    }
}

/// The signal's protocol variable, else the general one: only `http/protobuf` is spoken.
fn check_protocol(env: &mut Env) {
    for var in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Some(protocol) = env.optional_opt::<String>(var) {
            if protocol != PROTOCOL {
                env.invalid(var, format!("only {PROTOCOL} is supported"));
            }
            break;
        }
    }
}

/// `service.name` (`OTEL_SERVICE_NAME`, else `service`), `service.version` and the pairs of
/// `OTEL_RESOURCE_ATTRIBUTES`.
fn resource(env: &mut Env, service: &str) -> Vec<KeyValue> {
    let service_name = env
        .optional_opt::<String>("OTEL_SERVICE_NAME")
        .unwrap_or_else(|| service.to_owned());
    let mut resource = vec![
        KeyValue::new("service.name", service_name),
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    ];
    if let Some(raw) = env.optional_opt::<String>("OTEL_RESOURCE_ATTRIBUTES") {
        match parse_pairs(&raw) {
            // service.name from OTEL_SERVICE_NAME wins, as the specification says.
            Ok(pairs) => resource.extend(
                pairs
                    .into_iter()
                    .filter(|(k, _)| k != "service.name" || !has(env, "OTEL_SERVICE_NAME"))
                    .map(|(k, v)| KeyValue::new(k, v)),
            ),
            Err(problem) => env.invalid("OTEL_RESOURCE_ATTRIBUTES", problem),
        }
    }
    resource
}

/// The signal's headers variable, else the general one; checked to parse, never echoed.
fn headers(env: &mut Env) -> Option<SecretString> {
    let headers = env
        .secret("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| env.secret("OTEL_EXPORTER_OTLP_HEADERS"));
    if let Some(h) = &headers
        && parse_pairs(h.expose_secret()).is_err()
    {
        env.invalid(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "expected key=value pairs separated by commas",
        );
    }
    headers
}

fn has(env: &mut Env, name: &str) -> bool {
    env.optional_opt::<String>(name).is_some()
}

fn millis(env: &mut Env, name: &str, default: u64) -> Duration {
    Duration::from_millis(env.optional(name, default))
}

/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, or `OTEL_EXPORTER_OTLP_ENDPOINT` with the
/// signal's path appended.
fn endpoint(env: &mut Env) -> Option<String> {
    let checked = |env: &mut Env, name: &str, url: String| {
        if url.starts_with("http://") || url.starts_with("https://") {
            Some(url)
        } else {
            env.invalid(name, "must be an http:// or https:// URL");
            None
        }
    };
    if let Some(url) = env.optional_opt::<String>("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
        return checked(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url);
    }
    let base = env.optional_opt::<String>("OTEL_EXPORTER_OTLP_ENDPOINT")?;
    let url = format!("{}/v1/traces", base.trim_end_matches('/'));
    checked(env, "OTEL_EXPORTER_OTLP_ENDPOINT", url)
}

/// `OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and its `_ARG`, the ratio.
fn sampler(env: &mut Env) -> Sampler {
    let name = env
        .optional_opt::<String>("OTEL_TRACES_SAMPLER")
        .unwrap_or_else(|| "parentbased_always_on".into());
    match name.as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::TraceIdRatioBased(ratio(env)),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio(env))))
        }
        _ => {
            env.invalid(
                "OTEL_TRACES_SAMPLER",
                "expected always_on, always_off, traceidratio, parentbased_always_on, \
                 parentbased_always_off or parentbased_traceidratio",
            );
            Sampler::AlwaysOff
        }
    }
}

fn ratio(env: &mut Env) -> f64 {
    let ratio: f64 = env.optional("OTEL_TRACES_SAMPLER_ARG", 1.0);
    if !(0.0..=1.0).contains(&ratio) {
        env.invalid("OTEL_TRACES_SAMPLER_ARG", "must be between 0 and 1");
    }
    ratio.clamp(0.0, 1.0)
}

/// `key=value,key=value` with percent-encoded values (W3C baggage syntax, as the
/// specification uses for resource attributes and headers).
fn parse_pairs(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| "expected key=value pairs separated by commas".to_owned())?;
            let key = k.trim();
            if key.is_empty() {
                return Err("a key is empty".to_owned());
            }
            Ok((key.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs)
    }

    #[test]
    fn a_private_ca_for_the_collector_is_read_and_checked() {
        let not_pem = std::env::temp_dir().join(format!("not-pem-{}", uuid::Uuid::new_v4()));
        std::fs::write(&not_pem, "hello").unwrap();
        let not_pem = not_pem.to_str().unwrap();
        for name in [
            "OTEL_EXPORTER_OTLP_CERTIFICATE",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        ] {
            let mut e = env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"),
                (name, not_pem),
            ]);
            let _ = TracingConfig::from_env(&mut e, "svc");
            let err = e.finish().unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains("no PEM certificate"),
                "{err}"
            );
            let mut e = env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318"),
                (name, "/nonexistent/ca.pem"),
            ]);
            let _ = TracingConfig::from_env(&mut e, "svc");
            let err = e.finish().unwrap_err().to_string();
            assert!(
                err.contains(name) && err.contains("cannot be read"),
                "{err}"
            );
        }
        let _ = std::fs::remove_file(not_pem);
    }

    #[test]
    fn off_without_an_endpoint() {
        assert!(TracingConfig::from_env(&mut env(&[]), "svc").is_none());
        let mut disabled = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ]);
        assert!(TracingConfig::from_env(&mut disabled, "svc").is_none());
    }

    #[test]
    fn reads_the_standard_variables() {
        let mut e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,team=a%20b",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t"),
        ]);
        let c = TracingConfig::from_env(&mut e, "user-service").unwrap();
        assert!(e.finish().is_ok());
        assert_eq!(c.endpoint, "http://collector:4318/v1/traces");
        assert!(format!("{:?}", c.sampler).contains("0.1"));
        assert!(c.resource.contains(&KeyValue::new("team", "a b")));
        assert!(
            c.resource
                .contains(&KeyValue::new("service.name", "user-service"))
        );
        assert_eq!(c.header_pairs(), [("x-api-key".into(), "s3cr3t".into())]);
        assert!(!format!("{c:?}").contains("s3cr3t"), "headers are secret");
    }

    #[test]
    fn reports_bad_values_by_name() {
        let mut e = env(&[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
        ]);
        assert!(TracingConfig::from_env(&mut e, "svc").is_none());
        let mut e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_RESOURCE_ATTRIBUTES", "novalue"),
        ]);
        TracingConfig::from_env(&mut e, "svc");
        let names: Vec<_> = e
            .finish()
            .unwrap_err()
            .0
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(
            names,
            [
                "OTEL_EXPORTER_OTLP_PROTOCOL",
                "OTEL_TRACES_SAMPLER",
                "OTEL_RESOURCE_ATTRIBUTES"
            ]
        );
    }
}
