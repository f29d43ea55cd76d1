//! Resealing stored account secrets with the active master key, at startup.
//!
//! This is both the upgrade path (secrets written in plain text by versions before sealing) and
//! the master key rotation path (secrets sealed with an older key of the keyring). Each account's
//! secrets are replaced with a compare and swap, so a node resealing beside others never
//! overwrites a secret regenerated meanwhile.

use optout_core::{AccountId, AccountSecrets, Keyring, SealedSecret, Standing, WebhookSecret};
use optout_store::{Reseal, Store, StoreError, StoredAccountSecrets};

/// Accounts read and resealed per round trip: one transaction each, small enough not to hold
/// the database long.
const PAGE: u32 = 500;

/// What a reseal did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ResealReport {
    /// Accounts whose secrets were resealed with the active key.
    pub resealed: usize,
    /// Among them, accounts that had a secret in plain text.
    pub were_plain_text: usize,
    /// Accounts whose secrets changed between reading and resealing, left as they are (whoever
    /// changed them sealed them).
    pub changed_meanwhile: usize,
    /// Accounts whose secrets do not open (altered, or not theirs), left as they are; their
    /// deliveries fail until the secret is regenerated.
    pub unopened: usize,
}

/// Why a reseal stopped.
#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    /// A secret is sealed with a key the keyring lacks: without it that secret cannot open, and
    /// starting would fail every delivery of the account.
    #[error(
        "the secret of account {account_id} is sealed with master key {key_id}, which is not \
         among the configured master keys"
    )]
    UnknownKey {
        /// The account.
        account_id: AccountId,
        /// The id of the missing key.
        key_id: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reseals every stored secret that is not sealed with `keyring`'s active key. Fails, before
/// changing anything, if any secret is sealed with a key the keyring lacks.
pub async fn reseal_account_secrets(
    store: &dyn Store,
    keyring: &Keyring,
) -> Result<ResealReport, ResealError> {
    // A first pass only checks, so that a missing key changes nothing.
    for_each_page(store, |page| {
        page.iter()
            .try_for_each(|stored| check_known(keyring, stored))
    })
    .await?;
    let mut report = ResealReport::default();
    let mut after: Option<AccountId> = None;
    loop {
        let page = store.list_account_secrets(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.account_id.clone());
        let mut reseals = Vec::new();
        for stored in &page {
            check_known(keyring, stored)?;
            match reseal(keyring, stored) {
                Ok(Some(reseal)) => {
                    if is_plain_text(keyring, &stored.secrets) {
                        report.were_plain_text += 1;
                    }
                    reseals.push(reseal);
                }
                Ok(None) => {}
                Err(()) => report.unopened += 1,
            }
        }
        if !reseals.is_empty() {
            let replaced = store.record_resealed_secrets(&reseals).await?;
            report.resealed += replaced;
            report.changed_meanwhile += reseals.len() - replaced;
        }
    }
    if report != ResealReport::default() {
        tracing::info!(
            active_key = %keyring.active().id(),
            resealed = report.resealed,
            were_plain_text = report.were_plain_text,
            changed_meanwhile = report.changed_meanwhile,
            unopened = report.unopened,
            "account secrets resealed with the active master key"
        );
    }
    Ok(report)
}

/// Calls `check` on every page of stored secrets.
async fn for_each_page(
    store: &dyn Store,
    mut check: impl FnMut(&[StoredAccountSecrets]) -> Result<(), ResealError>,
) -> Result<(), ResealError> {
    let mut after: Option<AccountId> = None;
    loop {
        let page = store.list_account_secrets(after.as_ref(), PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        after = Some(last.account_id.clone());
        check(&page)?;
    }
}

/// Fails if a secret of the account is sealed with a key the keyring lacks.
fn check_known(keyring: &Keyring, stored: &StoredAccountSecrets) -> Result<(), ResealError> {
    for sealed in secrets_of(&stored.secrets) {
        if let Standing::UnknownKey(key_id) = keyring.standing(sealed) {
            return Err(ResealError::UnknownKey {
                account_id: stored.account_id.clone(),
                key_id: key_id.to_string(),
            });
        }
    }
    Ok(())
}

/// The account's secrets sealed with the active key, `None` if they already are, `Err` if one
/// does not open.
fn reseal(keyring: &Keyring, stored: &StoredAccountSecrets) -> Result<Option<Reseal>, ()> {
    let secrets = &stored.secrets;
    if secrets_of(secrets).all(|sealed| keyring.standing(sealed) == Standing::Current) {
        return Ok(None);
    }
    let account = &stored.account_id;
    let one = |sealed: &SealedSecret| -> Result<SealedSecret, ()> {
        match keyring.standing(sealed) {
            Standing::Current => Ok(sealed.clone()),
            Standing::PlainText => Ok(keyring.seal(
                &WebhookSecret::from_stored(sealed.as_str().to_owned()),
                account,
            )),
            _ => match keyring.open(sealed, account) {
                Ok(secret) => Ok(keyring.seal(&secret, account)),
                Err(error) => {
                    tracing::warn!(account_id = %account, %error, "an account secret does not open; left as it is");
                    Err(())
                }
            },
        }
    };
    Ok(Some(Reseal {
        account_id: account.clone(),
        expected: secrets.clone(),
        resealed: AccountSecrets {
            secret: one(&secrets.secret)?,
            // A previous secret that does not open can sign nothing: it is dropped rather than
            // left under an old key that would stop startup once that key is retired.
            previous_secret: secrets
                .previous_secret
                .as_ref()
                .and_then(|previous| one(previous).ok()),
        },
    }))
}

fn is_plain_text(keyring: &Keyring, secrets: &AccountSecrets<SealedSecret>) -> bool {
    secrets_of(secrets).any(|sealed| keyring.standing(sealed) == Standing::PlainText)
}

fn secrets_of(secrets: &AccountSecrets<SealedSecret>) -> impl Iterator<Item = &SealedSecret> {
    std::iter::once(&secrets.secret).chain(secrets.previous_secret.as_ref())
}
