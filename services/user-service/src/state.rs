//! What every workflow and handler needs, built once at start-up and cheap to clone.

use std::sync::Arc;

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

#[derive(Clone)]
pub struct AppState {
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
}
