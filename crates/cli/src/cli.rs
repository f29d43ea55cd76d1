//! The command line: subcommands and their flags, each flag with an `OPTOUT_RELAY_*` twin.

use clap::{Args, Parser, Subcommand, ValueEnum};
use optout_core::Cidr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::retention::RetentionArgs;

/// Where the embedded database lives when no URL is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/optout-relay.db";
/// Where the reference receiver keeps its suppression list when no path is given.
pub const DEFAULT_RECEIVER_STORE: &str = "receiver/suppressions.db";

/// optout-relay: propagates data opt-outs, as signed webhooks, to every account that received
/// the person's data.
#[derive(Debug, Parser)]
#[command(name = "optout-relay", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,

    /// Log line format on stderr: `text` for people, `json` (one object per line) for log
    /// collectors. Which lines are written is set by `RUST_LOG` (default `info`).
    #[arg(long, global = true, env = "OPTOUT_RELAY_LOG_FORMAT", value_enum,
          default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server and the delivery engine.
    Serve(ServeArgs),
    /// Run only the delivery engine (no API).
    Worker(WorkerArgs),
    /// Record exposures straight in the database.
    #[command(subcommand)]
    Exposures(ExposuresCommand),
    /// Record one opt-out straight in the database.
    OptOut(OptOutArgs),
    /// Record opt-outs in bulk straight in the database.
    #[command(subcommand)]
    OptOuts(OptOutsCommand),
    /// Manage customer accounts directly in the database.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Copy the SQLite database to a new file while the service runs (a consistent snapshot).
    Backup(BackupArgs),
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Master keys that seal account secrets at rest.
    #[command(subcommand)]
    MasterKey(MasterKeyCommand),
    /// Measure end-to-end throughput and latency on this machine (temporary database).
    Bench(BenchArgs),
    /// Run the reference receiver: answer URL challenges, verify deliveries, and keep the
    /// opted-out datapoints on a suppression list (SQLite).
    Receive(ReceiveArgs),
    /// Read the reference receiver's suppression list.
    #[command(subcommand)]
    Suppression(SuppressionCommand),
    /// Check a delivery's X-Lusha-Signature against a secret; the raw body is read from stdin.
    Verify(VerifyArgs),
    /// See the whole flow live in about 15 seconds, with nothing to set up.
    ///
    /// A service on a temporary SQLite database and two reference receivers start in this
    /// process on 127.0.0.1; two accounts subscribe; exposures and three opt-outs are recorded
    /// through the HTTP API; each delivery attempt is shown as it happens, a simulated receiver
    /// outage and its retries included; then the compliance record of each opt-out. Everything
    /// is removed on exit. Exit status 0 when every notice was delivered, 1 if not (it gives up
    /// after 50 seconds).
    Demo,
}

/// Which database to use.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (the embedded default) or `postgres://USER@HOST/DB`
    /// (several nodes sharing one database).
    #[arg(long, env = "OPTOUT_RELAY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// `backup`: where the copy goes.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The file to write: it must not exist yet. Restore by stopping the service and putting
    /// this file in place of the database (with no `-wal`/`-shm` files beside it).
    #[arg(long, value_name = "FILE")]
    pub to: std::path::PathBuf,
}

/// The master keys that seal account webhook secrets at rest.
#[derive(Debug, Args)]
pub struct MasterKeyArgs {
    /// Master keys sealing account webhook secrets in the database: base64 of 32 bytes each
    /// (`optout-relay master-key generate`), comma-separated. The first seals, all open: to
    /// rotate, put the new key first and the old one after it. If unset with SQLite, one is
    /// generated on first start and kept in `<data dir>/master-key` (mode 0600). Required with
    /// PostgreSQL: every node sharing the database must have the same keys.
    #[arg(
        long,
        env = "OPTOUT_RELAY_MASTER_KEY",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub master_key: Option<String>,
}

