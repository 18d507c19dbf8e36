//! Feed key files: `{"seed": "<64 hex>", "fid": "<64 hex>"}`, mode 0600. `tinyssb-feed` keeps a
//! writer's key in one, and a pub in a mesh keeps the key of its mesh feed in `.mesh_key` in its
//! data directory.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use tinyssb::crypto::Keypair;
use tinyssb::ids::{from_hex, to_hex};

/// Creates a key file with a fresh random key; fails if the file exists.
pub fn create(path: &Path) -> io::Result<Keypair> {
    let seed = crate::noise::random32()?;
    let key = Keypair::from_seed(&seed);
    let body = serde_json::json!({ "seed": to_hex(&seed), "fid": key.feed_id().to_hex() });
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(format!("{body:#}\n").as_bytes())?;
    f.sync_all()?;
    Ok(key)
}

/// Reads a key file; the error says what is wrong with it.
pub fn load(path: &Path) -> Result<Keypair, String> {
    let what = |e: &dyn std::fmt::Display| format!("key file {}: {e}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| what(&e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| what(&e))?;
    let seed = v.get("seed").and_then(|s| s.as_str()).ok_or_else(|| what(&"no \"seed\" string"))?;
    let seed: [u8; 32] = from_hex(seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| what(&"seed is not 64 hex digits"))?;
    let key = Keypair::from_seed(&seed);
    if let Some(fid) = v.get("fid").and_then(|s| s.as_str()) {
        if fid != key.feed_id().to_hex() {
            return Err(what(&"fid does not match the seed"));
        }
    }
    Ok(key)
}

/// The key in `path`, created first if the file does not exist.
pub fn load_or_create(path: &Path) -> io::Result<Keypair> {
    if path.exists() {
        load(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    } else {
        create(path).map_err(|e| io::Error::new(e.kind(), format!("key file {}: {e}", path.display())))
    }
}
