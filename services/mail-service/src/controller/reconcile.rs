//! The controller's state and the reconcile of one resource: take it into the overrides,
//! publish the registry, write its status if that changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{error, info, warn};

use super::error::Error;
use super::overrides::{Overrides, Verdict};
use super::status::desired_status;
use crate::crd::{EmailTemplate, EmailTemplateStatus};
use crate::metrics::Metrics;
use crate::templates::TemplateStore;

/// Field manager of our status writes, shown in `managedFields`.
pub const FIELD_MANAGER: &str = "mail-service";

/// Everything the controller works with.
pub struct Context {
    pub(super) api: Api<EmailTemplate>,
    store: TemplateStore,
    pub(super) metrics: Metrics,
    /// Set once the first complete list has been published; readiness waits for it.
    pub(super) synced: Arc<AtomicBool>,
    pub(super) overrides: Overrides,
    /// The last version of every resource seen, to re-evaluate the others when one change
    /// decides a conflict, and to retry status writes.
    pub(super) seen: BTreeMap<String, EmailTemplate>,
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

    /// Re-evaluates every known resource but `except` (a change of one can decide a conflict
    /// of another). Only statuses that changed are written.
    pub(super) async fn reconcile_others(&mut self, except: Option<&str>) {
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
    pub(super) async fn reconcile(&mut self, obj: &EmailTemplate) -> bool {
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
            self.update_status(name, desired).await;
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

    /// Writes `status`; a failure is retried by the next event for this resource or the
    /// next resync.
    async fn update_status(&mut self, name: String, status: EmailTemplateStatus) {
        // A merge patch of `status` alone: the conditions list is ours and replaced whole.
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let patch = Patch::Merge(json!({ "status": &status }));
        match self.api.patch_status(&name, &params, &patch).await {
            Ok(_) => {
                // Until the watch brings our write back, remember it was made.
                if let Some(seen) = self.seen.get_mut(&name) {
                    seen.status = Some(status);
                }
            }
            Err(source) => self.failed(&Error::Status { name, source }),
        }
    }

    /// Swaps the live registry for the built-ins plus the accepted resources.
    pub(super) fn publish(&self) {
        match self.overrides.templates() {
            Ok(templates) => self.store.replace(templates),
            Err(e) => self.failed(&Error::Publish(e)),
        }
    }

    /// Counts a failure by its stage and logs it; what was published stays in use.
    pub(super) fn failed(&self, error: &Error) {
        self.metrics
            .template_reconcile_errors
            .with_label_values(&[error.metric_label()])
            .inc();
        match error {
            Error::Watch(e) => warn!(error = %e, "watching EmailTemplates failed; retrying"),
            Error::Status { name, source } => {
                warn!(%name, error = %source, "writing the EmailTemplate status failed")
            }
            Error::Publish(e) => {
                error!(error = %e, "publishing EmailTemplates failed; keeping the previous ones")
            }
        }
    }
}
