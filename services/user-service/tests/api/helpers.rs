use std::time::Duration;

use common::config::Env;
use common::email::EmailMessage;
use common::shutdown::{Shutdown, ShutdownTrigger};
use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use mongodb::bson::doc;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use user_service::config::{Config, RateLimits};
use user_service::startup::Application;
use uuid::Uuid;

/// The value of one series (`name{labels}` as exposed) in a Prometheus text, if it is there.
pub fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

pub fn mongodb_uri() -> String {
    std::env::var("TEST_MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The Redis connection variables of the tests: every `TEST_REDIS_<X>` becomes `REDIS_<X>`
/// (`scripts/redis-topologies.sh env tls|sentinel|cluster` prints them), else the local
/// standalone Redis.
pub fn redis_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter_map(|(k, v)| Some((k.strip_prefix("TEST_")?.to_owned(), v)))
        .filter(|(k, _)| k.starts_with("REDIS_"))
        .collect();
    if !vars
        .iter()
        .any(|(k, _)| k == "REDIS_URL" || k == "REDIS_MODE")
    {
        vars.push(("REDIS_URL".into(), redis_url()));
    }
    vars
}

/// Points `config` at one plain Redis (`redis://` URL), whatever mode the suite runs in.
pub fn use_standalone_redis(config: &mut Config, url: &str) {
    let mut env = Env::from_pairs(&[("REDIS_URL", url)]);
    config.redis.connection = common::redis::RedisConnectionSettings::from_env(&mut env);
    env.finish().expect("a valid REDIS_URL");
}

/// A connection to the test's Redis, in the app's mode, for looking at keys directly.
pub fn redis_connection(config: &Config) -> common::redis::RedisConnection {
    common::redis::RedisConnection::open(&config.redis.connection).expect("Redis client")
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A configuration isolated from every other test: the defaults a deployment gets, with
/// unique database, key prefix and queue names, both listeners on free ports, and rate limits
/// off (tests that check them switch them on).
pub fn test_config() -> Config {
    let mut env = Env::from_map(test_env().into_iter().collect());
    let mut config = Config::from_env(&mut env).expect("test configuration is valid");
    config.rate_limits = RateLimits::OFF;
    config
}

/// The environment of `test_config` (rate limits aside), for a test that runs the binary.
pub fn test_env() -> Vec<(String, String)> {
    let id = Uuid::new_v4().simple().to_string();
    let vars = [
        ("HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("MONGODB_URI", mongodb_uri()),
        ("MONGODB_DATABASE", format!("test_{id}")),
        ("REDIS_KEY_PREFIX", format!("test:{id}:")),
        ("AMQP_URL", amqp_url()),
        ("EMAIL_QUEUE", format!("email_queue_test_{id}")),
        ("EVENTS_EXCHANGE", format!("user.events.test_{id}")),
        (
            "VERIFY_EMAIL_URL",
            "https://app.example.com/verify-email".to_owned(),
        ),
        (
            "PASSWORD_RESET_URL",
            "https://app.example.com/reset-password".to_owned(),
        ),
        ("HASH_CONCURRENCY", "2".to_owned()),
        ("OUTBOX_POLL_INTERVAL", "1s".to_owned()),
        ("SHUTDOWN_TIMEOUT", "5s".to_owned()),
        ("MFA_ENCRYPTION_KEYS", format!("test:{}", random_key())),
    ];
    let mut vars: Vec<(String, String)> =
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    vars.extend(redis_env());
    vars
}

/// A random 32-byte key, base64, as `MFA_ENCRYPTION_KEYS` takes it.
pub fn random_key() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

pub struct TestApp {
    pub base: String,
    pub admin: String,
    /// The admin API's base URL; empty when it is off.
    pub admin_api: String,
    pub client: reqwest::Client,
    pub config: Config,
    trigger: ShutdownTrigger,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(test_config()).await
}

pub async fn spawn_with(config: Config) -> TestApp {
    let app = Application::build(config.clone())
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.http_port());
    let admin = format!("http://127.0.0.1:{}", app.admin_port());
    let admin_api = app
        .admin_api_port()
        .map_or_else(String::new, |port| format!("http://127.0.0.1:{port}"));
    let (trigger, shutdown) = Shutdown::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown));
    TestApp {
        base,
        admin,
        admin_api,
        client: reqwest::Client::new(),
        config,
        trigger,
        server,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/v1/users",
            &json!({ "email": email, "password": password, "display_name": "Ada" }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post(
            "/v1/sessions",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v1/users/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn logout(&self, token: &str) -> reqwest::Response {
        self.client
            .delete(format!("{}/v1/sessions/current", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// A request with the session token `token` (and a JSON body unless `Value::Null`).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if !body.is_null() {
            request = request.json(&body);
        }
        request.send().await.expect("request sent")
    }

    /// Logs in and returns the session token.
    pub async fn session(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// A registered account whose address is confirmed (its verification email consumed).
    pub async fn verified_user(&self) -> String {
        let email = unique_email();
        assert_eq!(self.register(&email, PASSWORD).await.status(), 202);
        let token = self.next_email().await.data["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let confirmed = self
            .post(
                "/v1/email-verifications/confirm",
                &json!({ "token": token }),
            )
            .await;
        assert_eq!(confirmed.status(), 200);
        email
    }

    /// The Prometheus text of the admin port's `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// One series of the admin port's metrics (`name{labels}` as exposed); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        metric_value(&self.metrics().await, series).unwrap_or(0.0)
    }

    pub async fn database(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(self.config.mongodb.uri.expose_secret())
            .await
            .unwrap()
            .database(&self.config.mongodb.database)
    }

    /// The next message on this test's queue, waiting up to 10 s for it.
    pub async fn next_email(&self) -> EmailMessage {
        next_email_on(&self.config.amqp.email_queue).await
    }

    /// Stops the app and leaves what it created (another instance takes over its data).
    pub async fn stop(self) {
        self.trigger.trigger();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
    }

    /// Stops the app and removes what the test created.
    pub async fn finish(self) {
        self.trigger.trigger();
        let database = self.database().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = database.drop().await;
        delete_queues(&self.config.amqp.email_queue).await;
        delete_exchange(&self.config.amqp.events_exchange).await;
    }
}

pub async fn next_email_on(queue: &str) -> EmailMessage {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    for _ in 0..100 {
        if let Some(message) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let _ = conn.close(200, "done".into()).await;
            return EmailMessage::decode(&message.delivery.data).expect("a valid message");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no message arrived on {queue}");
}

pub async fn queue_depth(queue: &str) -> u32 {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let q = channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
    q.message_count()
}

pub async fn delete_queues(queue: &str) {
    if let Ok(conn) = common::amqp::connect(&amqp_url(), "user-service-tests").await {
        if let Ok(channel) = conn.create_channel().await {
            // The mail service's retry queues too, where a test ran one.
            let retries = (0..3).map(|level| format!("{queue}.retry.{level}"));
            for q in [queue.to_owned(), format!("{queue}.dead")]
                .into_iter()
                .chain(retries)
            {
                let _ = channel
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

pub async fn delete_exchange(exchange: &str) {
    if let Ok(conn) = common::amqp::connect(&amqp_url(), "user-service-tests").await {
        if let Ok(channel) = conn.create_channel().await {
            let _ = channel
                .exchange_delete(exchange.into(), Default::default())
                .await;
        }
        let _ = conn.close(200, "done".into()).await;
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let request_id = response
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .expect("every response has an X-Request-Id");
    let mut body: Value = response.json().await.unwrap();
    // Every problem quotes its request's id; it is taken out so that callers compare content.
    let quoted = body.as_object_mut().unwrap().remove("request_id");
    assert_eq!(quoted, Some(Value::String(request_id)), "status {status}");
    assert_eq!(body["status"], status);
    assert!(body["code"].is_string() && body["title"].is_string() && body["type"].is_string());
    (status, body)
}

pub async fn user_count(app: &TestApp, email: &str) -> u64 {
    app.database()
        .await
        .collection::<mongodb::bson::Document>("users")
        .count_documents(doc! { "email": email })
        .await
        .unwrap()
}

/// A private queue bound to the events exchange with `#`, to see every domain event the app
/// publishes. Declares the exchange itself (with the app's arguments) so it can be bound before
/// the app starts.
pub struct EventTap {
    connection: lapin::Connection,
    channel: lapin::Channel,
    queue: String,
}

impl EventTap {
    pub async fn bind(exchange: &str) -> Self {
        let connection = common::amqp::connect(&amqp_url(), "user-service-tests")
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        let queue = format!("events_tap_{}", Uuid::new_v4().simple());
        channel
            .queue_declare(
                queue.as_str().into(),
                lapin::options::QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                "#".into(),
                Default::default(),
                Default::default(),
            )
            .await
            .unwrap();
        Self {
            connection,
            channel,
            queue,
        }
    }

    /// The types of every event that arrives within `wait`.
    pub async fn drain(&self, wait: Duration) -> Vec<String> {
        self.drain_events(wait)
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Every event that arrives within `wait`, whole.
    pub async fn drain_events(&self, wait: Duration) -> Vec<Value> {
        tokio::time::sleep(wait).await;
        let mut types = Vec::new();
        while let Some(message) = self
            .channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            let event: Value = serde_json::from_slice(&message.delivery.data).unwrap();
            // The routing key is the type, so consumers can bind by type.
            assert_eq!(
                event["type"].as_str(),
                Some(message.delivery.routing_key.as_str())
            );
            types.push(event);
        }
        types
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// Every message on `queue` until none has arrived for `settle` (background sends included).
pub async fn drain_emails(queue: &str, settle: Duration) -> Vec<EmailMessage> {
    let conn = common::amqp::connect(&amqp_url(), "user-service-tests")
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut messages = Vec::new();
    let mut quiet_since = std::time::Instant::now();
    while quiet_since.elapsed() < settle {
        match channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(message) => {
                messages.push(EmailMessage::decode(&message.delivery.data).expect("valid"));
                quiet_since = std::time::Instant::now();
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let _ = conn.close(200, "done".into()).await;
    messages
}
