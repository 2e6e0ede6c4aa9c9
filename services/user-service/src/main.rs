use common::config::Env;
use common::shutdown::Shutdown;
use user_service::config::Config;
use user_service::startup::Application;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("admin") {
        // The admin API's client (`user-service admin ...`), not the server.
        use user_service::cli::client::{Target, split_as};
        let (as_name, rest) = split_as(&args[1..]);
        let target = Target::from_env(|name| std::env::var(name).ok(), as_name);
        let status =
            user_service::cli::run(rest, target, &mut std::io::stdout(), &mut std::io::stderr())
                .await;
        return std::process::ExitCode::from(status);
    }
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
