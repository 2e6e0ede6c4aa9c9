use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::email::EmailKind;
use serde_json::{Map, Value, json};

use super::{RenderError, SOURCES, TemplateError, TemplateStore, Templates};

fn data(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn full_data() -> Map<String, Value> {
    data(json!({
        "name": "Ada",
        "token": "tok-123_ABC",
        "action_url": "https://example.com/verify?token=tok-123_ABC",
        "new_email": "ada@example.org",
        "remaining": 9,
        "passkey_name": "YubiKey",
    }))
}

#[test]
fn every_kind_renders_in_english() {
    let t = Templates::new().unwrap();
    for kind in EmailKind::ALL {
        let r = t.render(kind, "en", &full_data()).unwrap();
        assert!(!r.subject.is_empty(), "{kind}");
        assert!(r.text.contains("Hello Ada,"), "{kind}: {}", r.text);
        assert!(r.html.contains("<p>Hello Ada,</p>"), "{kind}: {}", r.html);
    }
}

#[test]
fn optional_name_may_be_missing() {
    let t = Templates::new().unwrap();
    let r = t
        .render(EmailKind::PasswordChanged, "en", &Map::new())
        .unwrap();
    assert!(r.text.starts_with("Hello,\n"), "{}", r.text);
}

#[test]
fn token_is_on_its_own_line() {
    let t = Templates::new().unwrap();
    for kind in [EmailKind::VerifyEmail, EmailKind::PasswordReset] {
        for locale in ["en", "de"] {
            let r = t.render(kind, locale, &full_data()).unwrap();
            assert!(
                r.text.lines().any(|l| l == "Token: tok-123_ABC"),
                "{kind}/{locale}: {}",
                r.text
            );
        }
    }
}

#[test]
fn missing_required_data_is_an_error() {
    let t = Templates::new().unwrap();
    let err = t
        .render(
            EmailKind::VerifyEmail,
            "en",
            &data(json!({"action_url": "x"})),
        )
        .unwrap_err();
    assert!(matches!(err, RenderError::Failed { .. }), "{err}");
}

#[test]
fn locale_falls_back_to_language_then_english() {
    let t = Templates::new().unwrap();
    let kind = EmailKind::VerifyEmail;
    assert_eq!(t.resolve_locale(kind, "de").as_deref(), Some("de"));
    assert_eq!(t.resolve_locale(kind, "de-AT").as_deref(), Some("de"));
    assert_eq!(t.resolve_locale(kind, "DE_at").as_deref(), Some("de"));
    assert_eq!(t.resolve_locale(kind, "fr-FR").as_deref(), Some("en"));
    assert_eq!(t.resolve_locale(kind, "../x").as_deref(), Some("en"));
    // A kind without German falls back to English even for an exact `de`.
    assert_eq!(
        t.resolve_locale(EmailKind::AccountDeleted, "de").as_deref(),
        Some("en")
    );
    let r = t.render(kind, "de-AT", &full_data()).unwrap();
    assert!(r.subject.contains("Bestätigen"), "{}", r.subject);
}

#[test]
fn html_is_escaped_and_text_is_not() {
    let t = Templates::new().unwrap();
    let mut d = full_data();
    d.insert("name".into(), json!("<b>Ada</b> & \"Bob\""));
    let r = t.render(EmailKind::AccountExists, "en", &d).unwrap();
    assert!(
        r.html
            .contains("&lt;b&gt;Ada&lt;&#x2f;b&gt; &amp; &quot;Bob&quot;"),
        "{}",
        r.html
    );
    assert!(!r.html.contains("<b>"), "{}", r.html);
    assert!(r.text.contains("<b>Ada</b> & \"Bob\""), "{}", r.text);
}

#[test]
fn passkey_notices_name_the_passkey_and_greet_the_recipient() {
    let t = Templates::new().unwrap();
    let mut d = full_data();
    d.insert("passkey_name".into(), json!("<i>Key</i> & \"Co\""));
    for kind in [EmailKind::PasskeyAdded, EmailKind::PasskeyRemoved] {
        let r = t.render(kind, "en", &d).unwrap();
        assert!(r.text.starts_with("Hello Ada,\n"), "{kind}: {}", r.text);
        assert!(
            r.text.contains("\"<i>Key</i> & \"Co\"\""),
            "{kind}: {}",
            r.text
        );
        assert!(
            r.html
                .contains("<strong>&lt;i&gt;Key&lt;&#x2f;i&gt; &amp; &quot;Co&quot;</strong>"),
            "{kind}: {}",
            r.html
        );
        assert!(!r.html.contains("<i>"), "{kind}: {}", r.html);
        assert!(!r.subject.contains("Key"), "{kind}: {}", r.subject);
    }
    // The passkey's name is required: without it the notice is not sent half-filled.
    let err = t
        .render(
            EmailKind::PasskeyRemoved,
            "en",
            &data(json!({"name": "Ada"})),
        )
        .unwrap_err();
    assert!(matches!(err, RenderError::Failed { .. }), "{err}");
}

#[test]
fn start_up_errors_name_the_template() {
    let err = Templates::from_sources(&[("verify_email/en/body.txt", "{% if %}")])
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("verify_email/en/body.txt"),
        "{err}"
    );

    let err = Templates::from_sources(&SOURCES[..3]).err().unwrap();
    assert!(matches!(err, TemplateError::Missing { .. }), "{err}");
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mail-templates-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, source: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, source).unwrap();
}

