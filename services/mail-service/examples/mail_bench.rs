//! Mail pipeline benchmark: publishes N messages to a fresh queue, lets 1 or 2 in-process
//! mail-service instances deliver them into an SMTP capture sink, and reports emails/s and the
//! publish→accepted latency, with and without `TCP_NODELAY`. Run it on purpose with
//! `bench/mail/run.sh` (see `bench/README.md`); it is no test.
//!
//! "Accepted" is the modification time of the file the sink (`scripts/smtp_sink.py`) writes
//! just before answering 250, read after the run so that measuring costs the pipeline nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use common::amqp::{RetryQueueType, Topology};
use common::email::{EmailKind, EmailMessage, Recipient};
use common::shutdown::Shutdown;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeleteOptions};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mail_service::config::{RedisConfig, SmtpConfig, SmtpTls};
use mail_service::{Application, Config};
use serde_json::{Value, json};
use uuid::Uuid;

const USAGE: &str = "\
mail_bench [--messages N] [--paced N] [--rate PER_SEC] [--consumers 1,2] [--nodelay off,on]
           [--prefetch N] [--pool N] [--smtp HOST:PORT] (--maildir DIR | --accept-log FILE)
           [--out DIR]

  --messages  burst size for the throughput phase (default 5000)
  --paced     messages in the latency phase, published at --rate (default 500 at 200/s)
  --maildir   the Maildir the SMTP capture server at --smtp writes to (scripts/smtp_sink.py)
  --accept-log  the file bench/mail/sink.py at --smtp writes acceptance times to; read after
              the sink has been stopped (the run script does that), so it is read on demand
  --out       where the Markdown and JSON reports go (default bench/reports)
Environment: AMQP_URL, REDIS_URL (local defaults).";

struct Args {
    messages: usize,
    paced: usize,
    rate: f64,
    consumers: Vec<usize>,
    nodelay: Vec<bool>,
    prefetch: u16,
    pool: u32,
    smtp_host: String,
    smtp_port: u16,
    maildir: Option<PathBuf>,
    accept_log: Option<PathBuf>,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        messages: 5000,
        paced: 500,
        rate: 200.0,
        consumers: vec![1, 2],
        nodelay: vec![false, true],
        prefetch: 64,
        pool: 8,
        smtp_host: "127.0.0.1".into(),
        smtp_port: 2525,
        maildir: None,
        accept_log: None,
        out: PathBuf::from("bench/reports"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--messages" => args.messages = value.parse()?,
            "--paced" => args.paced = value.parse()?,
            "--rate" => args.rate = value.parse()?,
            "--consumers" => {
                args.consumers = value.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--nodelay" => {
                args.nodelay = value
                    .split(',')
                    .map(|v| match v {
                        "on" => Ok(true),
                        "off" => Ok(false),
                        _ => bail!("--nodelay takes on, off or both"),
                    })
                    .collect::<Result<_, _>>()?
            }
            "--prefetch" => args.prefetch = value.parse()?,
            "--pool" => args.pool = value.parse()?,
            "--smtp" => {
                let (host, port) = value.rsplit_once(':').context("--smtp HOST:PORT")?;
                args.smtp_host = host.into();
                args.smtp_port = port.parse()?;
            }
            "--maildir" => args.maildir = Some(value.into()),
            "--accept-log" => args.accept_log = Some(value.into()),
            "--out" => args.out = value.into(),
            _ => bail!("unknown flag {flag}\n{USAGE}"),
        }
    }
    if args.maildir.is_none() == args.accept_log.is_none() {
        bail!("give --maildir or --accept-log\n{USAGE}");
    }
    Ok(args)
}

