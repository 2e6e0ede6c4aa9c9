//! Every listener of both services: hyper's connection builder driven by our own accept loop,
//! because `axum::serve` has no timer and so no header-read timeout (a client that sends half of
//! its headers, or nothing, would keep a connection, a task and a file descriptor forever) and
//! no bound on the number of connections.
//!
//! Per connection: the request header must arrive within `header_read_timeout` and fit in
//! `max_header_bytes`; a connection with no request in flight is closed after
//! `keepalive_timeout`. At most `max_connections` are open at once: at the cap the loop stops
//! accepting (the kernel's backlog holds the next ones) until one closes. On shutdown the
//! listener closes, every connection finishes the request it is serving and closes, and `serve`
//! returns once all are gone.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Limits every connection of a listener gets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_header_bytes: usize,
    /// Connections open at once; the next one waits in the kernel's backlog.
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The probe and metrics listener's: kubelet and Prometheus need few connections and send
    /// small headers at once.
    pub const PROBES: Self = Self {
        header_read_timeout: Duration::from_secs(5),
        keepalive_timeout: Duration::from_secs(75),
        max_header_bytes: 8192,
        max_connections: 64,
    };
}

/// How often "connection cap reached" may be logged.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serves `router` on `listener` until `stop` completes, then drains the connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let builder = Arc::new(builder(limits));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut last_warning: Option<Instant> = None;
    let (close_tx, close_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = accept(&listener, &permits) => match accepted {
                Ok((stream, peer, permit)) => {
                    if permits.available_permits() == 0
                        && last_warning.is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY)
                    {
                        last_warning = Some(Instant::now());
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            "connection cap reached; new connections wait until one closes"
                        );
                    }
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        builder.clone(),
                        stream,
                        peer,
                        router.clone(),
                        limits.keepalive_timeout,
                        close_rx.clone(),
                        permit,
                    ));
                }
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let _ = close_tx.send(true);
    while connections.join_next().await.is_some() {}
}

/// The next connection, once there is room for it. Cancel-safe: dropped before the accept
/// completes, it takes nothing from the backlog.
async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, permit))
}

fn builder(limits: ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Requests in flight on one connection and when the last one ended.
struct Activity(Mutex<(usize, Instant)>);

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.0.lock().map(|mut a| a.0 += 1).ok();
        InFlight(self.clone())
    }

    /// How long the connection has been idle; zero while a request is in flight.
    fn idle_for(&self) -> Duration {
        self.0.lock().map_or(Duration::ZERO, |a| {
            if a.0 > 0 {
                Duration::ZERO
            } else {
                a.1.elapsed()
            }
        })
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut a) = (self.0).0.lock() {
            a.0 = a.0.saturating_sub(1);
            a.1 = Instant::now();
        }
    }
}

async fn connection(
    builder: Arc<auto::Builder<TokioExecutor>>,
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    idle_limit: Duration,
    mut close: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity(Mutex::new((0, Instant::now()))));
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = activity.begin();
            let router = router.clone();
            async move {
                let response = router.oneshot(req).await;
                drop(in_flight);
                response
            }
        })
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle = activity.idle_for();
        let check_in = idle_limit
            .saturating_sub(idle)
            .max(Duration::from_millis(100));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = close.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(check_in), if !closing => {
                if activity.idle_for() >= idle_limit {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