#[test]
fn directory_overrides_built_ins_and_adds_locales() {
    let dir = temp_dir("override");
    write(&dir, "password_changed/en/subject.txt", "Custom subject");
    write(&dir, "password_reset/fr/subject.txt", "Réinitialiser");
    write(&dir, "password_reset/fr/body.txt", "Jeton: {{ token }}");
    write(&dir, "password_reset/fr/body.html", "<p>{{ token }}</p>");
    write(&dir, ".hidden/en/subject.txt", "{% broken");
    let t = Templates::with_dir(&dir).unwrap();
    let r = t
        .render(EmailKind::PasswordChanged, "en", &full_data())
        .unwrap();
    assert_eq!(r.subject, "Custom subject");
    assert!(
        r.text.contains("Hello Ada,"),
        "the built-in body stays: {}",
        r.text
    );
    let r = t
        .render(EmailKind::PasswordReset, "fr-CA", &full_data())
        .unwrap();
    assert_eq!(r.text, "Jeton: tok-123_ABC");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_broken_directory_template_is_named() {
    let dir = temp_dir("broken");
    write(&dir, "verify_email/de/body.txt", "{% if %}");
    let err = Templates::with_dir(&dir).err().unwrap();
    assert!(
        err.to_string().contains("verify_email/de/body.txt"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn reloads_when_a_config_map_swaps_its_data_link() {
    // The layout the kubelet creates: visible names link through `..data` to a
    // timestamped directory, and an update re-points `..data`.
    let dir = temp_dir("configmap");
    let v1 = dir.join("..v1");
    write(&v1, "account_deleted/en/subject.txt", "Version one");
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/account_deleted", dir.join("account_deleted")).unwrap();

    let store = TemplateStore::new(Templates::with_dir(&dir).unwrap());
    let subject = |s: &TemplateStore| {
        s.current()
            .render(EmailKind::AccountDeleted, "en", &Map::new())
            .unwrap()
            .subject
    };
    assert_eq!(subject(&store), "Version one");

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watcher = tokio::spawn(store.clone().watch(
        dir.clone(),
        Duration::from_millis(50),
        {
            let reloads = reloads.clone();
            move |_| {
                reloads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        },
        async move {
            let _ = stop_rx.await;
        },
    ));

    // A broken update is rejected and the running version stays.
    let v2 = dir.join("..v2");
    write(&v2, "account_deleted/en/subject.txt", "{% if %}");
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    wait_for(|| reloads.load(std::sync::atomic::Ordering::SeqCst) >= 1).await;
    assert_eq!(subject(&store), "Version one");

    let v3 = dir.join("..v3");
    write(&v3, "account_deleted/en/subject.txt", "Version three");
    std::os::unix::fs::symlink("..v3", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    wait_for(|| subject(&store) == "Version three").await;

    let _ = stop_tx.send(());
    watcher.await.unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

async fn wait_for(mut done: impl FnMut() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met in time");
}