const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The broker user of `AMQP_URL`: the bench publishes and consumes as it.
fn amqp_user() -> String {
    common::amqp::url_user(&env_or("AMQP_URL", DEFAULT_AMQP_URL)).expect("AMQP_URL parses")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

/// One configuration's run: which recipients were published when.
struct Run {
    nodelay: bool,
    consumers: usize,
    burst: Vec<(String, SystemTime)>,
    paced: Vec<(String, SystemTime)>,
    burst_wall: Duration,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = SystemTime::now();
    let mut runs = Vec::new();
    for &nodelay in &args.nodelay {
        for &consumers in &args.consumers {
            eprintln!("run: nodelay={nodelay} consumers={consumers}");
            runs.push(run(&args, nodelay, consumers).await?);
        }
    }
    let accepted = match (&args.maildir, &args.accept_log) {
        (Some(maildir), _) => {
            // The sink may still be renaming the last files into new/.
            tokio::time::sleep(Duration::from_millis(500)).await;
            scan_maildir(maildir, started)?
        }
        (None, Some(log)) => {
            // The sink flushes its log when it stops: say we are done and wait for it.
            println!("RUNS DONE");
            wait_for_file_complete(log).await?;
            read_accept_log(log)?
        }
        (None, None) => unreachable!("checked when parsing"),
    };
    report(&args, &runs, &accepted, started)
}

async fn run(args: &Args, nodelay: bool, consumers: usize) -> anyhow::Result<Run> {
    let tag = Uuid::new_v4().simple().to_string();
    let topology = Topology::new(format!("email_queue_bench_{tag}"));
    let prefix = format!("bench:{tag}:");
    let connection = Connection::connect(
        &env_or("AMQP_URL", DEFAULT_AMQP_URL),
        ConnectionProperties::default(),
    )
    .await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    topology.declare(&channel).await?;

    let mut instances = Vec::new();
    for _ in 0..consumers {
        let config = config(args, &topology.queue, &prefix, nodelay);
        let app = Application::build(config).await?;
        let port = app.admin_port();
        let (trigger, shutdown) = Shutdown::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown));
        wait_ready(port).await?;
        instances.push((port, trigger, task));
    }
    let ports: Vec<u16> = instances.iter().map(|(p, _, _)| *p).collect();

    // Warm-up: connections opened, code paths hot.
    let warm: Vec<String> = (0..50).map(|i| recipient(&tag, "warm", i)).collect();
    publish_all(&channel, &topology.queue, &warm, None).await?;
    wait_sent(&ports, warm.len()).await?;

    let burst: Vec<String> = (0..args.messages)
        .map(|i| recipient(&tag, "burst", i))
        .collect();
    let t0 = Instant::now();
    let burst = publish_all(&channel, &topology.queue, &burst, None).await?;
    wait_sent(&ports, warm.len() + burst.len()).await?;
    let burst_wall = t0.elapsed();

    let paced: Vec<String> = (0..args.paced)
        .map(|i| recipient(&tag, "paced", i))
        .collect();
    let paced = publish_all(&channel, &topology.queue, &paced, Some(args.rate)).await?;
    wait_sent(&ports, warm.len() + burst.len() + paced.len()).await?;

    for (_, trigger, task) in instances {
        trigger.trigger();
        task.await??;
    }
    clean_up(&channel, &topology, &prefix).await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(Run {
        nodelay,
        consumers,
        burst,
        paced,
        burst_wall,
    })
}

fn config(args: &Args, queue: &str, prefix: &str, nodelay: bool) -> Config {
    Config {
        admin_addr: "127.0.0.1:0".parse().expect("address"),
        amqp_url: env_or("AMQP_URL", DEFAULT_AMQP_URL).into(),
        email_queue: queue.into(),
        prefetch: args.prefetch,
        smtp: SmtpConfig {
            host: args.smtp_host.clone(),
            port: args.smtp_port,
            tls: SmtpTls::None,
            credentials: None,
            ca: None,
            timeout: Duration::from_secs(10),
            pool_size: args.pool,
            nodelay,
        },
        redis: RedisConfig {
            connection: redis_connection(),
            key_prefix: prefix.into(),
            sent_ttl: Duration::from_secs(3600),
            claim_ttl: Duration::from_secs(60),
        },
        retry_delays: vec![Duration::from_secs(1)],
        retry_queue_type: RetryQueueType::Classic,
        mail_from: "Bench <bench@example.com>".parse().expect("mailbox"),
        template_source: mail_service::config::TemplateSource::Builtin,
        trust: mail_service::config::QueueTrust {
            own_user: amqp_user(),
            publishers: vec![amqp_user()],
            link_origins: vec!["https://example.com".into()],
            dead_letter_ttl: Duration::from_secs(3600),
        },
        template_poll_interval: Duration::from_secs(5),
        shutdown_timeout: Duration::from_secs(10),
    }
}

fn recipient(tag: &str, phase: &str, i: usize) -> String {
    format!("bench-{tag}-{phase}-{i}@example.com")
}

