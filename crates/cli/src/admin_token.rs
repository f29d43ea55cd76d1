//! The admin token: configured, or generated once and kept beside the database.

use anyhow::Context;
use base64::Engine;
use optout_server::AdminToken;
use rand::RngCore;
use std::path::{Path, PathBuf};

use crate::private_file;

/// File name of the generated token inside the data directory.
const TOKEN_FILE: &str = "admin-token";

/// The configured token, or the one kept in `<data_dir>/admin-token`, generated if missing.
pub fn resolve(configured: Option<String>, data_dir: &Path) -> anyhow::Result<AdminToken> {
    if let Some(token) = configured {
        return AdminToken::new(token).map_err(anyhow::Error::msg);
    }
    let path = data_dir.join(TOKEN_FILE);
    if path.exists() {
        let token = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the admin token file {}", path.display()))?;
        tracing::info!(path = %path.display(), "admin token read from file");
        return AdminToken::new(token.trim()).map_err(anyhow::Error::msg);
    }
    let token = generate();
    private_file::write_new(&path, &token, "admin token")?;
    tracing::info!(path = %path.display(), "admin token generated; read it from this file");
    AdminToken::new(token).map_err(anyhow::Error::msg)
}

/// The directory that holds a SQLite database file.
pub fn data_dir_of(database_path: &Path) -> PathBuf {
    match database_path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A new random token: base64url of 32 bytes from the thread's CSPRNG.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generated_token_is_kept_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = resolve(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = resolve(None, dir.path()).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn configured_token_wins_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let token = resolve(Some("a-configured-token-123".into()), dir.path()).unwrap();
        assert_eq!(token.expose(), "a-configured-token-123");
        assert!(!dir.path().join(TOKEN_FILE).exists());
    }
}
