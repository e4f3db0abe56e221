//! The `benchmon` binary: the server and its command-line tools.

use benchmon::config::{ServeArgs, Settings};
use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

/// Monitoring sessions for HPC benchmarks: Prometheus as a SLURM job, windowed collection.
#[derive(Parser)]
#[command(name = "benchmon", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the benchmon server.
    Serve(ServeArgs),
    /// Print the OpenAPI document.
    Openapi,
    /// Collect a time window from any Prometheus into a bundle directory.
    Export(Box<benchmon::cli::export::ExportArgs>),
    /// Compare a candidate bundle's KPIs with a baseline's; exit 3 on a regression.
    Compare(benchmon::cli::compare::CompareArgs),
    /// Write the KPIs of many bundles as one table (CSV and Parquet) for change-point tools.
    History(benchmon::cli::compare::HistoryArgs),
    /// Print a shell completion script, e.g. `benchmon completions bash > /etc/bash_completion.d/benchmon`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `benchmon man > /usr/local/share/man/man1/benchmon.1`.
    Man,
    #[command(flatten)]
    Client(benchmon::cli::ClientCommand),
}

/// Exit codes: 0 ok, 1 an error (a server problem, no server, a failed serve), 2 usage; `collect`
/// also 3 (bundle written, verdict `partial`, without `--allow-partial`), 4 (verdict `empty`) and
/// 5 (a `--threshold` failed); `compare` 3 (a regression).
#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    // Large buffers mapped on their own, so collections leave no fragmented arenas behind.
    benchmon::memory::fix_mmap_threshold();
    let cli = Cli::parse();
    match cli.command {
        Command::Client(cmd) => Ok(benchmon::cli::run(cmd).await),
        Command::Compare(args) => Ok(benchmon::cli::compare::compare_command(args).await),
        Command::History(args) => Ok(benchmon::cli::compare::history_command(args)),
        Command::Completions { shell } => {
            // Into a buffer first: the generator panics on a write error (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "benchmon", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        command => server(command).await.map(|()| ExitCode::SUCCESS),
    }
}

async fn server(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            benchmon::telemetry::init_logging();
            let mut settings = Settings::from_args(&args)?;
            let listener = tokio::net::TcpListener::bind(settings.listen).await?;
            // With port 0 the kernel picks; everything after this sees the real address.
            settings.listen = listener.local_addr()?;
            let addr = listener.local_addr()?;
            tracing::info!(
                "benchmon {} listening on http://{addr} (launcher {:?}): web view http://{addr}/, \
                 API http://{addr}/api/v1, docs http://{addr}/docs, metrics http://{addr}/metrics",
                env!("CARGO_PKG_VERSION"),
                settings.launcher
            );
            let app = benchmon::startup::build(settings).await?;
            benchmon::startup::serve(app, listener, benchmon::startup::shutdown_signal()).await
        }
        Command::Export(args) => benchmon::cli::export::run_export(*args).await,
        Command::Openapi => {
            println!("{}", benchmon::api::openapi().to_pretty_json()?);
            Ok(())
        }
        Command::Client(_)
        | Command::Compare(_)
        | Command::History(_)
        | Command::Completions { .. }
        | Command::Man => Ok(()),
    }
}
