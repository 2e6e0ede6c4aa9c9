//! The listeners: the public API's (with its timeouts and limits), the operational one
//! (`/healthz`, `/readyz`, `/metrics`) and the admin API's.

use std::net::SocketAddr;
use std::time::Duration;

use common::config::Env;

use crate::admin::tokens::AdminTokens;
use crate::net::TrustedProxies;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Public API listener.
    pub http_addr: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub admin_addr: SocketAddr,
    /// Every request is answered within this time, 503 otherwise.
    pub request_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// How often the check for an untrusted proxy in front of the service closes its window.
    pub proxy_check_window: Duration,
    /// A client must send a request's whole header within this time.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this long.
    pub keepalive_timeout: Duration,
    /// Largest request header accepted, in bytes (at least 8192).
    pub max_header_bytes: usize,
    /// Connections open at once per listener (public, admin API); more wait in the backlog.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout: Duration,
}

impl ServerSettings {
    pub(super) fn from_env(env: &mut Env) -> Self {
        let server = Self {
            http_addr: env.optional("HTTP_ADDR", ([0, 0, 0, 0], 8080).into()),
            admin_addr: env.optional("ADMIN_ADDR", ([0, 0, 0, 0], 9090).into()),
            request_timeout: env.duration("REQUEST_TIMEOUT", Duration::from_secs(10)),
            trusted_proxies: env.optional("TRUSTED_PROXIES", TrustedProxies::default()),
            proxy_check_window: env.duration("PROXY_CHECK_WINDOW", Duration::from_secs(60)),
            header_read_timeout: env.duration("HTTP_HEADER_READ_TIMEOUT", Duration::from_secs(10)),
            keepalive_timeout: env.duration("HTTP_KEEPALIVE_TIMEOUT", Duration::from_secs(75)),
            max_header_bytes: env.optional("HTTP_MAX_HEADER_BYTES", 16 * 1024),
            max_connections: env.optional("HTTP_MAX_CONNECTIONS", 4096),
            shutdown_timeout: env.duration("SHUTDOWN_TIMEOUT", Duration::from_secs(25)),
        };
        if server.max_connections == 0 {
            env.invalid("HTTP_MAX_CONNECTIONS", "must be at least 1");
        }
        if server.max_header_bytes < 8192 {
            env.invalid("HTTP_MAX_HEADER_BYTES", "must be at least 8192");
        }
        for (name, value) in [
            ("HTTP_HEADER_READ_TIMEOUT", server.header_read_timeout),
            ("HTTP_KEEPALIVE_TIMEOUT", server.keepalive_timeout),
            ("REQUEST_TIMEOUT", server.request_timeout),
            ("PROXY_CHECK_WINDOW", server.proxy_check_window),
        ] {
            if value < Duration::from_secs(1) {
                env.invalid(name, "must be at least 1s");
            }
        }
        server
    }
}

#[derive(Debug, Clone, Default)]
pub struct AdminApiSettings {
    /// The admin API's own listener; `None`: the admin API is off.
    pub addr: Option<SocketAddr>,
    /// Bearer tokens of the admin API, by name (digests only).
    pub tokens: AdminTokens,
}

impl AdminApiSettings {
    /// `ADMIN_API_ADDR`, whose port must be none of the other listeners', and
    /// `ADMIN_API_TOKENS`, required (and only allowed) with it.
    pub(super) fn from_env(env: &mut Env, server: &ServerSettings) -> Self {
        let addr: Option<SocketAddr> = env.optional_opt("ADMIN_API_ADDR");
        let tokens = env.secret("ADMIN_API_TOKENS");
        let Some(addr) = addr else {
            if tokens.is_some() {
                env.invalid("ADMIN_API_TOKENS", "is set but ADMIN_API_ADDR is not");
            }
            return Self::default();
        };
        if addr == server.http_addr || addr == server.admin_addr {
            env.invalid(
                "ADMIN_API_ADDR",
                "must differ from HTTP_ADDR and ADMIN_ADDR (the admin API has a listener of its own)",
            );
        }
        let Some(tokens) = tokens else {
            env.invalid(
                "ADMIN_API_TOKENS",
                "is required when ADMIN_API_ADDR is set (`name:token,...`)",
            );
            return Self {
                addr: Some(addr),
                tokens: AdminTokens::default(),
            };
        };
        let tokens = AdminTokens::parse(&tokens).unwrap_or_else(|problem| {
            env.invalid("ADMIN_API_TOKENS", problem);
            AdminTokens::default()
        });
        Self {
            addr: Some(addr),
            tokens,
        }
    }
}
