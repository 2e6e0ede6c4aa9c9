//! OpenTelemetry on real services: both services export to a real OTLP/HTTP receiver
//! (`otlp.rs`) and the tests follow one signup from the request through MongoDB, the outbox,
//! RabbitMQ and the mail-service to the SMTP server.
//!
//! Each test has its own receiver and its own subscribers, installed for its (single-threaded)
//! runtime only: the user service's as the thread's default, the mail service's around its
//! future, so their spans carry each service's name as in a deployment.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::config::Env;
use common::shutdown::{Shutdown, ShutdownTrigger};
use common::telemetry::Telemetry;
use lapin::options::BasicGetOptions;
use mongodb::bson::{self, Document, doc};
use serde_json::{Value, json};
use tracing::instrument::WithSubscriber;
use uuid::Uuid;

use crate::e2e::{mail_config, wait_for_email};
use crate::helpers::*;
use crate::otlp::{Receiver, Span, ancestry, parent};

const SPAN_WAIT: Duration = Duration::from_secs(20);

/// Tracing on, exporting to `endpoint` every 100 ms.
fn telemetry(service: &'static str, endpoint: &str, extra: &[(&str, &str)]) -> Telemetry {
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let mut env = Env::from_map(
        vars.iter()
            .chain(extra)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    let telemetry = Telemetry::from_env(&mut env, service);
    env.finish().expect("valid telemetry configuration");
    assert!(telemetry.is_tracing());
    telemetry
}

/// The JSON log lines a subscriber wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The mail service on `app`'s queue, exporting with `telemetry`.
async fn start_mail(
    app: &TestApp,
    telemetry: &Telemetry,
) -> (ShutdownTrigger, tokio::task::JoinHandle<anyhow::Result<()>>) {
    let mail = mail_service::Application::build(mail_config(
        &app.config.amqp.email_queue,
        &app.config.redis.key_prefix,
    ))
    .await
    .expect("mail-service builds");
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(
        mail.run_until_stopped(shutdown)
            .with_subscriber(telemetry.dispatch_to(std::io::sink)),
    );
    (stop, task)
}

/// The trace's `smtp.send` span, once the consumer's span has arrived too: that one closes after
/// the send (sent record, ack) and may come in a later export batch.
async fn wait_for_send(receiver: &Receiver, trace_id: &str) -> Span {
    let smtp = receiver
        .wait_for(SPAN_WAIT, |s| {
            s.trace_id == trace_id && s.name == "smtp.send"
        })
        .await;
    receiver
        .wait_for(SPAN_WAIT, |s| {
            s.trace_id == trace_id && s.name == "email_queue process"
        })
        .await;
    smtp
}

/// A W3C `traceparent` of a caller's span: (header, trace id, span id).
fn caller_context() -> (String, String, String) {
    let trace_id = Uuid::new_v4().simple().to_string();
    let span_id = Uuid::new_v4().simple().to_string()[..16].to_owned();
    (format!("00-{trace_id}-{span_id}-01"), trace_id, span_id)
}

async fn register_traced(
    app: &TestApp,
    email: &str,
    traceparent: &str,
    request_id: &str,
) -> reqwest::Response {
    app.client
        .post(format!("{}/v1/users", app.base))
        .header("traceparent", traceparent)
        .header("x-request-id", request_id)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
}

fn named<'a>(trace: &'a [Span], name: &str) -> &'a Span {
    trace
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} span in {trace:#?}"))
}

/// The chain every delivered signup email must have, leaf first.
const CHAIN: [&str; 5] = [
    "smtp.send",
    "email_queue process",
    "email publish",
    "account.register",
    "POST /v1/users",
];

