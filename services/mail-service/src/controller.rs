//! The `EmailTemplate` controller (`TEMPLATE_SOURCE=kubernetes`): watches the resources in the
//! service's namespace and publishes the valid ones into the live template registry.
//!
//! A watcher rather than `kube::runtime::Controller`: the controller reconciles objects it
//! finds in its cache, so a deleted resource would never reach `reconcile` without a finalizer,
//! and a finalizer would make every replica (and an uninstalled chart) block deletions. The
//! watcher hands us deletions and, after every (re)list, the complete set, from which we drop
//! what was deleted while the watch was down.
//!
//! Every replica runs it and holds the same registry; no leader is needed to read and apply.
//! Status writes go through `desired_status`, which keeps the timestamps of a condition whose
//! meaning did not change, so all replicas compute byte-identical statuses and only the first
//! to see a change writes it: the others (and our own echo of that write) find nothing to do.
//! We chose that over a Lease-elected writer because it needs no extra RBAC, no election
//! traffic, and a status still gets written while only one replica is up.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::email::EmailKind;
use futures_util::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{error, info, warn};

use crate::crd::{EmailTemplate, EmailTemplateSpec, EmailTemplateStatus, READY, TemplateCondition};
use crate::metrics::Metrics;
use crate::templates::{TemplateError, TemplateStore, Templates, html_from_text};

/// How often every resource is re-evaluated without an event: a status write that failed is
/// retried then (the watch resumes after a reconnect instead of re-listing, so no event might
/// come for a long time). Cheap: nothing is compiled or written unless something changed.
pub const RESYNC: Duration = Duration::from_secs(300);

/// Field manager of our status writes, shown in `managedFields`.
pub const FIELD_MANAGER: &str = "mail-service";

/// The last version of one resource that compiled.
#[derive(Debug, Clone)]
struct Accepted {
    spec: EmailTemplateSpec,
    kind: EmailKind,
    locale: String,
    sources: Vec<(String, String)>,
}

/// What a reconcile made of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This spec compiled and is now in the registry.
    Applied,
    /// This spec was already in the registry.
    Unchanged,
    /// This spec does not compile; the last version that did (or the built-in) stays.
    Invalid(String),
    /// Another resource with a smaller name has the same kind and locale and wins.
    Conflict { winner: String },
}

impl Verdict {
    /// The `result` label of `mail_template_reconciles_total`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Applied => "applied",
            Verdict::Unchanged => "unchanged",
            Verdict::Invalid(_) => "invalid",
            Verdict::Conflict { .. } => "conflict",
        }
    }
}

/// The accepted resources by name: with the built-ins, the registry to publish. Pure state, so
/// the reconcile rules are tested without an API server.
#[derive(Debug, Default)]
pub struct Overrides {
    by_name: BTreeMap<String, Accepted>,
}

impl Overrides {
    /// Takes a resource's spec if it compiles; otherwise keeps what was there.
    pub fn apply(&mut self, name: &str, spec: &EmailTemplateSpec) -> Verdict {
        let unchanged = self.by_name.get(name).is_some_and(|a| a.spec == *spec);
        let verdict = if unchanged {
            Verdict::Unchanged
        } else {
            let kind = EmailKind::from(spec.kind);
            let html = spec
                .html
                .clone()
                .unwrap_or_else(|| html_from_text(&spec.text));
            match Templates::compile_set(kind, &spec.locale, &spec.subject, &spec.text, &html) {
                Ok(sources) => {
                    self.by_name.insert(
                        name.to_owned(),
                        Accepted {
                            spec: spec.clone(),
                            kind,
                            locale: spec.locale.clone(),
                            sources,
                        },
                    );
                    Verdict::Applied
                }
                Err(e) => return Verdict::Invalid(invalid_message(&e)),
            }
        };
        // The smallest name wins a kind+locale, the same choice on every replica.
        let key = (spec.kind, spec.locale.as_str());
        match self
            .by_name
            .iter()
            .find(|(_, a)| (a.spec.kind, a.locale.as_str()) == key)
        {
            Some((winner, _)) if winner != name => Verdict::Conflict {
                winner: winner.clone(),
            },
            _ => verdict,
        }
    }

    /// The accepted (last compiling) spec of a resource.
    pub fn accepted(&self, name: &str) -> Option<&EmailTemplateSpec> {
        self.by_name.get(name).map(|a| &a.spec)
    }

    /// Forgets a deleted resource; the built-in (or a conflicting resource) takes its place.
    pub fn remove(&mut self, name: &str) -> bool {
        self.by_name.remove(name).is_some()
    }

    /// Forgets every resource not in `names` (deleted while the watch was down).
    pub fn retain(&mut self, names: &HashSet<String>) -> bool {
        let before = self.by_name.len();
        self.by_name.retain(|name, _| names.contains(name));
        before != self.by_name.len()
    }

