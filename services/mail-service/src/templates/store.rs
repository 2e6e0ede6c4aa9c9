//! The templates in use, and the watch that reloads a directory's when it changes.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tracing::{error, info};

use super::directory::{Fingerprint, fingerprint};
use super::registry::Templates;

/// The templates in use, swapped whole on reload so a render never mixes two versions.
#[derive(Clone)]
pub struct TemplateStore {
    current: Arc<RwLock<Arc<Templates>>>,
}

impl TemplateStore {
    pub fn new(templates: Templates) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(templates))),
        }
    }

    pub fn current(&self) -> Arc<Templates> {
        self.current.read().expect("template lock").clone()
    }

    pub fn replace(&self, templates: Templates) {
        *self.current.write().expect("template lock") = Arc::new(templates);
    }

    /// Polls `dir` every `interval` and reloads on any change, keeping the running templates
    /// when the new ones do not compile. Polling rather than inotify because Kubernetes updates
    /// a mounted ConfigMap by swapping a `..data` symlink, which file watches on the old files
    /// miss, and because a few `stat`s every few seconds cost nothing.
    ///
    /// The directory's state is taken now, not when the future first runs, so a change made
    /// in between is not missed.
    pub fn watch(
        self,
        dir: PathBuf,
        interval: Duration,
        on_reload: impl Fn(bool) + Send,
        stop: impl std::future::Future<Output = ()>,
    ) -> impl std::future::Future<Output = ()> {
        let seen = fingerprint(&dir);
        self.poll(dir, seen, interval, on_reload, stop)
    }

    async fn poll(
        self,
        dir: PathBuf,
        mut seen: Fingerprint,
        interval: Duration,
        on_reload: impl Fn(bool) + Send,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stop => return,
            }
            let now = fingerprint(&dir);
            if now == seen {
                continue;
            }
            seen = now;
            let loaded = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || Templates::with_dir(&dir)).await
            };
            match loaded {
                Ok(Ok(templates)) => {
                    self.replace(templates);
                    on_reload(true);
                    info!(dir = %dir.display(), "templates reloaded");
                }
                Ok(Err(e)) => {
                    on_reload(false);
                    error!(dir = %dir.display(), error = %e,
                        "changed templates rejected; still using the previous ones");
                }
                Err(e) => {
                    on_reload(false);
                    error!(error = %e, "template reload failed");
                }
            }
        }
    }
}
