use std::time::Duration;

use common::email::EmailMessage;
use common::shutdown::{Shutdown, ShutdownTrigger};
use lapin::options::{BasicGetOptions, QueueDeleteOptions};
use mongodb::bson::doc;
use serde_json::{Value, json};
use user_service::config::Config;
use user_service::startup::Application;
use uuid::Uuid;

pub fn mongodb_uri() -> String {
    std::env::var("TEST_MONGODB_URI")
        .unwrap_or_else(|_| "mongodb://127.0.0.1:27017/?directConnection=true".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn amqp_url() -> String {
    std::env::var("TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A configuration isolated from every other test.
pub fn test_config() -> Config {
    let id = Uuid::new_v4().simple().to_string();
    Config {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        mongodb_uri: mongodb_uri(),
        mongodb_database: format!("test_{id}"),
        redis_url: redis_url(),
        redis_key_prefix: format!("test:{id}:"),
        amqp_url: amqp_url(),
        email_queue: format!("email_queue_test_{id}"),
        session_ttl: Duration::from_secs(3600),
        verification_ttl: Duration::from_secs(3600),
        verify_email_url: "https://app.example.com/verify-email".into(),
        allow_unverified_login: false,
        hash_concurrency: 2,
        outbox_poll_interval: Duration::from_secs(1),
        shutdown_timeout: Duration::from_secs(5),
    }
}

pub struct TestApp {
    pub base: String,
    pub admin: String,
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
    let (trigger, shutdown) = Shutdown::new();
    let server = tokio::spawn(app.run_until_stopped(shutdown));
    TestApp {
        base,
        admin,
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

    pub async fn database(&self) -> mongodb::Database {
        mongodb::Client::with_uri_str(&self.config.mongodb_uri)
            .await
            .unwrap()
            .database(&self.config.mongodb_database)
    }

    /// The next message on this test's queue, waiting up to 10 s for it.
    pub async fn next_email(&self) -> EmailMessage {
        next_email_on(&self.config.email_queue).await
    }

    /// Stops the app and removes what the test created.
    pub async fn finish(self) {
        self.trigger.trigger();
        let database = self.database().await;
        let _ = tokio::time::timeout(Duration::from_secs(10), self.server).await;
        let _ = database.drop().await;
        delete_queues(&self.config.email_queue).await;
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
            for q in [queue.to_owned(), format!("{queue}.dead")] {
                let _ = channel
                    .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                    .await;
            }
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
    let body: Value = response.json().await.unwrap();
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