    /// The built-ins overridden by the winning resource of every kind+locale.
    pub fn templates(&self) -> Result<Templates, TemplateError> {
        let mut taken = HashSet::new();
        let mut sources = Vec::new();
        for accepted in self.by_name.values() {
            if taken.insert((accepted.kind, accepted.locale.clone())) {
                sources.extend(accepted.sources.iter().cloned());
            }
        }
        Templates::with_overrides(sources)
    }
}

fn invalid_message(e: &TemplateError) -> String {
    // minijinja's message names the part and line; it never holds message data (nothing was
    // rendered), so it is safe in a status anyone with `get` can read.
    format!("{e}; the previous version stays in use")
}

/// The status a resource should have after `verdict`. A condition whose status, reason,
/// message and generation are unchanged keeps its timestamps, so every replica arrives at the
/// same status and `current == desired` means there is nothing to write.
pub fn desired_status(
    current: Option<&EmailTemplateStatus>,
    name: &str,
    spec: &EmailTemplateSpec,
    generation: Option<i64>,
    verdict: &Verdict,
    now: &str,
) -> EmailTemplateStatus {
    let (status, reason, message) = match verdict {
        Verdict::Applied | Verdict::Unchanged => (
            "True",
            "Applied",
            format!(
                "in use for {} emails in locale {}",
                EmailKind::from(spec.kind),
                spec.locale
            ),
        ),
        Verdict::Invalid(message) => ("False", "TemplateInvalid", message.clone()),
        Verdict::Conflict { winner } => (
            "False",
            "Conflict",
            format!(
                "EmailTemplate {winner} has the same kind and locale and wins (smallest name); \
                 {name} is not used"
            ),
        ),
    };
    let previous = current.and_then(EmailTemplateStatus::ready);
    let same_status = previous.is_some_and(|p| p.status == status);
    let same_meaning = previous.is_some_and(|p| {
        p.status == status
            && p.reason == reason
            && p.message == message
            && p.observed_generation == generation
    });
    let last_transition_time = match previous {
        Some(p) if same_status => p.last_transition_time.clone(),
        _ => now.to_owned(),
    };
    let last_applied = if status == "True" && !same_meaning {
        Some(now.to_owned())
    } else {
        current.and_then(|c| c.last_applied.clone())
    };
    let ready = TemplateCondition {
        type_: READY.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        observed_generation: generation,
        last_transition_time,
    };
    // Conditions of other writers are kept as they are.
    let mut conditions: Vec<_> = current
        .map(|c| c.conditions.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ != READY)
        .collect();
    conditions.insert(0, ready);
    EmailTemplateStatus {
        conditions,
        last_applied,
    }
}

/// Everything the controller works with.
pub struct Context {
    api: Api<EmailTemplate>,
    store: TemplateStore,
    metrics: Metrics,
    /// Set once the first complete list has been published; readiness waits for it.
    synced: Arc<AtomicBool>,
    overrides: Overrides,
    /// The last version of every resource seen, to re-evaluate the others when one change
    /// decides a conflict, and to retry status writes.
    seen: BTreeMap<String, EmailTemplate>,
}

impl Context {
    /// A controller for the EmailTemplates in `namespace` (the client's default namespace,
    /// the pod's own in a cluster, when `None`).
    pub fn new(
        client: Client,
        namespace: Option<&str>,
        store: TemplateStore,
        metrics: Metrics,
        synced: Arc<AtomicBool>,
    ) -> Self {
        let api = match namespace {
            Some(ns) => Api::namespaced(client, ns),
            None => Api::default_namespaced(client),
        };
        Self {
            api,
            store,
            metrics,
            synced,
            overrides: Overrides::default(),
            seen: BTreeMap::new(),
        }
    }

