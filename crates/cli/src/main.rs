//! `optout-relay`: the binary. It parses the command line, sets up logging, and hands each
//! subcommand to its module; it holds no logic of its own.
//!
//! Design decision a newcomer may question: subcommands that change data (`account create`)
//! work straight on the database instead of calling a running server, so an operator can
//! bootstrap the first account before anything is listening.

mod account;
mod admin_token;
mod backup;
mod bench;
mod cli;
mod database;
mod delivery;
mod demo;
mod import;
mod master_key;
mod opt_out;
mod private_file;
mod receive;
mod retention;
mod serve;
mod signals;
mod suppression;
mod verify;
mod writer_priority;

use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, LogFormat};

/// The service allocates and frees small buffers for every request and delivery from several
/// threads at once; mimalloc does that with less contention and less CPU than the system
/// allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The benchmark prints its own figures, per-request logs would only slow it down; the
    // demo's live view would drown in the embedded service's logs.
    let default_level = if matches!(cli.command, Command::Bench(_) | Command::Demo) {
        "warn"
    } else {
        "info"
    };
    init_logging(default_level, cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        // Their exit status is the answer (0 yes, 1 no, 2 error, as grep's), so they report
        // their own errors.
        Command::Suppression(command) => return Ok(suppression::run(command).await),
        Command::Verify(args) => return Ok(verify::run(&args)),
        Command::Serve(args) => serve::run(args).await?,
        Command::Worker(args) => delivery::run_worker(args).await?,
        Command::Exposures(cli::ExposuresCommand::Import(args)) => {
            import::import_exposures(args).await?;
        }
        Command::OptOut(args) => opt_out::run(args).await?,
        Command::OptOuts(cli::OptOutsCommand::Import(args)) => {
            import::import_opt_outs(args).await?;
        }
        Command::Account(command) => account::run(command).await?,
        Command::Migrate(args) => {
            database::open(&args.database_url, database::Migrations::Apply).await?;
            println!("migrations applied");
        }
        Command::Backup(args) => backup::run(args).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::Openapi => println!("{}", optout_server::openapi_document()),
        Command::MasterKey(command) => master_key::run(command),
        Command::Receive(args) => receive::run(args).await?,
        Command::Demo => demo::run().await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `default_level`).
fn init_logging(default_level: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
}
