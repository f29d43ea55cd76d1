//! Files only their owner may read (the generated admin token and master key), written once.

use anyhow::Context;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Writes `contents` and a newline to a new file of mode 0600, creating its directory; fails if
/// the file appeared meanwhile, so two processes starting at once never overwrite each other.
/// `what` names the file in errors.
pub fn write_new(path: &Path, contents: &str, what: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the {what} file {}", path.display()))?;
    writeln!(file, "{contents}")?;
    file.sync_all()?;
    Ok(())
}
