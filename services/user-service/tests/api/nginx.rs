//! A real nginx (Debian's, with `auth_request`) in front of an upstream of the test's own, with
//! the user service's `/v1/auth/check` as its forward-auth endpoint: configured the way
//! docs/api.md tells operators to (its identity lines are read from that file), so the tests
//! check that configuration too.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use tokio::net::TcpListener;

use crate::helpers::free_port;

/// What the protected upstream saw: one entry per request that reached it, with the identity
/// headers it got.
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<Vec<HeaderMap>>>);

impl Seen {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// A header of the last request that reached the upstream.
    pub fn last(&self, name: &str) -> Option<String> {
        let seen = self.0.lock().unwrap();
        let headers = seen.last()?;
        let values: Vec<_> = headers.get_all(name).iter().collect();
        assert!(
            values.len() <= 1,
            "{name} reached the upstream {} times",
            values.len()
        );
        values.first().map(|v| v.to_str().unwrap().to_owned())
    }
}

/// The protected app: answers 200 "hello" and records the headers of every request.
async fn start_upstream() -> (u16, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .fallback(|State(seen): State<Seen>, headers: HeaderMap| async move {
            seen.0.lock().unwrap().push(headers);
            "hello"
        })
        .with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

pub struct Nginx {
    pub base: String,
    pub upstream: Seen,
    child: Child,
    dir: PathBuf,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master, which stops its workers (SIGKILL would orphan them).
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: signals our own child process, which `wait` below reaps.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nginx_binary() -> String {
    std::env::var("NGINX_BIN").unwrap_or_else(|_| {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nginx not found (scripts/test.sh installs Debian's nginx; or set NGINX_BIN)")
            .to_owned()
    })
}

/// The forward-auth part of the configuration, as docs/api.md shows it. `/verified/` asks the
/// check to require a confirmed address; `/app/` sends browsers without a session to the
/// hosted login page, to come back afterwards.
fn config(dir: &str, port: u16, app_base: &str, upstream: u16) -> String {
    let check = format!("{app_base}/v1/auth/check");
    let signin = format!(
        "location @signin {{
      return 302 {app_base}/login?return_to=$scheme://$http_host$request_uri;
    }}"
    );
    let identity = documented_identity_lines();
    let protected = |location: &str, auth: &str| {
        format!(
            "location {location} {{
      auth_request {auth};
{identity}
      proxy_pass http://127.0.0.1:{upstream};
    }}"
        )
    };
    let auth = |location: &str, query: &str| {
        format!(
            "location = {location} {{
      internal;
      proxy_pass {check}{query};
      proxy_pass_request_body off;
      proxy_set_header Content-Length \"\";
      proxy_set_header X-Original-URI $request_uri;
    }}"
        )
    };
    format!(
        "worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    {}
    {}
    {}
    {}
    {}
    {}
  }}
}}
",
        auth("/_auth", ""),
        auth("/_auth_verified", "?require_verified_email=true"),
        protected("/", "/_auth"),
        protected("/verified/", "/_auth_verified"),
        protected("/app/", "/_auth").replace(
            "auth_request /_auth;",
            "auth_request /_auth;\n      error_page 401 = @signin;"
        ),
        signin,
    )
}

/// The lines of docs/api.md's plain-nginx `location /` block between `auth_request` and
/// `proxy_pass`: what operators copy, so the tests run exactly that.
fn documented_identity_lines() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
        .expect("docs/api.md");
    let block = doc
        .split("```nginx")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("an nginx block in docs/api.md");
    let location = block
        .split("location / {")
        .nth(1)
        .expect("a `location /` block");
    let lines: Vec<&str> = location
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("auth_request "))
        .skip(1)
        .take_while(|l| !l.starts_with("proxy_pass "))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!lines.is_empty(), "no identity lines in docs/api.md");
    lines.join("\n      ")
}

/// Starts nginx on a free port in front of a fresh upstream, checking with `app_base`.
pub async fn start(app_base: &str) -> Nginx {
    start_on(app_base, free_port()).await
}

/// Starts nginx on `port` in front of a fresh upstream, checking with `app_base`.
pub async fn start_on(app_base: &str, port: u16) -> Nginx {
    let (upstream_port, upstream) = start_upstream().await;
    let dir = std::env::temp_dir().join(format!("nginx-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nginx.conf");
    let dir_text = dir.to_str().unwrap();
    std::fs::write(&conf, config(dir_text, port, app_base, upstream_port)).unwrap();
    let child = Command::new(nginx_binary())
        .args(["-e", &format!("{dir_text}/error.log"), "-p", dir_text, "-c"])
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let nginx = Nginx {
        base: format!("http://127.0.0.1:{port}"),
        upstream,
        child,
        dir,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return nginx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default();
    panic!("nginx did not start listening: {log}");
}
