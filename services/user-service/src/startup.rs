//! Builds the application from its configuration and runs it until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::admin::{self, Readiness};
use common::amqp::Topology;
use common::redis::{key_tracking_supported, track_keys};
use common::server::{self, ConnectionLimits};
use common::shutdown::Shutdown;
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::crypto::Hasher;
use crate::http::{self, AppState};
use crate::mailer::{Mailer, Publisher};
use crate::metrics::Metrics;
use crate::proxy_check::ProxyCheck;
use crate::pwned::PwnedPasswords;
use crate::state::Shared;
use crate::store::outbox::OutboxStore;
use crate::store::rate_limits::RateLimiter;
use crate::store::redis_store::RedisStore;
use crate::store::sessions::{SessionCache, SessionPolicy, SessionStore};
use crate::store::users::UserStore;

mod stop;

use stop::Running;

pub struct Application {
    config: Arc<Config>,
    http: TcpListener,
    admin: TcpListener,
    /// The admin API's listener, when `ADMIN_API_ADDR` is set.
    admin_api: Option<TcpListener>,
    state: AppState,
    readiness: Readiness,
    registry: prometheus::Registry,
}

impl Application {
    /// Connects to every dependency, prepares the database, and binds both listeners.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let (db, users) = connect_mongodb(&config).await?;
        let redis = RedisStore::connect(&config.redis).await.with_context(|| {
            format!(
                "connecting to Redis ({} mode)",
                config.redis.connection.mode_name()
            )
        })?;

        let registry = admin::new_registry();
        let metrics = Metrics::register(&registry).context("registering metrics")?;
        let publisher = connect_broker(&config).await;
        let mailer = Mailer::new(OutboxStore::new(&db), publisher.clone(), metrics.clone());
        let readiness = readiness(&users, &redis, &publisher);

        let http = bind("HTTP_ADDR", config.server.http_addr).await?;
        let admin = bind("ADMIN_ADDR", config.server.admin_addr).await?;
        let admin_api = match config.admin_api.addr {
            Some(addr) => Some(bind("ADMIN_API_ADDR", addr).await?),
            None => None,
        };
        let state = app_state(config.clone(), users, redis, mailer, metrics)?;
        Ok(Self {
            config,
            http,
            admin,
            admin_api,
            state,
            readiness,
            registry,
        })
    }

    pub fn http_port(&self) -> u16 {
        self.http.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn admin_port(&self) -> u16 {
        self.admin.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The admin API's port, when it is on.
    pub fn admin_api_port(&self) -> Option<u16> {
        self.admin_api
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves until `shutdown` fires, then: reports not-ready, stops accepting, and stops in
    /// the order of [`stop`] (in-flight requests, what they left running, the relay, the
    /// publishes, the drivers), all of it within SHUTDOWN_TIMEOUT.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        tracing::info!(
            http = %self.http.local_addr()?,
            admin = %self.admin.local_addr()?,
            admin_api = ?self.admin_api.as_ref().and_then(|l| l.local_addr().ok()),
            "user-service listening"
        );
        let relay = tokio::spawn(
            self.state
                .mailer
                .clone()
                .run_relay(self.config.amqp.outbox_poll_interval, shutdown.clone()),
        );

        let chores = spawn_chores(&self.state);
        let (admin_stop, admin_server) = serve_probes(self.admin, self.registry, &self.readiness);

        let limits = connection_limits(&self.config);
        let admin_api = self.admin_api.map(|listener| {
            let stop = shutdown.clone();
            tokio::spawn(server::serve(
                listener,
                http::admin::router(self.state.clone()),
                limits,
                async move { stop.wait().await },
            ))
        });

        let readiness = self.readiness.clone();
        let stop = shutdown.clone();
        let server = tokio::spawn(server::serve(
            self.http,
            http::router(self.state.clone()),
            limits,
            async move {
                stop.wait().await;
                readiness.start_draining();
            },
        ));

        shutdown.wait().await;
        let running = Running {
            server,
            admin_api,
            relay,
            chores,
            admin_stop,
            admin_server,
        };
        running
            .stop(&self.state, self.config.server.shutdown_timeout)
            .await;
        tracing::info!("user-service stopped");
        Ok(())
    }
}

/// The probe listener (`/healthz`, `/readyz`, `/metrics`), served until its sender fires: the
/// last listener the stop closes, so that probes are answered all along.
fn serve_probes(
    listener: TcpListener,
    registry: prometheus::Registry,
    readiness: &Readiness,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = admin::router(registry, readiness.clone());
    let server = tokio::spawn(admin::serve(listener, router, async {
        let _ = stopped.await;
    }));
    (stop, server)
}

/// The background chores, stopped at shutdown: sealing recovery codes stored unkeyed (older
/// versions) or under an older key (`account::recovery_codes`), the check for an untrusted
/// proxy in front of the service (`proxy_check`), and following Redis' notices of changed
/// session keys for the session copies (`store::sessions::cache`).
fn spawn_chores(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let window = state.config.server.proxy_check_window;
    let mut chores = vec![
        tokio::spawn(crate::account::recovery_codes::rekey_all(state.clone())),
        tokio::spawn(state.proxy_check.clone().run(window)),
    ];
    if let Some(cache) = state.sessions.cache() {
        let settings = &state.config.redis.connection;
        let prefix = state.redis.keys().users_prefix();
        chores.extend(track_keys(settings, prefix, cache.clone()));
    }
    chores
}

