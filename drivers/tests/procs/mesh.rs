//! Where a mesh of pubs stands, read from their data directories: shared by the mesh process
//! test (`tests/pub_mesh.rs`) and benchmark (`benches/mesh_restore.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use tinyssb::mesh::hrw;
use tinyssb::FeedId;

/// A pub's id: the feed id in the mesh key file of its data directory.
pub fn pub_id(data: &Path) -> Option<FeedId> {
    let text = std::fs::read_to_string(data.join(".mesh_key")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    FeedId::from_hex(v.get("fid")?.as_str()?).ok()
}

/// Bytes of `fid`'s log in `data` (0 if it has none).
pub fn log_len(data: &Path, fid: &FeedId) -> u64 {
    std::fs::metadata(data.join(fid.to_hex()).join("log.bin")).map_or(0, |m| m.len())
}

/// For the live pubs (their data directories) and the feeds (id, full log length): how many
/// feeds lack a complete copy on one of their `replicas` holders, how many have no complete
/// copy at all, and per pub (directory name) how many feeds it has data of without being a
/// holder.
#[derive(Debug, Default)]
pub struct Census {
    pub short: usize,
    pub lost: usize,
    pub extra: BTreeMap<String, usize>,
}

pub fn census(live: &[&Path], feeds: &[(FeedId, u64)], replicas: usize) -> Census {
    let pubs: Vec<(&Path, FeedId)> = live.iter().filter_map(|d| Some((*d, pub_id(d)?))).collect();
    let ids: Vec<FeedId> = pubs.iter().map(|(_, id)| *id).collect();
    let mut c = Census::default();
    for (fid, full) in feeds {
        let holders = hrw::top(fid, &ids, replicas);
        let complete: Vec<FeedId> =
            pubs.iter().filter(|(d, _)| log_len(d, fid) == *full).map(|(_, id)| *id).collect();
        if holders.iter().any(|h| !complete.contains(h)) {
            c.short += 1;
        }
        if complete.is_empty() {
            c.lost += 1;
        }
        for (d, id) in &pubs {
            if !holders.contains(id) && log_len(d, fid) > 0 {
                let name = d.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                *c.extra.entry(name).or_default() += 1;
            }
        }
    }
    c
}

/// True once the log of every pub in `logs` last reported `n` live pubs.
pub fn all_see(logs: &[&Path], n: usize) -> bool {
    let line = format!("mesh: {n} live pubs");
    logs.iter().all(|log| {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().rev().find(|l| l.contains(" live pubs")).is_some_and(|l| l.ends_with(&line))
    })
}
