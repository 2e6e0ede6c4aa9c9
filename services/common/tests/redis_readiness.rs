//! Readiness of a Redis connection says what is wrong in its mode's terms, on real servers:
//! a cluster node without slots, sentinels that know no such primary (when the suite runs
//! against scripts/redis-topologies.sh's Sentinel topology: TEST_REDIS_MODE=sentinel).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::config::Env;
use common::redis::{RedisConnection, RedisConnectionSettings};

fn connection(pairs: &[(&str, &str)]) -> RedisConnection {
    let mut env = Env::from_pairs(pairs);
    let settings = RedisConnectionSettings::from_env(&mut env);
    env.finish().expect("valid settings");
    RedisConnection::open(&settings).expect("client")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_cluster_without_its_slots_is_not_ready() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("lone-cluster-node-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--cluster-enabled", "yes", "--dir", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed"),
    );
    let conn = connection(&[
        ("REDIS_MODE", "cluster"),
        ("REDIS_CLUSTER_NODES", &format!("127.0.0.1:{port}")),
    ]);
    let mut answer = Err(String::new());
    for _ in 0..50 {
        answer = conn.readiness().await;
        if answer.as_ref().is_err_and(|e| e.contains("cluster state")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let problem = answer.unwrap_err();
    assert!(
        problem.contains("cluster state fail: 0 of 16384 slots covered"),
        "{problem}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sentinels_that_know_no_such_primary_say_so() {
    let var = |name: &str| std::env::var(format!("TEST_REDIS_{name}")).unwrap_or_default();
    if var("MODE") != "sentinel" {
        eprintln!(
            "skipped: needs TEST_REDIS_MODE=sentinel (scripts/redis-topologies.sh env sentinel)"
        );
        return;
    }
    let (sentinels, password, ca) = (var("SENTINELS"), var("SENTINEL_PASSWORD"), var("CA_FILE"));
    let conn = connection(&[
        ("REDIS_MODE", "sentinel"),
        ("REDIS_SENTINELS", &sentinels),
        ("REDIS_SENTINEL_MASTER", "no-such-primary"),
        ("REDIS_SENTINEL_PASSWORD", &password),
        ("REDIS_TLS", "true"),
        ("REDIS_CA_FILE", &ca),
    ]);
    let problem = conn.readiness().await.unwrap_err();
    assert!(problem.contains("no primary known"), "{problem}");
    assert!(problem.contains("no-such-primary"), "{problem}");
}

#[tokio::test]
async fn mutual_tls_is_what_lets_the_client_in() {
    let var = |name: &str| std::env::var(format!("TEST_REDIS_{name}")).unwrap_or_default();
    if var("CLIENT_CERT_FILE").is_empty() {
        eprintln!("skipped: needs the tls topology (scripts/redis-topologies.sh env tls)");
        return;
    }
    let (url, ca) = (var("URL"), var("CA_FILE"));
    let (cert, key) = (var("CLIENT_CERT_FILE"), var("CLIENT_KEY_FILE"));
    let with = connection(&[
        ("REDIS_URL", &url),
        ("REDIS_CA_FILE", &ca),
        ("REDIS_CLIENT_CERT_FILE", &cert),
        ("REDIS_CLIENT_KEY_FILE", &key),
    ]);
    assert_eq!(with.readiness().await, Ok(()));
    let without = connection(&[("REDIS_URL", &url), ("REDIS_CA_FILE", &ca)]);
    assert!(
        without.readiness().await.is_err(),
        "the server requires a client certificate"
    );
}

#[tokio::test]
async fn an_evicting_redis_is_refused_unless_allowed() {
    let port = free_port();
    let _server = Server(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "allkeys-lru"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed"),
    );
    let conn = connection(&[("REDIS_URL", &format!("redis://127.0.0.1:{port}"))]);
    for _ in 0..50 {
        if conn.readiness().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = conn.check_eviction_policy(false).await.unwrap_err();
    assert_eq!(refused.policy, "allkeys-lru");
    assert!(
        refused.to_string().contains("REDIS_ALLOW_EVICTION"),
        "{refused}"
    );
    conn.check_eviction_policy(true)
        .await
        .expect("allowed explicitly");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async(&mut conn.clone())
        .await
        .unwrap();
    conn.check_eviction_policy(false).await.expect("noeviction");
}
