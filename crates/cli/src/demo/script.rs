//! The demo's made-up world: two customer accounts, four contacts (example.com addresses and
//! 555-01xx phone numbers, reserved for fiction), who received what, and who opts out.

use serde_json::{json, Value};

/// A customer account of the data provider.
#[derive(Debug, Clone, Copy)]
pub struct AccountPlan {
    /// Its display name.
    pub name: &'static str,
    /// Deliveries its receiver refuses with 503 before it recovers (the simulated outage).
    pub outage: u32,
}

/// The two accounts: the second one's receiver is down for its first two deliveries, which
/// with the demo's retry schedule means two failed attempts and a success on the third.
pub const ACCOUNTS: [AccountPlan; 2] = [
    AccountPlan {
        name: "Acme Analytics",
        outage: 0,
    },
    AccountPlan {
        name: "Globex Marketing",
        outage: 2,
    },
];

/// A person whose data the provider holds.
#[derive(Debug, Clone, Copy)]
pub struct Contact {
    /// The provider's contact id.
    pub id: &'static str,
    /// Their name.
    pub full_name: &'static str,
    /// Their company.
    pub company: &'static str,
    /// Their email address.
    pub email: &'static str,
    /// Their phone number.
    pub phone: &'static str,
    /// Whether they opt out during the demo.
    pub opts_out: bool,
}

/// The contacts; the last one never opts out, so their data stays on nobody's list.
pub const CONTACTS: [Contact; 4] = [
    Contact {
        id: "1001",
        full_name: "Jane Doe",
        company: "Example Corp",
        email: "jane.doe@example.com",
        phone: "+15555550100",
        opts_out: true,
    },
    Contact {
        id: "1002",
        full_name: "John Roe",
        company: "Example Industries",
        email: "john.roe@example.com",
        phone: "+15555550101",
        opts_out: true,
    },
    Contact {
        id: "1003",
        full_name: "Alex Poe",
        company: "Example Labs",
        email: "alex.poe@example.com",
        phone: "+15555550102",
        opts_out: true,
    },
    Contact {
        id: "1004",
        full_name: "Sam Moe",
        company: "Example Corp",
        email: "sam.moe@example.com",
        phone: "+15555550103",
        opts_out: false,
    },
];

/// One delivery of a contact's data to an account, by index into [`CONTACTS`] and
/// [`ACCOUNTS`].
#[derive(Debug, Clone, Copy)]
pub struct Exposure {
    /// Which contact.
    pub contact: usize,
    /// Which account received the data.
    pub account: usize,
    /// Whether the email address was sent.
    pub email: bool,
    /// Whether the phone number was sent.
    pub phone: bool,
}

/// Who received what. Jane's data went to both accounts, so her opt-out makes two notices.
pub const EXPOSURES: [Exposure; 6] = [
    Exposure {
        contact: 0,
        account: 0,
        email: true,
        phone: true,
    },
    Exposure {
        contact: 0,
        account: 1,
        email: true,
        phone: false,
    },
    Exposure {
        contact: 1,
        account: 0,
        email: true,
        phone: true,
    },
    Exposure {
        contact: 2,
        account: 1,
        email: true,
        phone: true,
    },
    Exposure {
        contact: 3,
        account: 0,
        email: true,
        phone: false,
    },
    Exposure {
        contact: 3,
        account: 1,
        email: false,
        phone: true,
    },
];

impl Exposure {
    /// The contact's datapoints in this exposure, as `(type, value)`.
    pub fn datapoints(&self) -> Vec<(&'static str, &'static str)> {
        let contact = &CONTACTS[self.contact];
        let mut datapoints = Vec::new();
        if self.email {
            datapoints.push(("email", contact.email));
        }
        if self.phone {
            datapoints.push(("phone", contact.phone));
        }
        datapoints
    }

    /// The `POST /admin/exposures` item, for the account whose id is `account_id`.
    pub fn to_json(self, account_id: &str) -> Value {
        let datapoints: Vec<Value> = self
            .datapoints()
            .into_iter()
            .map(|(kind, value)| json!({ "datapointId": value, "datapointType": kind }))
            .collect();
        json!({
            "accountId": account_id,
            "contactId": CONTACTS[self.contact].id,
            "datapoints": datapoints,
            "exposedAt": "2025-08-03T09:15:47Z",
            "partnerClientId": format!("crm-tenant-{}", self.account + 1),
        })
    }
}

impl Contact {
    /// The `POST /admin/opt-outs` body of this contact's opt-out (all their datapoints).
    pub fn opt_out_json(&self) -> Value {
        json!({
            "contactId": self.id,
            "fullName": self.full_name,
            "companyName": self.company,
        })
    }
}

/// The contact with id `id`.
pub fn contact(id: &str) -> Option<&'static Contact> {
    CONTACTS.iter().find(|contact| contact.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exposure_names_a_known_contact_and_account_and_sends_something() {
        for exposure in EXPOSURES {
            assert!(exposure.contact < CONTACTS.len());
            assert!(exposure.account < ACCOUNTS.len());
            assert!(!exposure.datapoints().is_empty());
        }
    }

    #[test]
    fn the_outage_account_receives_notices_and_the_other_does_not_fail() {
        // The retry can only be shown if the failing account is told about an opt-out.
        let failing = ACCOUNTS.iter().position(|a| a.outage > 0).unwrap();
        assert!(EXPOSURES
            .iter()
            .any(|e| e.account == failing && CONTACTS[e.contact].opts_out));
        assert_eq!(ACCOUNTS.iter().filter(|a| a.outage > 0).count(), 1);
    }
}
