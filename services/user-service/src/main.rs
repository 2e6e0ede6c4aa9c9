use common::config::Env;
use common::shutdown::Shutdown;
use user_service::config::Config;
use user_service::startup::Application;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Both read the environment; every problem of either is reported before exiting.
    let telemetry = common::telemetry::init("user-service");
    let config = Config::from_env(&mut Env::from_process());
    let (telemetry, config) = match (telemetry, config) {
        (Ok(telemetry), Ok(config)) => (telemetry, config),
        (telemetry, config) => {
            let problems = [
                telemetry.err().map(|e| e.to_string()),
                config.err().map(|e| e.to_string()),
            ];
            for problem in problems.into_iter().flatten() {
                eprintln!("user-service: {problem}");
            }
            return std::process::ExitCode::from(2);
        }
    };
    let result = async {
        Application::build(config)
            .await?
            .run_until_stopped(Shutdown::from_signals())
            .await
    }
    .await;
    // The spans of the last requests, before the process ends.
    telemetry.shutdown();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "user-service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
