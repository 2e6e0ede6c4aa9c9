//! The user-service binary as a process of its own: for what only the real process shows (its
//! log lines, its exit on a signal), with no other test's subscriber or runtime involved.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::{delete_exchange, delete_queues, mongodb_uri};

/// A port free now: bound to port 0, read, released.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A running user-service binary and its listeners' base URLs.
pub struct Binary {
    pub child: Child,
    pub base: String,
    pub admin: String,
    /// Empty unless the admin API is on.
    pub admin_api: String,
}

/// Starts the binary with `env` (and the admin API on a free port when `env` has
/// `ADMIN_API_TOKENS`), logging JSON at `info` on a piped stdout and its stderr to
/// `stderr`, and returns once `/readyz` answers 200.
pub async fn start_binary(env: &[(String, String)], stderr: Stdio) -> Binary {
    let (http, admin, admin_api) = (free_port(), free_port(), free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_user-service"));
    command.env_clear().envs(env.iter().cloned());
    let admin_api = if env.iter().any(|(k, _)| k == "ADMIN_API_TOKENS") {
        command.env("ADMIN_API_ADDR", format!("127.0.0.1:{admin_api}"));
        format!("http://127.0.0.1:{admin_api}")
    } else {
        String::new()
    };
    let child = command
        .env("HTTP_ADDR", format!("127.0.0.1:{http}"))
        .env("ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("the user-service binary starts");
    let binary = Binary {
        child,
        base: format!("http://127.0.0.1:{http}"),
        admin: format!("http://127.0.0.1:{admin}"),
        admin_api,
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let ready = client.get(format!("{}/readyz", binary.admin)).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return binary;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the user-service binary did not become ready");
}

/// The value of `name` in `env`.
pub fn env_var(env: &[(String, String)], name: &str) -> String {
    let found = env.iter().find(|(k, _)| k == name);
    found.unwrap_or_else(|| panic!("{name} not set")).1.clone()
}

/// What the binary created: its database, queues and exchange.
pub async fn drop_test_data(env: &[(String, String)]) {
    let client = mongodb::Client::with_uri_str(mongodb_uri()).await.unwrap();
    let _ = client
        .database(&env_var(env, "MONGODB_DATABASE"))
        .drop()
        .await;
    delete_queues(&env_var(env, "EMAIL_QUEUE")).await;
    delete_exchange(&env_var(env, "EVENTS_EXCHANGE")).await;
}
