//! The EmailTemplate controller against a mocked Kubernetes API (`tower_test` behind
//! `kube::Client`, as kube-rs recommends): no API server can run here, so these tests pin the
//! exact requests the controller makes and what it does with the answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::email::EmailKind;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use mail_service::controller::Context;
use mail_service::metrics::Metrics;
use mail_service::templates::{TemplateStore, Templates};
use serde_json::{Map, Value, json};
use tower_test::mock::{Handle, SendResponse};

const NS: &str = "mail";
const BASE: &str = "/apis/userplatform.io/v1alpha1/namespaces/mail/emailtemplates";

type ApiHandle = Handle<Request<Body>, Response<Body>>;

fn template(name: &str, generation: i64, rv: &str, spec: Value, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "userplatform.io/v1alpha1",
        "kind": "EmailTemplate",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": format!("uid-{name}"),
            "generation": generation,
            "resourceVersion": rv,
        },
        "spec": spec,
    });
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

async fn next(handle: &mut ApiHandle) -> (Request<Body>, SendResponse<Response<Body>>) {
    tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the controller made no request in time")
        .expect("the client is gone")
}

fn respond(send: SendResponse<Response<Body>>, body: Vec<u8>) {
    send.send_response(
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap(),
    );
}

async fn json_body(request: Request<Body>) -> Value {
    let bytes = request.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

/// Asserts a status PATCH of `name` and returns its body with the timestamps checked and
/// blanked, so the rest compares exactly.
async fn expect_status_patch(handle: &mut ApiHandle, name: &str, object: &Value) -> (Value, Value) {
    let (request, send) = next(handle).await;
    assert_eq!(request.method(), Method::PATCH);
    assert_eq!(
        request.uri().to_string(),
        format!("{BASE}/{name}/status?&fieldManager=mail-service")
    );
    assert_eq!(
        request.headers()["content-type"],
        "application/merge-patch+json"
    );
    let mut body = json_body(request).await;
    let status = body["status"].clone();
    let mut answer = object.clone();
    answer["status"] = status.clone();
    respond(send, serde_json::to_vec(&answer).unwrap());
    let condition = &mut body["status"]["conditions"][0];
    let time = condition["lastTransitionTime"].take();
    assert!(
        chrono::DateTime::parse_from_rfc3339(time.as_str().unwrap()).is_ok(),
        "{time}"
    );
    condition["lastTransitionTime"] = json!("<time>");
    if let Some(applied) = body["status"].get_mut("lastApplied") {
        assert!(chrono::DateTime::parse_from_rfc3339(applied.as_str().unwrap()).is_ok());
        *applied = json!("<time>");
    }
    (body, status)
}

fn subject(store: &TemplateStore, kind: EmailKind, locale: &str) -> String {
    let mut data = Map::new();
    data.insert("name".into(), json!("Ada"));
    store.current().render(kind, locale, &data).unwrap().subject
}

#[tokio::test]
async fn lists_watches_publishes_and_patches_status() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let store = TemplateStore::new(Templates::new().unwrap());
    let builtin_deleted = subject(&store, EmailKind::AccountDeleted, "en");
    let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
    let synced = Arc::new(AtomicBool::new(false));
    let controller = Context::new(
        client,
        Some(NS),
        store.clone(),
        metrics.clone(),
        synced.clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));

    let changed_spec = json!({
        "kind": "password_changed", "locale": "en",
        "subject": "Custom for {{ name }}", "text": "Hello {{ name }}",
    });
    let changed = template("changed-en", 1, "11", changed_spec, None);
    // Already Ready for its generation (written by another replica): nothing to write.
    let deleted = template(
        "deleted-de",
        2,
        "12",
        json!({
            "kind": "account_deleted", "locale": "de",
            "subject": "Konto gelöscht, {{ name }}", "text": "Hallo", "html": "<p>Hallo</p>",
        }),
        Some(json!({
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Applied",
                "message": "in use for account_deleted emails in locale de",
                "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z",
            }],
            "lastApplied": "2026-01-01T00:00:00Z",
        })),
    );

    // 1. The initial list, paged.
    let (request, send) = next(&mut handle).await;
    assert_eq!(request.method(), Method::GET);
    assert_eq!(request.uri().to_string(), format!("{BASE}?&limit=500"));
    assert!(!synced.load(Ordering::SeqCst), "not ready before the list");
    let list = json!({
        "apiVersion": "userplatform.io/v1alpha1",
        "kind": "EmailTemplateList",
        "metadata": {"resourceVersion": "100"},
        "items": [changed, deleted],
    });
    respond(send, serde_json::to_vec(&list).unwrap());

    // 2. Only the resource without a status gets one.
    let (body, written) = expect_status_patch(&mut handle, "changed-en", &changed).await;
    assert_eq!(
        body,
        json!({"status": {
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Applied",
                "message": "in use for password_changed emails in locale en",
                "observedGeneration": 1, "lastTransitionTime": "<time>",
            }],
            "lastApplied": "<time>",
        }})
    );

    // 3. Then the watch from the list's version; the list is published by now.
    let (request, send) = next(&mut handle).await;
    assert_eq!(request.method(), Method::GET);
    assert_eq!(
        request.uri().to_string(),
        format!(
            "{BASE}?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=100"
        )
    );
    assert!(synced.load(Ordering::SeqCst), "ready after the list");
    assert_eq!(
        subject(&store, EmailKind::PasswordChanged, "en"),
        "Custom for Ada"
    );
    assert_eq!(
        subject(&store, EmailKind::AccountDeleted, "de-AT"),
        "Konto gelöscht, Ada"
    );

    // An edit that breaks the template, our own status echo, and a deletion.
    let echo = template(
        "changed-en",
        1,
        "101",
        changed["spec"].clone(),
        Some(written.clone()),
    );
    let broken = template(
        "changed-en",
        2,
        "102",
        json!({
            "kind": "password_changed", "locale": "en",
            "subject": "{% if %}", "text": "Hello {{ name }}",
        }),
        Some(written.clone()),
    );
    let mut gone = deleted.clone();
    gone["metadata"]["resourceVersion"] = json!("103");
    let mut events = Vec::new();
    for (kind, object) in [
        ("MODIFIED", &echo),
        ("MODIFIED", &broken),
        ("DELETED", &gone),
    ] {
        events.extend(serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap());
        events.push(b'\n');
    }
    respond(send, events);

    // 4. The broken edit is reported; the good version stays in use.
    let (body, _) = expect_status_patch(&mut handle, "changed-en", &broken).await;
    let condition = &body["status"]["conditions"][0];
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "TemplateInvalid");
    assert_eq!(condition["observedGeneration"], 2);
    let message = condition["message"].as_str().unwrap();
    assert!(
        message.contains("password_changed/en/subject.txt")
            && message.ends_with("the previous version stays in use"),
        "{message}"
    );
    assert_eq!(
        body["status"]["lastApplied"], "<time>",
        "the good version's time is kept"
    );

    // 5. The stream ended: a new watch from the last version seen, and no other request
    // (in particular no status write for the echo or the deletion) before it.
    let (request, _send) = next(&mut handle).await;
    assert_eq!(request.method(), Method::GET);
    assert!(
        request.uri().to_string().ends_with(
            "&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=103"
        ),
        "{}",
        request.uri()
    );
    assert_eq!(
        subject(&store, EmailKind::PasswordChanged, "en"),
        "Custom for Ada"
    );
    assert_eq!(
        subject(&store, EmailKind::AccountDeleted, "de"),
        builtin_deleted,
        "deleting the resource restores the built-in (here: English)"
    );
    // The broken edit, and again when the deletion made every resource be re-evaluated
    // (without a second status write: the status had not changed).
    assert_eq!(
        metrics
            .template_reconciles
            .with_label_values(&["invalid"])
            .get(),
        2
    );
    assert_eq!(
        metrics
            .template_reconciles
            .with_label_values(&["deleted"])
            .get(),
        1
    );

    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the controller stops")
        .unwrap();
}

