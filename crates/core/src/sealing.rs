//! Sealing account webhook secrets for storage: ChaCha20-Poly1305 under an operator's master key.
//!
//! A store only ever holds a [`SealedSecret`]: `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`.
//! The nonce is 96 random bits per sealing; the associated data binds the sealed text to its
//! account, so a sealed secret copied onto another account's row does not open. A [`Keyring`]
//! seals with its active key and opens with any of its keys, which is how master keys rotate:
//! start with the new key first and the old ones after it, let every stored secret be resealed,
//! then drop the old keys.
//!
//! Pure: no I/O. Where keys come from (a flag, a file) is the binary's business.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::{AccountId, AccountSecrets, WebhookSecret};

/// Bytes of a master key: ChaCha20-Poly1305 takes 256-bit keys.
const KEY_BYTES: usize = 32;
/// Bytes of a nonce: 96 bits. Random nonces are safe for far more sealings than a service makes
/// under one key (the bound is around 2^32).
const NONCE_BYTES: usize = 12;
/// Hex characters of a key id: enough to tell an operator's few keys apart, too few to say
/// anything about the key.
const KEY_ID_CHARS: usize = 8;
/// The format tag of sealed text; also part of the associated data.
const VERSION: &str = "v1";
/// The prefix of a secret written in plain text by versions before sealing.
const PLAIN_TEXT_PREFIX: &str = "whsec_";

/// Why a master key or a keyring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// A key that is not the base64 of 32 bytes (the key itself is never repeated).
    #[error("master key {position} is not the base64 of 32 bytes")]
    NotAKey {
        /// Its 1-based position in the list.
        position: usize,
    },
    /// An empty list.
    #[error("no master key given")]
    Empty,
    /// Two different keys with one id.
    #[error("two different master keys share the id {0}")]
    DuplicateId(KeyId),
}

/// Why a sealed secret did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Sealed with a key this keyring does not hold.
    #[error("the secret is sealed with master key {0}, which is not configured")]
    UnknownKey(KeyId),
    /// Plain text written by an earlier version, not resealed yet.
    #[error("the secret is stored in plain text; it is resealed when the service starts")]
    PlainText,
    /// Not the sealed format.
    #[error("the stored secret is not in the sealed format")]
    Malformed,
    /// Authentication failed: tampered with, or copied from another account.
    #[error("the sealed secret does not open: altered, or not this account's")]
    Forged,
}

/// The short public id of a master key: the first 8 hex characters of its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(text: &str) -> Option<Self> {
        (text.len() == KEY_ID_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 256-bit master key and its id.
#[derive(Clone)]
pub struct MasterKey {
    id: KeyId,
    cipher: ChaCha20Poly1305,
    bytes: [u8; KEY_BYTES],
}

impl MasterKey {
    /// A fresh key from the thread's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; KEY_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// The key made of these bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        let digest = hex::encode(Sha256::digest(bytes));
        Self {
            id: KeyId(digest[..KEY_ID_CHARS].to_owned()),
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            bytes,
        }
    }

    /// Parses the base64 (standard or URL-safe, padded or not) of 32 bytes.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .and_then(|bytes| <[u8; KEY_BYTES]>::try_from(bytes).ok())
            .map(Self::from_bytes)
    }

    /// The key as standard base64 (to write to its file or show once, never to log).
    pub fn expose_base64(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// The key's public id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.id)
    }
}

/// The master keys of a running service: the active one seals, every one opens.
#[derive(Clone)]
pub struct Keyring {
    /// The active key first, then older keys that only open.
    keys: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring that seals with `active` and also opens what `older` keys sealed. A key given
    /// twice counts once.
    pub fn new(active: MasterKey, older: Vec<MasterKey>) -> Result<Self, KeyringError> {
        let mut keys: Vec<MasterKey> = vec![active];
        for key in older {
            match keys.iter().find(|known| known.id == key.id) {
                Some(known) if known.bytes == key.bytes => {}
                Some(_) => return Err(KeyringError::DuplicateId(key.id)),
                None => keys.push(key),
            }
        }
        Ok(Self { keys })
    }

    /// Parses a comma-separated list of base64 keys, the active one first.
    pub fn parse(list: &str) -> Result<Self, KeyringError> {
        let mut keys = list
            .split(',')
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .enumerate()
            .map(|(index, text)| {
                MasterKey::parse(text).ok_or(KeyringError::NotAKey {
                    position: index + 1,
                })
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let active = keys.next().ok_or(KeyringError::Empty)?;
        Self::new(active, keys.collect())
    }

    /// The key that seals.
    pub fn active(&self) -> &MasterKey {
        &self.keys[0]
    }

    /// The ids of all keys, the active one first.
    pub fn ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|key| key.id.clone()).collect()
    }