/// `master-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random master key (base64 of 32 bytes) for `--master-key`.
    Generate,
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "OPTOUT_RELAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Bearer token of the admin API. If unset, one is generated on first start and kept in
    /// `<data dir>/admin-token` (mode 0600).
    #[arg(long, env = "OPTOUT_RELAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,

    /// Accept `http://` webhook URLs (development only).
    #[arg(long, env = "OPTOUT_RELAY_ALLOW_INSECURE_URLS")]
    pub allow_insecure_urls: bool,

    #[command(flatten)]
    pub targets: TargetArgs,

    /// Do not challenge webhook URLs when they are registered or changed.
    #[arg(long, env = "OPTOUT_RELAY_NO_URL_CHALLENGE")]
    pub no_url_challenge: bool,

    /// Do not apply pending migrations on start (PostgreSQL; run `optout-relay migrate` first).
    #[arg(long, env = "OPTOUT_RELAY_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Do not run the delivery engine in this process (run `worker` elsewhere).
    #[arg(long, env = "OPTOUT_RELAY_NO_DELIVERY")]
    pub no_delivery: bool,

    /// Requests per minute each account may make to the account API (429 beyond); 0 turns the
    /// limit off. With PostgreSQL the count is shared by all nodes.
    #[arg(
        long,
        env = "OPTOUT_RELAY_RATE_LIMIT",
        default_value_t = 100,
        value_name = "N"
    )]
    pub rate_limit: u32,

    /// Time a client has to send a request's head before its connection is closed.
    #[arg(long, env = "OPTOUT_RELAY_HEADER_TIMEOUT", default_value = "10s",
          value_name = "DURATION", value_parser = parse_duration)]
    pub header_timeout: Duration,

    /// Time a client has to send a request body before it gets 408.
    #[arg(long, env = "OPTOUT_RELAY_BODY_TIMEOUT", default_value = "30s",
          value_name = "DURATION", value_parser = parse_duration)]
    pub body_timeout: Duration,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// Which addresses webhooks may reach (the SSRF guard); public addresses always may.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Accept webhook targets on loopback, private and every other non-public address
    /// (development and tests only).
    #[arg(long, env = "OPTOUT_RELAY_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,

    /// Also accept webhook targets in this address range, e.g. `10.0.0.0/8`, `fd00::/8` or
    /// `192.0.2.7` (one address). Repeatable; comma-separated in the environment.
    #[arg(
        long = "allow-target",
        value_name = "CIDR",
        env = "OPTOUT_RELAY_ALLOW_TARGETS",
        value_delimiter = ',',
        value_parser = parse_cidr
    )]
    pub allowed_targets: Vec<Cidr>,
}

/// How notices are delivered.
#[derive(Debug, Args)]
pub struct DeliveryArgs {
    /// Delays between attempts; after the last retry fails the subscription is disabled.
    #[arg(long, env = "OPTOUT_RELAY_RETRY_SCHEDULE", default_value = "30s,2m,8m",
          value_parser = parse_schedule)]
    pub retry_schedule: RetrySchedule,

    /// Timeout of one delivery attempt, connection included.
    #[arg(long, env = "OPTOUT_RELAY_ATTEMPT_TIMEOUT", default_value = "10s",
          value_parser = parse_duration)]
    pub attempt_timeout: Duration,

    /// Deliveries in flight at once, across all subscriptions.
    #[arg(long, env = "OPTOUT_RELAY_DELIVERY_CONCURRENCY", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub delivery_concurrency: u32,

    /// Deliveries in flight at once to one subscription.
    #[arg(long, env = "OPTOUT_RELAY_SUBSCRIPTION_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub subscription_concurrency: u32,

    /// `User-Agent` of deliveries and URL challenges.
    #[arg(long, env = "OPTOUT_RELAY_USER_AGENT", default_value = optout_server::config::DEFAULT_USER_AGENT)]
    pub user_agent: String,

    /// Leave out the Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature).
    #[arg(long, env = "OPTOUT_RELAY_NO_STANDARD_WEBHOOKS")]
    pub no_standard_webhooks: bool,
}

