use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = civic311::cli::Cli::parse();
    civic311::telemetry::init();
    civic311::cli::run(cli).await
}
