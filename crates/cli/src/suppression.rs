//! `optout-relay suppression export|check`: reading the reference receiver's suppression list.

use optout_receiver::{ExportFormat, ReceiverError, SuppressionStore};
use std::io::{self, BufWriter};
use std::process::ExitCode;

use crate::cli::{ExportFormatArg, SuppressionCommand};

/// Exit status of `check` for a value that is not on the list.
const NOT_SUPPRESSED: u8 = 1;
/// Exit status of any failure: distinct from "not suppressed", so that a wrong `--store` never
/// reads as permission to contact someone.
const FAILED: u8 = 2;

/// Runs the subcommand; its exit status is the answer (see [`NOT_SUPPRESSED`], [`FAILED`]).
pub async fn run(command: SuppressionCommand) -> ExitCode {
    match answer(command).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(FAILED)
        }
    }
}

async fn answer(command: SuppressionCommand) -> Result<ExitCode, ReceiverError> {
    match command {
        SuppressionCommand::Export(args) => {
            let store = SuppressionStore::open_existing(&args.store.store).await?;
            let format = match args.format {
                ExportFormatArg::Csv => ExportFormat::Csv,
                ExportFormatArg::Ndjson => ExportFormat::Ndjson,
            };
            let mut out = BufWriter::new(io::stdout().lock());
            let exported = store.export(format, &mut out).await;
            store.close().await;
            match exported {
                // `export | head` closing the pipe early is not a failure.
                Err(ReceiverError::Write(error)) if error.kind() == io::ErrorKind::BrokenPipe => {}
                Err(error) => return Err(error),
                Ok(_) => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        SuppressionCommand::Check(args) => {
            let store = SuppressionStore::open_existing(&args.store.store).await?;
            let suppressed = store.is_suppressed(&args.value).await;
            store.close().await;
            if suppressed? {
                println!("suppressed");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("not suppressed");
                Ok(ExitCode::from(NOT_SUPPRESSED))
            }
        }
    }
}