/// Publishes one message per recipient, as fast as the broker confirms or at `rate` per
/// second, and returns when each was handed to the client library.
async fn publish_all(
    channel: &Channel,
    queue: &str,
    recipients: &[String],
    rate: Option<f64>,
) -> anyhow::Result<Vec<(String, SystemTime)>> {
    let mut published = Vec::with_capacity(recipients.len());
    let mut confirms = Vec::with_capacity(recipients.len());
    let user_id = amqp_user();
    let start = Instant::now();
    for (i, to) in recipients.iter().enumerate() {
        if let Some(rate) = rate {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let message = EmailMessage::new(
            Recipient {
                email: to.clone(),
                name: Some("Bench".into()),
            },
            EmailKind::VerifyEmail,
            "en",
        )
        .with_data("token", "bench-token")
        .with_data("action_url", "https://example.com/verify?token=bench-token");
        let at = SystemTime::now();
        let confirm = channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                &message.encode(),
                BasicProperties::default()
                    .with_content_type(common::email::CONTENT_TYPE.into())
                    .with_delivery_mode(2)
                    .with_user_id(user_id.as_str().into()),
            )
            .await?;
        confirms.push(confirm);
        published.push((to.clone(), at));
    }
    for confirm in confirms {
        if !confirm.await?.is_ack() {
            bail!("broker refused a message");
        }
    }
    Ok(published)
}

async fn wait_ready(port: u16) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("instance on admin port {port} never became ready")
}

/// Waits until the instances together report `n` messages sent.
async fn wait_sent(ports: &[u16], n: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut sent = 0.0;
        let mut other = 0.0;
        for port in ports {
            let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
                .await?
                .text()
                .await?;
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("mail_messages_consumed_total{") {
                    let value: f64 = rest.rsplit(' ').next().unwrap_or("0").parse()?;
                    if rest.contains(r#"outcome="sent""#) {
                        sent += value;
                    } else {
                        other += value;
                    }
                }
            }
        }
        if sent as usize >= n {
            return Ok(());
        }
        if other > 0.0 {
            bail!("messages were not simply sent ({other} retried, dead-lettered or deferred)");
        }
        if Instant::now() > deadline {
            bail!("only {sent} of {n} sent");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn clean_up(channel: &Channel, topology: &Topology, prefix: &str) -> anyhow::Result<()> {
    for queue in [
        topology.queue.clone(),
        topology.dead_letter_queue(),
        topology.retry_queue(0),
    ] {
        channel
            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
            .await?;
    }
    let client = redis::Client::open(env_or("REDIS_URL", "redis://127.0.0.1:6379"))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    for chunk in keys.chunks(1000) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut conn).await?;
    }
    Ok(())
}

/// Recipient → when the sink stored its message, for the files written since `since`.
fn scan_maildir(maildir: &Path, since: SystemTime) -> anyhow::Result<HashMap<String, SystemTime>> {
    let dir = maildir.join("new");
    let since_secs = since.duration_since(UNIX_EPOCH)?.as_secs();
    let mut accepted = HashMap::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        // Maildir names start with the Unix time of delivery: skip older files unread.
        let name = entry.file_name().to_string_lossy().into_owned();
        let secs: u64 = name
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if secs + 1 < since_secs {
            continue;
        }
        let path = entry.path();
        let Ok(raw) = std::fs::read(&path) else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..raw.len().min(512)]);
        let Some(to) = head
            .lines()
            .find_map(|l| l.strip_prefix("X-RcptTo: "))
            .filter(|t| t.starts_with("bench-"))
        else {
            continue;
        };
        accepted.insert(to.trim().to_owned(), entry.metadata()?.modified()?);
    }
    Ok(accepted)
}

