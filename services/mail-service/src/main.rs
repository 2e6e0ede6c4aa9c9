use std::process::ExitCode;

use common::config::Env;
use common::shutdown::Shutdown;
use mail_service::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match common::telemetry::init("mail-service") {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(Env::from_process()) {
        Ok(config) => config,
        Err(e) => {
            // Exit code 2 tells an operator "fix the deployment", not "the service crashed".
            eprintln!("{e}");
            return ExitCode::from(2);
        }
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
