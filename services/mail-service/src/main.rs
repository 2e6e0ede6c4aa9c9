use std::process::ExitCode;

use common::config::Env;
use common::shutdown::Shutdown;
use mail_service::{Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    // Both read the environment; every problem of either is reported before exiting. Exit code
    // 2 tells an operator "fix the deployment", not "the service crashed".
    let telemetry = common::telemetry::init("mail-service");
    let config = Config::load(Env::from_process());
    let (telemetry, config) = match (telemetry, config) {
        (Ok(telemetry), Ok(config)) => (telemetry, config),
        (telemetry, config) => {
            let problems = [
                telemetry.err().map(|e| e.to_string()),
                config.err().map(|e| e.to_string()),
            ];
            for problem in problems.into_iter().flatten() {
                eprintln!("{problem}");
            }
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
