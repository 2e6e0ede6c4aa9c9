//! What the API tests share: an isolated configuration, the app in-process (`TestApp`), the
//! binary as a process (`binary`), and the real Redis and RabbitMQ the app uses (`redis_setup`,
//! `broker`).

mod binary;
mod broker;
mod redis_setup;

pub use binary::*;
pub use broker::*;
pub use redis_setup::*;

use std::time::Duration;

use common::config::Env;
use common::email::EmailMessage;
use common::shutdown::{Shutdown, ShutdownTrigger};
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
