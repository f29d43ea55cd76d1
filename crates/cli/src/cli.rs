//! The command line: subcommands and their flags, each flag with an `OPTOUT_RELAY_*` twin.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;

/// Where the embedded database lives when no URL is given.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/optout-relay.db";

/// optout-relay: propagates data opt-outs, as signed webhooks, to every account that received
/// the person's data.
#[derive(Debug, Parser)]
#[command(name = "optout-relay", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Manage customer accounts directly in the database.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document of the API.
    Openapi,
}

/// Which database to use.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (the embedded default).
    #[arg(long, env = "OPTOUT_RELAY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
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

    /// Accept `http://` webhook URLs (development only).
    #[arg(long, env = "OPTOUT_RELAY_ALLOW_INSECURE_URLS")]
    pub allow_insecure_urls: bool,

    /// Accept webhook targets on loopback and private networks (development and tests only).
    #[arg(long, env = "OPTOUT_RELAY_ALLOW_PRIVATE_TARGETS")]
    pub allow_private_targets: bool,

    /// Do not challenge webhook URLs when they are registered or changed.
    #[arg(long, env = "OPTOUT_RELAY_NO_URL_CHALLENGE")]
    pub no_url_challenge: bool,
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
