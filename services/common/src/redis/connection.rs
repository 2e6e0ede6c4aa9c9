//! One connection type for the three topologies: a `ConnectionManager` for one server, a
//! re-resolving connection to the Sentinel's current primary, or a Cluster connection. All
//! connect lazily: an outage at start-up makes the service unready, not dead.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisFuture, RedisResult, Value};
use secrecy::{ExposeSecret, SecretString};

use super::cluster::ClusterHandle;
use super::sentinel::SentinelConnection;
use super::settings::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, RedisConnectionSettings, RedisTopology};

/// A connection could not even be set up (a malformed address, unusable certificates).
#[derive(Debug, thiserror::Error)]
#[error("setting up the Redis client ({mode} mode)")]
pub struct RedisSetupError {
    mode: &'static str,
    #[source]
    source: redis::RedisError,
}

/// A handle on Redis in the configured topology; clones share the connection.
#[derive(Clone)]
pub enum RedisConnection {
    Standalone(ConnectionManager),
    Sentinel(SentinelConnection),
    Cluster(ClusterHandle),
}

impl RedisConnection {
    /// Sets the client up without connecting (the first command, or readiness, connects).
    pub fn open(settings: &RedisConnectionSettings) -> Result<Self, RedisSetupError> {
        install_crypto_provider();
        let mode = settings.mode_name();
        let wrap = |source| RedisSetupError { mode, source };
        match &settings.topology {
            RedisTopology::Standalone { url } => {
                let client =
                    standalone_client(settings, url, ProtocolVersion::RESP2).map_err(wrap)?;
                ConnectionManager::new_lazy_with_config(client, manager_config())
                    .map(Self::Standalone)
                    .map_err(wrap)
            }
            RedisTopology::Sentinel { .. } => SentinelConnection::open(settings)
                .map(Self::Sentinel)
                .map_err(wrap),
            RedisTopology::Cluster { .. } => ClusterHandle::open(settings)
                .map(Self::Cluster)
                .map_err(wrap),
        }
    }

    /// What readiness reports: `Ok` when commands can run, else what is wrong in this mode.
    pub async fn readiness(&self) -> Result<(), String> {
        match self {
            Self::Standalone(_) => self.ping().await,
            Self::Sentinel(sentinel) => sentinel.readiness().await,
            Self::Cluster(cluster) => cluster.readiness().await,
        }
    }

    pub(super) async fn ping(&self) -> Result<(), String> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.clone())
            .await
            .map(drop)
            // Redis errors can name a host, which readiness may log; never a password (the
            // URL is not part of any RedisError).
            .map_err(|e| e.to_string())
    }

    /// The mode's name (`standalone`, `sentinel`, `cluster`).
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Standalone(_) => "standalone",
            Self::Sentinel(_) => "sentinel",
            Self::Cluster(_) => "cluster",
        }
    }
}

/// The client of one server (`REDIS_URL`, with the CA of `REDIS_TLS_*` when set) speaking
/// `protocol` (RESP3 where server notices are wanted: `tracking`).
pub(super) fn standalone_client(
    settings: &RedisConnectionSettings,
    url: &SecretString,
    protocol: ProtocolVersion,
) -> RedisResult<redis::Client> {
    let info = url.expose_secret().into_connection_info()?;
    let redis_settings = info.redis_settings().clone().set_protocol(protocol);
    let info = info.set_redis_settings(redis_settings);
    match settings.tls_files.certificates() {
        Some(certs) => redis::Client::build_with_tls(info, certs),
        None => redis::Client::open(info),
    }
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1))
}

/// rustls needs one process-wide crypto provider when several are compiled in; ring is the one
/// the other TLS stacks here use. Installing twice is harmless (the first one stays).
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(conn) => conn.req_packed_command(cmd),
            Self::Sentinel(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(conn) => conn.get_db(),
            Self::Sentinel(_) | Self::Cluster(_) => 0,
        }
    }
}
