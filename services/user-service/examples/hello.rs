//! The HTTP ceiling for the benchmarks (bench/auth_check.py): axum's hello world on the same
//! runtime, so that an endpoint's throughput can be read as a share of what the HTTP stack
//! alone serves on this machine. `hello <port>`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new().route("/", get(|| async { "Hello, world!" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