    /// Watches until `stop`. The watcher retries with backoff on its own; errors are logged
    /// and counted, and the registry keeps the last published templates meanwhile.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        let events = watcher(self.api.clone(), watcher::Config::default()).default_backoff();
        tokio::pin!(events);
        tokio::pin!(stop);
        // Names listed since the last `Init`, and whether the registry must be rebuilt at
        // `InitDone`; rebuilding once per list instead of once per resource.
        let mut listed: Option<HashSet<String>> = None;
        let mut dirty = false;
        let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = resync.tick(), if listed.is_none() => {
                    self.reconcile_others(None).await;
                    continue;
                }
                () = &mut stop => return,
            };
            match event {
                None => return,
                Some(Err(e)) => {
                    self.metrics
                        .template_reconcile_errors
                        .with_label_values(&["watch"])
                        .inc();
                    warn!(error = %e, "watching EmailTemplates failed; retrying");
                }
                Some(Ok(watcher::Event::Init)) => listed = Some(HashSet::new()),
                Some(Ok(watcher::Event::InitApply(obj))) => {
                    if let Some(names) = listed.as_mut() {
                        names.insert(obj.name_any());
                    }
                    dirty |= self.reconcile(&obj).await;
                }
                Some(Ok(watcher::Event::InitDone)) => {
                    if let Some(names) = listed.take() {
                        self.seen.retain(|name, _| names.contains(name));
                        dirty |= self.overrides.retain(&names);
                    }
                    if dirty || !self.synced.load(Ordering::SeqCst) {
                        self.publish();
                    }
                    if dirty {
                        // Conflicts may have been decided differently than while listing.
                        self.reconcile_others(None).await;
                        dirty = false;
                    }
                    if !self.synced.swap(true, Ordering::SeqCst) {
                        info!("EmailTemplates loaded");
                    }
                }
                Some(Ok(watcher::Event::Apply(obj))) => {
                    if self.reconcile(&obj).await {
                        self.publish();
                        self.reconcile_others(Some(&obj.name_any())).await;
                    }
                }
                Some(Ok(watcher::Event::Delete(obj))) => {
                    let name = obj.name_any();
                    self.seen.remove(&name);
                    if self.overrides.remove(&name) {
                        self.publish();
                        // A resource this one beat in a conflict is in use now: say so.
                        self.reconcile_others(None).await;
                    }
                    self.metrics
                        .template_reconciles
                        .with_label_values(&["deleted"])
                        .inc();
                    info!(%name, "EmailTemplate deleted");
                }
            }
        }
    }

    /// Re-evaluates every known resource but `except` (a change of one can decide a conflict
    /// of another). Only statuses that changed are written.
    async fn reconcile_others(&mut self, except: Option<&str>) {
        let others: Vec<EmailTemplate> = self
            .seen
            .iter()
            .filter(|(name, _)| Some(name.as_str()) != except)
            .map(|(_, obj)| obj.clone())
            .collect();
        let mut rebuild = false;
        for obj in others {
            rebuild |= self.reconcile(&obj).await;
        }
        if rebuild {
            self.publish();
        }
    }

    /// Takes one resource into `overrides` and writes its status if it changed. Returns
    /// whether the registry must be rebuilt.
    #[tracing::instrument(name = "email_template.reconcile", skip_all, fields(name = %obj.name_any(), verdict = tracing::field::Empty))]
    async fn reconcile(&mut self, obj: &EmailTemplate) -> bool {
        let started = Instant::now();
        let name = obj.name_any();
        self.seen.insert(name.clone(), obj.clone());
        let generation = obj.metadata.generation;
        let before = self.overrides.accepted(&name).cloned();
        let verdict = self.overrides.apply(&name, &obj.spec);
        tracing::Span::current().record("verdict", verdict.as_str());
        // Any new accepted version means a rebuild: even one losing a conflict may have moved
        // the resource away from the kind and locale it used to win.
        let rebuild = self.overrides.accepted(&name) != before.as_ref();
        match &verdict {
            Verdict::Invalid(message) => {
                warn!(%name, ?generation, %message, "EmailTemplate rejected")
            }
            Verdict::Conflict { winner } => {
                warn!(%name, %winner, "EmailTemplate has the kind and locale of another")
            }
            Verdict::Applied => info!(%name, ?generation, "EmailTemplate applied"),
            Verdict::Unchanged => {}
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let desired = desired_status(
            obj.status.as_ref(),
            &name,
            &obj.spec,
            generation,
            &verdict,
            &now,
        );
        if obj.status.as_ref() != Some(&desired) {
            match self.write_status(&name, &desired).await {
                Ok(()) => {
                    // Until the watch brings our write back, remember it was made.
                    if let Some(seen) = self.seen.get_mut(&name) {
                        seen.status = Some(desired);
                    }
                }
                Err(e) => {
                    self.metrics
                        .template_reconcile_errors
                        .with_label_values(&["status"])
                        .inc();
                    // The next event for this resource or the next resync tries again.
                    warn!(%name, error = %e, "writing the EmailTemplate status failed");
                }
            }
        }
        self.metrics
            .template_reconciles
            .with_label_values(&[verdict.as_str()])
            .inc();
        self.metrics
            .template_reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        rebuild
    }

    async fn write_status(&self, name: &str, status: &EmailTemplateStatus) -> kube::Result<()> {
        // A merge patch of `status` alone: the conditions list is ours and replaced whole.
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(json!({ "status": status }));
        self.api.patch_status(name, &params, &patch).await.map(drop)
    }

    /// Swaps the live registry for the built-ins plus the accepted resources.
    fn publish(&self) {
        match self.overrides.templates() {
            Ok(templates) => self.store.replace(templates),
            Err(e) => {
                // Each set compiled on its own, so this would be a bug; keep what runs.
                self.metrics
                    .template_reconcile_errors
                    .with_label_values(&["publish"])
                    .inc();
                error!(error = %e, "publishing EmailTemplates failed; keeping the previous ones");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::TemplateKind;
    use serde_json::{Map, Value};

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
            r.html.contains(
                "Nouvelle adresse: &lt;b&gt;x&lt;&#x2f;b&gt;@example.org &lt;ok&gt;</pre>"
            ),
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
}
