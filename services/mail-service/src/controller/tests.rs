use std::collections::HashSet;

use common::email::EmailKind;
use serde_json::{Map, Value};

use super::{Overrides, Verdict, desired_status};
use crate::crd::{EmailTemplateSpec, TemplateKind};
use crate::templates::Templates;

fn spec(kind: TemplateKind, locale: &str, subject: &str) -> EmailTemplateSpec {
    EmailTemplateSpec {
        kind,
        locale: locale.into(),
        subject: subject.into(),
        text: "Hello {{ name }}".into(),
        html: None,
    }
}

fn subject(t: &Templates, kind: EmailKind, locale: &str) -> String {
    let mut data = Map::new();
    data.insert("name".into(), Value::from("Ada"));
    data.insert("new_email".into(), Value::from("ada@example.org"));
    t.render(kind, locale, &data).unwrap().subject
}

const NOW: &str = "2026-01-01T00:00:00Z";
const LATER: &str = "2026-01-01T00:05:00Z";

#[test]
fn valid_resource_is_ready_and_published() {
    let mut o = Overrides::default();
    let s = spec(TemplateKind::PasswordChanged, "en", "Custom {{ name }}");
    let verdict = o.apply("changed-en", &s);
    assert_eq!(verdict, Verdict::Applied);
    let t = o.templates().unwrap();
    assert_eq!(
        subject(&t, EmailKind::PasswordChanged, "en"),
        "Custom Ada",
        "the resource overrides the built-in"
    );
    assert_ne!(subject(&t, EmailKind::AccountDeleted, "en"), "Custom Ada");

    let status = desired_status(None, "changed-en", &s, Some(1), &verdict, NOW);
    let ready = status.ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", "Applied")
    );
    assert_eq!(ready.observed_generation, Some(1));
    assert_eq!(status.last_applied.as_deref(), Some(NOW));
}

#[test]
fn text_only_resource_gets_an_escaped_html_body() {
    let mut o = Overrides::default();
    let mut s = spec(TemplateKind::EmailChanged, "fr", "Adresse modifiée");
    s.text = "Nouvelle adresse: {{ new_email }} <ok>".into();
    assert_eq!(o.apply("changed-fr", &s), Verdict::Applied);
    let mut data = Map::new();
    data.insert("new_email".into(), Value::from("<b>x</b>@example.org"));
    let r = o
        .templates()
        .unwrap()
        .render(EmailKind::EmailChanged, "fr-CA", &data)
        .unwrap();
    assert_eq!(r.text, "Nouvelle adresse: <b>x</b>@example.org <ok>");
    assert!(
        r.html
            .contains("Nouvelle adresse: &lt;b&gt;x&lt;&#x2f;b&gt;@example.org &lt;ok&gt;</pre>"),
        "escaped once: {}",
        r.html
    );
}

#[test]
fn invalid_edit_keeps_the_previous_version_and_says_why() {
    let mut o = Overrides::default();
    let good = spec(TemplateKind::PasswordChanged, "en", "Good");
    o.apply("changed-en", &good);
    let bad = spec(TemplateKind::PasswordChanged, "en", "{% if %}");
    let verdict = o.apply("changed-en", &bad);
    let Verdict::Invalid(message) = &verdict else {
        panic!("{verdict:?}");
    };
    assert!(
        message.contains("password_changed/en/subject.txt"),
        "{message}"
    );
    let t = o.templates().unwrap();
    assert_eq!(subject(&t, EmailKind::PasswordChanged, "en"), "Good");

    let before = desired_status(None, "changed-en", &good, Some(1), &Verdict::Applied, NOW);
    let status = desired_status(Some(&before), "changed-en", &bad, Some(2), &verdict, LATER);
    let ready = status.ready().unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "TemplateInvalid")
    );
    assert_eq!(ready.message, *message);
    assert_eq!(ready.observed_generation, Some(2));
    assert_eq!(ready.last_transition_time, LATER);
    assert_eq!(
        status.last_applied.as_deref(),
        Some(NOW),
        "still the time the good version was applied"
    );
}

#[test]
fn delete_restores_the_built_in() {
    let builtin = subject(&Templates::new().unwrap(), EmailKind::PasswordChanged, "en");
    let mut o = Overrides::default();
    o.apply(
        "changed-en",
        &spec(TemplateKind::PasswordChanged, "en", "Custom"),
    );
    assert!(o.remove("changed-en"));
    assert!(!o.remove("changed-en"));
    let t = o.templates().unwrap();
    assert_eq!(subject(&t, EmailKind::PasswordChanged, "en"), builtin);

    // The same after a relist that no longer has it.
    o.apply(
        "changed-en",
        &spec(TemplateKind::PasswordChanged, "en", "Custom"),
    );
    assert!(o.retain(&HashSet::new()));
    let t = o.templates().unwrap();
    assert_eq!(subject(&t, EmailKind::PasswordChanged, "en"), builtin);
}

#[test]
fn unchanged_status_needs_no_write() {
    let mut o = Overrides::default();
    let s = spec(TemplateKind::AccountDeleted, "en", "Bye");
    let verdict = o.apply("deleted-en", &s);
    let written = desired_status(None, "deleted-en", &s, Some(3), &verdict, NOW);
    // Our own status write comes back as a watch event; so does every other replica's.
    let again = o.apply("deleted-en", &s);
    assert_eq!(again, Verdict::Unchanged);
    let desired = desired_status(Some(&written), "deleted-en", &s, Some(3), &again, LATER);
    assert_eq!(desired, written, "a later clock alone changes nothing");

    // A replica that starts later compiles it afresh: still nothing to write.
    let mut fresh = Overrides::default();
    let verdict = fresh.apply("deleted-en", &s);
    assert_eq!(verdict, Verdict::Applied);
    let desired = desired_status(Some(&written), "deleted-en", &s, Some(3), &verdict, LATER);
    assert_eq!(desired, written);

    // A new generation is applied anew.
    let desired = desired_status(Some(&written), "deleted-en", &s, Some(4), &verdict, LATER);
    assert_ne!(desired, written);
    assert_eq!(desired.last_applied.as_deref(), Some(LATER));
    assert_eq!(desired.ready().unwrap().last_transition_time, NOW);
}

#[test]
fn smallest_name_wins_a_kind_and_locale() {
    let mut o = Overrides::default();
    let b = spec(TemplateKind::AccountExists, "en", "From b");
    let a = spec(TemplateKind::AccountExists, "en", "From a");
    assert_eq!(o.apply("b", &b), Verdict::Applied);
    assert_eq!(o.apply("a", &a), Verdict::Applied);
    assert_eq!(o.apply("b", &b), Verdict::Conflict { winner: "a".into() });
    let t = o.templates().unwrap();
    assert_eq!(subject(&t, EmailKind::AccountExists, "en"), "From a");
    o.remove("a");
    let t = o.templates().unwrap();
    assert_eq!(subject(&t, EmailKind::AccountExists, "en"), "From b");
}
