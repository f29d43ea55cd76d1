//! The live view: polls each account's audit log (`GET /api/audit-logs`) a few times a second
//! and prints one line per delivery attempt as it appears, and tells when the compliance record
//! (`GET /admin/opt-outs/{id}`) of every opt-out says all its notices were delivered.
//!
//! It reads only what the public API shows. The audit log has no attempt number, so attempts
//! are numbered here per notice in the order they were made, which is their real order: a
//! notice's next attempt is only claimed once the previous one was recorded.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

use super::client::{text, AccountApi, Operator};
use super::terminal::{Terminal, Tone};

/// How often the audit logs are read: often enough that lines appear as attempts happen.
const POLL: Duration = Duration::from_millis(200);

/// An account whose deliveries are shown.
#[derive(Debug, Clone)]
pub struct WatchedAccount {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: &'static str,
    /// Its API, to read its audit log.
    pub api: AccountApi,
}

/// The live view's state: which attempts were printed, and which notices are followed.
#[derive(Debug)]
pub struct LiveView {
    terminal: Terminal,
    operator: Operator,
    accounts: Vec<WatchedAccount>,
    started: DateTime<Utc>,
    printed: HashSet<String>,
    attempts: HashMap<String, u32>,
    contacts: HashMap<String, String>,
    delivered: HashSet<String>,
    failed_attempts: usize,
    opt_outs: Vec<String>,
}

/// One audit row not printed yet.
struct NewAttempt {
    at: DateTime<Utc>,
    account: &'static str,
    row: Value,
}

impl LiveView {
    /// A view of `accounts`' deliveries, with times shown relative to `started`.
    pub fn new(
        terminal: Terminal,
        operator: Operator,
        accounts: Vec<WatchedAccount>,
        started: DateTime<Utc>,
    ) -> Self {
        Self {
            terminal,
            operator,
            accounts,
            started,
            printed: HashSet::new(),
            attempts: HashMap::new(),
            contacts: HashMap::new(),
            delivered: HashSet::new(),
            failed_attempts: 0,
            opt_outs: Vec::new(),
        }
    }

    /// The name of the account with id `id`.
    pub fn account_name(&self, id: &str) -> &str {
        self.accounts
            .iter()
            .find(|account| account.id == id)
            .map_or("unknown account", |account| account.name)
    }

    /// Follows the notices of an opt-out, from its compliance record.
    pub fn follow(&mut self, record: &Value) -> anyhow::Result<()> {
        self.opt_outs.push(text(record, "optOutId")?.to_owned());
        let contact = text(record, "contactId")?;
        for recipient in recipients(record) {
            self.contacts
                .insert(text(recipient, "noticeId")?.to_owned(), contact.to_owned());
        }
        Ok(())
    }

    /// Failed attempts seen so far.
    pub fn failed_attempts(&self) -> usize {
        self.failed_attempts
    }

    /// Prints the attempts that appeared since the last look.
    pub async fn poll(&mut self) -> anyhow::Result<()> {
        let mut fresh = Vec::new();
        for account in &self.accounts {
            for row in account.api.audit_logs().await? {
                let id = text(&row, "id")?;
                if self.printed.contains(id) {
                    continue;
                }
                let at = DateTime::parse_from_rfc3339(text(&row, "deliveredAt")?)?.to_utc();
                fresh.push(NewAttempt {
                    at,
                    account: account.name,
                    row,
                });
            }
        }
        fresh.sort_by_key(|attempt| attempt.at);
        for attempt in fresh {
            self.print(&attempt)?;
        }
        Ok(())
    }

