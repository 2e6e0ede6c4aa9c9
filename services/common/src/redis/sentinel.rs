//! The primary a set of sentinels names, followed across failovers: the connection is asked
//! of the sentinels on first use, and again after it breaks or the node it reaches answers
//! READONLY (it was demoted). A command that certainly did not run there (refused connection,
//! READONLY) is sent once more to the new primary; others fail and the caller sees the error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionAddr, ErrorKind, Pipeline, ProtocolVersion, RedisError,
    RedisFuture, RedisResult, ServerErrorKind, TlsMode, Value,
};
use secrecy::ExposeSecret;

use super::settings::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, RedisConnectionSettings, RedisTopology};

#[derive(Clone)]
pub struct SentinelConnection {
    inner: Arc<Inner>,
}

struct Inner {
    master: String,
    client: tokio::sync::Mutex<SentinelClient>,
    /// The current primary's connection and its generation (to forget only a broken one).
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
}

impl SentinelConnection {
    pub(super) fn open(settings: &RedisConnectionSettings) -> RedisResult<Self> {
        let RedisTopology::Sentinel { master, .. } = &settings.topology else {
            unreachable!("SentinelConnection::open is only called in sentinel mode")
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        Ok(Self {
            inner: Arc::new(Inner {
                master: master.clone(),
                client: tokio::sync::Mutex::new(client_with_protocol(
                    settings,
                    ProtocolVersion::RESP2,
                )?),
                current: Mutex::new(None),
                generation: AtomicU64::new(0),
                config,
            }),
        })
    }

    /// The current primary's connection, asking the sentinels when there is none.
    async fn get(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let mut client = self.inner.client.lock().await;
        // Another task may have reconnected while this one waited for the lock.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let conn = client
            .get_async_connection_with_config(&self.inner.config)
            .await?;
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.lock() = Some((generation, conn.clone()));
        tracing::info!(master = %self.inner.master, generation, "connected to the primary the sentinels name");
        Ok((generation, conn))
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, MultiplexedConnection)>> {
        self.inner.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the connection of `generation` so that the next command asks the sentinels again.
    fn forget(&self, generation: u64, error: &RedisError) {
        let mut current = self.lock();
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
            tracing::warn!(master = %self.inner.master, %error, "primary connection lost; asking the sentinels again");
        }
    }

    /// Runs `op` on the primary; re-resolves it after a connection failure or READONLY.
    async fn run<'f, T, F>(&self, op: F) -> RedisResult<T>
    where
        F: Fn(MultiplexedConnection) -> RedisFuture<'f, T>,
    {
        let (generation, conn) = self.get().await?;
        match op(conn).await {
            Err(e) if needs_new_primary(&e) => {
                self.forget(generation, &e);
                if !surely_not_run(&e) {
                    return Err(e);
                }
                let (_, conn) = self.get().await?;
                op(conn).await
            }
            other => other,
        }
    }

    /// Ready when the sentinels name a primary, it is reachable and answers PING.
    pub(super) async fn readiness(&self) -> Result<(), String> {
        if let Err(e) = self.get().await {
            return Err(match e.kind() {
                ErrorKind::MasterNameNotFoundBySentinel => format!(
                    "no primary known: no sentinel names a reachable primary for '{}' \
                     (REDIS_SENTINEL_MASTER)",
                    self.inner.master
                ),
                _ => format!(
                    "primary '{}' not reachable through the sentinels: {e}",
                    self.inner.master
                ),
            });
        }
        let mut conn = self.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

fn needs_new_primary(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || surely_not_run(e)
}

/// Errors after which the command did not run on any primary: safe to send again.
fn surely_not_run(e: &RedisError) -> bool {
    e.is_connection_refusal() || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// A client of the primary the sentinels name, speaking `protocol` to it (RESP3 where server
/// notices are wanted: `tracking`).
pub(super) fn client_with_protocol(
    settings: &RedisConnectionSettings,
    protocol: ProtocolVersion,
) -> RedisResult<SentinelClient> {
    let RedisTopology::Sentinel {
        sentinels,
        master,
        sentinel_auth,
        sentinel_tls,
    } = &settings.topology
    else {
        unreachable!("sentinel settings")
    };
    let addrs = sentinels.iter().map(|n| match sentinel_tls {
        true => ConnectionAddr::TcpTls {
            host: n.host.clone(),
            port: n.port,
            insecure: false,
            tls_params: None,
        },
        false => ConnectionAddr::Tcp(n.host.clone(), n.port),
    });
    let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
        .set_client_to_redis_protocol(protocol);
    let certs = settings.tls_files.certificates();
    if let Some(user) = &sentinel_auth.username {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &sentinel_auth.password {
        builder = builder.set_client_to_sentinel_password(password.expose_secret());
    }
    if *sentinel_tls && let Some(certs) = &certs {
        builder = builder.set_client_to_sentinel_certificates(certs.clone());
    }
    if settings.tls {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(certs) = certs {
            builder = builder.set_client_to_redis_certificates(certs);
        }
    }
    if let Some(user) = &settings.auth.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &settings.auth.password {
        builder = builder.set_client_to_redis_password(password.expose_secret());
    }
    builder.build()
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let this = &*self;
        Box::pin(async move {
            this.run(|mut conn| Box::pin(async move { conn.req_packed_command(cmd).await }))
                .await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let this = &*self;
        Box::pin(async move {
            this.run(|mut conn| {
                Box::pin(async move { conn.req_packed_commands(pipeline, offset, count).await })
            })
            .await
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
