//! Wiring: the admin server, readiness checks and the consumer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use common::admin::{self, Readiness};
use common::amqp::Topology;
use common::shutdown::Shutdown;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinError;
use tracing::info;

use crate::config::{Config, TemplateSource};
use crate::consumer::{self, ConsumerSettings, Handler, RetryRouting};
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
    template_watch: Option<(PathBuf, Duration)>,
    template_controller: Option<controller::Context>,
    templates_synced: Arc<AtomicBool>,
}

impl Application {
    /// Compiles the templates and binds the admin port; nothing talks to RabbitMQ or the relay
    /// yet, so a broker outage does not stop the pod from starting (it just is not ready).
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let templates = TemplateStore::new(initial_templates(&config.template_source)?);
        let sent_log = SentLog::new(&config.redis).context("configuring Redis")?;
        sent_log
            .check_eviction(config.redis.connection.allow_eviction)
            .await?;
        let registry = admin::new_registry();
        let metrics = Metrics::register(&registry).context("registering metrics")?;
        // Only the kubernetes source is not ready until the resources have been listed and
        // published; every other source is complete from the start.
        let templates_synced = Arc::new(AtomicBool::new(!matches!(
            config.template_source,
            TemplateSource::Kubernetes { .. }
        )));
        let template_controller = match &config.template_source {
            TemplateSource::Kubernetes { namespace } => Some(
                template_controller(
                    namespace.as_deref(),
                    &templates,
                    &metrics,
                    &templates_synced,
                )
                .await?,
            ),
            _ => None,
        };
        let mailer = Mailer::new(&config.smtp, config.mail_from.clone())
            .context("configuring the SMTP transport")?;
        let connected = Arc::new(AtomicBool::new(false));
        let readiness = readiness(&templates_synced, &sent_log, &connected, &mailer);
        let listener = TcpListener::bind(config.admin_addr)
            .await
            .with_context(|| format!("binding the admin port {}", config.admin_addr))?;
        let admin_addr = listener.local_addr()?;
        info!(%admin_addr, "admin server listening");

        let template_watch = match &config.template_source {
            TemplateSource::Directory(dir) => Some((dir.clone(), config.template_poll_interval)),
            _ => None,
        };
        let (settings, handler) = consumer(config, templates, mailer, sent_log, metrics);
        Ok(Application {
            listener,
            admin_addr,
            registry,
            readiness,
            settings,
            handler: Arc::new(handler),
            connected,
            template_watch,
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
            spawn_template_watch(&self.handler, dir, interval, &shutdown);
        }
        if let Some(controller) = self.template_controller {
            let stop = shutdown.clone();
            tokio::spawn(controller.run(async move { stop.wait().await }));
            // Consuming before the EmailTemplates are listed would send built-in wording the
            // operators replaced; readiness alone does not stop a queue consumer.
            tokio::select! {
                () = until_set(&self.templates_synced) => {}
                () = shutdown.wait() => {}
                result = &mut admin => return Err(admin_ended(result)),
            }
        }
        let consumer = async {
            // Stopped while waiting for the templates: nothing to consume or drain.
            if !shutdown.is_triggered() {
                let stop = shutdown.clone();
                consumer::run(self.settings, self.handler, self.connected, stop).await;
            }
        };
        tokio::select! {
            () = consumer => {}
            result = &mut admin => return Err(admin_ended(result)),
        }
        let _ = stop_admin.send(());
        admin.await??;
        Ok(())
    }
}

/// The templates to start with: a directory's over the built-ins, or the built-ins alone (the
/// kubernetes source starts from them too).
fn initial_templates(source: &TemplateSource) -> anyhow::Result<Templates> {
    Ok(match source {
        TemplateSource::Directory(dir) => Templates::with_dir(dir)
            .with_context(|| format!("loading templates from {}", dir.display()))?,
        TemplateSource::Builtin | TemplateSource::Kubernetes { .. } => Templates::new()?,
    })
}

