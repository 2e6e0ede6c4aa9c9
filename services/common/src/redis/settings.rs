//! Where Redis is and how to reach it, read from `REDIS_*` variables (see
//! docs/configuration.md): one server (`redis://` or `rediss://`), a Sentinel-managed primary,
//! or a Cluster; TLS with the system roots or a private CA, optionally with a client
//! certificate. Parsed once at start-up; a wrong or incomplete setting names its variable and
//! never its value.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

pub use super::tls::TlsFiles;
use crate::config::Env;

/// How long connecting, and then one command, may take before it fails (a request then fails
/// fast instead of piling up; the connection is re-established in the background).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The default Sentinel port, for an address given without one.
const SENTINEL_PORT: u16 = 26379;
/// The default Redis port, for a Cluster seed given without one.
const REDIS_PORT: u16 = 6379;

/// How the service reaches Redis.
#[derive(Debug, Clone)]
pub enum RedisTopology {
    /// One server: `REDIS_URL` (`redis://` or `rediss://`, which may carry the password).
    Standalone { url: SecretString },
    /// The primary Sentinel names `master`, asked of the `sentinels`.
    Sentinel {
        sentinels: Vec<NodeAddr>,
        master: String,
        /// Credentials for the sentinels themselves (they may differ from the data nodes').
        sentinel_auth: Credentials,
        sentinel_tls: bool,
    },
    /// A Cluster, discovered from its seed nodes.
    Cluster { seeds: Vec<NodeAddr> },
}

/// A `host:port` of a sentinel or a Cluster seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
}

/// A user name and password (ACL user or `requirepass`); both optional.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

/// Everything needed to connect, in any mode.
#[derive(Debug, Clone)]
pub struct RedisConnectionSettings {
    pub topology: RedisTopology,
    /// Credentials of the data nodes in Sentinel and Cluster modes (`REDIS_URL` carries its own).
    pub auth: Credentials,
    /// TLS to the data nodes: `rediss://`, or `REDIS_TLS` in Sentinel and Cluster modes.
    pub tls: bool,
    pub tls_files: TlsFiles,
    /// `REDIS_ALLOW_EVICTION`: start even when Redis may evict keys (see `check_eviction_policy`).
    pub allow_eviction: bool,
}

impl RedisConnectionSettings {
    /// Reads the connection variables; problems are recorded in `env` (by variable name).
    pub fn from_env(env: &mut Env) -> Self {
        let mode: Mode = env.optional("REDIS_MODE", Mode::Standalone);
        let auth = Credentials {
            username: env.optional_opt("REDIS_USERNAME"),
            password: env.secret("REDIS_PASSWORD"),
        };
        let (topology, tls) = match mode {
            Mode::Standalone => standalone(env, &auth),
            Mode::Sentinel => sentinel(env),
            Mode::Cluster => cluster(env),
        };
        let tls_files = super::tls::read_files(env, tls);
        only_in(env, mode, Mode::Sentinel, SENTINEL_VARS);
        only_in(env, mode, Mode::Cluster, &["REDIS_CLUSTER_NODES"]);
        Self {
            topology,
            auth,
            tls,
            tls_files,
            allow_eviction: env.flag("REDIS_ALLOW_EVICTION", false),
        }
    }

    /// A short name of the mode, for logs and metrics.
    pub fn mode_name(&self) -> &'static str {
        match self.topology {
            RedisTopology::Standalone { .. } => "standalone",
            RedisTopology::Sentinel { .. } => "sentinel",
            RedisTopology::Cluster { .. } => "cluster",
        }
    }
}

/// `REDIS_KEY_PREFIX`: put before every key. Braces are refused: the services place the hash
/// tags that keep each script's keys in one Cluster slot, and a brace in the prefix would
/// change which part of a key is hashed.
pub fn key_prefix(env: &mut Env) -> String {
    let prefix = env.optional("REDIS_KEY_PREFIX", "up:".to_owned());
    if prefix.contains(['{', '}']) {
        env.invalid(
            "REDIS_KEY_PREFIX",
            "must not contain { or } (hash tags are placed by the services)",
        );
    }
    prefix
}

const SENTINEL_VARS: &[&str] = &[
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_SENTINEL_USERNAME",
    "REDIS_SENTINEL_PASSWORD",
    "REDIS_SENTINEL_TLS",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Standalone,
    Sentinel,
    Cluster,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Sentinel => "sentinel",
            Mode::Cluster => "cluster",
        }
    }
}

