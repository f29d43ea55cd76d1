//! The master keys that seal account secrets at rest: configured, or generated once and kept
//! beside the database; and the startup reseal of stored secrets under the active key.

use anyhow::Context;
use optout_core::{Keyring, MasterKey};
use optout_server::ResealError;
use std::path::Path;

use crate::cli::MasterKeyCommand;
use crate::database::OpenedStore;
use crate::private_file;

/// File name of the generated key inside the data directory.
const KEY_FILE: &str = "master-key";

/// The configured keyring, or the key kept in `<data_dir>/master-key`, generated if missing.
pub fn resolve(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Keyring> {
    if let Some(list) = configured {
        return Keyring::parse(list).context("invalid --master-key (OPTOUT_RELAY_MASTER_KEY)");
    }
    let path = data_dir.join(KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?;
        tracing::info!(path = %path.display(), "master key read from file");
        return Keyring::parse(text.trim())
            .with_context(|| format!("invalid master key file {}", path.display()));
    }
    let key = MasterKey::generate();
    private_file::write_new(&path, &key.expose_base64(), "master key")?;
    tracing::info!(
        path = %path.display(),
        key_id = %key.id(),
        "master key generated: back this file up, account secrets cannot be opened without it"
    );
    Keyring::new(key, Vec::new()).map_err(anyhow::Error::from)
}

/// The keyring of a command that reads or writes account secrets, once every stored secret is
/// sealed with its active key (see [`optout_server::reseal_account_secrets`]).
pub async fn prepare(opened: &OpenedStore, configured: Option<&str>) -> anyhow::Result<Keyring> {
    if configured.is_none() && opened.postgres_url.is_some() {
        // A key generated into each node's local file would differ from node to node, and no
        // node could open the secrets another one sealed.
        anyhow::bail!(
            "with PostgreSQL, set --master-key (or OPTOUT_RELAY_MASTER_KEY) to the same keys on \
             every node; `optout-relay master-key generate` prints a new key"
        );
    }
    let keyring = resolve(configured, &opened.data_dir)?;
    tracing::info!(active_key = %keyring.active().id(), keys = keyring.ids().len(), "master keys ready");
    match optout_server::reseal_account_secrets(opened.store.as_ref(), &keyring).await {
        Ok(_) => Ok(keyring),
        Err(error @ ResealError::UnknownKey { .. }) => Err(anyhow::anyhow!(
            "{error}: pass that old key in --master-key (or OPTOUT_RELAY_MASTER_KEY) after the \
             active one, as NEW_KEY,OLD_KEY"
        )),
        Err(error) => Err(error).context("cannot reseal the stored account secrets"),
    }
}

/// `optout-relay master-key ...`.
pub fn run(command: MasterKeyCommand) {
    match command {
        MasterKeyCommand::Generate => println!("{}", MasterKey::generate().expose_base64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_key_is_kept_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = resolve(None, dir.path()).unwrap();
        assert_eq!(first.ids(), second.ids());
    }

    #[test]
    fn configured_keys_win_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (new, old) = (MasterKey::generate(), MasterKey::generate());
        let list = format!("{},{}", new.expose_base64(), old.expose_base64());
        let keyring = resolve(Some(&list), dir.path()).unwrap();
        assert_eq!(keyring.ids(), vec![new.id().clone(), old.id().clone()]);
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn a_malformed_key_is_refused_without_repeating_it() {
        let dir = tempfile::tempdir().unwrap();
        let error = resolve(Some("not-a-key-at-all"), dir.path()).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains("--master-key"), "{text}");
        assert!(!text.contains("not-a-key-at-all"), "{text}");
    }
}
