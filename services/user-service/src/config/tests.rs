use secrecy::ExposeSecret;

use super::*;

#[test]
fn names_every_missing_or_bad_variable() {
    let mut env = Env::from_map(
        [("REDIS_URL", "http://nope"), ("SESSION_TTL", "soon")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    );
    let err = Config::from_env(&mut env).unwrap_err().to_string();
    for name in [
        "MONGODB_URI",
        "REDIS_URL: must start",
        "AMQP_URL",
        "SESSION_TTL",
    ] {
        assert!(err.contains(name), "{name} missing from {err}");
    }
}

#[test]
fn mfa_keys_are_optional_but_checked_when_set() {
    let with_keys = |keys: &str| {
        let mut env = Env::from_map(
            [
                ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
                ("REDIS_URL", "redis://127.0.0.1"),
                ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
                ("MFA_ENCRYPTION_KEYS", keys),
            ]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        );
        Config::from_env(&mut env)
    };
    assert!(with_keys("").unwrap().mfa.keys.is_none());
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let ring = with_keys(&format!("k2:{key}, k1:{key}")).unwrap().mfa.keys;
    assert_eq!(ring.unwrap().current_id(), "k2");
    let err = with_keys(&format!("k1:{}", &key[..20]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("MFA_ENCRYPTION_KEYS"), "{err}");
    assert!(!err.contains(&key[..20]), "{err}");
}

#[test]
fn defaults() {
    let mut env = Env::from_map(
        [
            ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
            ("REDIS_URL", "redis://127.0.0.1"),
            ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect(),
    );
    let c = Config::from_env(&mut env).unwrap();
    assert_eq!(c.amqp.email_queue, "email_queue");
    assert_eq!(c.server.http_addr.port(), 8080);
    assert!(!c.allow_unverified_login);
}

fn base(extra: &[(&str, &str)]) -> Env {
    let mut vars: std::collections::HashMap<String, String> = [
        ("MONGODB_URI", "mongodb://127.0.0.1:27017"),
        ("REDIS_URL", "redis://127.0.0.1"),
        ("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    vars.extend(extra.iter().map(|(k, v)| ((*k).into(), (*v).into())));
    Env::from_map(vars)
}

#[test]
fn admin_api_needs_its_own_port_and_tokens() {
    let c = Config::from_env(&mut base(&[])).unwrap();
    assert!(c.admin_api.addr.is_none() && c.admin_api.tokens.is_empty());
    let token = "ops:0123456789abcdef0123456789abcdef";
    let c = Config::from_env(&mut base(&[
        ("ADMIN_API_ADDR", "127.0.0.1:9091"),
        ("ADMIN_API_TOKENS", token),
    ]))
    .unwrap();
    assert_eq!(c.admin_api.addr.unwrap().port(), 9091);
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
    for (vars, expected) in [
        (
            vec![("ADMIN_API_ADDR", "127.0.0.1:9091")],
            "ADMIN_API_TOKENS: is required",
        ),
        (vec![("ADMIN_API_TOKENS", token)], "ADMIN_API_ADDR is not"),
        (
            vec![
                ("ADMIN_API_ADDR", "0.0.0.0:9090"),
                ("ADMIN_API_TOKENS", token),
            ],
            "ADMIN_API_ADDR: must differ",
        ),
        (
            vec![
                ("ADMIN_API_ADDR", "127.0.0.1:9091"),
                ("ADMIN_API_TOKENS", "ops:x"),
            ],
            "ADMIN_API_TOKENS: token `ops` must be",
        ),
    ] {
        let err = Config::from_env(&mut base(&vars)).unwrap_err().to_string();
        assert!(err.contains(expected), "{expected} not in {err}");
    }
}

#[test]
fn debug_output_holds_no_password() {
    let mut env = Env::from_map(
        [
            ("MONGODB_URI", "mongodb://app:mongo-pw@127.0.0.1:27017"),
            ("REDIS_URL", "redis://app:redis-pw@127.0.0.1"),
            ("AMQP_URL", "amqp://app:amqp-pw@127.0.0.1:5672/%2f"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect(),
    );
    let c = Config::from_env(&mut env).unwrap();
    let debug = format!("{c:?}");
    for secret in ["mongo-pw", "redis-pw", "amqp-pw"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert_eq!(
        c.amqp.url.expose_secret(),
        "amqp://app:amqp-pw@127.0.0.1:5672/%2f"
    );
}

#[test]
fn emailed_links_must_be_https_except_to_loopback() {
    let with_link = |url: &str| {
        Config::from_env(&mut base(&[("PASSWORD_RESET_URL", url)]))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    for ok in [
        "https://app.example.com/reset",
        "http://localhost:3000/reset",
        "http://127.0.0.1:8080/reset-password",
        "http://[::1]/reset",
    ] {
        assert_eq!(with_link(ok), Ok(()), "{ok}");
    }
    for bad in [
        "http://app.example.com/reset",
        "ftp://app.example.com/",
        "app.example.com",
    ] {
        let err = with_link(bad).unwrap_err();
        assert!(
            err.contains("PASSWORD_RESET_URL") && err.contains("https"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn the_wait_for_replicas_ends_before_the_client_gives_up() {
    let with_wait = |timeout: &str| {
        let mut env = base(&[
            ("REDIS_WAIT_REPLICAS", "1"),
            ("REDIS_WAIT_TIMEOUT", timeout),
        ]);
        Config::from_env(&mut env)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(with_wait("1500ms"), Ok(()));
    let err = with_wait("2s").unwrap_err();
    assert!(
        err.contains("REDIS_WAIT_TIMEOUT: must be below 2s"),
        "{err}"
    );
}
