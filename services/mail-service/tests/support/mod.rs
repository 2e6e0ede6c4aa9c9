//! Test harness: runs the Application in-process against the local RabbitMQ and the SMTP
//! capture server (`scripts/services.sh start`), each test on its own queue.

#![allow(dead_code)] // Not every test binary uses every helper.

use std::path::PathBuf;
use std::time::Duration;

use common::amqp::Topology;
use common::email::{EmailKind, EmailMessage, Recipient};
use common::shutdown::{Shutdown, ShutdownTrigger};
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mail_service::config::{SmtpConfig, SmtpTls};
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

pub fn config(queue: &str) -> Config {
    Config {
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        amqp_url: amqp_url(),
        email_queue: queue.to_owned(),
        prefetch: 4,
        smtp: SmtpConfig {
            host: std::env::var("SMTP_SINK_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            port: std::env::var("SMTP_SINK_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(2525),
            tls: SmtpTls::None,
            credentials: None,
            timeout: Duration::from_secs(5),
            pool_size: 2,
        },
        mail_from: "User Platform <no-reply@example.com>".parse().unwrap(),
        shutdown_timeout: Duration::from_secs(5),
    }
}

pub struct TestApp {
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
        let queue = format!("email_queue_test_{}", Uuid::new_v4());
        let topology = Topology::new(queue.clone());

        let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672 (run scripts/services.sh start)");
        let channel = connection.create_channel().await.unwrap();
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        // Declared here too, so nothing published before the service is up gets dropped.
        topology.declare(&channel).await.unwrap();

        let app = Application::build(config(&queue)).await.unwrap();
        let admin_port = app.admin_port();
        let (trigger, shutdown) = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown));

        let test_app = TestApp {
            topology,
            admin_port,
            http: reqwest::Client::new(),
            trigger,
            task,
            connection,
            channel,
        };
        test_app.wait_until_ready().await;
        test_app
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin_port)
    }

    async fn wait_until_ready(&self) {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Ok(r) = self.http.get(self.admin_url("/readyz")).send().await
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

    pub async fn publish_raw(&self, body: &[u8]) {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                self.topology.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default()
                    .with_content_type(common::email::CONTENT_TYPE.into())
                    .with_delivery_mode(2),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(confirm.is_ack());
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
        for queue in [
            self.topology.queue.clone(),
            self.topology.dead_letter_queue(),
        ] {
            self.channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .unwrap();
        }
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
    .with_data(
        "action_url",
        format!("https://app.example.com/verify?token={token}"),
    )
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
