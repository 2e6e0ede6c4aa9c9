//! The run loop: the watch events, the periodic resync, and what a (re)list or a deletion
//! means for the registry.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use kube::ResourceExt;
use kube::runtime::{WatchStreamExt, watcher};
use tracing::info;

use super::error::Error;
use super::reconcile::Context;
use crate::crd::EmailTemplate;

/// How often every resource is re-evaluated without an event: a status write that failed is
/// retried then (the watch resumes after a reconnect instead of re-listing, so no event might
/// come for a long time). Cheap: nothing is compiled or written unless something changed.
pub const RESYNC: Duration = Duration::from_secs(300);

/// A (re)list in progress: the names listed since `Init`, and whether the registry must be
/// rebuilt at `InitDone`; rebuilding once per list instead of once per resource.
#[derive(Default)]
struct Listing {
    names: Option<HashSet<String>>,
    dirty: bool,
}

impl Context {
    /// Watches until `stop`. The watcher retries with backoff on its own; errors are logged
    /// and counted, and the registry keeps the last published templates meanwhile.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        let events = watcher(self.api.clone(), watcher::Config::default()).default_backoff();
        tokio::pin!(events);
        tokio::pin!(stop);
        let mut listing = Listing::default();
        let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + RESYNC, RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                _ = resync.tick(), if listing.names.is_none() => {
                    self.reconcile_others(None).await;
                    continue;
                }
                () = &mut stop => return,
            };
            match event {
                None => return,
                Some(Err(e)) => self.failed(&Error::Watch(e)),
                Some(Ok(event)) => self.on_event(event, &mut listing).await,
            }
        }
    }

    async fn on_event(&mut self, event: watcher::Event<EmailTemplate>, listing: &mut Listing) {
        match event {
            watcher::Event::Init => listing.names = Some(HashSet::new()),
            watcher::Event::InitApply(obj) => {
                if let Some(names) = listing.names.as_mut() {
                    names.insert(obj.name_any());
                }
                listing.dirty |= self.reconcile(&obj).await;
            }
            watcher::Event::InitDone => self.listed(listing).await,
            watcher::Event::Apply(obj) => {
                if self.reconcile(&obj).await {
                    self.publish();
                    self.reconcile_others(Some(&obj.name_any())).await;
                }
            }
            watcher::Event::Delete(obj) => self.deleted(&obj.name_any()).await,
        }
    }

    /// The end of a (re)list: forget what is gone, publish, and mark the templates loaded.
    async fn listed(&mut self, listing: &mut Listing) {
        if let Some(names) = listing.names.take() {
            self.seen.retain(|name, _| names.contains(name));
            listing.dirty |= self.overrides.retain(&names);
        }
        if listing.dirty || !self.synced.load(Ordering::SeqCst) {
            self.publish();
        }
        if listing.dirty {
            // Conflicts may have been decided differently than while listing.
            self.reconcile_others(None).await;
            listing.dirty = false;
        }
        if !self.synced.swap(true, Ordering::SeqCst) {
            info!("EmailTemplates loaded");
        }
    }

    async fn deleted(&mut self, name: &str) {
        self.seen.remove(name);
        if self.overrides.remove(name) {
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