/// The run script stops the sink once this process prints `RUNS DONE`; the sink then writes
/// `# end` as its last line.
async fn wait_for_file_complete(path: &Path) -> anyhow::Result<()> {
    for _ in 0..600 {
        if std::fs::read_to_string(path)
            .map(|s| s.ends_with("# end\n"))
            .unwrap_or(false)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{} was never completed by the sink", path.display())
}

fn read_accept_log(path: &Path) -> anyhow::Result<HashMap<String, SystemTime>> {
    let text = std::fs::read_to_string(path)?;
    let mut accepted = HashMap::new();
    for line in text.lines() {
        let Some((to, at)) = line.split_once('\t') else {
            continue;
        };
        if to.starts_with("bench-") {
            let at: f64 = at.parse()?;
            accepted.insert(to.to_owned(), UNIX_EPOCH + Duration::from_secs_f64(at));
        }
    }
    Ok(accepted)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Latencies in milliseconds, and the span from first publish to last acceptance.
fn latencies(
    published: &[(String, SystemTime)],
    accepted: &HashMap<String, SystemTime>,
) -> anyhow::Result<(Vec<f64>, Duration)> {
    let mut ms = Vec::with_capacity(published.len());
    let mut last = published.first().map(|(_, t)| *t).unwrap_or(UNIX_EPOCH);
    for (to, at) in published {
        let done = accepted
            .get(to)
            .with_context(|| format!("no mail found for {to}"))?;
        last = last.max(*done);
        ms.push(done.duration_since(*at).unwrap_or_default().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    let first = published.first().map(|(_, t)| *t).unwrap_or(UNIX_EPOCH);
    Ok((ms, last.duration_since(first).unwrap_or_default()))
}

fn report(
    args: &Args,
    runs: &[Run],
    accepted: &HashMap<String, SystemTime>,
    started: SystemTime,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for run in runs {
        let (burst_ms, span) = latencies(&run.burst, accepted)?;
        let (paced_ms, _) = latencies(&run.paced, accepted)?;
        let rate = run.burst.len() as f64 / span.as_secs_f64();
        rows.push(json!({
            "tcp_nodelay": run.nodelay,
            "consumers": run.consumers,
            "messages": run.burst.len(),
            "emails_per_second": (rate * 10.0).round() / 10.0,
            "burst_wall_seconds": run.burst_wall.as_secs_f64(),
            "burst_latency_ms": { "p50": percentile(&burst_ms, 50.0), "p99": percentile(&burst_ms, 99.0) },
            "paced_messages": run.paced.len(),
            "paced_rate_per_second": args.rate,
            "paced_latency_ms": { "p50": percentile(&paced_ms, 50.0), "p99": percentile(&paced_ms, 99.0) },
        }));
    }
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let stamp = started.duration_since(UNIX_EPOCH)?.as_secs();
    let report = json!({
        "benchmark": "mail pipeline: publish -> email_queue -> mail-service -> SMTP sink",
        "unix_time": stamp,
        "cpus": cores,
        "prefetch": args.prefetch,
        "smtp_pool_size": args.pool,
        "sink": format!("{}:{}", args.smtp_host, args.smtp_port),
        "sink_kind": if args.maildir.is_some() { "capture server (scripts/smtp_sink.py)" } else { "bench sink (bench/mail/sink.py)" },
        "runs": rows,
    });

    let mut md = format!(
        "# Mail pipeline benchmark\n\nUnix time {stamp}, {cores} CPUs, prefetch {}, SMTP pool {} \
         per consumer, sink {}:{} ({}). Burst: {} messages published at once; paced: {} at {}/s. \
         Latency is publish → SMTP sink accepted the message.\n\n\
         | TCP_NODELAY | consumers | emails/s | burst p50 ms | burst p99 ms | paced p50 ms | paced p99 ms |\n\
         |---|---|---|---|---|---|---|\n",
        args.prefetch,
        args.pool,
        args.smtp_host,
        args.smtp_port,
        report["sink_kind"].as_str().unwrap_or_default(),
        args.messages,
        args.paced,
        args.rate
    );
    for row in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            if row["tcp_nodelay"] == Value::Bool(true) {
                "on"
            } else {
                "off"
            },
            row["consumers"],
            row["emails_per_second"],
            row["burst_latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
            row["burst_latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
            row["paced_latency_ms"]["p50"].as_f64().unwrap_or(f64::NAN),
            row["paced_latency_ms"]["p99"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    std::fs::create_dir_all(&args.out)?;
    let base = args.out.join(format!("mail-{stamp}"));
    std::fs::write(
        base.with_extension("json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(base.with_extension("md"), &md)?;
    println!("{md}");
    eprintln!("wrote {}.{{md,json}}", base.display());
    Ok(())
}

/// The process's `REDIS_*` connection variables (any mode), else the local Redis.
fn redis_connection() -> common::redis::RedisConnectionSettings {
    let url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let mut vars: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("REDIS_") && k != "REDIS_KEY_PREFIX")
        .collect();
    if !vars.contains_key("REDIS_MODE") {
        vars.insert("REDIS_URL".into(), url);
    }
    let mut env = common::config::Env::from_map(vars);
    let settings = common::redis::RedisConnectionSettings::from_env(&mut env);
    env.finish().expect("valid REDIS_* variables");
    settings
}
