use common::config::Env;
use common::shutdown::Shutdown;
use user_service::config::Config;
use user_service::startup::Application;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let (telemetry, config) =
        match common::telemetry::start(
            "user-service",
            || Config::from_env(&mut Env::from_process()),
        ) {
            Ok(started) => started,
            Err(code) => return code,
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
