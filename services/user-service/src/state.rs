//! What every workflow and handler needs, built once at start-up and cheap to clone.

use std::sync::Arc;

use tokio_util::task::TaskTracker;
use webauthn_rs::prelude::Webauthn;

use crate::config::Config;
use crate::crypto::Hasher;
use crate::mailer::Mailer;
use crate::metrics::Metrics;
use crate::pages::Site;
use crate::proxy_check::ProxyCheck;
use crate::pwned::PwnedPasswords;
use crate::store::rate_limits::RateLimiter;
use crate::store::redis_store::RedisStore;
use crate::store::sessions::SessionStore;
use crate::store::users::UserStore;

/// Cloned several times per request (by the router, the middleware and every `State`
/// extractor), so a clone is one reference count however many stores and metrics it holds:
/// cloning the fields themselves (some fifty reference counts, shared by every worker thread)
/// was a third of the public listener's CPU time per request (bench/reports/request-path.md).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the state holds.
pub struct Shared {
    pub config: Arc<Config>,
    pub users: UserStore,
    pub redis: RedisStore,
    pub sessions: SessionStore,
    pub limiter: RateLimiter,
    pub hasher: Hasher,
    pub mailer: Mailer,
    pub metrics: Metrics,
    pub pwned: PwnedPasswords,
    /// The hosted pages' templates, texts and stylesheet.
    pub site: Arc<Site>,
    /// Notices an ingress missing from `TRUSTED_PROXIES`.
    pub proxy_check: Arc<ProxyCheck>,
    /// The WebAuthn relying party (passkeys).
    /// The passkey relying party; `None` where passkeys are not available
    /// (`PasskeySettings::available`).
    pub webauthn: Option<Webauthn>,
    /// The work a request leaves running after its answer (a login's note, the email a resend
    /// writes, a hash upgrade): the stop waits for it before it closes the drivers.
    pub background: TaskTracker,
}