#[tokio::test]
async fn a_signup_is_one_trace_from_the_request_to_the_smtp_send() {
    let receiver = Receiver::start().await;
    let logs = Logs::default();
    let user = telemetry("user-service", &receiver.endpoint, &[]);
    let writer = logs.clone();
    let _traced = tracing::dispatcher::set_default(&user.dispatch_to(move || writer.clone()));
    let mail = telemetry("mail-service", &receiver.endpoint, &[]);
    let app = spawn_app().await;
    let (mail_stop, mail_task) = start_mail(&app, &mail).await;

    let email = unique_email();
    let (traceparent, trace_id, caller_span) = caller_context();
    let response = register_traced(&app, &email, &traceparent, "signup-1").await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-request-id"], "signup-1");
    wait_for_email(&email).await;

    let smtp = wait_for_send(&receiver, &trace_id).await;
    // The mail service exports on its own schedule; give the user service's spans a moment
    // (the request's, and the domain event's publish, which runs in the background).
    for name in ["POST /v1/users", "event publish"] {
        receiver
            .wait_for(SPAN_WAIT, |s| s.trace_id == trace_id && s.name == name)
            .await;
    }
    let trace = receiver.trace(&trace_id);
    assert_eq!(ancestry(&trace, &smtp), CHAIN, "{trace:#?}");
    let request = named(&trace, "POST /v1/users");
    assert_eq!(
        request.parent_span_id, caller_span,
        "continues the caller's trace"
    );
    assert_eq!(request.kind, 2);
    assert_eq!(request.service, "user-service");
    assert_eq!(request.attributes["http.route"], "/v1/users");
    assert_eq!(request.attributes["http.request.method"], "POST");
    assert_eq!(request.attributes["http.response.status_code"], "202");
    assert_eq!(request.attributes["request_id"], "signup-1");
    assert_eq!(smtp.service, "mail-service");
    assert_eq!(smtp.kind, 3);
    let consume = parent(&trace, &smtp);
    assert_eq!(
        (consume.kind, consume.attributes["outcome"].as_str()),
        (5, "sent")
    );
    assert_eq!(consume.attributes["attempt"], "1");
    assert_eq!(parent(&trace, consume).kind, 4);
    assert_eq!(
        parent(&trace, named(&trace, "email.render")).name,
        consume.name
    );
    let register = named(&trace, "account.register");
    for store in ["users.insert_with_outbox", "password.hash", "event publish"] {
        assert_eq!(
            parent(&trace, named(&trace, store)).span_id,
            register.span_id
        );
    }
    assert!(
        named(&trace, "password.hash")
            .attributes
            .contains_key("compute_ms")
    );
    let leaked: Vec<_> = trace
        .iter()
        .flat_map(|s| s.attributes.values())
        .filter(|v| v.contains(&email) || v.contains(PASSWORD))
        .collect();
    assert!(leaked.is_empty(), "personal data in attributes: {leaked:?}");

    // The log line of the workflow names its trace and span.
    let line = logs
        .lines()
        .into_iter()
        .find(|l| l["message"] == "user registered")
        .expect("the signup was logged");
    assert_eq!(line["trace_id"], trace_id.as_str());
    assert_eq!(line["span_id"], register.span_id.as_str());

    mail_stop.trigger();
    let _ = mail_task.await;
    app.finish().await;
    receiver.stop();
}

