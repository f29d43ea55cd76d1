//! `optout-relay verify`: checks one captured request's Lusha signature, body on stdin.

use optout_webhook::{header, Secret, Verifier, VerifyError};
use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::cli::VerifyArgs;

/// Exit status when the body cannot even be read (1 means "invalid").
const FAILED: u8 = 2;

/// Prints `valid` and exits 0, or prints `invalid: <reason>` and exits 1.
pub fn run(args: &VerifyArgs) -> ExitCode {
    let mut body = Vec::new();
    if let Err(error) = std::io::stdin().lock().read_to_end(&mut body) {
        eprintln!("error: cannot read the body from stdin: {error}");
        return ExitCode::from(FAILED);
    }
    let tolerance = if args.no_tolerance {
        Duration::MAX
    } else {
        Duration::from_secs(args.tolerance_secs)
    };
    let secrets = args.secrets.secrets.iter().map(Secret::new).collect();
    let verifier = Verifier::new(secrets).with_tolerance(tolerance);
    let lookup = |name: &str| {
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
        if is(header::SIGNATURE) {
            Some(args.signature.as_str())
        } else if is(header::TIMESTAMP) {
            Some(args.timestamp.as_str())
        } else if is(header::SIGNATURE_PREVIOUS) {
            args.previous_signature.as_deref()
        } else {
            None
        }
    };
    match verifier.verify_lusha(lookup, &body) {
        Ok(()) => {
            println!("valid");
            ExitCode::SUCCESS
        }
        Err(error) => {
            println!("invalid: {error}");
            if matches!(error, VerifyError::TooOld | VerifyError::TooNew) {
                eprintln!("hint: for a request captured earlier, pass --no-tolerance");
            } else if body.ends_with(b"\n") {
                eprintln!(
                    "hint: the body ends with a newline; `echo` adds one, `printf '%s'` does not"
                );
            }
            ExitCode::FAILURE
        }
    }
}
