//! A client generated from the published documents drives the whole public account lifecycle
//! (signup, confirmation, login, profile, email and password changes, two-factor enrolment
//! and login, logout, deletion) and an admin flow against this service, with the mail service
//! delivering the emails to the SMTP capture server: tests/client/lifecycle.py, with
//! openapi-python-client and pyotp pinned in scripts/requirements-client.txt.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::shutdown::Shutdown;
use reqwest::Method;
use serde_json::Value;

use crate::admin::{OPS_TOKEN, spawn_admin_app};
use crate::e2e::{mail_config, maildir};

/// Where scripts/test.sh installs the client tools, unless `CLIENT_PYTHON` names the Python.
fn client_python() -> PathBuf {
    if let Ok(path) = std::env::var("CLIENT_PYTHON") {
        return path.into();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.run/venv-client/bin/python");
    assert!(
        path.exists(),
        "the client tools are not installed: run scripts/test.sh (it installs them) or set \
         CLIENT_PYTHON"
    );
    path
}

#[tokio::test]
async fn a_generated_client_drives_the_public_lifecycle_and_an_admin_flow() {
    let app = spawn_admin_app().await;
    let mail = mail_service::Application::build(mail_config(
        &app.config.amqp.email_queue,
        &app.config.redis.key_prefix,
    ))
    .await
    .expect("mail-service builds");
    let (mail_stop, mail_shutdown) = Shutdown::new();
    let mail_task = tokio::spawn(mail.run_until_stopped(mail_shutdown));

    let work = std::env::temp_dir().join(format!("generated-client-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).unwrap();
    let public: Value = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = app.admin_json(Method::GET, "/admin/openapi.json").await;
    let (public_doc, admin_doc) = (work.join("openapi.json"), work.join("admin-openapi.json"));
    std::fs::write(&public_doc, public.to_string()).unwrap();
    std::fs::write(&admin_doc, admin.to_string()).unwrap();

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/client/lifecycle.py");
    let output = tokio::process::Command::new(client_python())
        .arg(script)
        .arg("--public-doc")
        .arg(&public_doc)
        .arg("--admin-doc")
        .arg(&admin_doc)
        .args(["--base", &app.base, "--admin-base", &app.admin_api])
        .args(["--admin-token", OPS_TOKEN])
        .arg("--maildir")
        .arg(maildir())
        .arg("--work")
        .arg(work.join("generated"))
        .stdin(Stdio::null())
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output)
        .await
        .expect("the lifecycle ends within 5 minutes")
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the generated client's lifecycle failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);

    mail_stop.trigger();
    let _ = tokio::time::timeout(Duration::from_secs(10), mail_task).await;
    app.finish().await;
}
