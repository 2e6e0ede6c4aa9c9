//! `user-service admin ...` against a running admin API.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use user_service::cli::client::{Target, split_as};

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::helpers::*;

async fn cli(app: &TestApp, line: &str, token: &str) -> (u8, String, String) {
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let target = Target {
        url: app.admin_api.clone(),
        token: SecretString::from(token),
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = user_service::cli::run(&args, Ok(target), &mut out, &mut err).await;
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[tokio::test]
async fn the_cli_lists_inspects_and_disables_users() {
    let app = spawn_admin_app().await;
    let email = app.verified_user().await;
    let token = app.session(&email, PASSWORD).await;
    let id = app.user_id_of(&token).await;
    let other = app.verified_user().await;

    let prefix = &email[..12];
    let (status, out, _) = cli(
        &app,
        &format!("users list --email-prefix {prefix} --all"),
        OPS_TOKEN,
    )
    .await;
    assert_eq!(status, 0);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["email"], email.as_str());
    let (_, out, _) = cli(&app, "users list --limit 1 --all", OPS_TOKEN).await;
    assert_eq!(out.lines().count(), 2, "follows the cursor: {out}");
    assert!(out.contains(&other));

    let (status, out, _) = cli(&app, &format!("users get {id}"), OPS_TOKEN).await;
    assert_eq!(status, 0);
    let user: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(user["active_sessions"], 1);

    let (status, _, err) = cli(&app, &format!("users remove-mfa {id}"), OPS_TOKEN).await;
    assert_eq!(
        (status, err.contains("409 mfa_not_enabled")),
        (1, true),
        "{err}"
    );
    let (status, out, _) = cli(&app, &format!("passkeys list {id}"), OPS_TOKEN).await;
    assert_eq!(status, 0);
    let passkeys: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(passkeys["passkeys"], serde_json::json!([]));
    let (status, _, err) = cli(&app, &format!("passkeys remove {id} AAAA"), OPS_TOKEN).await;
    assert_eq!((status, err.contains("404")), (1, true), "{err}");
    let (status, _, _) = cli(&app, &format!("users disable {id}"), OPS_TOKEN).await;
    assert_eq!(status, 0);
    assert_eq!(app.auth_check(&token).await, 401);

    let (status, _, err) = cli(
        &app,
        &format!("users enable {id}"),
        "wrong-token-0123456789abcdef0123456789",
    )
    .await;
    assert_eq!(status, 1);
    assert!(err.contains("401 unauthorized"), "{err}");
    let (status, _, err) = cli(&app, &format!("users delete {id}"), OPS_TOKEN).await;
    assert_eq!(status, 2, "delete needs --yes");
    assert!(err.contains("--yes"));
    let (status, _, _) = cli(&app, &format!("users delete {id} --yes"), OPS_TOKEN).await;
    assert_eq!(status, 0);
    let (status, _, err) = cli(&app, &format!("users get {id}"), OPS_TOKEN).await;
    assert_eq!((status, err.contains("404 not_found")), (1, true), "{err}");
    app.finish().await;
}

#[test]
fn the_target_comes_from_the_environment() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(Target::from_env(env(&[]), None).is_err());
    let t = Target::from_env(
        env(&[("ADMIN_API_TOKEN", "t"), ("ADMIN_API_ADDR", "0.0.0.0:9300")]),
        None,
    )
    .unwrap();
    assert_eq!(t.url, "http://127.0.0.1:9300");
    assert_eq!(t.token.expose_secret(), "t");
    let t = Target::from_env(
        env(&[("ADMIN_API_TOKEN", "t"), ("ADMIN_API_URL", "http://x:1/")]),
        None,
    )
    .unwrap();
    assert_eq!(t.url, "http://x:1");
    // Inside the pod: one of the service's own tokens.
    let pod = env(&[("ADMIN_API_TOKENS", "ops:secret-one, ci:secret-two")]);
    let t = Target::from_env(pod, Some("ci")).unwrap();
    assert_eq!(t.token.expose_secret(), "secret-two");
    let err = Target::from_env(pod, None).err().unwrap();
    assert!(err.contains("--as"), "{err}");
    let err = Target::from_env(pod, Some("nobody")).err().unwrap();
    assert!(!err.contains("secret"), "{err}");
    let args: Vec<String> = ["--as", "ci", "users", "get", "u1"]
        .map(String::from)
        .to_vec();
    let (name, rest) = split_as(&args);
    assert_eq!((name, rest.len()), (Some("ci"), 3));
}
