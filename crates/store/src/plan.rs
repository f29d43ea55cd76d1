//! The decisions every backend makes the same way, once rows are read: which exposures an
//! intake keeps or refuses, and which exposures an opt-out covers. Backends only read and write.

use optout_core::time_format::to_millis;
use optout_core::{
    Datapoint, ExposureIntake, HeldExposure, NewExposure, NewOptOut, Refusal, RefusalReason,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The suppression key of every datapoint of a contact.
pub const WHOLE_CONTACT: &str = "*";

/// The suppression key of one datapoint: `<type>:<value>`.
pub fn suppression_key(datapoint: &Datapoint) -> String {
    format!("{}:{}", datapoint.kind.as_str(), datapoint.value)
}

/// An exposure's identity in the ledger: (contact, account, datapoint type, datapoint value).
pub type ExposureKey = (String, String, &'static str, String);

/// What an exposure intake will write, before any row is written.
#[derive(Debug, Default)]
pub struct ExposurePlan<'a> {
    /// Refusal counts and reasons; `accepted` and `duplicates` are filled in by [`Self::finish`].
    pub intake: ExposureIntake,
    /// Each distinct exposure to insert or merge, with its earliest date (epoch milliseconds) and
    /// that exposure's partner id. Ordered, so concurrent writers lock keys in one order.
    pub candidates: BTreeMap<ExposureKey, (i64, Option<&'a str>)>,
    /// Datapoints repeated within the batch itself (each counts as a duplicate).
    pub repeats_in_batch: u64,
}

impl ExposurePlan<'_> {
    /// The intake's counts, once `inserted` of the candidates turned out to be new.
    pub fn finish(mut self, inserted: u64) -> ExposureIntake {
        self.intake.accepted = inserted;
        self.intake.duplicates = self.candidates.len() as u64 - inserted + self.repeats_in_batch;
        self.intake
    }
}

/// Plans an intake: items of unknown accounts and suppressed datapoints are refused per item,
/// repeats within the batch keep the earliest date.
pub fn plan_exposures<'a>(
    items: &'a [NewExposure],
    known_accounts: &HashSet<String>,
    suppressed: &HashSet<(String, String)>,
) -> ExposurePlan<'a> {
    let mut plan = ExposurePlan::default();
    for (index, item) in items.iter().enumerate() {
        if !known_accounts.contains(item.account_id.as_str()) {
            plan.intake.refused += item.datapoints.len() as u64;
            plan.intake.refusals.push(Refusal {
                index,
                reason: RefusalReason::UnknownAccount,
            });
            continue;
        }
        let contact = item.contact_id.as_str();
        let whole = suppressed.contains(&(contact.to_owned(), WHOLE_CONTACT.to_owned()));
        let mut refused_here = 0;
        for datapoint in &item.datapoints {
            if whole || suppressed.contains(&(contact.to_owned(), suppression_key(datapoint))) {
                refused_here += 1;
                continue;
            }
            let key = (
                contact.to_owned(),
                item.account_id.as_str().to_owned(),
                datapoint.kind.as_str(),
                datapoint.value.clone(),
            );
            let exposed_at = to_millis(item.exposed_at);
            let partner = item.partner_client_id.as_deref();
            match plan.candidates.get_mut(&key) {
                None => {
                    plan.candidates.insert(key, (exposed_at, partner));
                }
                Some(earlier) => {
                    plan.repeats_in_batch += 1;
                    if exposed_at < earlier.0 {
                        *earlier = (exposed_at, partner.or(earlier.1));
                    } else if earlier.1.is_none() {
                        earlier.1 = partner;
                    }
                }
            }
        }
        if refused_here > 0 {
            plan.intake.refused += refused_here;
            plan.intake.refusals.push(Refusal {
                index,
                reason: RefusalReason::OptedOut,
            });
        }
    }
    plan
}

/// One exposure row of a contact, as read for an opt-out: the account and what it holds.
pub type LedgerRow = (String, HeldExposure);

/// Removes from `ledger` (rows by contact) the exposures `opt_out` covers, grouped by account, so
/// a later opt-out of the same contact in the same batch finds only what is left.
pub fn take_covered(
    ledger: &mut HashMap<String, Vec<LedgerRow>>,
    opt_out: &NewOptOut,
) -> BTreeMap<String, Vec<HeldExposure>> {
    let mut by_account: BTreeMap<String, Vec<HeldExposure>> = BTreeMap::new();
    let Some(rows) = ledger.get_mut(opt_out.contact_id.as_str()) else {
        return by_account;
    };
    let (covered, kept): (Vec<LedgerRow>, Vec<LedgerRow>) =
        std::mem::take(rows).into_iter().partition(|(_, held)| {
            opt_out
                .datapoints
                .as_ref()
                .is_none_or(|chosen| chosen.contains(&held.datapoint))
        });
    *rows = kept;
    for (account, held) in covered {
        by_account.entry(account).or_default().push(held);
    }
    by_account
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use optout_core::{AccountId, ContactId};

    fn exposure(account: &str, day: u32, partner: Option<&str>) -> NewExposure {
        NewExposure {
            account_id: AccountId::parse(account).unwrap(),
            contact_id: ContactId::parse("c1").unwrap(),
            datapoints: vec![
                Datapoint::parse("a@x.io", "email").unwrap(),
                Datapoint::parse("+1555", "phone").unwrap(),
            ],
            exposed_at: Utc.with_ymd_and_hms(2025, 1, day, 0, 0, 0).unwrap(),
            partner_client_id: partner.map(str::to_owned),
        }
    }

    #[test]
    fn unknown_accounts_and_suppressed_datapoints_are_refused_per_item() {
        let items = vec![exposure("1", 2, None), exposure("2", 2, None)];
        let known = HashSet::from(["1".to_owned()]);
        let suppressed = HashSet::from([("c1".to_owned(), "phone:+1555".to_owned())]);
        let plan = plan_exposures(&items, &known, &suppressed);
        assert_eq!(plan.candidates.len(), 1);
        let intake = plan.finish(1);
        assert_eq!(
            (intake.accepted, intake.duplicates, intake.refused),
            (1, 0, 3)
        );
        let reasons: Vec<_> = intake
            .refusals
            .iter()
            .map(|r| (r.index, r.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (0, RefusalReason::OptedOut),
                (1, RefusalReason::UnknownAccount)
            ]
        );
    }

    #[test]
    fn repeats_in_a_batch_keep_the_earliest_date_and_its_partner() {
        let items = vec![
            exposure("1", 5, Some("late")),
            exposure("1", 3, Some("early")),
        ];
        let known = HashSet::from(["1".to_owned()]);
        let plan = plan_exposures(&items, &known, &HashSet::new());
        assert_eq!(plan.repeats_in_batch, 2);
        let earliest = to_millis(Utc.with_ymd_and_hms(2025, 1, 3, 0, 0, 0).unwrap());
        assert!(plan
            .candidates
            .values()
            .all(|candidate| *candidate == (earliest, Some("early"))));
        assert_eq!(plan.finish(2).duplicates, 2);
    }
}