/// Flags of `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub targets: TargetArgs,

    #[command(flatten)]
    pub master_key: MasterKeyArgs,

    #[command(flatten)]
    pub delivery: DeliveryArgs,

    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// `exposures` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExposuresCommand {
    /// Import exposures from an NDJSON file (one exposure object per line).
    Import(ImportArgs),
}

/// `opt-outs` subcommands.
#[derive(Debug, Subcommand)]
pub enum OptOutsCommand {
    /// Import opt-outs from an NDJSON file (one opt-out object per line).
    Import(ImportArgs),
}

/// Flags of the import commands.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The NDJSON file.
    pub file: PathBuf,

    /// Hide the progress bar.
    #[arg(long)]
    pub quiet: bool,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Flags of `opt-out`.
#[derive(Debug, Args)]
pub struct OptOutArgs {
    /// The contact who opted out.
    #[arg(long)]
    pub contact_id: String,

    /// Their full name.
    #[arg(long)]
    pub full_name: String,

    /// Their company.
    #[arg(long)]
    pub company_name: Option<String>,

    /// Their job title.
    #[arg(long)]
    pub job_title: Option<String>,

    /// Their LinkedIn profile URL.
    #[arg(long)]
    pub linkedin_url: Option<String>,

    /// When they opted out (RFC 3339; default: now).
    #[arg(long)]
    pub opted_out_at: Option<String>,

    /// Narrow the opt-out to this datapoint, as `email:VALUE` or `phone:VALUE` (repeatable).
    #[arg(long = "datapoint")]
    pub datapoints: Vec<String>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// The account's webhook secrets, for the receiver side.
#[derive(Debug, Args)]
pub struct ReceiverSecretArgs {
    /// The account's webhook secret (`whsec_...`). Repeat the flag (or separate them with commas
    /// in the environment) to accept old and new secret during a rotation.
    #[arg(
        long = "secret",
        value_name = "SECRET",
        env = "OPTOUT_RELAY_RECEIVER_SECRET",
        hide_env_values = true,
        required = true,
        value_delimiter = ','
    )]
    pub secrets: Vec<String>,
}

/// Where the reference receiver's suppression list lives.
#[derive(Debug, Args)]
pub struct ReceiverStoreArgs {
    /// The receiver's SQLite suppression store (created by `receive` if missing).
    #[arg(long, env = "OPTOUT_RELAY_RECEIVER_STORE", default_value = DEFAULT_RECEIVER_STORE)]
    pub store: PathBuf,
}

/// Flags of `receive`.
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub secrets: ReceiverSecretArgs,

    /// Address to listen on.
    #[arg(
        long,
        env = "OPTOUT_RELAY_RECEIVER_LISTEN",
        default_value = "127.0.0.1:9000"
    )]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub store: ReceiverStoreArgs,

    /// How far X-Lusha-Timestamp may lie from this machine's clock, either way, in seconds.
    #[arg(
        long,
        env = "OPTOUT_RELAY_RECEIVER_TOLERANCE_SECS",
        default_value_t = 300
    )]
    pub tolerance_secs: u64,
}

/// `suppression` subcommands.
#[derive(Debug, Subcommand)]
pub enum SuppressionCommand {
    /// Print the whole suppression list on stdout, oldest first.
    Export(SuppressionExportArgs),
    /// Print `suppressed` and exit 0 if VALUE is on the list; print `not suppressed` and exit 1
    /// if not; exit 2 on any error (a missing store included).
    Check(SuppressionCheckArgs),
}

/// How `suppression export` prints the list.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormatArg {
    /// A header line, then one comma-separated row per value.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

/// Flags of `suppression export`.
#[derive(Debug, Args)]
pub struct SuppressionExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormatArg::Csv)]
    pub format: ExportFormatArg,

    #[command(flatten)]
    pub store: ReceiverStoreArgs,
}

