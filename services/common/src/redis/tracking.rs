//! Server-assisted invalidation: a connection of its own (RESP3) asks Redis to tell it of every
//! change to keys under a prefix (`CLIENT TRACKING ON BCAST PREFIX ..`), from any client, and
//! hands each notice to a [`TrackingSink`]. A process can then keep copies of such keys in
//! memory and drop each copy as soon as its key changes anywhere.
//!
//! The sink is told when notices start to flow ([`TrackingSink::live`] `true`) and when they may
//! have stopped (`false`: the connection broke, a PING went unanswered, Redis forgot every key):
//! between the two, and only then, a copy can be trusted. One server or a Sentinel's primary
//! only: in a Cluster, keys move between nodes without a notice on any one connection, so
//! [`track_keys`] answers `None` there.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo, PushKind, RedisResult, Value};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use super::connection::standalone_client;
use super::sentinel::client_with_protocol;
use super::settings::{CONNECT_TIMEOUT, RESPONSE_TIMEOUT, RedisConnectionSettings, RedisTopology};

/// How often the tracking connection is asked whether it still answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// The wait before connecting again; doubled up to `MAX_BACKOFF` while it fails.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What hears of changed keys. Called from the tracker's task; keep each call short.
pub trait TrackingSink: Send + Sync + 'static {
    /// `true`: notices flow from now on. `false`: some may have been missed; forget every copy.
    fn live(&self, live: bool);
    /// These keys changed (or expired, or were evicted).
    fn invalidate(&self, keys: &[&[u8]]);
}

/// Whether the topology allows key tracking: one server or a Sentinel's primary, not a Cluster.
pub fn key_tracking_supported(settings: &RedisConnectionSettings) -> bool {
    !matches!(settings.topology, RedisTopology::Cluster { .. })
}

/// Starts following the changes to the keys under `prefix` on the topology's primary for
/// `sink`, reconnecting until the task is aborted. `None` where the topology does not allow it
/// ([`key_tracking_supported`]); the sink then never goes live.
pub fn track_keys(
    settings: &RedisConnectionSettings,
    prefix: String,
    sink: Arc<dyn TrackingSink>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !key_tracking_supported(settings) {
        return None;
    }
    let settings = settings.clone();
    Some(tokio::spawn(async move {
        follow(&settings, &prefix, &*sink).await;
    }))
}