    /// Seals `secret` for `account` with the active key.
    pub fn seal(&self, secret: &WebhookSecret, account: &AccountId) -> SealedSecret {
        let key = self.active();
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = associated_data(&key.id, account);
        let sealed = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("encryption fails only past ChaCha20's 256 GiB limit; a secret is 51 bytes");
        let mut body = Vec::with_capacity(NONCE_BYTES + sealed.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&sealed);
        SealedSecret(format!(
            "{VERSION}.{}.{}",
            key.id,
            URL_SAFE_NO_PAD.encode(body)
        ))
    }

    /// Opens a secret sealed for `account` with any key of this keyring.
    pub fn open(
        &self,
        sealed: &SealedSecret,
        account: &AccountId,
    ) -> Result<WebhookSecret, SealError> {
        let (key_id, body) = match sealed.form() {
            Form::Sealed { key_id, body } => (key_id, body),
            Form::PlainText => return Err(SealError::PlainText),
            Form::Malformed => return Err(SealError::Malformed),
        };
        let key = self
            .keys
            .iter()
            .find(|key| key.id == key_id)
            .ok_or(SealError::UnknownKey(key_id))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Malformed)?;
        if body.len() <= NONCE_BYTES {
            return Err(SealError::Malformed);
        }
        let (nonce, sealed) = body.split_at(NONCE_BYTES);
        let aad = associated_data(&key.id, account);
        let plain = key
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Forged)?;
        String::from_utf8(plain)
            .map(WebhookSecret::from_stored)
            .map_err(|_| SealError::Forged)
    }

    /// Opens both secrets of an account.
    pub fn open_all(
        &self,
        sealed: &AccountSecrets<SealedSecret>,
        account: &AccountId,
    ) -> Result<AccountSecrets, SealError> {
        Ok(AccountSecrets {
            secret: self.open(&sealed.secret, account)?,
            previous_secret: sealed
                .previous_secret
                .as_ref()
                .map(|previous| self.open(previous, account))
                .transpose()?,
        })
    }

    /// How a stored secret stands against this keyring.
    pub fn standing(&self, sealed: &SealedSecret) -> Standing {
        match sealed.form() {
            Form::Sealed { key_id, .. } if key_id == self.active().id => Standing::Current,
            Form::Sealed { key_id, .. } if self.keys.iter().any(|key| key.id == key_id) => {
                Standing::OlderKey
            }
            Form::Sealed { key_id, .. } => Standing::UnknownKey(key_id),
            Form::PlainText => Standing::PlainText,
            Form::Malformed => Standing::Malformed,
        }
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active().id)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// How a stored secret stands against a keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Sealed with the active key: nothing to do.
    Current,
    /// Sealed with an older key of the keyring: to reseal.
    OlderKey,
    /// Written in plain text by an earlier version: to seal.
    PlainText,
    /// Sealed with a key the keyring lacks.
    UnknownKey(KeyId),
    /// Neither sealed nor plain text.
    Malformed,
}

/// An account secret as a store keeps it: sealed text, opaque to the store. (Rows written by
/// versions before sealing hold plain text; [`Keyring::standing`] tells them apart.)
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(String);

impl SealedSecret {
    /// Wraps text read back from a store.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn form(&self) -> Form<'_> {
        if self.0.starts_with(PLAIN_TEXT_PREFIX) {
            return Form::PlainText;
        }
        let mut parts = self.0.splitn(3, '.');
        match (
            parts.next(),
            parts.next().and_then(KeyId::parse),
            parts.next(),
        ) {
            (Some(VERSION), Some(key_id), Some(body)) => Form::Sealed { key_id, body },
            _ => Form::Malformed,
        }
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.form() {
            Form::Sealed { key_id, .. } => write!(f, "SealedSecret({key_id}, <sealed>)"),
            Form::PlainText | Form::Malformed => f.write_str("SealedSecret(<redacted>)"),
        }
    }
}

/// The parts of stored secret text.
enum Form<'a> {
    Sealed { key_id: KeyId, body: &'a str },
    PlainText,
    Malformed,
}