/// Flags of `suppression check`.
#[derive(Debug, Args)]
pub struct SuppressionCheckArgs {
    /// An email address (compared without case) or a phone number (compared by its digits).
    pub value: String,

    #[command(flatten)]
    pub store: ReceiverStoreArgs,
}

/// Flags of `verify`. The body must be exactly the bytes received: `printf '%s'` or a file, not
/// `echo`, which adds a newline.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub secrets: ReceiverSecretArgs,

    /// The X-Lusha-Timestamp header of the request.
    #[arg(long)]
    pub timestamp: String,

    /// The X-Lusha-Signature header of the request.
    #[arg(long)]
    pub signature: String,

    /// The X-Lusha-Signature-Previous header, if the request had one (secret rotation).
    #[arg(long)]
    pub previous_signature: Option<String>,

    /// How far the timestamp may lie from this machine's clock, either way, in seconds.
    #[arg(long, default_value_t = 300, conflicts_with = "no_tolerance")]
    pub tolerance_secs: u64,

    /// Accept any timestamp: for checking a request captured long ago.
    #[arg(long)]
    pub no_tolerance: bool,
}

/// The delays between delivery attempts.
#[derive(Debug, Clone)]
pub struct RetrySchedule(pub Vec<Duration>);

fn parse_schedule(text: &str) -> Result<RetrySchedule, String> {
    optout_core::RetryPolicy::parse_schedule(text).map(RetrySchedule)
}

fn parse_cidr(text: &str) -> Result<Cidr, String> {
    Cidr::parse(text).map_err(|error| error.to_string())
}

/// A positive duration: a whole number and a unit, `ms`, `s`, `m`, `h` or `d` (days).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    optout_core::retry::parse_duration(text)
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| format!("invalid duration {text:?}: expected e.g. 500ms, 10s, 2m, 1h, 30d"))
}

/// `account` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its id and first API key.
    Create(AccountCreateArgs),
}

/// Flags of `account create`.
#[derive(Debug, Args)]
pub struct AccountCreateArgs {
    /// The account's display name.
    #[arg(long)]
    pub name: String,

    /// A numeric account id of your choosing; allocated when omitted.
    #[arg(long)]
    pub account_id: Option<String>,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Flags of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Opt-outs of the throughput phase (one notice each), and POSTs of the raw limit. Each
    /// phase should last seconds: a shorter one measures the warm-up more than the rate.
    #[arg(long, default_value_t = 100_000)]
    pub opt_outs: u64,

    /// Opt-outs per request in the throughput phase.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,

    /// Requests in flight at once from the load generator.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub concurrency: u64,

    /// Accounts the contacts are spread over.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub accounts: u64,

    /// Opt-outs per second in the latency phase (single requests).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,

    /// Length of the latency phase, in seconds.
    #[arg(long, default_value_t = 5)]
    pub paced_seconds: u64,

    /// Deliveries in flight at once (the engine's concurrency).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub delivery_concurrency: u64,

    /// Accounts of the fan-out scenario: one opt-out exposed to all of them (0 skips it).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub fan_out_accounts: u64,

    /// Notices of the backlog scenario: held while the receivers are down, then drained
    /// (0 skips it).
    #[arg(long, default_value_t = 100_000)]
    pub backlog: u64,

    /// Extra exposures recorded before measuring, of contacts who never opt out, so that the
    /// figures can be compared across ledger sizes.
    #[arg(long, default_value_t = 0)]
    pub ledger_exposures: u64,

    /// A PostgreSQL server URL: the benchmark creates a scratch database there (and drops it
    /// afterwards) instead of using a temporary SQLite file.
    #[arg(long)]
    pub database_url: Option<String>,

