//! The files of secure links ([`tinyssb::secure`]): the node's static key file and the trust
//! list of peer keys, and the operating system randomness a new key is drawn from.
//!
//! The key file is text: `#` comment lines (the public key is noted in one) and one line of
//! 64 hex digits, the X25519 secret. It is created with mode 0600 and never rewritten. A trust
//! list has one peer static public key (64 hex digits) per line; blank lines and `#` comments
//! are allowed, as in the feed id lists of `--allow`.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tinyssb::ids::{from_hex, to_hex};
use tinyssb::secure::{StaticKey, KEY_LEN};

/// 32 bytes from the operating system's random source.
pub fn random32() -> io::Result<[u8; 32]> {
    let mut buf = [0u8; 32];
    let mut filled = 0;
    while filled < buf.len() {
        let rest = buf.get_mut(filled..).unwrap_or_default();
        match rustix::rand::getrandom(rest, rustix::rand::GetRandomFlags::empty()) {
            Ok(n) => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf)
}

/// A new static key from the operating system's randomness.
pub fn generate_key() -> io::Result<StaticKey> {
    StaticKey::from_secret(random32()?).map_err(io::Error::other)
}

/// Reads the static key in `path`; `Ok(None)` if there is no such file.
pub fn read_key(path: &Path) -> io::Result<Option<StaticKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("secure key {}: {e}", path.display()))),
    };
    let bad = |why: &str| {
        io::Error::new(io::ErrorKind::InvalidData, format!("secure key {}: {why}", path.display()))
    };
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    let line = line.ok_or_else(|| bad("no key in it"))?;
    let secret: [u8; KEY_LEN] = from_hex(line)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("the key line is not 64 hex digits"))?;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!("secure key {} is readable by others: chmod 600 it", path.display());
        }
    }
    StaticKey::from_secret(secret).map(Some).map_err(|e| bad(&e.to_string()))
}

/// Writes `key` to a new file `path` with mode 0600; fails if the file exists.
pub fn write_key(path: &Path, key: &StaticKey) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    let text = format!(
        "# tinySSB secure-link static key (X25519 secret). Keep it private.\n# public: {}\n{}\n",
        to_hex(&key.public()),
        to_hex(&key.secret())
    );
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Reads a trust list: one static public key (64 hex digits) per line, blank lines and `#`
/// comments allowed. Errors name the file and the line.
pub fn read_trust(path: &Path) -> Result<BTreeSet<[u8; KEY_LEN]>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--trust {}: {e}", path.display()))?;
    parse_trust(&text).map_err(|(line, why)| format!("--trust {}:{line}: {why}", path.display()))
}

/// Parses the body of a trust list; an error gives the 1-based line number and what is wrong.
pub fn parse_trust(text: &str) -> Result<BTreeSet<[u8; KEY_LEN]>, (usize, String)> {
    let mut keys = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let item = line.split('#').next().unwrap_or("").trim();
        if item.is_empty() {
            continue;
        }
        let key: [u8; KEY_LEN] = from_hex(item)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| (n + 1, format!("'{item}' is not a static public key (64 hex digits)")))?;
        keys.insert(key);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        assert!(read_key(&path).unwrap().is_none());
        let key = generate_key().unwrap();
        write_key(&path, &key).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(read_key(&path).unwrap(), Some(key.clone()));
        assert!(write_key(&path, &key).is_err(), "never overwritten");
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(read_key(&path).unwrap_err().to_string().contains("no key"));
    }

    #[test]
    fn trust_lists_take_comments_and_name_bad_lines() {
        let k = "ab".repeat(32);
        let keys = parse_trust(&format!("# peers\n\n{k}  # pub a\n")).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(parse_trust("xyz\n").unwrap_err().0, 1);
        assert_eq!(parse_trust(&format!("{k}\nabcd\n")).unwrap_err().0, 2);
    }
}
