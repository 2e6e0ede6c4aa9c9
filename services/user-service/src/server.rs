//! The public listener: hyper's connection builder driven by our own accept loop, because
//! `axum::serve` has no timer and so no header-read timeout: a client that sends half of its
//! headers (or nothing) would keep a connection, a task and a file descriptor forever.
//!
//! Per connection: the request header must arrive within `header_read_timeout` and fit in
//! `max_header_bytes`; a connection with no request in flight is closed after
//! `keepalive_timeout`. On shutdown the listener closes, every connection finishes the request
//! it is serving and closes, and `serve` returns once all are gone.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Limits every connection of the public listener gets.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub max_header_bytes: usize,
}

/// Serves `router` on `listener` until `stop` completes, then drains the connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    stop: impl Future<Output = ()>,
) {
    let builder = Arc::new(builder(limits));
    let (close_tx, close_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection(
                        builder.clone(),
                        stream,
                        peer,
                        router.clone(),
                        limits.keepalive_timeout,
                        close_rx.clone(),
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