impl FromStr for Mode {
    type Err = &'static str;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "standalone" => Ok(Mode::Standalone),
            "sentinel" => Ok(Mode::Sentinel),
            "cluster" => Ok(Mode::Cluster),
            _ => Err("expected standalone, sentinel or cluster"),
        }
    }
}

fn standalone(env: &mut Env, auth: &Credentials) -> (RedisTopology, bool) {
    let url = env.secret("REDIS_URL").unwrap_or_default();
    let value = url.expose_secret();
    let tls = value.starts_with("rediss://");
    if value.is_empty() {
        env.invalid(
            "REDIS_URL",
            "is required but not set (REDIS_MODE standalone)",
        );
    } else if !tls && !value.starts_with("redis://") {
        env.invalid("REDIS_URL", "must start with redis:// or rediss://");
    } else if redis::parse_redis_url(value).is_none() {
        env.invalid("REDIS_URL", "is not a valid Redis URL");
    }
    if auth.username.is_some() || auth.password.is_some() {
        env.invalid(
            "REDIS_PASSWORD",
            "applies to sentinel and cluster modes; in standalone mode REDIS_URL carries the \
             credentials (REDIS_USERNAME likewise)",
        );
    }
    if env.optional_opt::<String>("REDIS_TLS").is_some() {
        env.invalid(
            "REDIS_TLS",
            "applies to sentinel and cluster modes; in standalone mode use a rediss:// REDIS_URL",
        );
    }
    (RedisTopology::Standalone { url }, tls)
}

fn sentinel(env: &mut Env) -> (RedisTopology, bool) {
    let sentinels = addresses(env, "REDIS_SENTINELS", SENTINEL_PORT);
    let master: Option<String> = env.required("REDIS_SENTINEL_MASTER");
    let tls = env.flag("REDIS_TLS", false);
    let sentinel_tls = env.flag("REDIS_SENTINEL_TLS", tls);
    let sentinel_auth = Credentials {
        username: env.optional_opt("REDIS_SENTINEL_USERNAME"),
        password: env.secret("REDIS_SENTINEL_PASSWORD"),
    };
    no_url(env, "sentinel");
    let topology = RedisTopology::Sentinel {
        sentinels,
        master: master.unwrap_or_default(),
        sentinel_auth,
        sentinel_tls,
    };
    (topology, tls || sentinel_tls)
}

fn cluster(env: &mut Env) -> (RedisTopology, bool) {
    let seeds = addresses(env, "REDIS_CLUSTER_NODES", REDIS_PORT);
    let tls = env.flag("REDIS_TLS", false);
    no_url(env, "cluster");
    (RedisTopology::Cluster { seeds }, tls)
}

/// `REDIS_URL` would be silently ignored in the other modes: say so instead.
fn no_url(env: &mut Env, mode: &str) {
    if env.secret("REDIS_URL").is_some() {
        env.invalid(
            "REDIS_URL",
            format!("is for REDIS_MODE standalone; in {mode} mode unset it"),
        );
    }
}

/// A variable of another mode is a mistake worth stopping for (a half-edited Deployment).
fn only_in(env: &mut Env, mode: Mode, wanted: Mode, names: &[&str]) {
    if mode == wanted {
        return;
    }
    for name in names {
        if env.secret(name).is_some() {
            env.invalid(
                name,
                format!("applies only when REDIS_MODE is {}", wanted.name()),
            );
        }
    }
}

/// A required comma-separated list of `host:port` (the port defaults to `default_port`).
fn addresses(env: &mut Env, name: &str, default_port: u16) -> Vec<NodeAddr> {
    let Some(list) = env.required::<String>(name) else {
        return Vec::new();
    };
    let parsed: Result<Vec<NodeAddr>, String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| parse_addr(item, default_port))
        .collect();
    match parsed {
        Ok(nodes) if !nodes.is_empty() => nodes,
        Ok(_) => {
            env.invalid(name, "lists no address (expected host:port,host:port)");
            Vec::new()
        }
        Err(problem) => {
            env.invalid(name, problem);
            Vec::new()
        }
    }
}

fn parse_addr(item: &str, default_port: u16) -> Result<NodeAddr, String> {
    let expected = "expected host:port entries separated by commas, without a scheme";
    if item.contains("://") || item.contains('@') || item.contains('/') {
        return Err(expected.into());
    }
    let (host, port) = match item.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => {
            (host, port.parse::<u16>().map_err(|_| expected.to_owned())?)
        }
        _ => (item, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 {
        return Err(expected.into());
    }
    Ok(NodeAddr {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