/// What a sealed secret is bound to besides its key: the format, the key id and the account.
fn associated_data(key_id: &KeyId, account: &AccountId) -> String {
    format!("{VERSION}.{key_id}.{account}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(number: u64) -> AccountId {
        AccountId::from_number(number)
    }

    fn keyring(active: &MasterKey, older: &[&MasterKey]) -> Keyring {
        Keyring::new(
            active.clone(),
            older.iter().map(|&key| key.clone()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_to_the_same_secret_and_hides_it() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let secret = WebhookSecret::generate();
        let sealed = keys.seal(&secret, &account(1));
        assert_eq!(keys.open(&sealed, &account(1)), Ok(secret.clone()));
        let core = secret.expose().strip_prefix("whsec_").unwrap();
        assert!(!sealed.as_str().contains(core));
        assert!(sealed
            .as_str()
            .starts_with(&format!("v1.{}.", keys.active().id())));
        assert_eq!(keys.standing(&sealed), Standing::Current);
    }

    #[test]
    fn sealing_twice_gives_different_text() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let secret = WebhookSecret::generate();
        assert_ne!(
            keys.seal(&secret, &account(1)),
            keys.seal(&secret, &account(1))
        );
    }

    #[test]
    fn a_tampered_sealed_secret_does_not_open() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let sealed = keys.seal(&WebhookSecret::generate(), &account(1));
        let (head, body) = sealed.as_str().rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for index in [0, NONCE_BYTES, bytes.len() - 1] {
            bytes[index] ^= 1;
            let tampered =
                SealedSecret::from_stored(format!("{head}.{}", URL_SAFE_NO_PAD.encode(&bytes)));
            assert_eq!(keys.open(&tampered, &account(1)), Err(SealError::Forged));
            bytes[index] ^= 1;
        }
        let truncated = SealedSecret::from_stored(sealed.as_str()[..20].to_owned());
        assert!(keys.open(&truncated, &account(1)).is_err());
    }

    #[test]
    fn a_secret_sealed_for_another_account_does_not_open() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let sealed = keys.seal(&WebhookSecret::generate(), &account(1));
        assert_eq!(keys.open(&sealed, &account(2)), Err(SealError::Forged));
    }

    #[test]
    fn a_secret_sealed_with_an_unknown_key_names_that_key() {
        let old = MasterKey::generate();
        let sealed = keyring(&old, &[]).seal(&WebhookSecret::generate(), &account(1));
        let other = keyring(&MasterKey::generate(), &[]);
        assert_eq!(
            other.open(&sealed, &account(1)),
            Err(SealError::UnknownKey(old.id().clone()))
        );
        assert_eq!(
            other.standing(&sealed),
            Standing::UnknownKey(old.id().clone())
        );
    }

    #[test]
    fn a_wrong_key_under_a_known_id_does_not_open() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let sealed = keys.seal(&WebhookSecret::generate(), &account(1));
        let other = keyring(&MasterKey::generate(), &[]);
        let relabelled = SealedSecret::from_stored(sealed.as_str().replacen(
            keys.active().id().as_str(),
            other.active().id().as_str(),
            1,
        ));
        assert_eq!(other.open(&relabelled, &account(1)), Err(SealError::Forged));
    }

    #[test]
    fn an_older_key_still_opens_and_the_new_one_seals() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let secret = WebhookSecret::generate();
        let sealed_old = keyring(&old, &[]).seal(&secret, &account(1));
        let rotated = keyring(&new, &[&old]);
        assert_eq!(rotated.standing(&sealed_old), Standing::OlderKey);
        assert_eq!(rotated.open(&sealed_old, &account(1)), Ok(secret.clone()));
        let resealed = rotated.seal(&secret, &account(1));
        assert_eq!(rotated.standing(&resealed), Standing::Current);
        assert_eq!(keyring(&new, &[]).open(&resealed, &account(1)), Ok(secret));
    }

    #[test]
    fn plain_text_and_garbage_are_told_apart_and_never_open() {
        let keys = keyring(&MasterKey::generate(), &[]);
        let plain = SealedSecret::from_stored(WebhookSecret::generate().expose().to_owned());
        assert_eq!(keys.standing(&plain), Standing::PlainText);
        assert_eq!(keys.open(&plain, &account(1)), Err(SealError::PlainText));
        let garbage = SealedSecret::from_stored("v2.zz.abc".to_owned());
        assert_eq!(keys.standing(&garbage), Standing::Malformed);
        assert_eq!(keys.open(&garbage, &account(1)), Err(SealError::Malformed));
    }

    #[test]
    fn a_keyring_parses_a_comma_separated_list_active_first() {
        let (a, b) = (MasterKey::generate(), MasterKey::generate());
        let list = format!("{}, {}", b.expose_base64(), a.expose_base64());
        let keys = Keyring::parse(&list).unwrap();
        assert_eq!(keys.ids(), vec![b.id().clone(), a.id().clone()]);
        let url_safe = URL_SAFE_NO_PAD.encode(a.bytes);
        assert_eq!(Keyring::parse(&url_safe).unwrap().active().id(), a.id());
        assert_eq!(Keyring::parse(" , ").err(), Some(KeyringError::Empty));
        assert_eq!(
            Keyring::parse(&format!("{},c2hvcnQ=", a.expose_base64())).err(),
            Some(KeyringError::NotAKey { position: 2 })
        );
        let twice = format!("{},{}", a.expose_base64(), a.expose_base64());
        assert_eq!(Keyring::parse(&twice).unwrap().ids().len(), 1);
    }

    #[test]
    fn debug_output_shows_key_ids_only() {
        let key = MasterKey::generate();
        let keys = keyring(&key, &[]);
        let secret = WebhookSecret::generate();
        let sealed = keys.seal(&secret, &account(1));
        for text in [
            format!("{key:?}"),
            format!("{keys:?}"),
            format!("{sealed:?}"),
        ] {
            assert!(!text.contains(&key.expose_base64()), "{text}");
            assert!(!text.contains(sealed.as_str()), "{text}");
            assert!(text.contains(key.id().as_str()), "{text}");
        }
        let plain = SealedSecret::from_stored(secret.expose().to_owned());
        assert!(!format!("{plain:?}").contains(secret.expose()));
    }
}
