//! Test harness: runs the Application in-process against the local RabbitMQ and the SMTP
//! capture server (`scripts/services.sh start`), each test on its own queue.

#![allow(dead_code)] // Not every test binary uses every helper.

pub mod proxy;
pub mod smtp;

use std::path::PathBuf;
use std::time::Duration;

use common::amqp::{RetryQueueType, Topology};
use common::email::{EmailKind, EmailMessage, Recipient};
use common::shutdown::{Shutdown, ShutdownTrigger};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mail_service::config::{QueueTrust, RedisConfig, SmtpConfig, SmtpTls};
use mail_service::{Application, Config};
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const TIMEOUT: Duration = Duration::from_secs(15);

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub fn maildir() -> PathBuf {
    std::env::var("SMTP_SINK_MAILDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.run/maildir").into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// The `REDIS_*` connection variables of this process (a topology of
/// scripts/redis-topologies.sh), or the local standalone Redis.
pub fn redis_env() -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("REDIS_") && k != "REDIS_KEY_PREFIX" && k != "REDIS_PORT")
        .collect();
    if !vars
        .iter()
        .any(|(k, _)| k == "REDIS_URL" || k == "REDIS_MODE")
    {
        vars.push(("REDIS_URL".into(), redis_url()));
    }
    vars
}

pub fn redis_settings() -> common::redis::RedisConnectionSettings {
    let mut env = common::config::Env::from_map(redis_env().into_iter().collect());
    let settings = common::redis::RedisConnectionSettings::from_env(&mut env);
    env.finish()
        .expect("the test's REDIS_* variables are valid");
    settings
}

/// A connection to the test's Redis, in its mode.
pub fn redis_connection() -> common::redis::RedisConnection {
    common::redis::RedisConnection::open(&redis_settings()).expect("Redis client")
}