#[tokio::test]
async fn deleting_the_winner_of_a_conflict_puts_the_other_in_use() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let store = TemplateStore::new(Templates::new().unwrap());
    let metrics = Metrics::register(&prometheus::Registry::new()).unwrap();
    let synced = Arc::new(AtomicBool::new(false));
    let controller = Context::new(client, Some(NS), store.clone(), metrics, synced);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(controller.run(async move {
        let _ = stop_rx.await;
    }));

    let spec = |subject: &str| json!({"kind": "account_exists", "locale": "en", "subject": subject, "text": "Hi"});
    let a = template("a", 1, "11", spec("From a"), None);
    let b = template("b", 1, "12", spec("From b"), None);
    let (_, send) = next(&mut handle).await;
    let list = json!({
        "apiVersion": "userplatform.io/v1alpha1", "kind": "EmailTemplateList",
        "metadata": {"resourceVersion": "100"}, "items": [b, a],
    });
    respond(send, serde_json::to_vec(&list).unwrap());

    // b comes first and is applied, then a beats it (smaller name): b is told so.
    let (body, _) = expect_status_patch(&mut handle, "b", &b).await;
    assert_eq!(body["status"]["conditions"][0]["reason"], "Applied");
    let (body, _) = expect_status_patch(&mut handle, "a", &a).await;
    assert_eq!(body["status"]["conditions"][0]["reason"], "Applied");
    let (body, b_status) = expect_status_patch(&mut handle, "b", &b).await;
    let condition = &body["status"]["conditions"][0];
    assert_eq!(condition["status"], "False");
    assert_eq!(condition["reason"], "Conflict");
    assert_eq!(
        condition["message"],
        "EmailTemplate a has the same kind and locale and wins (smallest name); b is not used"
    );

    let (_, send) = next(&mut handle).await;
    assert_eq!(subject(&store, EmailKind::AccountExists, "en"), "From a");
    let mut b_now = b.clone();
    b_now["status"] = b_status;
    b_now["metadata"]["resourceVersion"] = json!("101");
    let mut a_gone = a.clone();
    a_gone["metadata"]["resourceVersion"] = json!("102");
    let mut events = Vec::new();
    for (kind, object) in [("MODIFIED", &b_now), ("DELETED", &a_gone)] {
        events.extend(serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap());
        events.push(b'\n');
    }
    respond(send, events);

    // a is gone: b is in use and its status says so, without an event for b.
    let (body, _) = expect_status_patch(&mut handle, "b", &b_now).await;
    let condition = &body["status"]["conditions"][0];
    assert_eq!(
        (&condition["status"], &condition["reason"]),
        (&json!("True"), &json!("Applied"))
    );
    assert_eq!(subject(&store, EmailKind::AccountExists, "en"), "From b");
    let (request, _send) = next(&mut handle).await;
    assert!(
        request.uri().to_string().contains("&watch=true"),
        "{}",
        request.uri()
    );

    let _ = stop_tx.send(());
    running.await.unwrap();
}
