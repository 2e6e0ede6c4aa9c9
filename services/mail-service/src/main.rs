use std::process::ExitCode;

use common::config::Env;
use common::shutdown::Shutdown;
use mail_service::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let (telemetry, config) =
        match common::telemetry::start("mail-service", || Config::load(Env::from_process())) {
            Ok(started) => started,
            Err(code) => return code,
        };
    let shutdown = Shutdown::from_signals();
    let result = match Application::build(config).await {
        Ok(app) => app.run_until_stopped(shutdown).await,
        Err(e) => Err(e),
    };
    // The spans of the last messages, before the process ends.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mail service failed");
            ExitCode::FAILURE
        }
    }
}
