//! A Redis Cluster: discovered from seed nodes, connected on first use. The cluster client
//! follows MOVED/ASK redirections and refreshes its slot map when primaries change.

use std::sync::Arc;

use redis::aio::ConnectionLike;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, RedisResult, TlsMode, Value};
use secrecy::ExposeSecret;
use tokio::sync::OnceCell;

use super::settings::{
    CONNECT_TIMEOUT, NodeAddr, RESPONSE_TIMEOUT, RedisConnectionSettings, RedisTopology,
};

/// Slots a Cluster has: all must be served for every key to be reachable.
const SLOTS: u32 = 16384;

#[derive(Clone)]
pub struct ClusterHandle {
    client: Arc<ClusterClient>,
    conn: Arc<OnceCell<ClusterConnection>>,
    /// Single-node clients of the seeds, for a cluster too broken to route a command.
    seeds: Arc<Vec<redis::Client>>,
}

impl ClusterHandle {
    pub(super) fn open(settings: &RedisConnectionSettings) -> RedisResult<Self> {
        let RedisTopology::Cluster { seeds } = &settings.topology else {
            unreachable!("ClusterHandle::open is only called in cluster mode")
        };
        let urls = seeds.iter().map(|n| url(n, settings.tls));
        let mut builder = ClusterClientBuilder::new(urls)
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(3);
        if settings.tls {
            builder = builder.tls(TlsMode::Secure);
            if let Some(certs) = settings.tls_files.certificates() {
                builder = builder.certs(certs);
            }
        }
        if let Some(user) = &settings.auth.username {
            builder = builder.username(user);
        }
        if let Some(password) = &settings.auth.password {
            builder = builder.password(password.expose_secret());
        }
        Ok(Self {
            client: Arc::new(builder.build()?),
            conn: Arc::new(OnceCell::new()),
            seeds: Arc::new(seed_clients(settings)?),
        })
    }

    /// The connection, made on first use (a failed attempt is retried by the next caller).
    async fn get(&self) -> RedisResult<ClusterConnection> {
        self.conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await
            .cloned()
    }

    /// Ready when a node answers and reports every slot served (`cluster_state:ok`). When the
    /// cluster connection cannot route even that, a seed node is asked directly.
    pub(super) async fn readiness(&self) -> Result<(), String> {
        let info = match self.get().await {
            Ok(mut conn) => cluster_info(&mut conn).await,
            Err(e) => Err(e),
        };
        let info = match info {
            Ok(info) => info,
            Err(e) => self.seed_info().await.map_err(|_| {
                format!("no cluster node reachable from the seeds (REDIS_CLUSTER_NODES): {e}")
            })?,
        };
        let field = |name: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
                .unwrap_or("?")
                .to_owned()
        };
        if field("cluster_state") == "ok" {
            return Ok(());
        }
        Err(format!(
            "cluster state {}: {} of {SLOTS} slots covered by a reachable primary",
            field("cluster_state"),
            field("cluster_slots_ok"),
        ))
    }
}

impl ClusterHandle {
    async fn seed_info(&self) -> RedisResult<String> {
        let mut last = None;
        for seed in self.seeds.iter() {
            match seed.get_multiplexed_async_connection().await {
                Ok(mut conn) => match cluster_info(&mut conn).await {
                    Ok(info) => return Ok(info),
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| (redis::ErrorKind::Io, "no seed").into()))
    }
}

async fn cluster_info(conn: &mut impl ConnectionLike) -> RedisResult<String> {
    redis::cmd("CLUSTER").arg("INFO").query_async(conn).await
}

fn seed_clients(settings: &RedisConnectionSettings) -> RedisResult<Vec<redis::Client>> {
    let RedisTopology::Cluster { seeds } = &settings.topology else {
        return Ok(Vec::new());
    };
    let mut redis = redis::RedisConnectionInfo::default();
    if let Some(user) = &settings.auth.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &settings.auth.password {
        redis = redis.set_password(password.expose_secret());
    }
    seeds
        .iter()
        .map(|node| {
            let info = url(node, settings.tls)
                .into_connection_info()?
                .set_redis_settings(redis.clone());
            match settings.tls_files.certificates() {
                Some(certs) => redis::Client::build_with_tls(info, certs),
                None => redis::Client::open(info),
            }
        })
        .collect()
}

fn url(node: &NodeAddr, tls: bool) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    if node.host.contains(':') {
        format!("{scheme}://[{}]:{}", node.host, node.port)
    } else {
        format!("{scheme}://{}:{}", node.host, node.port)
    }
}

impl ConnectionLike for ClusterHandle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.get().await?.req_packed_command(cmd).await })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.get().await?;
            conn.req_packed_commands(pipeline, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}