/// The session store, with copies of valid sessions unless `SESSION_CACHE_MAX_AGE` is zero.
fn session_store(config: &Config, redis: &RedisStore, metrics: &Metrics) -> SessionStore {
    let sessions = SessionStore::new(
        redis.clone(),
        SessionPolicy {
            idle_timeout: config.sessions.idle_timeout,
            lifetime: config.sessions.ttl,
            max_per_account: config.sessions.max_per_account,
        },
        metrics.sessions_evicted.clone(),
    );
    if config.sessions.cache_max_age.is_zero() {
        return sessions;
    }
    if !key_tracking_supported(&config.redis.connection) {
        tracing::info!(
            "session copies off (SESSION_CACHE_MAX_AGE): in Redis Cluster mode keys move \
             between primaries without a notice this replica would hear"
        );
        return sessions;
    }
    sessions.with_cache(Arc::new(SessionCache::new(
        redis.keys().users_prefix(),
        config.sessions.cache_max_age,
        config.sessions.cache_entries,
        metrics.session_cache.clone(),
    )))
}

/// The MongoDB database, with the users collection prepared.
async fn connect_mongodb(config: &Config) -> anyhow::Result<(Database, UserStore)> {
    let mut options = ClientOptions::parse(config.mongodb.uri.expose_secret())
        .await
        .context("MONGODB_URI could not be parsed")?;
    options.app_name = Some("user-service".into());
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options
        .connect_timeout
        .get_or_insert(Duration::from_secs(5));
    let client = Client::with_options(options).context("MongoDB client")?;
    let db = client.database(&config.mongodb.database);
    let users = UserStore::init(client, &db)
        .await
        .context("preparing the MongoDB collections")?;
    Ok((db, users))
}

/// The broker's publisher. Not reaching the broker is not fatal: emails wait in the outbox
/// until it is back.
async fn connect_broker(config: &Config) -> Arc<Publisher> {
    let publisher = Arc::new(Publisher::new(
        config.amqp.url.clone(),
        Topology::new(&config.amqp.email_queue),
        config.amqp.events_exchange.clone(),
    ));
    if let Err(e) = publisher.check().await {
        tracing::warn!(error = %e, "broker not reachable at start-up; emails will be queued in the outbox");
    }
    publisher
}

fn readiness(users: &UserStore, redis: &RedisStore, publisher: &Arc<Publisher>) -> Readiness {
    let (users, redis, publisher) = (users.clone(), redis.clone(), publisher.clone());
    Readiness::builder()
        .required("mongodb", move || {
            let users = users.clone();
            async move { users.ping().await }
        })
        .required("redis", move || {
            let redis = redis.clone();
            async move { redis.ping().await }
        })
        // Signups keep working while the broker is down (the outbox holds the emails), so
        // losing it must not take the API out of rotation.
        .optional("rabbitmq", move || {
            let publisher = publisher.clone();
            async move { publisher.check().await }
        })
        .build()
}

/// A listener on `addr`, the value of the variable `name`.
async fn bind(name: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {name} {addr}"))
}

/// What every request handler shares; loads the hosted pages' templates.
fn app_state(
    config: Arc<Config>,
    users: UserStore,
    redis: RedisStore,
    mailer: Mailer,
    metrics: Metrics,
) -> anyhow::Result<AppState> {
    let sessions = session_store(&config, &redis, &metrics);
    let site = crate::pages::Site::load(&config.pages.brand, config.pages.template_dir.as_deref())
        .context("loading the hosted pages' templates (PAGES_TEMPLATE_DIR)")?;
    let proxy_check = ProxyCheck::new(
        config.server.trusted_proxies.clone(),
        metrics.untrusted_forwarded.clone(),
        metrics.untrusted_proxy_suspected.clone(),
    );
    let webauthn = if config.passkeys.available {
        Some(
            crate::passkey_rp::relying_party(&config.passkeys)
                .context("building the passkey relying party (PASSKEY_RP_ID, PASSKEY_ORIGINS)")?,
        )
    } else {
        tracing::warn!(
            public_url = %config.pages.public_origin,
            "passkeys are off: PUBLIC_URL is an IP address and WebAuthn needs a domain \
             (use a host name, or set PASSKEY_RP_ID)"
        );
        None
    };
    Ok(AppState::new(Shared {
        webauthn,
        site: Arc::new(site),
        proxy_check: Arc::new(proxy_check),
        users,
        sessions,
        limiter: RateLimiter::new(redis.clone()),
        redis,
        hasher: Hasher::new(config.passwords.hash_concurrency),
        mailer,
        pwned: PwnedPasswords::new(
            config.passwords.pwned_url.clone(),
            config.passwords.pwned_timeout,
            metrics.pwned_checks.clone(),
        ),
        metrics,
        config,
        background: tokio_util::task::TaskTracker::new(),
    }))
}

fn connection_limits(config: &Config) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: config.server.header_read_timeout,
        keepalive_timeout: config.server.keepalive_timeout,
        max_header_bytes: config.server.max_header_bytes,
        max_connections: config.server.max_connections,
    }
}
