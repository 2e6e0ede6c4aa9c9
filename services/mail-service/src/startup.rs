//! Wiring: the admin server, readiness checks and the consumer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use common::admin::{self, Readiness};
use common::amqp::Topology;
use common::shutdown::Shutdown;
use prometheus::Registry;
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::consumer::{self, ConsumerSettings, Handler};
use crate::metrics::Metrics;
use crate::smtp::Mailer;
use crate::templates::Templates;

pub struct Application {
    listener: TcpListener,
    admin_addr: SocketAddr,
    registry: Registry,
    readiness: Readiness,
    settings: ConsumerSettings,
    handler: Arc<Handler>,
    connected: Arc<AtomicBool>,
}

impl Application {
    /// Compiles the templates and binds the admin port; nothing talks to RabbitMQ or the relay
    /// yet, so a broker outage does not stop the pod from starting (it just is not ready).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let templates = Templates::new()?;
        let registry = admin::new_registry();
        let metrics = Metrics::register(&registry).context("registering metrics")?;
        let mailer = Mailer::new(&config.smtp, config.mail_from.clone())
            .context("configuring the SMTP transport")?;
        let topology = Topology::new(config.email_queue.clone());
        let connected = Arc::new(AtomicBool::new(false));

        let readiness = {
            let connected = connected.clone();
            let mailer = mailer.clone();
            Readiness::builder()
                .required("rabbitmq", move || {
                    let up = connected.load(Ordering::SeqCst);
                    async move {
                        if up {
                            Ok(())
                        } else {
                            Err("consumer not connected".to_owned())
                        }
                    }
                })
                // Optional: while the relay is down messages wait in the queue (requeued),
                // so taking the pod out of rotation would gain nothing.
                .optional("smtp", move || {
                    let mailer = mailer.clone();
                    async move { mailer.test_connection().await }
                })
                .build()
        };

        let listener = TcpListener::bind(config.admin_addr)
            .await
            .with_context(|| format!("binding the admin port {}", config.admin_addr))?;
        let admin_addr = listener.local_addr()?;
        info!(%admin_addr, "admin server listening");

        Ok(Application {
            listener,
            admin_addr,
            registry,
            readiness,
            settings: ConsumerSettings {
                amqp_url: config.amqp_url,
                topology: topology.clone(),
                prefetch: config.prefetch,
                shutdown_timeout: config.shutdown_timeout,
            },
            handler: Arc::new(Handler {
                templates,
                mailer,
                metrics,
                dead_letter_queue: topology.dead_letter_queue(),
            }),
            connected,
        })
    }

    pub fn admin_port(&self) -> u16 {
        self.admin_addr.port()
    }

    /// Consumes until `shutdown`, then drains in-flight messages. The admin server keeps
    /// answering (with `/readyz` reporting `draining`) until the consumer has stopped.
    pub async fn run_until_stopped(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let router = admin::router(self.registry, self.readiness.clone());
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let mut admin = tokio::spawn(admin::serve(self.listener, router, async move {
            let _ = admin_stopped.await;
        }));

        let readiness = self.readiness;
        let draining = shutdown.clone();
        tokio::spawn(async move {
            draining.wait().await;
            readiness.start_draining();
        });

        let consumer = consumer::run(self.settings, self.handler, self.connected, shutdown);
        tokio::select! {
            () = consumer => {}
            result = &mut admin => {
                // The admin server only ends on its own if it failed.
                result??;
                anyhow::bail!("admin server stopped unexpectedly");
            }
        }
        let _ = stop_admin.send(());
        admin.await??;
        Ok(())
    }
}