pub fn sink_port() -> u16 {
    std::env::var("SMTP_SINK_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(2525)
}

/// A configuration on `queue` whose Redis keys live under `prefix`, with retry delays short
/// enough for tests.
pub fn config(queue: &str, prefix: &str) -> Config {
    Config {
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        amqp_url: amqp_url().into(),
        email_queue: queue.to_owned(),
        prefetch: 4,
        smtp: SmtpConfig {
            host: std::env::var("SMTP_SINK_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            port: sink_port(),
            tls: SmtpTls::None,
            credentials: None,
            ca: None,
            timeout: Duration::from_secs(5),
            pool_size: 2,
            nodelay: true,
        },
        redis: RedisConfig {
            connection: redis_settings(),
            key_prefix: prefix.to_owned(),
            // Long enough for any test, short enough that nothing lingers.
            sent_ttl: Duration::from_secs(600),
            claim_ttl: Duration::from_secs(30),
        },
        retry_delays: vec![Duration::from_millis(300), Duration::from_millis(600)],
        retry_queue_type: RetryQueueType::Classic,
        mail_from: "User Platform <no-reply@example.com>".parse().unwrap(),
        template_source: mail_service::config::TemplateSource::Builtin,
        template_poll_interval: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(5),
        trust: QueueTrust {
            own_user: amqp_user(),
            publishers: vec![amqp_user()],
            link_origins: vec![LINK_ORIGIN.to_owned()],
            dead_letter_ttl: Duration::from_secs(600),
        },
    }
}

/// The origin of the links in [`verify_email`] messages, allowed by [`config`].
pub const LINK_ORIGIN: &str = "https://app.example.com";

/// The broker user of [`amqp_url`]: the `user_id` the test publishers set, as the user service
/// does.
pub fn amqp_user() -> String {
    common::amqp::url_user(&amqp_url()).expect("AMQP_URL parses")
}

/// One test's queues and Redis keys, unique to it.
#[derive(Clone)]
pub struct Scope {
    pub topology: Topology,
    pub prefix: String,
}

impl Scope {
    pub fn new() -> Scope {
        let id = Uuid::new_v4();
        Scope {
            topology: Topology::new(format!("email_queue_test_{id}")),
            prefix: format!("test:{id}:"),
        }
    }

    pub fn config(&self) -> Config {
        config(&self.topology.queue, &self.prefix)
    }

    /// Deletes the queues (retry levels included) and the Redis keys.
    pub async fn clean_up(&self, channel: &Channel, retry_levels: usize) {
        let mut queues = vec![
            self.topology.queue.clone(),
            self.topology.dead_letter_queue(),
        ];
        queues.extend((0..retry_levels).map(|l| self.topology.retry_queue(l)));
        for queue in queues {
            channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
        let mut conn = redis_connection();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", self.prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// A publisher's connection, with its channel in confirm mode, that also declares the topology
/// (as the user service does) so nothing published before a consumer starts is dropped.
pub struct Broker {
    pub connection: Connection,
    pub channel: Channel,
}

impl Broker {
    pub async fn connect(scope: &Scope) -> Broker {
        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672 (run scripts/services.sh start)");
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        scope.topology.declare(&channel).await.unwrap();
        Broker {
            connection,
            channel,
        }
    }

    pub async fn publish(&self, queue: &str, message: &EmailMessage) {
        publish_to(&self.channel, queue, &message.encode()).await;
    }
}

/// Publishes as the user service does: persistent JSON, `user_id` = the connection's user.
async fn publish_to(channel: &Channel, queue: &str, body: &[u8]) {
    publish_with(
        channel,
        queue,
        body,
        BasicProperties::default().with_user_id(amqp_user().into()),
    )
    .await;
}

/// Publishes with `props` (plus content type and persistence) and waits for the confirm.
pub async fn publish_with(channel: &Channel, queue: &str, body: &[u8], props: BasicProperties) {
    let confirm = channel
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions::default(),
            body,
            props
                .with_content_type(common::email::CONTENT_TYPE.into())
                .with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
}

/// One running service instance, stoppable like a SIGTERM would.
pub struct Instance {
    pub admin_port: u16,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Instance {
    pub async fn start(config: Config) -> Instance {
        let app = Application::build(config).await.unwrap();
        let admin_port = app.admin_port();
        let (trigger, shutdown) = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown));
        let instance = Instance {
            admin_port,
            trigger,
            task,
        };
        wait_until_ready(admin_port).await;
        instance
    }

    /// What SIGTERM does: triggers shutdown and waits for the drain.
    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("service did not stop in time")
            .unwrap()
            .unwrap();
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.admin_port))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

async fn wait_until_ready(admin_port: u16) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{admin_port}/readyz")).await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "service never became ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `done` until it holds or [`TIMEOUT`] passes.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A metric line's value, 0 if absent.
pub fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

pub struct TestApp {
    pub scope: Scope,
    retry_levels: usize,
    pub topology: Topology,
    pub admin_port: u16,
    pub http: reqwest::Client,
    trigger: ShutdownTrigger,
    task: JoinHandle<anyhow::Result<()>>,
    connection: Connection,
    pub channel: Channel,
}

impl TestApp {
    /// Starts the service on a fresh queue and waits until it consumes.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Scope::new(), |_| {}).await
    }

    /// Starts the service in `scope`, its configuration adjusted by `adjust`.
    pub async fn spawn_with(scope: Scope, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let topology = scope.topology.clone();
        let Broker {
            connection,
            channel,
        } = Broker::connect(&scope).await;

        let mut config = scope.config();
        adjust(&mut config);
        let retry_levels = config.retry_delays.len();
        let Instance {
            admin_port,
            trigger,
            task,
        } = Instance::start(config).await;
        TestApp {
            scope,
            retry_levels,
            topology,
            admin_port,
            http: reqwest::Client::new(),
            trigger,
            task,
            connection,
            channel,
        }
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    pub async fn publish_raw(&self, body: &[u8]) {
        publish_to(&self.channel, &self.topology.queue, body).await;
    }

    pub async fn publish(&self, message: &EmailMessage) {
        self.publish_raw(&message.encode()).await;
    }

    /// The next message in the dead-letter queue, waiting for it to arrive.
    pub async fn next_dead_letter(&self) -> lapin::message::BasicGetMessage {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(m) = self
                .channel
                .basic_get(
                    self.topology.dead_letter_queue().as_str().into(),
                    BasicGetOptions { no_ack: true },
                )
                .await
                .unwrap()
            {
                return m;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing reached the dead-letter queue"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the service, checks it stopped cleanly and deletes the test's queues.
    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("service did not stop in time")
            .unwrap()
            .unwrap();
        self.scope.clean_up(&self.channel, self.retry_levels).await;
        let _ = self.connection.close(200, "done".into()).await;
    }
}

/// A recipient nobody else uses; `prefix` selects the sink's failure injection.
pub fn recipient(prefix: &str) -> String {
    format!("{prefix}{}@example.com", Uuid::new_v4())
}

pub fn verify_email(to: &str, token: &str) -> EmailMessage {
    EmailMessage::new(
        Recipient {
            email: to.to_owned(),
            name: Some("Ada Lovelace".into()),
        },
        EmailKind::VerifyEmail,
        "en",
    )
    .with_data("token", token)
    .with_data("action_url", format!("{LINK_ORIGIN}/verify?token={token}"))
}

/// The raw message the sink stored for `recipient`, waiting for it to arrive.
pub async fn wait_for_mail(recipient: &str) -> Vec<u8> {
    let dir = maildir().join("new");
    let needle = format!("X-RcptTo: {recipient}\n");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(found) = find_mail(&dir, &needle) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no mail for {recipient} in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn find_mail(dir: &std::path::Path, needle: &str) -> Option<Vec<u8>> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let Ok(raw) = std::fs::read(entry.path()) else {
            continue;
        };
        // The trace headers come first; no need to search the whole message.
        let head = &raw[..raw.len().min(1024)];
        if String::from_utf8_lossy(head).contains(needle) {
            return Some(raw);
        }
    }
    None
}

/// Whether any mail reached the sink for `recipient`, right now.
pub fn has_mail(recipient: &str) -> bool {
    find_mail(&maildir().join("new"), &format!("X-RcptTo: {recipient}\n")).is_some()
}

/// A RabbitMQ user of its own, created with `rabbitmqctl` on the shared broker (which the
/// tests reach on loopback, as root in CI) and deleted when dropped. Its name is unique, so
/// nothing else on the broker is touched.
pub struct BrokerUser {
    pub name: String,
    password: String,
}

impl BrokerUser {
    /// A user allowed to configure, write and read only the resources matching
    /// `resources` (a regular expression), plus publishing through the default exchange.
    pub fn create(role: &str, resources: &str) -> BrokerUser {
        let name = format!("up-test-{role}-{}", Uuid::new_v4().simple());
        let password = Uuid::new_v4().simple().to_string();
        rabbitmqctl(&["add_user", &name, &password]);
        let write = format!("^(amq\\.default|{resources})$");
        let own = format!("^({resources})$");
        rabbitmqctl(&["set_permissions", "-p", "/", &name, &own, &write, &own]);
        BrokerUser { name, password }
    }

    /// [`amqp_url`] with this user's credentials.
    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&amqp_url()).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some(&self.password)).unwrap();
        url.to_string()
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        rabbitmqctl(&["delete_user", &self.name]);
    }
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl (installed with RabbitMQ by scripts/services.sh)");
    assert!(
        out.status.success(),
        "rabbitmqctl {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Messages ready in `queue` right now.
pub async fn queue_depth(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .unwrap()
        .message_count()
}
