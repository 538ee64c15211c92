//! `nsagentd`: see the crate documentation.

use clap::Parser;
use nsagent_agentd::{Args, DaemonConfig};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("NSAGENT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match DaemonConfig::resolve(Args::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nsagentd: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match nsagent_agentd::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