/// The EmailTemplate controller of `TEMPLATE_SOURCE=kubernetes`, with its API client.
async fn template_controller(
    namespace: Option<&str>,
    templates: &TemplateStore,
    metrics: &Metrics,
    synced: &Arc<AtomicBool>,
) -> anyhow::Result<controller::Context> {
    // kube builds its TLS config from rustls' process-wide provider, which rustls cannot choose
    // by itself here: lapin's TLS stack enables aws-lc-rs and lettre's ring. Ring, as kube is
    // built with; an error only means one is set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // In a pod: the service account token and the API server from the environment the
    // kubelet provides; elsewhere the kubeconfig.
    let client = kube::Client::try_default()
        .await
        .context("configuring the Kubernetes client (TEMPLATE_SOURCE=kubernetes)")?;
    Ok(controller::Context::new(
        client,
        namespace,
        templates.clone(),
        metrics.clone(),
        synced.clone(),
    ))
}

/// `/readyz`: templates, Redis and RabbitMQ required, the SMTP relay reported.
fn readiness(
    templates_synced: &Arc<AtomicBool>,
    sent_log: &SentLog,
    connected: &Arc<AtomicBool>,
    mailer: &Mailer,
) -> Readiness {
    let sent_log = sent_log.clone();
    let mailer = mailer.clone();
    Readiness::builder()
        // Sending with the built-ins while the operator's templates are still being listed
        // would send the wrong wording; once listed, an API outage keeps the last published
        // templates and does not matter.
        .required(
            "templates",
            flag_check(templates_synced, "EmailTemplates not listed yet"),
        )
        // Without the sent record every message would go to the retry queues.
        .required("redis", move || {
            let sent_log = sent_log.clone();
            async move { sent_log.ping().await }
        })
        .required("rabbitmq", flag_check(connected, "consumer not connected"))
        // Optional: while the relay is down messages wait in the retry queues, so taking the
        // pod out of rotation would gain nothing.
        .optional("smtp", move || {
            let mailer = mailer.clone();
            async move { mailer.test_connection().await }
        })
        .build()
}

/// A readiness check that passes while `flag` is set and fails with `problem` otherwise.
fn flag_check(
    flag: &Arc<AtomicBool>,
    problem: &'static str,
) -> impl Fn() -> std::future::Ready<Result<(), String>> + Send + Sync + 'static {
    let flag = flag.clone();
    move || {
        std::future::ready(if flag.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(problem.to_owned())
        })
    }
}

/// The consumer's settings and its delivery handler.
fn consumer(
    config: Config,
    templates: TemplateStore,
    mailer: Mailer,
    sent_log: SentLog,
    metrics: Metrics,
) -> (ConsumerSettings, Handler) {
    let topology = Topology::new(config.email_queue.clone());
    let settings = ConsumerSettings {
        amqp_url: config.amqp_url,
        topology: topology.clone(),
        prefetch: config.prefetch,
        retry_delays: config.retry_delays.clone(),
        retry_queue_type: config.retry_queue_type,
        shutdown_timeout: config.shutdown_timeout,
    };
    let handler = Handler {
        templates,
        mailer,
        sent_log,
        metrics,
        gate: Gate::new(&config.trust),
        routing: RetryRouting {
            topology,
            retry_delays: config.retry_delays,
            own_user: config.trust.own_user,
            dead_letter_ttl: config.trust.dead_letter_ttl,
        },
    };
    (settings, handler)
}

/// Reloads `TEMPLATE_DIR` on changes until shutdown, counting every reload.
fn spawn_template_watch(handler: &Handler, dir: PathBuf, interval: Duration, shutdown: &Shutdown) {
    let reloads = handler.metrics.template_reloads.clone();
    let stop = shutdown.clone();
    tokio::spawn(handler.templates.clone().watch(
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

async fn until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The admin server only ends on its own if it failed.
fn admin_ended(result: Result<std::io::Result<()>, JoinError>) -> anyhow::Error {
    match result {
        Err(e) => e.into(),
        Ok(Err(e)) => e.into(),
        Ok(Ok(())) => anyhow::anyhow!("admin server stopped unexpectedly"),
    }
}