    fn print(&mut self, attempt: &NewAttempt) -> anyhow::Result<()> {
        let row = &attempt.row;
        self.printed.insert(text(row, "id")?.to_owned());
        let notice = text(row, "payloadId")?;
        let number = self.attempts.entry(notice.to_owned()).or_insert(0);
        *number += 1;
        let (outcome, tone, next) = match text(row, "status")? {
            "success" => {
                self.delivered.insert(notice.to_owned());
                ("delivered", Tone::Good, "")
            }
            "permanent_failure" => {
                self.failed_attempts += 1;
                (
                    "gave up",
                    Tone::Bad,
                    "  last retry failed: subscription disabled",
                )
            }
            _ => {
                self.failed_attempts += 1;
                ("failed", Tone::Bad, "  -> retry scheduled")
            }
        };
        let answer = match row["statusCode"].as_u64() {
            Some(code) => format!("HTTP {code}"),
            None => row["error"].as_str().unwrap_or("no answer").to_owned(),
        };
        let elapsed = (attempt.at - self.started).num_milliseconds() as f64 / 1000.0;
        let contact = self.contacts.get(notice).map_or("?", String::as_str);
        println!(
            "  +{elapsed:5.1}s  {:<16}  notice {}  contact {contact}  attempt {number}  {}  {answer:<8}  {:>3} ms{}",
            attempt.account,
            short_id(notice),
            self.terminal.paint(&format!("{outcome:<9}"), tone),
            row["durationMs"].as_u64().unwrap_or(0),
            self.terminal.paint(next, Tone::Dim),
        );
        Ok(())
    }

    /// Prints attempts as they happen for `period`.
    pub async fn watch_for(&mut self, period: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + period;
        loop {
            self.poll().await?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            tokio::time::sleep(POLL.min(until - now)).await;
        }
    }

    /// Prints attempts as they happen until the compliance record of every followed opt-out
    /// says all its notices were delivered, and their successes were printed; returns the
    /// records. Fails at `deadline`, naming what was not delivered.
    pub async fn watch_until_delivered(&mut self, deadline: Instant) -> anyhow::Result<Vec<Value>> {
        loop {
            self.poll().await?;
            let mut records = Vec::with_capacity(self.opt_outs.len());
            for id in &self.opt_outs {
                records.push(self.operator.compliance_record(id).await?);
            }
            let all_recorded = records.iter().flat_map(recipients).all(is_delivered);
            let all_shown = self
                .contacts
                .keys()
                .all(|notice| self.delivered.contains(notice));
            if all_recorded && all_shown {
                return Ok(records);
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "not every notice was delivered in time: {}",
                    self.undelivered(&records).join("; ")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// What the records say is not delivered, one phrase per notice.
    fn undelivered(&self, records: &[Value]) -> Vec<String> {
        records
            .iter()
            .flat_map(recipients)
            .filter(|recipient| !is_delivered(recipient))
            .map(|recipient| {
                format!(
                    "{} notice {} is {} after {} attempt(s)",
                    self.account_name(recipient["accountId"].as_str().unwrap_or_default()),
                    recipient["noticeId"].as_str().unwrap_or("?"),
                    recipient["status"].as_str().unwrap_or("?"),
                    recipient["attempts"],
                )
            })
            .collect()
    }
}

/// The recipients of a compliance record.
pub fn recipients(record: &Value) -> impl Iterator<Item = &Value> {
    record["recipients"].as_array().into_iter().flatten()
}

/// Whether a compliance record's recipient has its notice delivered.
pub fn is_delivered(recipient: &Value) -> bool {
    recipient["status"] == "delivered"
}

/// The end of an id: ids start with their creation time, so the start of ids made in the same
/// second is the same, while their last characters are random.
pub fn short_id(id: &str) -> String {
    let start = id.len().saturating_sub(6);
    format!("...{}", id.get(start..).unwrap_or(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_short_id_keeps_the_random_end() {
        assert_eq!(short_id("6b0962acfe9697e23cfc8383"), "...fc8383");
        assert_eq!(short_id("abc"), "...abc");
    }

    #[test]
    fn a_record_is_delivered_only_when_every_recipient_is() {
        let record = json!({"recipients": [
            {"status": "delivered"}, {"status": "failed"}
        ]});
        assert!(!recipients(&record).all(is_delivered));
        let record = json!({"recipients": [{"status": "delivered"}]});
        assert!(recipients(&record).all(is_delivered));
    }
}