async fn follow(settings: &RedisConnectionSettings, prefix: &str, sink: &dyn TrackingSink) {
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    loop {
        match start(settings, prefix).await {
            Ok((conn, notices)) => {
                if failing {
                    tracing::info!(prefix, "key tracking resumed");
                }
                failing = false;
                backoff = MIN_BACKOFF;
                sink.live(true);
                let why = relay(conn, notices, sink).await;
                sink.live(false);
                tracing::warn!(
                    prefix,
                    reason = why,
                    "key tracking interrupted; reconnecting"
                );
            }
            Err(e) if refused_for_good(&e) => {
                tracing::warn!(prefix, error = %e, "Redis refuses key tracking (CLIENT TRACKING); in-process copies stay off");
                return;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(prefix, error = %e, "key tracking could not start; retrying");
                }
                failing = true;
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A RESP3 connection with tracking on, and where its notices arrive.
async fn start(
    settings: &RedisConnectionSettings,
    prefix: &str,
) -> RedisResult<(MultiplexedConnection, UnboundedReceiver<PushInfo>)> {
    let (tx, rx) = unbounded_channel();
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_push_sender(tx);
    let mut conn = match &settings.topology {
        RedisTopology::Standalone { url } => {
            standalone_client(settings, url, ProtocolVersion::RESP3)?
                .get_multiplexed_async_connection_with_config(&config)
                .await?
        }
        RedisTopology::Sentinel { .. } => {
            client_with_protocol(settings, ProtocolVersion::RESP3)?
                .get_async_connection_with_config(&config)
                .await?
        }
        RedisTopology::Cluster { .. } => unreachable!("no tracking in cluster mode"),
    };
    // Named, so that operators (and tests) can tell it in CLIENT LIST; a user that may not
    // name its connections still tracks.
    let _ = redis::cmd("CLIENT")
        .arg(&["SETNAME", &tracker_name(prefix)])
        .query_async::<()>(&mut conn)
        .await;
    redis::cmd("CLIENT")
        .arg(&["TRACKING", "ON", "BCAST", "PREFIX", prefix])
        .query_async::<()>(&mut conn)
        .await?;
    Ok((conn, rx))
}

/// The tracking connection's name in `CLIENT LIST`: `key-tracking:<prefix>`.
pub fn tracker_name(prefix: &str) -> String {
    format!("key-tracking:{prefix}")
}

/// Passes notices on until the connection breaks or stops answering; says why it stopped.
/// The PING runs beside the notices, so a slow answer never holds a notice back.
async fn relay(
    conn: MultiplexedConnection,
    mut notices: UnboundedReceiver<PushInfo>,
    sink: &dyn TrackingSink,
) -> &'static str {
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut answer: Option<Pin<Box<dyn Future<Output = RedisResult<String>> + Send>>> = None;
    loop {
        tokio::select! {
            notice = notices.recv() => match notice {
                None => return "connection closed",
                Some(PushInfo { kind: PushKind::Disconnection, .. }) => return "connection lost",
                Some(PushInfo { kind: PushKind::Invalidate, data }) => {
                    if !pass_on(&data, sink) {
                        // A flush: Redis forgot every key at once.
                        sink.live(false);
                        sink.live(true);
                    }
                }
                Some(_) => {}
            },
            answered = async {
                match answer.as_mut() {
                    Some(pending) => pending.await,
                    None => std::future::pending().await,
                }
            } => {
                answer = None;
                if answered.is_err() {
                    return "no answer to PING";
                }
            }
            _ = ping.tick(), if answer.is_none() => {
                let mut conn = conn.clone();
                answer = Some(Box::pin(async move {
                    redis::cmd("PING").query_async::<String>(&mut conn).await
                }));
            }
        }
    }
}

/// Hands an `invalidate` notice's keys to the sink; `false` for the notice of a flush (no keys).
fn pass_on(data: &[Value], sink: &dyn TrackingSink) -> bool {
    match data.first() {
        Some(Value::Array(keys)) => {
            let keys: Vec<&[u8]> = keys
                .iter()
                .filter_map(|k| match k {
                    Value::BulkString(bytes) => Some(bytes.as_slice()),
                    _ => None,
                })
                .collect();
            sink.invalidate(&keys);
            true
        }
        _ => false,
    }
}

/// Errors a retry will not mend: the ACL user may not run the command, or the server does not
/// know it (`HELLO 3` before Redis 6, or a proxy without `CLIENT TRACKING`).
fn refused_for_good(e: &redis::RedisError) -> bool {
    let text = e.to_string().to_lowercase();
    e.code() == Some("NOPERM")
        || text.contains("unknown command")
        || text.contains("unknown subcommand")
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl TrackingSink for Heard {
        fn live(&self, live: bool) {
            self.0.lock().unwrap().push(format!("live {live}"));
        }
        fn invalidate(&self, keys: &[&[u8]]) {
            for key in keys {
                let key = String::from_utf8_lossy(key).into_owned();
                self.0.lock().unwrap().push(key);
            }
        }
    }

    #[test]
    fn passes_keys_on_and_tells_a_flush_apart() {
        let heard = Heard::default();
        let keys = Value::Array(vec![
            Value::BulkString(b"p{u:ab}:session:1".to_vec()),
            Value::BulkString(b"p{u:ab}:stamp:u1".to_vec()),
        ]);
        assert!(pass_on(&[keys], &heard));
        assert!(!pass_on(&[Value::Nil], &heard));
        assert_eq!(
            *heard.0.lock().unwrap(),
            ["p{u:ab}:session:1", "p{u:ab}:stamp:u1"]
        );
    }
}
