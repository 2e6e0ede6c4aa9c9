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

use crate::config::{Config, TemplateSource};
use crate::consumer::{self, ConsumerSettings, Handler};
use crate::controller;
use crate::gate::Gate;
use crate::idempotency::SentLog;
use crate::metrics::Metrics;
use crate::smtp::Mailer;
use crate::templates::{TemplateStore, Templates};

pub struct Application {
    listener: TcpListener,
    admin_addr: SocketAddr,
    registry: Registry,
    readiness: Readiness,
    settings: ConsumerSettings,
    handler: Arc<Handler>,
    connected: Arc<AtomicBool>,
    template_watch: Option<(std::path::PathBuf, std::time::Duration)>,
    template_controller: Option<controller::Context>,
    templates_synced: Arc<AtomicBool>,
}

impl Application {
    /// Compiles the templates and binds the admin port; nothing talks to RabbitMQ or the relay
    /// yet, so a broker outage does not stop the pod from starting (it just is not ready).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let templates = match &config.template_source {
            TemplateSource::Directory(dir) => Templates::with_dir(dir)
                .with_context(|| format!("loading templates from {}", dir.display()))?,
            // The kubernetes source starts from the built-ins too and is not ready until the
            // resources have been listed and published.
            TemplateSource::Builtin | TemplateSource::Kubernetes { .. } => Templates::new()?,
        };
        let templates = TemplateStore::new(templates);
        let sent_log = SentLog::new(&config.redis).context("configuring Redis")?;
        let registry = admin::new_registry();
        let metrics = Metrics::register(&registry).context("registering metrics")?;
        let templates_synced = Arc::new(AtomicBool::new(false));
        let template_controller = match &config.template_source {
            TemplateSource::Kubernetes { namespace } => {
                // kube builds its TLS config from rustls' process-wide provider, which rustls
                // cannot choose by itself here: lapin's TLS stack enables aws-lc-rs and
                // lettre's ring. Ring, as kube is built with; an error only means one is set.
                let _ = rustls::crypto::ring::default_provider().install_default();
                // In a pod: the service account token and the API server from the environment
                // the kubelet provides; elsewhere the kubeconfig.
                let client = kube::Client::try_default()
                    .await
                    .context("configuring the Kubernetes client (TEMPLATE_SOURCE=kubernetes)")?;
                Some(controller::Context::new(
                    client,
                    namespace.as_deref(),
                    templates.clone(),
                    metrics.clone(),
                    templates_synced.clone(),
                ))
            }
            _ => None,
        };
        let mailer = Mailer::new(&config.smtp, config.mail_from.clone())
            .context("configuring the SMTP transport")?;
        let topology = Topology::new(config.email_queue.clone());
        let connected = Arc::new(AtomicBool::new(false));

        let readiness = {
            let connected = connected.clone();
            let mailer = mailer.clone();
            let sent_log = sent_log.clone();
            let kubernetes = template_controller.is_some();
            let synced = templates_synced.clone();
            Readiness::builder()
                // Sending with the built-ins while the operator's templates are still being
                // listed would send the wrong wording; once listed, an API outage keeps the
                // last published templates and does not matter.
                .required("templates", move || {
                    let ok = !kubernetes || synced.load(Ordering::SeqCst);
                    async move {
                        if ok {
                            Ok(())
                        } else {
                            Err("EmailTemplates not listed yet".to_owned())
                        }
                    }
                })
                // Without the sent record every message would go to the retry queues.
                .required("redis", move || {
                    let sent_log = sent_log.clone();
                    async move { sent_log.ping().await }
                })
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
                // Optional: while the relay is down messages wait in the retry queues, so
                // taking the pod out of rotation would gain nothing.
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
                retry_delays: config.retry_delays.clone(),
                shutdown_timeout: config.shutdown_timeout,
            },
            handler: Arc::new(Handler {
                templates,
                mailer,
                sent_log,
                metrics,
                topology,
                retry_delays: config.retry_delays,
                gate: Gate::new(&config.trust),
                own_user: config.trust.own_user.clone(),
                dead_letter_ttl: config.trust.dead_letter_ttl,
            }),
            connected,
            template_watch: match config.template_source {
                TemplateSource::Directory(dir) => Some((dir, config.template_poll_interval)),
                _ => None,
            },
            template_controller,
            templates_synced,
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

        if let Some((dir, interval)) = self.template_watch {
            let store = self.handler.templates.clone();
            let reloads = self.handler.metrics.template_reloads.clone();
            let stop = shutdown.clone();
            tokio::spawn(store.watch(
                dir,
                interval,
                move |ok| {
                    reloads
                        .with_label_values(&[if ok { "ok" } else { "error" }])
                        .inc();
                },
                async move { stop.wait().await },
            ));
        }

        if let Some(controller) = self.template_controller {
            let stop = shutdown.clone();
            tokio::spawn(controller.run(async move { stop.wait().await }));
            // Consuming before the EmailTemplates are listed would send built-in wording the
            // operators replaced; readiness alone does not stop a queue consumer.
            let synced = self.templates_synced.clone();
            let listed = async move {
                while !synced.load(Ordering::SeqCst) {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            };
            tokio::select! {
                () = listed => {}
                () = shutdown.wait() => {}
                result = &mut admin => {
                    result??;
                    anyhow::bail!("admin server stopped unexpectedly");
                }
            }
        }

        let consumer = async {
            // Stopped while waiting for the templates: nothing to consume or drain.
            if !shutdown.is_triggered() {
                consumer::run(
                    self.settings,
                    self.handler,
                    self.connected,
                    shutdown.clone(),
                )
                .await;
            }
        };
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
