use secrecy::ExposeSecret;

use super::*;

fn parse(pairs: &[(&str, &str)]) -> Result<RedisConnectionSettings, String> {
    let mut env = Env::from_pairs(pairs);
    let settings = RedisConnectionSettings::from_env(&mut env);
    env.finish().map(|()| settings).map_err(|e| e.to_string())
}

#[test]
fn standalone_takes_redis_and_rediss_urls() {
    let plain = parse(&[("REDIS_URL", "redis://:pw@127.0.0.1:6379")]).unwrap();
    assert!(!plain.tls);
    assert_eq!(plain.mode_name(), "standalone");
    let tls = parse(&[("REDIS_URL", "rediss://cache.example.com:6380")]).unwrap();
    assert!(
        tls.tls && tls.tls_files.certificates().is_none(),
        "system roots"
    );
    let err = parse(&[("REDIS_URL", "http://:hunter2@x")]).unwrap_err();
    assert!(err.contains("REDIS_URL: must start with"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let err = parse(&[]).unwrap_err();
    assert!(err.contains("REDIS_URL: is required"), "{err}");
}

#[test]
fn sentinel_needs_addresses_and_a_master_name() {
    let s = parse(&[
        ("REDIS_MODE", "sentinel"),
        ("REDIS_SENTINELS", "10.0.0.1:26379, sentinel-2, [::1]:26380"),
        ("REDIS_SENTINEL_MASTER", "mymaster"),
        ("REDIS_SENTINEL_PASSWORD", "s-secret"),
        ("REDIS_PASSWORD", "d-secret"),
    ])
    .unwrap();
    let RedisTopology::Sentinel {
        sentinels,
        master,
        sentinel_auth,
        sentinel_tls,
    } = &s.topology
    else {
        panic!("sentinel mode");
    };
    assert_eq!(master, "mymaster");
    assert!(!sentinel_tls);
    assert_eq!(
        sentinels[1],
        NodeAddr {
            host: "sentinel-2".into(),
            port: 26379
        }
    );
    assert_eq!(
        sentinels[2],
        NodeAddr {
            host: "::1".into(),
            port: 26380
        }
    );
    assert_eq!(
        sentinel_auth.password.as_ref().unwrap().expose_secret(),
        "s-secret"
    );
    assert!(!format!("{s:?}").contains("secret"), "{s:?}");
    let err = parse(&[
        ("REDIS_MODE", "sentinel"),
        ("REDIS_SENTINELS", "redis://x:1"),
    ])
    .unwrap_err();
    assert!(err.contains("REDIS_SENTINELS: expected host:port"), "{err}");
    assert!(err.contains("REDIS_SENTINEL_MASTER: is required"), "{err}");
}

#[test]
fn cluster_needs_seeds_and_mixed_settings_are_refused() {
    let c = parse(&[
        ("REDIS_MODE", "cluster"),
        ("REDIS_CLUSTER_NODES", "a:7000,b:7001"),
        ("REDIS_TLS", "true"),
    ])
    .unwrap();
    assert!(c.tls);
    assert_eq!(c.mode_name(), "cluster");
    let err = parse(&[
        ("REDIS_MODE", "cluster"),
        ("REDIS_URL", "redis://x"),
        ("REDIS_SENTINEL_MASTER", "m"),
    ])
    .unwrap_err();
    for name in [
        "REDIS_CLUSTER_NODES: is required",
        "REDIS_URL: is for",
        "REDIS_SENTINEL_MASTER",
    ] {
        assert!(err.contains(name), "{name} missing from {err}");
    }
    let err = parse(&[
        ("REDIS_URL", "redis://x"),
        ("REDIS_TLS", "true"),
        ("REDIS_PASSWORD", "p"),
    ])
    .unwrap_err();
    assert!(
        err.contains("REDIS_TLS: applies") && err.contains("REDIS_PASSWORD: applies"),
        "{err}"
    );
    let err = parse(&[("REDIS_MODE", "cluser")]).unwrap_err();
    assert!(err.contains("REDIS_MODE: invalid value"), "{err}");
}

#[test]
fn tls_files_are_checked_at_start_up() {
    let dir = std::env::temp_dir().join(format!("redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let not_pem = not_pem.to_str().unwrap();
    let err = parse(&[("REDIS_URL", "redis://x"), ("REDIS_CA_FILE", not_pem)]).unwrap_err();
    assert!(
        err.contains("REDIS_CA_FILE: is set but no connection uses TLS"),
        "{err}"
    );
    let err = parse(&[("REDIS_URL", "rediss://x"), ("REDIS_CA_FILE", not_pem)]).unwrap_err();
    assert!(
        err.contains("REDIS_CA_FILE: holds no PEM certificate"),
        "{err}"
    );
    let err = parse(&[
        ("REDIS_URL", "rediss://x"),
        ("REDIS_CA_FILE", "/nonexistent/ca.pem"),
    ])
    .unwrap_err();
    assert!(err.contains("REDIS_CA_FILE: cannot be read"), "{err}");
    let err = parse(&[
        ("REDIS_URL", "rediss://x"),
        ("REDIS_CLIENT_CERT_FILE", not_pem),
    ])
    .unwrap_err();
    assert!(
        err.contains("REDIS_CLIENT_KEY_FILE: is required when"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_prefixes_hold_no_hash_tag() {
    let mut env = Env::from_pairs(&[("REDIS_KEY_PREFIX", "app{1}:")]);
    key_prefix(&mut env);
    assert!(
        env.finish()
            .unwrap_err()
            .to_string()
            .contains("REDIS_KEY_PREFIX")
    );
    let mut env = Env::from_pairs(&[]);
    assert_eq!(key_prefix(&mut env), "up:");
}
