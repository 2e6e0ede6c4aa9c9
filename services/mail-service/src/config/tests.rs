use super::*;

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load(Env::from_map(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    ))
}

const MINIMAL: [(&str, &str); 4] = [
    ("AMQP_URL", "amqp://guest:guest@localhost:5672/%2f"),
    ("REDIS_URL", "redis://:sesame@127.0.0.1:6379"),
    ("SMTP_HOST", "smtp.example.com"),
    ("MAIL_FROM", "User Platform <no-reply@example.com>"),
];

#[test]
fn defaults() {
    let c = load(&MINIMAL).unwrap();
    assert_eq!(c.admin_addr.to_string(), "0.0.0.0:9091");
    assert_eq!(c.email_queue, "email_queue");
    assert_eq!(c.prefetch, 16);
    assert_eq!(c.smtp.tls, SmtpTls::StartTls);
    assert_eq!(c.smtp.port, 587);
    assert_eq!(c.smtp.timeout, Duration::from_secs(10));
    assert_eq!(c.smtp.pool_size, 4);
    assert!(c.smtp.credentials.is_none());
    assert_eq!(c.shutdown_timeout, Duration::from_secs(25));
    assert_eq!(c.mail_from.name.as_deref(), Some("User Platform"));
    assert_eq!(c.mail_from.email.to_string(), "no-reply@example.com");
    assert_eq!(c.redis.key_prefix, "up:");
    assert_eq!(c.redis.sent_ttl, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(c.redis.claim_ttl, Duration::from_secs(120));
    assert_eq!(
        c.retry_delays,
        [10, 60, 600].map(Duration::from_secs).to_vec()
    );
    assert_eq!(c.retry_queue_type, RetryQueueType::Classic);
    assert_eq!(c.template_source, TemplateSource::Builtin);
    assert_eq!(c.trust.own_user, "guest");
    assert_eq!(c.trust.publishers, ["guest"]);
    assert_eq!(c.trust.link_origins, ["http://localhost:8080"]);
    assert_eq!(c.trust.dead_letter_ttl, Duration::from_secs(7 * 24 * 3600));
}

#[test]
fn publishers_always_include_the_own_user_and_origins_are_checked() {
    let mut vars = MINIMAL.to_vec();
    vars[0] = ("AMQP_URL", "amqp://mail:pw@localhost:5672/%2f");
    vars.push(("AMQP_PUBLISHER_USER", "user-service, other"));
    vars.push(("ALLOWED_LINK_ORIGINS", "https://app.example.com"));
    vars.push(("DEAD_LETTER_TTL", "2d"));
    let c = load(&vars).unwrap();
    assert_eq!(c.trust.own_user, "mail");
    assert_eq!(c.trust.publishers, ["user-service", "other", "mail"]);
    assert_eq!(c.trust.link_origins, ["https://app.example.com"]);
    assert_eq!(c.trust.dead_letter_ttl, Duration::from_secs(2 * 24 * 3600));
    vars.push(("ALLOWED_LINK_ORIGINS", "https://app.example.com/verify"));
    vars.push(("DEAD_LETTER_TTL", "0s"));
    let vars: std::collections::HashMap<_, _> = vars.into_iter().collect();
    let err = load(&vars.into_iter().collect::<Vec<_>>())
        .unwrap_err()
        .to_string();
    assert!(err.contains("ALLOWED_LINK_ORIGINS"), "{err}");
    assert!(err.contains("DEAD_LETTER_TTL"), "{err}");
}

#[test]
fn template_source_follows_template_dir_unless_set() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("TEMPLATE_DIR", "/etc/mail-templates"));
    assert_eq!(
        load(&vars).unwrap().template_source,
        TemplateSource::Directory("/etc/mail-templates".into())
    );
    vars.push(("TEMPLATE_SOURCE", "kubernetes"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(err.contains("TEMPLATE_DIR"), "{err}");

    let mut vars = MINIMAL.to_vec();
    vars.push(("TEMPLATE_SOURCE", "kubernetes"));
    vars.push(("POD_NAMESPACE", "mail"));
    assert_eq!(
        load(&vars).unwrap().template_source,
        TemplateSource::Kubernetes {
            namespace: Some("mail".into())
        }
    );
    vars.pop();
    vars.pop();
    vars.push(("TEMPLATE_SOURCE", "directory"));
    assert!(load(&vars).is_err(), "directory needs TEMPLATE_DIR");
    vars.pop();
    vars.push(("TEMPLATE_SOURCE", "configmap"));
    assert!(load(&vars).is_err());
}

#[test]
fn retry_delays_parse_and_are_checked() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("RETRY_DELAYS", "200ms, 1s"));
    assert_eq!(
        load(&vars).unwrap().retry_delays,
        [Duration::from_millis(200), Duration::from_secs(1)]
    );
    vars.pop();
    vars.push(("RETRY_DELAYS", "10s,soon"));
    assert!(load(&vars).is_err());
    vars.pop();
    vars.push(("RETRY_DELAYS", "0s"));
    assert!(load(&vars).is_err());
    vars.pop();
    vars.push(("SEND_CLAIM_TTL", "50s"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(err.contains("SEND_CLAIM_TTL"), "{err}");
}

#[test]
fn retry_queue_type_is_classic_or_quorum() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("RETRY_QUEUE_TYPE", "quorum"));
    assert_eq!(
        load(&vars).unwrap().retry_queue_type,
        RetryQueueType::Quorum
    );
    vars.pop();
    vars.push(("RETRY_QUEUE_TYPE", "stream"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(err.contains("RETRY_QUEUE_TYPE"), "{err}");
}

#[test]
fn port_follows_tls_mode_unless_set() {
    let mut vars = MINIMAL.to_vec();
    vars.push(("SMTP_TLS", "none"));
    assert_eq!(load(&vars).unwrap().smtp.port, 25);
    vars.pop();
    vars.push(("SMTP_TLS", "TLS"));
    assert_eq!(load(&vars).unwrap().smtp.port, 465);
    vars.push(("SMTP_PORT", "2525"));
    assert_eq!(load(&vars).unwrap().smtp.port, 2525);
}

#[test]
fn credentials_need_both_halves_and_stay_out_of_debug() {
    use secrecy::ExposeSecret;
    let mut vars = MINIMAL.to_vec();
    vars.push(("SMTP_USERNAME", "mailer"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(
        err.contains("SMTP_USERNAME") && err.contains("SMTP_PASSWORD"),
        "{err}"
    );

    vars.push(("SMTP_PASSWORD", "hunter2 "));
    let c = load(&vars).unwrap();
    let creds = c.smtp.credentials.as_ref().unwrap();
    assert_eq!(
        creds.password.expose_secret(),
        "hunter2 ",
        "secrets are kept verbatim"
    );
    let debug = format!("{c:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("guest:guest") && !debug.contains("sesame"),
        "{debug}"
    );
}

#[test]
fn reports_every_problem() {
    let err = load(&[
        ("SMTP_TLS", "ssl"),
        ("MAIL_FROM", "not a mailbox"),
        ("PREFETCH", "0"),
    ])
    .unwrap_err();
    let names: Vec<_> = err.0.iter().map(|e| e.name.as_str()).collect();
    for name in [
        "AMQP_URL",
        "REDIS_URL",
        "SMTP_HOST",
        "SMTP_TLS",
        "MAIL_FROM",
        "PREFETCH",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn plain_smtp_with_credentials_only_to_loopback() {
    let mut vars: Vec<(&str, &str)> = MINIMAL
        .iter()
        .copied()
        .filter(|(k, _)| *k != "SMTP_HOST")
        .collect();
    vars.extend([
        ("SMTP_TLS", "none"),
        ("SMTP_USERNAME", "mailer"),
        ("SMTP_PASSWORD", "hunter2"),
    ]);
    for host in ["127.0.0.1", "::1", "[::1]", "localhost", "relay.localhost"] {
        let mut with_host = vars.clone();
        with_host.push(("SMTP_HOST", host));
        assert!(load(&with_host).is_ok(), "{host}");
    }
    vars.push(("SMTP_HOST", "smtp.example.com"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(
        err.contains("SMTP_TLS") && err.contains("clear text"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // Without credentials plain SMTP stays allowed (an internal relay that accepts by address).
    vars.retain(|(k, _)| !k.starts_with("SMTP_USERNAME") && !k.starts_with("SMTP_PASSWORD"));
    assert!(load(&vars).is_ok());
}

#[test]
fn smtp_ca_file_is_read_checked_and_needs_tls() {
    let not_pem = std::env::temp_dir().join(format!("not-pem-{}", uuid::Uuid::new_v4()));
    std::fs::write(&not_pem, "hello").unwrap();
    let mut vars = MINIMAL.to_vec();
    vars.push(("SMTP_CA_FILE", not_pem.to_str().unwrap()));
    let err = load(&vars).unwrap_err().to_string();
    assert!(
        err.contains("SMTP_CA_FILE: holds no PEM certificate"),
        "{err}"
    );
    vars.pop();
    vars.push(("SMTP_CA_FILE", "/nonexistent/ca.pem"));
    let err = load(&vars).unwrap_err().to_string();
    assert!(err.contains("SMTP_CA_FILE: cannot be read"), "{err}");
    let _ = std::fs::remove_file(not_pem);
}
