//! The end of the demo: the compliance record of each opt-out as a table, and what each
//! receiver applied to its suppression list, checked against who received what.

use anyhow::Context;
use optout_receiver::{ExportFormat, SuppressionStore};
use serde_json::Value;
use std::collections::BTreeSet;

use super::client::text;
use super::live::{recipients, short_id, LiveView};
use super::script::{self, EXPOSURES};
use super::terminal::{Terminal, Tone};

/// Prints each compliance record: the opt-out, then one row per recipient account.
pub fn print_compliance(
    terminal: Terminal,
    view: &LiveView,
    records: &[Value],
) -> anyhow::Result<()> {
    for record in records {
        let contact_id = text(record, "contactId")?;
        let name = script::contact(contact_id).map_or("?", |contact| contact.full_name);
        println!(
            "  opt-out {}  contact {contact_id} ({name})  opted out {}",
            text(record, "optOutId")?,
            text(record, "optedOutAt")?,
        );
        println!(
            "    {}",
            terminal.paint(
                "account  name              notice     status     attempts  last answer  delivered at",
                Tone::Dim
            )
        );
        for recipient in recipients(record) {
            let account_id = text(recipient, "accountId")?;
            let status = text(recipient, "status")?;
            let tone = if status == "delivered" {
                Tone::Good
            } else {
                Tone::Bad
            };
            let answer = recipient["lastStatusCode"]
                .as_u64()
                .map_or_else(|| "none".to_owned(), |code| format!("HTTP {code}"));
            println!(
                "    {account_id:<7}  {:<16}  {}  {}  {:>8}  {answer:<11}  {}",
                view.account_name(account_id),
                short_id(text(recipient, "noticeId")?),
                terminal.paint(&format!("{status:<9}"), tone),
                recipient["attempts"].as_u64().unwrap_or(0),
                recipient["deliveredAt"].as_str().unwrap_or("-"),
            );
        }
    }
    Ok(())
}

/// One receiver to report on: the index of its account in [`script::ACCOUNTS`] and its store.
#[derive(Debug, Clone, Copy)]
pub struct ReceiverReport<'a> {
    /// Which account the receiver belongs to.
    pub account: usize,
    /// The receiver's suppression list.
    pub store: &'a SuppressionStore,
}

/// Prints each receiver's suppression list and fails unless it holds exactly the datapoints
/// its account received of the contacts who opted out.
pub async fn print_receivers(
    terminal: Terminal,
    receivers: &[ReceiverReport<'_>],
) -> anyhow::Result<()> {
    for receiver in receivers {
        let rows = suppressions(receiver.store).await?;
        let name = script::ACCOUNTS[receiver.account].name;
        println!(
            "  {name}'s receiver: {} values on its suppression list",
            rows.len()
        );
        let mut applied = BTreeSet::new();
        for row in &rows {
            let kind = text(row, "datapointType")?;
            let value = text(row, "datapointId")?;
            println!(
                "    contact {}  {kind:<5}  {value:<22}  {}",
                text(row, "contactId")?,
                terminal.paint(
                    &format!("from notice {}", short_id(text(row, "webhookId")?)),
                    Tone::Dim
                ),
            );
            applied.insert((kind.to_owned(), value.to_owned()));
        }
        let expected = expected_suppressions(receiver.account);
        anyhow::ensure!(
            applied == expected,
            "{name}'s receiver applied {applied:?}, but its account received {expected:?} of the \
             contacts who opted out"
        );
    }
    let kept: Vec<&str> = script::CONTACTS
        .iter()
        .filter(|contact| !contact.opts_out)
        .map(|contact| contact.full_name)
        .collect();
    println!(
        "  {}",
        terminal.paint(
            &format!(
                "{} did not opt out: their data is on no list. Only opted-out data is deleted.",
                kept.join(", ")
            ),
            Tone::Dim
        )
    );
    Ok(())
}

/// The receiver's list, oldest first, through its NDJSON export.
async fn suppressions(store: &SuppressionStore) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    store
        .export(ExportFormat::Ndjson, &mut out)
        .await
        .context("cannot read a receiver's suppression list")?;
    out.split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_slice(line).context("a receiver's export is not NDJSON"))
        .collect()
}

/// What account `account` must suppress: every datapoint it received of a contact who opted
/// out, as `(type, value)`.
fn expected_suppressions(account: usize) -> BTreeSet<(String, String)> {
    EXPOSURES
        .iter()
        .filter(|exposure| {
            exposure.account == account && script::CONTACTS[exposure.contact].opts_out
        })
        .flat_map(|exposure| exposure.datapoints())
        .map(|(kind, value)| (kind.to_owned(), value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_must_suppress_only_what_it_received_of_contacts_who_opted_out() {
        let globex = expected_suppressions(1);
        assert!(globex.contains(&("email".to_owned(), "jane.doe@example.com".to_owned())));
        // Jane's phone went to Acme only; Sam never opted out.
        assert!(!globex.contains(&("phone".to_owned(), "+15555550100".to_owned())));
        assert!(!globex.contains(&("phone".to_owned(), "+15555550103".to_owned())));
        assert_eq!(globex.len(), 3);
    }
}
