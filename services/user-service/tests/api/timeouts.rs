//! A dependency that hangs (connection open, no answer) gives a 503 problem document within
//! `REQUEST_TIMEOUT`, never a hung request, and the service recovers when it answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::*;

/// A TCP proxy that can stop passing bytes on while keeping every connection open: what a
/// stalled server or a black-holed network looks like to a client.
struct StallingProxy {
    port: u16,
    stalled: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl StallingProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(false));
        let flag = stalled.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, flag.clone()));
                tokio::spawn(pump(sr, cw, flag.clone()));
            }
        });
        Self {
            port,
            stalled,
            task,
        }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }
}

impl Drop for StallingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn assert_unavailable_within(app: &TestApp, limit: Duration) {
    let started = Instant::now();
    let (status, body) = problem(app.register(&unique_email(), PASSWORD).await).await;
    let took = started.elapsed();
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (503, "service_unavailable")
    );
    assert!(took < limit, "answered after {took:?}");
}

async fn wait_until_registers(app: &TestApp) {
    for _ in 0..60 {
        if app.register(&unique_email(), PASSWORD).await.status() == 202 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the service did not recover");
}

#[tokio::test]
async fn a_stalled_mongodb_gives_503_within_the_request_timeout() {
    let proxy = StallingProxy::start("127.0.0.1:27017".into()).await;
    let mut config = test_config();
    config.mongodb_uri =
        format!("mongodb://127.0.0.1:{}/?directConnection=true", proxy.port).into();
    config.request_timeout = Duration::from_secs(2);
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);
    app.next_email().await;

    proxy.stall(true);
    // The driver's own server selection would wait 30 s by default; the request may not.
    assert_unavailable_within(&app, Duration::from_secs(6)).await;
    proxy.stall(false);
    wait_until_registers(&app).await;
    app.finish().await;
}

#[tokio::test]
async fn a_stalled_redis_gives_503_within_the_request_timeout() {
    let proxy = StallingProxy::start("127.0.0.1:6379".into()).await;
    let mut config = test_config();
    config.redis_url = format!("redis://127.0.0.1:{}", proxy.port).into();
    config.request_timeout = Duration::from_secs(2);
    let app = spawn_with(config).await;
    assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), 202);

    proxy.stall(true);
    assert_unavailable_within(&app, Duration::from_secs(6)).await;
    proxy.stall(false);
    wait_until_registers(&app).await;
    app.finish().await;
}
