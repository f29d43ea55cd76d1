//! The retention flags of `serve` and `worker`, and the purge policy they make.

use clap::Args;
use optout_server::RetentionPolicy;
use std::time::Duration;

use crate::cli::parse_duration;

/// How long delivered notice bodies and audit rows are kept.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// How long a delivered notice's body (names and datapoints) is kept after delivery; then
    /// only salted hashes of its datapoints remain. Undelivered notices are never purged.
    #[arg(long, env = "OPTOUT_RELAY_PAYLOAD_RETENTION", default_value = "30d",
          value_name = "DURATION", value_parser = parse_duration)]
    pub payload_retention: Duration,

    /// How long audit rows of successful attempts are kept.
    #[arg(long, env = "OPTOUT_RELAY_AUDIT_RETENTION", default_value = "90d",
          value_name = "DURATION", value_parser = parse_duration)]
    pub audit_retention: Duration,

    /// How long audit rows of failed attempts are kept.
    #[arg(long, env = "OPTOUT_RELAY_FAILED_AUDIT_RETENTION", default_value = "180d",
          value_name = "DURATION", value_parser = parse_duration)]
    pub failed_audit_retention: Duration,
}

impl RetentionArgs {
    /// The purge policy the flags ask for (the purge runs hourly).
    pub fn policy(&self) -> RetentionPolicy {
        RetentionPolicy {
            payload: self.payload_retention,
            audit_success: self.audit_retention,
            audit_failure: self.failed_audit_retention,
            ..RetentionPolicy::default()
        }
    }
}