/// The broker is down at signup: the email waits in the outbox, another instance's relay
/// publishes it later, and it still belongs to the signup's trace.
#[tokio::test]
async fn an_email_the_relay_publishes_later_stays_in_the_signups_trace() {
    let receiver = Receiver::start().await;
    let user = telemetry("user-service", &receiver.endpoint, &[]);
    let _traced = tracing::dispatcher::set_default(&user.dispatch_to(std::io::sink));
    let mut config = test_config();
    config.amqp.url = "amqp://guest:guest@127.0.0.1:1/%2f".into();
    let down = spawn_with(config.clone()).await;
    let email = unique_email();
    let (traceparent, trace_id, _) = caller_context();
    let response = register_traced(&down, &email, &traceparent, "signup-2").await;
    assert_eq!(response.status(), 202);
    let outbox = down.database().await.collection::<Document>("outbox");
    for _ in 0..50 {
        if outbox.count_documents(doc! {}).await.unwrap() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = outbox.find_one(doc! {}).await.unwrap().expect("an entry");
    let carried = stored
        .get_document("trace")
        .expect("the trace context is stored");
    assert!(carried.get_str("traceparent").unwrap().contains(&trace_id));
    down.stop().await;

    // Skip the lease the failed request holds, as if its 30 s had passed.
    outbox
        .update_many(
            doc! {},
            doc! { "$set": { "available_at": bson::DateTime::now() } },
        )
        .await
        .unwrap();
    let mut healed = test_config();
    healed.mongodb.database = config.mongodb.database.clone();
    healed.amqp.email_queue = config.amqp.email_queue.clone();
    healed.amqp.events_exchange = config.amqp.events_exchange.clone();
    let app = spawn_with(healed).await;
    let mail = telemetry("mail-service", &receiver.endpoint, &[]);
    let (mail_stop, mail_task) = start_mail(&app, &mail).await;
    wait_for_email(&email).await;

    let smtp = wait_for_send(&receiver, &trace_id).await;
    // The relay's publish span comes in the healed instance's next export batch.
    receiver
        .wait_for(SPAN_WAIT, |s| {
            s.trace_id == trace_id
                && s.name == "email publish"
                && s.attributes.get("path").is_some_and(|p| p == "relay")
        })
        .await;
    let trace = receiver.trace(&trace_id);
    assert_eq!(ancestry(&trace, &smtp), CHAIN, "{trace:#?}");
    let publish = parent(&trace, parent(&trace, &smtp));
    assert_eq!(publish.attributes["path"], "relay");
    // The request's own attempt failed, in the same trace.
    assert!(
        trace
            .iter()
            .any(|s| s.name == "email publish" && s.attributes["path"] == "direct")
    );

    mail_stop.trigger();
    let _ = mail_task.await;
    app.finish().await;
    receiver.stop();
}

/// A message that fails, is retried and finally dead-lettered stays in one trace: each attempt
/// is a child of the previous one, and the parked copy carries the trace context.
#[tokio::test]
async fn retries_and_dead_letters_keep_the_trace() {
    let receiver = Receiver::start().await;
    let user = telemetry("user-service", &receiver.endpoint, &[]);
    let _traced = tracing::dispatcher::set_default(&user.dispatch_to(std::io::sink));
    let mail = telemetry("mail-service", &receiver.endpoint, &[]);
    let app = spawn_app().await;
    let (mail_stop, mail_task) = start_mail(&app, &mail).await;

    // The SMTP capture server answers 451 for this local part, every time.
    let email = format!("smtp451-{}@example.com", Uuid::new_v4().simple());
    let (traceparent, trace_id, _) = caller_context();
    let response = register_traced(&app, &email, &traceparent, "signup-3").await;
    assert_eq!(response.status(), 202);
    let last = receiver
        .wait_for(SPAN_WAIT, |s| {
            s.trace_id == trace_id
                && s.attributes.get("outcome").map(String::as_str) == Some("dead_lettered")
        })
        .await;
    let trace = receiver.trace(&trace_id);
    assert_eq!(last.attributes["attempt"], "2");
    let first = parent(&trace, &last);
    assert_eq!(first.name, "email_queue process");
    assert_eq!(first.attributes["outcome"], "retried");
    assert_eq!(ancestry(&trace, first)[1..], CHAIN[2..]);

    let parked = dead_letter(&app.config.amqp.email_queue).await;
    assert!(parked.contains(&trace_id), "{parked}");

    mail_stop.trigger();
    let _ = mail_task.await;
    app.finish().await;
    receiver.stop();
}

/// The `traceparent` header of the message in `<queue>.dead`.
async fn dead_letter(queue: &str) -> String {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let dead = format!("{queue}.dead");
    for _ in 0..50 {
        if let Some(message) = channel
            .basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let headers = message.delivery.properties.headers().clone().unwrap();
            let _ = conn.close(200, "done".into()).await;
            return common::amqp::header_str(&headers, "traceparent")
                .unwrap_or_default()
                .to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("nothing was dead-lettered");
}

/// A collector that takes connections and never answers: signups keep their speed, and the
/// spans that cannot be exported are dropped and counted.
#[tokio::test]
async fn a_dead_collector_costs_a_signup_nothing_and_drops_are_counted() {
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", hung.local_addr().unwrap());
    let user = telemetry(
        "user-service",
        &endpoint,
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
        ],
    );
    let app = spawn_app().await;
    let signup = || async {
        let started = Instant::now();
        assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
        started.elapsed()
    };
    // Untraced first (this thread has no subscriber yet), for comparison.
    let mut untraced = Vec::new();
    for _ in 0..3 {
        untraced.push(signup().await);
    }
    let _traced = tracing::dispatcher::set_default(&user.dispatch_to(std::io::sink));
    let metrics = app.metrics().await;
    for reason in ["queue_full", "export_failed"] {
        assert!(
            metrics.contains(&format!("otel_spans_dropped_total{{reason=\"{reason}\"}}")),
            "{metrics}"
        );
    }
    let before = dropped(&metrics);
    let mut traced = Vec::new();
    for _ in 0..5 {
        traced.push(signup().await);
    }
    // An export waits up to 10 s for the hung collector; a signup never does.
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (untraced, traced) = (median(untraced), median(traced));
    assert!(
        traced < untraced * 3 + Duration::from_millis(300),
        "signups took {traced:?} with a dead collector, {untraced:?} untraced"
    );
    let mut after = before;
    for _ in 0..100 {
        after = dropped(&app.metrics().await);
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        after > before,
        "no dropped span counted ({before} → {after})"
    );
    app.finish().await;
    drop(hung);
}

fn dropped(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("otel_spans_dropped_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A caller's plausible `X-Request-Id` is kept, anything else replaced by a generated one; the
/// response and its problem document quote it. Tracing off makes no difference.
#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let ask = |id: Option<&str>| {
        let mut request = app.client.get(format!("{}/v1/users/me", app.base));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };
    let kept = ask(Some("abc-123.x:y_z")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "abc-123.x:y_z");
    let body: Value = kept.json().await.unwrap();
    assert_eq!(body["request_id"], "abc-123.x:y_z");
    for bad in [None, Some("<script>"), Some("a b")] {
        let response = ask(bad).await.unwrap();
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32, "{id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["request_id"], id.as_str());
    }
    app.finish().await;
}
