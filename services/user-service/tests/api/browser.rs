//! The hosted pages in a real Chromium (tests/browser/pages.py, selenium): sign-up and the
//! verification email, login in two browsers and a password change ending the other session,
//! password reset from the email link, two-factor login, CSRF and cross-origin refusals,
//! `return_to`, German, logout; axe-core on every page shown, a screenshot of each distinct
//! one and an index in the report directory (`BROWSER_REPORT_DIR`, default target/browser-report).
//!
//! The application runs here as in the other tests, on a port picked in advance so that its
//! `PUBLIC_URL` (and the email links) can name it, with the mail service sending to the SMTP
//! capture server. scripts/test.sh installs the browser and the tools and sets `BROWSER_PYTHON`
//! (the venv of scripts/requirements-browser.txt) and `AXE_CORE_JS`; without `BROWSER_PYTHON`
//! the test is skipped, except under `CI=true` where it fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::config::Env;
use common::shutdown::Shutdown;
use user_service::config::{Config, RateLimits};

use crate::e2e::{mail_config_with_links, maildir};
use crate::helpers::*;

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The Python of the browser tests' venv, or None (and the reason printed) to skip.
fn browser_python() -> Option<PathBuf> {
    if let Ok(python) = std::env::var("BROWSER_PYTHON") {
        return Some(python.into());
    }
    let why = "BROWSER_PYTHON is not set: scripts/test.sh installs Chromium, chromedriver, \
               selenium (scripts/requirements-browser.txt) and axe-core (tests/browser) and sets it";
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{why}; the browser tests cannot be skipped under CI=true");
    }
    eprintln!("SKIPPED hosted pages in a browser: {why}");
    None
}

#[tokio::test]
async fn hosted_pages_in_a_real_browser() {
    let Some(python) = browser_python() else {
        return;
    };
    let axe = std::env::var("AXE_CORE_JS").map_or_else(
        |_| repo_root().join("tests/browser/node_modules/axe-core/axe.min.js"),
        PathBuf::from,
    );
    assert!(
        axe.is_file(),
        "no axe-core at {} (npm ci in tests/browser, or set AXE_CORE_JS)",
        axe.display()
    );
    let report = std::env::var("BROWSER_REPORT_DIR")
        .map_or_else(|_| repo_root().join("target/browser-report"), PathBuf::from);

    let port = free_port();
    let public_url = format!("http://localhost:{port}");
    // An application that login may return to: the suite serves a page there.
    let return_to_origin = format!("http://127.0.0.1:{}", free_port());
    let mut vars = test_env();
    vars.retain(|(name, _)| {
        !matches!(
            name.as_str(),
            "HTTP_ADDR" | "VERIFY_EMAIL_URL" | "PASSWORD_RESET_URL"
        )
    });
    vars.extend(
        [
            ("HTTP_ADDR", format!("127.0.0.1:{port}")),
            ("PUBLIC_URL", public_url.clone()),
            ("RETURN_TO_ORIGINS", return_to_origin.clone()),
            ("VERIFY_EMAIL_URL", format!("{public_url}/verify-email")),
            ("PASSWORD_RESET_URL", format!("{public_url}/reset-password")),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    let mut config =
        Config::from_env(&mut Env::from_map(vars.into_iter().collect())).expect("valid config");
    config.rate_limits = RateLimits::OFF;
    let app = spawn_with(config).await;
    assert_eq!(app.base, format!("http://127.0.0.1:{port}"));

    let mail = mail_service::Application::build(mail_config_with_links(
        &app.config.amqp.email_queue,
        &app.config.redis.key_prefix,
        &public_url,
    ))
    .await
    .expect("mail-service builds");
    let (mail_stop, mail_shutdown) = Shutdown::new();
    let mail_task = tokio::spawn(mail.run_until_stopped(mail_shutdown));

    let run = tokio::process::Command::new(&python)
        .arg("-u")
        .arg(repo_root().join("tests/browser/pages.py"))
        .arg("--base-url")
        .arg(&public_url)
        .arg("--maildir")
        .arg(maildir())
        .arg("--report-dir")
        .arg(&report)
        .arg("--axe")
        .arg(&axe)
        .arg("--return-to-origin")
        .arg(&return_to_origin)
        .env("SE_OFFLINE", "true")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .expect("the browser tests finish within 15 minutes")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));

    mail_stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), mail_task).await;
    app.finish().await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser tests failed ({}); report in {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status,
        report.display()
    );
    println!("{stdout}");
}