    /// Nodes delivering from the database: this process plus `N - 1` `worker` processes
    /// (PostgreSQL only).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    pub nodes: u64,

    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Master keys of the benchmark's service (a fresh one if unset; none is written to disk).
    #[command(flatten)]
    pub master_key: MasterKeyArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_parses_with_its_defaults() {
        // Reading the parsed values back catches type mismatches between flags and fields.
        for args in [
            vec!["serve"],
            vec!["worker"],
            vec!["bench"],
            vec!["migrate"],
            vec!["openapi"],
            vec!["demo"],
            vec!["account", "create", "--name", "Acme"],
            vec!["exposures", "import", "file.ndjson"],
            vec!["opt-outs", "import", "file.ndjson"],
            vec!["opt-out", "--contact-id", "1", "--full-name", "Jane"],
            vec!["receive", "--secret", "whsec_a"],
            vec!["suppression", "export"],
            vec!["suppression", "check", "jane@example.com"],
            vec![
                "verify",
                "--secret",
                "whsec_a",
                "--timestamp",
                "1",
                "--signature",
                "ab",
            ],
        ] {
            let argv = std::iter::once("optout-relay").chain(args.iter().copied());
            let parsed = Cli::try_parse_from(argv);
            assert!(parsed.is_ok(), "{args:?}: {:?}", parsed.err());
        }
    }

    #[test]
    fn retry_schedule_and_durations_are_parsed() {
        let cli = Cli::try_parse_from([
            "optout-relay",
            "serve",
            "--retry-schedule",
            "1s,2m",
            "--attempt-timeout",
            "500ms",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve")
        };
        assert_eq!(
            args.delivery.retry_schedule.0,
            vec![Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(args.delivery.attempt_timeout, Duration::from_millis(500));
        assert!(
            Cli::try_parse_from(["optout-relay", "serve", "--retry-schedule", "soon"]).is_err()
        );
    }

    #[test]
    fn retention_flags_take_days_on_serve_and_worker() {
        const DAY: u64 = 86_400;
        for command in ["serve", "worker"] {
            let parse = |extra: &[&str]| {
                let argv = ["optout-relay", command]
                    .into_iter()
                    .chain(extra.iter().copied());
                match Cli::try_parse_from(argv).map(|cli| cli.command) {
                    Ok(Command::Serve(args)) => Ok(args.retention),
                    Ok(Command::Worker(args)) => Ok(args.retention),
                    Ok(_) => panic!("expected {command}"),
                    Err(error) => Err(error),
                }
            };
            let defaults = parse(&[]).unwrap();
            assert_eq!(defaults.payload_retention, Duration::from_secs(30 * DAY));
            assert_eq!(defaults.audit_retention, Duration::from_secs(90 * DAY));
            assert_eq!(
                defaults.failed_audit_retention,
                Duration::from_secs(180 * DAY)
            );
            let set = parse(&[
                "--payload-retention",
                "7d",
                "--audit-retention",
                "12h",
                "--failed-audit-retention",
                "365d",
            ])
            .unwrap();
            let policy = set.policy();
            assert_eq!(policy.payload, Duration::from_secs(7 * DAY));
            assert_eq!(policy.audit_success, Duration::from_secs(12 * 3600));
            assert_eq!(policy.audit_failure, Duration::from_secs(365 * DAY));
            let refused = parse(&["--payload-retention", "0d"]).unwrap_err();
            assert!(refused.to_string().contains("30d"), "{refused}");
        }
    }

    #[test]
    fn allow_target_is_repeatable_on_serve_and_worker() {
        for command in ["serve", "worker"] {
            let cli = Cli::try_parse_from([
                "optout-relay",
                command,
                "--allow-target",
                "10.0.0.0/8",
                "--allow-target",
                "::1",
            ])
            .unwrap();
            let targets = match cli.command {
                Command::Serve(args) => args.targets,
                Command::Worker(args) => args.targets,
                _ => panic!("expected {command}"),
            };
            let ranges: Vec<String> = targets
                .allowed_targets
                .iter()
                .map(ToString::to_string)
                .collect();
            assert_eq!(ranges, ["10.0.0.0/8", "::1/128"], "{command}");
            assert!(!targets.allow_private_targets);
        }
    }
}
