//! The deployment secret behind keyed hashes of request data (the idempotency fingerprint,
//! shared/src/idempotency.rs): `VINR_HASH_KEY` if set, else a random key made on first start and
//! kept in `<data-dir>/hash.key` (owner-only), beside the database, never inside it, so a copy of
//! the database alone cannot test guesses against the fingerprints it holds.

use anyhow::Context;
use std::path::Path;

pub const ENV: &str = "VINR_HASH_KEY";
const FILE: &str = "hash.key";
/// 32 random bytes as hex; a key given in the environment must be at least this long.
const MIN_LEN: usize = 32;

pub fn load_or_create(data_dir: &Path) -> anyhow::Result<String> {
    if let Ok(key) = std::env::var(ENV) {
        return checked(key).context(ENV);
    }
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(key) => checked(key.trim().to_string()).with_context(|| format!("{}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            crate::rand::fill(&mut bytes);
            let key = vinr_shared::keys::hex(&bytes);
            write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn checked(key: String) -> anyhow::Result<String> {
    if key.len() < MIN_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        anyhow::bail!("the hash key must be at least {MIN_LEN} visible ASCII characters");
    }
    Ok(key)
}

fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_kept() {
        let dir = std::env::temp_dir().join(format!("vinr-hash-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join(FILE));
        let first = load_or_create(&dir).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(load_or_create(&dir).unwrap(), first, "the same key after a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(checked("short".into()).is_err());
        assert!(checked("x".repeat(40)).is_ok());
        assert!(checked(format!("{}é", "x".repeat(40))).is_err());
    }
}
