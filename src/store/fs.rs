//! [`FsStore`]: the data directory, byte-compatible with the reference's two-files-per-feed layout.
//!
//! ```text
//! DATADIR/<64 lowercase hex fid>/log.bin       records, back to back
//!                               /frontier.bin  BIPF dict: pend_sc, max_seq, max_pos, prev
//! DATADIR/.tinyssb.lock                        advisory lock held by the one writer
//! DATADIR/.tombstones                          ids of dropped feeds, one per line
//! DATADIR/.dropped/<fid>-<n>/                  directories of dropped feeds, kept aside
//! DATADIR/.<anything else>                      the pub's other files (e.g. `.secure_key`)
//! ```
//! A record is `entry(120) ‖ one 120-byte slot per sidechain chunk (zeros until received) ‖
//! u32be(offset of the record's start)`. An in-memory index of record offsets, built at open from
//! the back pointers alone, makes every read one positioned read. The layout, recovery rules and
//! durability policy are specified in SPEC.md section 8.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::frontier::{FrontierFile, Pend};
use super::{chunk_slots, record_len, Frontier, PendingChain, Store, StoreError, MAX_LOG_LEN};
use crate::ids::{FeedId, HashPtr, MsgId, Seq};
use crate::wire::chunk::{Chunk, CHUNK_LEN};
use crate::wire::entry::{entry_dmx, Chain20, Entry, ENTRY_LEN};

const LOG: &str = "log.bin";
const FRONTIER: &str = "frontier.bin";
const FRONTIER_TMP: &str = "frontier.tmp";
/// The file in the data directory whose advisory lock a writing store holds. Not a 64-hex
/// directory name, so the reference pub and our own open skip it.
pub const LOCK_FILE: &str = ".tinyssb.lock";
/// The file in the data directory listing dropped feeds (tombstones): one feed id (64 hex
/// digits) per line, optionally followed by a space and a note; blank lines and `#` comments
/// are allowed. Not a feed directory name, so the reference pub ignores it.
pub const TOMBSTONES_FILE: &str = ".tombstones";
/// The directory in the data directory where dropped feeds' directories are moved, as
/// `<fid>-<n>` (`n` counting up from 0 so that a feed dropped twice keeps both copies).
pub const DROPPED_DIR: &str = ".dropped";
/// Bytes of a record that are not chunk slots: the entry and the back pointer.
const RECORD_BASE: u64 = ENTRY_LEN as u64 + 4;
const SLOT: u64 = CHUNK_LEN as u64;
/// Records up to this size are written with a single write call.
const ONE_WRITE_MAX: u64 = 64 * 1024;
/// Size of the backward read window used to collect back pointers at open.
const BACK_WINDOW: u64 = 16 * 1024;

/// When writes are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After every append and chunk write: fsync `log.bin`, then replace `frontier.bin`
    /// atomically (temp file, fsync, rename, fsync directory). Slow, nothing acknowledged is lost.
    EveryWrite,
    /// Writes go to `log.bin` at once; fsyncs and `frontier.bin` updates happen on
    /// [`Store::sync`], when the store is dropped, or automatically after `every` writes.
    /// A crash loses at most the unsynced writes; usually not even those, because recovery at
    /// open re-derives entries and chunks that reached `log.bin`.
    Batched {
        /// Writes after which the store syncs on its own (at least 1).
        every: u32,
    },
}

/// Tuning for [`FsStore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsConfig {
    /// Durability policy.
    pub durability: Durability,
    /// Most `log.bin` handles kept open at once (least recently used are closed first; at least 1).
    pub max_open_files: usize,
}

impl Default for FsConfig {
    fn default() -> Self {
        FsConfig { durability: Durability::EveryWrite, max_open_files: 256 }
    }
}

/// Something [`FsStore::open`] noticed or repaired. [`FsStore::open_read_only`] reports the
/// same notes but repairs nothing on disk: each then names damage it found and worked around
/// in memory (the leftover file is still there, the log still has its torn tail, and so on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenNote {
    /// A directory entry that is not a feed directory was left alone.
    Skipped {
        /// The entry.
        path: PathBuf,
        /// Why it is not a feed.
        reason: String,
    },
    /// A leftover `frontier.tmp` (an interrupted frontier update) was removed.
    RemovedTemp(FeedId),
    /// `log.bin` was missing and has been created empty.
    CreatedLog(FeedId),
    /// `frontier.bin` was missing, unreadable or inconsistent with the log; it was rebuilt
    /// by checking the whole log.
    RebuiltFrontier(FeedId),
    /// Entries found in `log.bin` beyond the frontier passed the DMX chain check and were kept.
    RecoveredEntries {
        /// The feed.
        fid: FeedId,
        /// How many.
        count: u32,
    },
    /// Chunks found in the slots of a pending sidechain matched their hashes and were kept.
    RecoveredChunks {
        /// The feed.
        fid: FeedId,
        /// Seq of the chain20 entry.
        seq: Seq,
        /// How many chunks beyond what the frontier recorded.
        count: u32,
    },
    /// A torn or invalid tail of `log.bin` was cut off.
    TruncatedLog {
        /// The feed.
        fid: FeedId,
        /// Old length of `log.bin`.
        from: u64,
        /// New length.
        to: u64,
    },
    /// A feed directory could not be opened at all and is not served.
    Failed {
        /// The feed directory.
        path: PathBuf,
        /// The error.
        error: String,
    },
}

/// In-memory state of one feed: the record index and the frontier.
#[derive(Debug)]
struct Feed {
    /// Start offset of the record of seq `i + 1`.
    offsets: Vec<u32>,
    /// Length of `log.bin` the frontier accounts for (`max_pos`).
    end: u64,
    prev: MsgId,
    pend: BTreeMap<u32, Pend>,
    /// `log.bin` has writes that were not fsynced.
    log_dirty: bool,
    /// `frontier.bin` is behind the in-memory frontier.
    frontier_dirty: bool,
}

impl Feed {
    fn empty(fid: &FeedId) -> Feed {
        Feed {
            offsets: Vec::new(),
            end: 0,
            prev: fid.genesis_prev(),
            pend: BTreeMap::new(),
            log_dirty: false,
            frontier_dirty: false,
        }
    }

    fn seq(&self) -> u32 {
        u32::try_from(self.offsets.len()).expect("a log capped at MAX_LOG_LEN holds < 2^32 entries")
    }

    fn frontier_file(&self) -> FrontierFile {
        FrontierFile { pend: self.pend.clone(), max_seq: self.seq(), max_pos: self.end, prev: self.prev }
    }

    /// Start and number of chunk slots of the record of `seq`.
    fn record(&self, seq: Seq) -> Option<(u64, u64)> {
        let i = usize::try_from(seq.0).ok()?.checked_sub(1)?;
        let start = u64::from(*self.offsets.get(i)?);
        let next = self.offsets.get(i + 1).map_or(self.end, |&o| u64::from(o));
        Some((start, (next - start - RECORD_BASE) / SLOT))
    }
}

/// Open `log.bin` handles, bounded, least recently used closed first.
#[derive(Debug)]
struct Handles {
    cap: usize,
    tick: u64,
    /// Open `log.bin` for writing too (false for a read-only store).
    write: bool,
    open: HashMap<FeedId, (File, u64)>,
}

impl Handles {
    fn get(&mut self, root: &Path, fid: &FeedId) -> io::Result<&File> {
        self.tick += 1;
        let tick = self.tick;
        if !self.open.contains_key(fid) {
            if self.open.len() >= self.cap {
                let oldest = self.open.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.open.remove(&k);
                }
            }
            let file = OpenOptions::new().read(true).write(self.write).open(log_path(root, fid))?;
            self.open.insert(*fid, (file, tick));
        }
        match self.open.get_mut(fid) {
            Some((file, t)) => {
                *t = tick;
                Ok(file)
            }
            None => Err(io::Error::other("handle vanished")),
        }
    }
}

fn feed_dir(root: &Path, fid: &FeedId) -> PathBuf {
    root.join(fid.to_hex())
}

fn log_path(root: &Path, fid: &FeedId) -> PathBuf {
    feed_dir(root, fid).join(LOG)
}

/// A feed store in a data directory, compatible with the reference's files.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    config: FsConfig,
    feeds: HashMap<FeedId, Feed>,
    handles: Handles,
    notes: Vec<OpenNote>,
    /// Feeds with unsynced changes, each listed once.
    dirty: Vec<FeedId>,
    unsynced: u32,
    /// Feed directories were created since the last sync: the data directory needs an fsync.
    root_dirty: bool,
    /// The locked [`LOCK_FILE`]; `None` for a read-only store.
    lock: Option<File>,
    /// Ids listed in [`TOMBSTONES_FILE`].
    tombstones: BTreeSet<FeedId>,
}

/// How a data directory is opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Create, lock, repair, write.
    Write,
    /// Touch nothing: damage is reported and worked around in memory only.
    ReadOnly,
}

impl FsStore {
    /// Opens (creating if needed) the data directory at `root` for writing, repairing what
    /// it can.
    ///
    /// The store holds an exclusive advisory lock on [`LOCK_FILE`] in `root` until it is
    /// dropped, so there is one writer per directory: while another store (in this or another
    /// process) has it, this fails with [`StoreError::Locked`]. Directory entries that are not
    /// feeds, and feeds that fail to open, are skipped and listed in [`FsStore::open_report`];
    /// otherwise only an unreadable `root` is an error.
    pub fn open(root: impl AsRef<Path>, config: FsConfig) -> Result<FsStore, StoreError> {
        let root = root.as_ref().to_path_buf();
        std::fs::create_dir_all(&root)?;
        let lock = lock_dir(&root)?;
        FsStore::load(root, config, Mode::Write, Some(lock))
    }

    /// Opens the existing data directory at `root` for reading only: nothing is created,
    /// written, repaired or locked, so this works on a read-only directory and next to a
    /// running pub. Damage that [`FsStore::open`] would repair is listed in
    /// [`FsStore::open_report`] and worked around in memory (a torn log tail is ignored, a
    /// stale `frontier.bin` re-derived from the log). Writes fail with [`StoreError::ReadOnly`].
    pub fn open_read_only(root: impl AsRef<Path>, config: FsConfig) -> Result<FsStore, StoreError> {
        FsStore::load(root.as_ref().to_path_buf(), config, Mode::ReadOnly, None)
    }

    fn load(root: PathBuf, config: FsConfig, mode: Mode, lock: Option<File>) -> Result<FsStore, StoreError> {
        let mut store = FsStore {
            handles: Handles {
                cap: config.max_open_files.max(1),
                tick: 0,
                write: mode == Mode::Write,
                open: HashMap::new(),
            },
            root,
            config,
            feeds: HashMap::new(),
            notes: Vec::new(),
            dirty: Vec::new(),
            unsynced: 0,
            root_dirty: false,
            lock,
            tombstones: BTreeSet::new(),
        };
        store.tombstones = read_tombstones(&store.root, &mut store.notes)?;
        let mut names: Vec<_> = std::fs::read_dir(&store.root)?.collect::<Result<_, _>>()?;
        names.sort_by_key(std::fs::DirEntry::file_name);
        for item in names {
            let name = item.file_name();
            // Dot files are the pub's own (the lock, tombstones, dropped feeds, the secure-link
            // key): never feeds, and not worth a note.
            if name.to_str().is_some_and(|n| n.starts_with('.')) {
                continue;
            }
            let path = item.path();
            let fid = item.file_name().to_str().and_then(parse_fid);
            let Some(fid) = fid else {
                let reason = "name is not a 64-digit lowercase hex feed id".to_owned();
                store.notes.push(OpenNote::Skipped { path, reason });
                continue;
            };
            if !item.file_type()?.is_dir() {
                store.notes.push(OpenNote::Skipped { path, reason: "not a directory".to_owned() });
                continue;
            }
            if store.tombstones.contains(&fid) {
                let reason = format!("the feed was dropped (its id is in {TOMBSTONES_FILE})");
                store.notes.push(OpenNote::Skipped { path, reason });
                continue;
            }
            match open_feed(&store.root, &fid, mode, false, &mut store.notes) {
                Ok(feed) => {
                    store.feeds.insert(fid, feed);
                }
                Err(e) => store.notes.push(OpenNote::Failed { path, error: e.to_string() }),
            }
        }
        Ok(store)
    }

    /// What [`FsStore::open`] skipped or repaired.
    pub fn open_report(&self) -> &[OpenNote] {
        &self.notes
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the store was opened with [`FsStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// When the feed's `log.bin` was last modified (the time of its newest entry or chunk, as
    /// far as the file system tells), or `None` for an unknown feed or an unreadable time.
    pub fn log_modified(&self, fid: &FeedId) -> Option<std::time::SystemTime> {
        self.feeds.get(fid)?;
        log_path(&self.root, fid).metadata().and_then(|m| m.modified()).ok()
    }

    /// Removes `fid` like [`Store::drop_feed`], with `note` (for example the time of dropping,
    /// one line) written after the id in [`TOMBSTONES_FILE`].
    pub fn drop_feed_noted(&mut self, fid: &FeedId, note: &str) -> Result<Option<PathBuf>, StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        // The tombstone first: if the process dies before the directory is moved, the next open
        // skips the directory because of it.
        if !self.tombstones.contains(fid) {
            let note: String = note.chars().filter(|c| !c.is_control()).collect();
            let line = if note.is_empty() { format!("{fid}\n") } else { format!("{fid} {note}\n") };
            let path = self.root.join(TOMBSTONES_FILE);
            let mut f = OpenOptions::new().append(true).create(true).open(&path)?;
            io::Write::write_all(&mut f, line.as_bytes())?;
            f.sync_all()?;
            File::open(&self.root)?.sync_all()?;
            self.tombstones.insert(*fid);
        }
        // The copy kept aside gets a frontier that matches its log, as after a clean stop.
        if let Some(feed) = self.feeds.get_mut(fid) {
            sync_feed(&self.root, fid, feed, &mut self.handles)?;
        }
        self.handles.open.remove(fid);
        self.dirty.retain(|d| d != fid);
        self.feeds.remove(fid);
        let dir = feed_dir(&self.root, fid);
        if dir.symlink_metadata().is_err() {
            return Ok(None);
        }
        let aside = self.root.join(DROPPED_DIR);
        std::fs::create_dir_all(&aside)?;
        let target = (0u32..)
            .map(|n| aside.join(format!("{fid}-{n}")))
            .find(|p| p.symlink_metadata().is_err())
            .ok_or_else(|| StoreError::Corrupt("no name for the dropped feed".into()))?;
        std::fs::rename(&dir, &target)?;
        File::open(&aside)?.sync_all()?;
        File::open(&self.root)?.sync_all()?;
        Ok(Some(target))
    }

    /// Takes the tombstone of `fid` away, so that the feed may be stored again; false if it had
    /// none. The feed's data is not brought back: a directory kept in [`DROPPED_DIR`] can be
    /// moved back to `<fid>` by hand. Other lines of [`TOMBSTONES_FILE`] are kept as they are.
    pub fn remove_tombstone(&mut self, fid: &FeedId) -> Result<bool, StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        if !self.tombstones.contains(fid) {
            return Ok(false);
        }
        let path = self.root.join(TOMBSTONES_FILE);
        let text = std::fs::read_to_string(&path)?;
        let kept: String =
            text.lines().filter(|l| tombstone_line(l) != Some(Ok(*fid))).flat_map(|l| [l, "\n"]).collect();
        let tmp = self.root.join(format!("{TOMBSTONES_FILE}.tmp"));
        let mut f = File::create(&tmp)?;
        io::Write::write_all(&mut f, kept.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        File::open(&self.root)?.sync_all()?;
        self.tombstones.remove(fid);
        Ok(true)
    }

    /// Lets go of the store without syncing anything, as if the process died here: the
    /// directory lock is released, unsynced `frontier.bin` updates are lost. For crash tests.
    pub fn abandon(mut self) {
        drop(self.lock.take());
        std::mem::forget(self);
    }

    fn mark_dirty(&mut self, fid: &FeedId) -> Result<(), StoreError> {
        match self.config.durability {
            Durability::EveryWrite => {
                if let Some(feed) = self.feeds.get_mut(fid) {
                    sync_feed(&self.root, fid, feed, &mut self.handles)?;
                }
                Ok(())
            }
            Durability::Batched { every } => {
                if !self.dirty.contains(fid) {
                    self.dirty.push(*fid);
                }
                self.unsynced += 1;
                if self.unsynced >= every.max(1) {
                    self.sync()?;
                }
                Ok(())
            }
        }
    }
}

impl Drop for FsStore {
    fn drop(&mut self) {
        // Best effort: a failure here is repaired at the next open. The lock goes after this.
        let _ = self.sync();
    }
}

/// Takes the exclusive advisory lock of the data directory `root`.
fn lock_dir(root: &Path) -> Result<File, StoreError> {
    let path = root.join(LOCK_FILE);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StoreError::Locked { dir: root.to_path_buf(), lock: path })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}

/// The id on one line of [`TOMBSTONES_FILE`]: `None` for a blank or comment line, an error
/// for a line that does not start with a feed id.
fn tombstone_line(line: &str) -> Option<Result<FeedId, ()>> {
    let word = line.split_whitespace().next()?;
    if word.starts_with('#') {
        return None;
    }
    Some(FeedId::from_hex(word).map_err(|_| ()))
}

/// Reads [`TOMBSTONES_FILE`] (none is an empty list); bad lines are reported and skipped.
fn read_tombstones(root: &Path, notes: &mut Vec<OpenNote>) -> io::Result<BTreeSet<FeedId>> {
    let path = root.join(TOMBSTONES_FILE);
    let text = match std::fs::read(&path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        match tombstone_line(line) {
            None => {}
            Some(Ok(fid)) => {
                ids.insert(fid);
            }
            Some(Err(())) => {
                let reason = format!("line {} does not start with a 64-hex feed id", n + 1);
                notes.push(OpenNote::Skipped { path: path.clone(), reason });
            }
        }
    }
    Ok(ids)
}

fn parse_fid(name: &str) -> Option<FeedId> {
    let lower_hex = name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    lower_hex.then(|| FeedId::from_hex(name).ok()).flatten()
}

/// Fsyncs the feed's log if needed, then replaces its frontier file if needed.
fn sync_feed(root: &Path, fid: &FeedId, feed: &mut Feed, handles: &mut Handles) -> io::Result<()> {
    if feed.log_dirty {
        handles.get(root, fid)?.sync_data()?;
        feed.log_dirty = false;
    }
    if feed.frontier_dirty {
        write_frontier(&feed_dir(root, fid), &feed.frontier_file())?;
        feed.frontier_dirty = false;
    }
    Ok(())
}

/// Replaces `frontier.bin` atomically: write `frontier.tmp`, fsync it, rename, fsync the directory.
fn write_frontier(dir: &Path, state: &FrontierFile) -> io::Result<()> {
    let tmp = dir.join(FRONTIER_TMP);
    let mut f = File::create(&tmp)?;
    io::Write::write_all(&mut f, &state.encode())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(FRONTIER))?;
    File::open(dir)?.sync_all()
}

/// Reads `u32` back pointers walking backwards through a file, through a read window.
struct BackReader<'a> {
    file: &'a File,
    buf: Vec<u8>,
    base: u64,
}

impl BackReader<'_> {
    fn u32_at(&mut self, pos: u64) -> io::Result<u32> {
        let in_window = pos >= self.base && pos + 4 <= self.base + self.buf.len() as u64;
        if !in_window {
            let hi = pos + 4;
            let lo = hi.saturating_sub(BACK_WINDOW);
            self.buf.resize(usize::try_from(hi - lo).expect("at most BACK_WINDOW"), 0);
            self.file.read_exact_at(&mut self.buf, lo)?;
            self.base = lo;
        }
        let i = usize::try_from(pos - self.base).expect("inside the window");
        let mut b = [0u8; 4];
        b.copy_from_slice(self.buf.get(i..i + 4).ok_or_else(|| io::Error::other("window"))?);
        Ok(u32::from_be_bytes(b))
    }
}

/// The record offsets of a log whose first `end` bytes hold exactly `count` records, found by
/// following back pointers from `end`; `None` if the pointers do not describe such a log.
fn walk_back(file: &File, end: u64, count: u32) -> io::Result<Option<Vec<u32>>> {
    if u64::from(count) > end / RECORD_BASE {
        return Ok(None);
    }
    let mut offsets = vec![0u32; count as usize];
    let mut reader = BackReader { file, buf: Vec::new(), base: 0 };
    let mut e = end;
    for slot in offsets.iter_mut().rev() {
        if e < RECORD_BASE {
            return Ok(None);
        }
        let start = reader.u32_at(e - 4)?;
        let s = u64::from(start);
        if s + RECORD_BASE > e || !(e - s - RECORD_BASE).is_multiple_of(SLOT) {
            return Ok(None);
        }
        *slot = start;
        e = s;
    }
    Ok((e == 0).then_some(offsets))
}

fn read_array<const N: usize>(file: &File, pos: u64) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    file.read_exact_at(&mut b, pos)?;
    Ok(b)
}

/// Counts the chunks in slots `from..slots` of the record at `start` that continue a chain
/// expecting `hash` next; returns how many matched and the hash expected after them.
fn scan_slots(
    file: &File,
    start: u64,
    from: u64,
    slots: u64,
    mut hash: HashPtr,
) -> io::Result<(u64, HashPtr)> {
    let mut k = from;
    while k < slots {
        let chunk = Chunk(read_array(file, start + SLOT * (k + 1))?);
        if chunk.hash() != hash {
            break;
        }
        hash = chunk.next();
        k += 1;
    }
    Ok((k - from, hash))
}

/// An offset into a log, or a count of its records or chunks, as `u32`. Every record is
/// checked against [`MAX_LOG_LEN`] (`u32::MAX`) before it is accepted, so these always fit; a
/// failure here is a bug in that check, not bad data.
fn log_u32(n: u64) -> u32 {
    u32::try_from(n).expect("bounded by MAX_LOG_LEN")
}

fn pend_from_scan(start: u64, slots: u64, received: u64, next_hash: HashPtr) -> Option<Pend> {
    (received < slots).then(|| Pend {
        received: log_u32(received),
        remaining: log_u32(slots - received),
        next_hash,
        slot_pos: start + SLOT * (received + 1),
    })
}

/// Checks and appends the records found in `log.bin` after the feed's end, stopping at the
/// first one that is incomplete or does not continue the DMX chain. Returns how many were added.
fn scan_forward(file: &File, fid: &FeedId, feed: &mut Feed, size: u64) -> io::Result<u32> {
    let mut added = 0;
    while feed.end + RECORD_BASE <= size {
        let start = feed.end;
        let Some(seq) = feed.seq().checked_add(1) else { break };
        let entry = Entry(read_array(file, start)?);
        if entry.dmx() != entry_dmx(fid, Seq(seq), &feed.prev) {
            break;
        }
        let slots = chunk_slots(&entry);
        let end = start.saturating_add(record_len(slots));
        if end > size
            || end > MAX_LOG_LEN
            || u64::from(u32::from_be_bytes(read_array(file, end - 4)?)) != start
        {
            break;
        }
        let first = Chain20::parse(entry.payload()).map_or(HashPtr::NULL, |c| c.first);
        let (received, next) = scan_slots(file, start, 0, slots, first)?;
        if let Some(p) = pend_from_scan(start, slots, received, next) {
            feed.pend.insert(seq, p);
        }
        feed.offsets.push(log_u32(start));
        feed.prev = entry.msg_id(fid, Seq(seq), &feed.prev);
        feed.end = end;
        added += 1;
    }
    Ok(added)
}

/// Loads one feed directory, repairing it (see SPEC.md section 8); read-only, it notes the
/// damage and builds the repaired state in memory only.
/// Opens (or, for a writer, creates) one feed. With `lazy`, a feed created just now gets its
/// `frontier.bin` at the next sync instead of at once (batched durability: new feeds join the
/// group commit; a crash before it leaves an empty log without a frontier, which open repairs).
fn open_feed(
    root: &Path,
    fid: &FeedId,
    mode: Mode,
    lazy: bool,
    notes: &mut Vec<OpenNote>,
) -> io::Result<Feed> {
    let dir = feed_dir(root, fid);
    let write = mode == Mode::Write;
    if write {
        std::fs::create_dir_all(&dir)?;
        match std::fs::remove_file(dir.join(FRONTIER_TMP)) {
            Ok(()) => notes.push(OpenNote::RemovedTemp(*fid)),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    } else if dir.join(FRONTIER_TMP).symlink_metadata().is_ok() {
        notes.push(OpenNote::RemovedTemp(*fid));
    }
    let log_path = dir.join(LOG);
    let file = match OpenOptions::new().read(true).write(write).open(&log_path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound && !write => {
            // Nothing to read: an empty feed, as the writer would create it.
            notes.push(OpenNote::CreatedLog(*fid));
            return Ok(Feed::empty(fid));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            let f = OpenOptions::new().read(true).write(true).create_new(true).open(&log_path)?;
            notes.push(OpenNote::CreatedLog(*fid));
            f
        }
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    let raw = match std::fs::read(dir.join(FRONTIER)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let stored = raw.as_deref().and_then(FrontierFile::decode);
    let mut feed = Feed::empty(fid);
    let mut trusted = false;
    if let Some(fr) = &stored {
        if fr.max_pos <= size {
            if let Some(offsets) = walk_back(&file, fr.max_pos, fr.max_seq)? {
                feed.offsets = offsets;
                feed.end = fr.max_pos;
                feed.prev = fr.prev;
                trusted = check_pending(&file, fid, &mut feed, &fr.pend, notes)?;
            }
        }
    }
    if !trusted {
        // Start over from an empty feed and re-derive everything from the log.
        feed = Feed::empty(fid);
        if raw.is_some() || size > 0 {
            notes.push(OpenNote::RebuiltFrontier(*fid));
        }
    }
    let base_seq = feed.seq();
    let added = scan_forward(&file, fid, &mut feed, size)?;
    if trusted && added > 0 {
        notes.push(OpenNote::RecoveredEntries { fid: *fid, count: feed.seq() - base_seq });
    }
    if feed.end < size {
        if write {
            file.set_len(feed.end)?;
            file.sync_all()?;
        }
        notes.push(OpenNote::TruncatedLog { fid: *fid, from: size, to: feed.end });
    }
    if write && stored.as_ref() != Some(&feed.frontier_file()) {
        if lazy && raw.is_none() && size == 0 {
            feed.frontier_dirty = true;
        } else {
            write_frontier(&dir, &feed.frontier_file())?;
        }
    }
    Ok(feed)
}

/// Takes over the pending chains of a trusted frontier, checking each against the log and
/// picking up chunks that reached their slots after the frontier was written. Returns false
/// if a pending chain does not fit the log, in which case the frontier is not trusted.
fn check_pending(
    file: &File,
    fid: &FeedId,
    feed: &mut Feed,
    stored: &BTreeMap<u32, Pend>,
    notes: &mut Vec<OpenNote>,
) -> io::Result<bool> {
    for (&seq, p) in stored {
        let Some((start, slots)) = feed.record(Seq(seq)) else { return Ok(false) };
        let received = u64::from(p.received);
        let fits = received < slots
            && received + u64::from(p.remaining) == slots
            && p.slot_pos == start + SLOT * (received + 1);
        if !fits {
            return Ok(false);
        }
        let (more, next) = scan_slots(file, start, received, slots, p.next_hash)?;
        if more > 0 {
            notes.push(OpenNote::RecoveredChunks { fid: *fid, seq: Seq(seq), count: log_u32(more) });
        }
        if let Some(np) = pend_from_scan(start, slots, received + more, next) {
            feed.pend.insert(seq, np);
        }
    }
    Ok(true)
}

impl Store for FsStore {
    fn feeds(&self) -> Vec<FeedId> {
        self.feeds.keys().copied().collect()
    }

    fn add_feed(&mut self, fid: FeedId) -> Result<bool, StoreError> {
        if self.feeds.contains_key(&fid) {
            return Ok(false);
        }
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        if self.tombstones.contains(&fid) {
            return Err(StoreError::Tombstoned);
        }
        let batched = self.config.durability != Durability::EveryWrite;
        let feed = open_feed(&self.root, &fid, Mode::Write, batched, &mut self.notes)?;
        let lazy = feed.frontier_dirty;
        self.feeds.insert(fid, feed);
        if batched {
            self.root_dirty = true;
            if lazy {
                self.mark_dirty(&fid)?;
            }
        } else {
            File::open(&self.root)?.sync_all()?;
        }
        Ok(true)
    }

    fn frontier(&self, fid: &FeedId) -> Option<Frontier> {
        self.feeds.get(fid).map(|f| Frontier { seq: Seq(f.seq()), prev: f.prev })
    }

    fn log_len(&self, fid: &FeedId) -> Option<u64> {
        self.feeds.get(fid).map(|f| f.end)
    }

    fn read_entry(&mut self, fid: &FeedId, seq: Seq) -> Result<Option<Entry>, StoreError> {
        let Some((start, _)) = self.feeds.get(fid).and_then(|f| f.record(seq)) else { return Ok(None) };
        let file = self.handles.get(&self.root, fid)?;
        Ok(Some(Entry(read_array(file, start)?)))
    }

    fn read_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32) -> Result<Option<Chunk>, StoreError> {
        let Some(feed) = self.feeds.get(fid) else { return Ok(None) };
        let Some((start, slots)) = feed.record(seq) else { return Ok(None) };
        let held = feed.pend.get(&seq.0).map_or(slots, |p| u64::from(p.received));
        if u64::from(nr) >= held {
            return Ok(None);
        }
        let file = self.handles.get(&self.root, fid)?;
        Ok(Some(Chunk(read_array(file, start + SLOT * (u64::from(nr) + 1))?)))
    }

    fn append_entry(&mut self, fid: &FeedId, entry: &Entry, msg_id: MsgId) -> Result<(), StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        let seq = feed.seq().checked_add(1).ok_or(StoreError::LogFull)?;
        if entry.dmx() != entry_dmx(fid, Seq(seq), &feed.prev) {
            return Err(StoreError::OutOfOrder);
        }
        let slots = chunk_slots(entry);
        let start = feed.end;
        let len = record_len(slots);
        let end = start.saturating_add(len);
        if end > MAX_LOG_LEN {
            return Err(StoreError::LogFull);
        }
        let back = log_u32(start).to_be_bytes();
        let file = self.handles.get(&self.root, fid)?;
        if len <= ONE_WRITE_MAX {
            let len = usize::try_from(len).expect("at most ONE_WRITE_MAX");
            let mut rec = vec![0u8; len];
            rec[..ENTRY_LEN].copy_from_slice(&entry.0);
            rec[len - 4..].copy_from_slice(&back);
            file.write_all_at(&rec, start)?;
        } else {
            // The slots in between become a hole, which reads as zeros.
            file.write_all_at(&entry.0, start)?;
            file.write_all_at(&back, end - 4)?;
        }
        if slots > 0 {
            let first = Chain20::parse(entry.payload()).map_or(HashPtr::NULL, |c| c.first);
            let p = Pend { received: 0, remaining: log_u32(slots), next_hash: first, slot_pos: start + SLOT };
            feed.pend.insert(seq, p);
        }
        feed.offsets.push(log_u32(start));
        feed.end = end;
        feed.prev = msg_id;
        feed.log_dirty = true;
        feed.frontier_dirty = true;
        self.mark_dirty(fid)
    }

    fn write_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32, chunk: &Chunk) -> Result<(), StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly);
        }
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        let p = *feed.pend.get(&seq.0).ok_or(StoreError::OutOfOrder)?;
        if nr != p.received || chunk.hash() != p.next_hash {
            return Err(StoreError::OutOfOrder);
        }
        let file = self.handles.get(&self.root, fid)?;
        file.write_all_at(&chunk.0, p.slot_pos)?;
        if p.remaining <= 1 {
            feed.pend.remove(&seq.0);
        } else {
            let next = Pend {
                received: p.received + 1,
                remaining: p.remaining - 1,
                next_hash: chunk.next(),
                slot_pos: p.slot_pos + SLOT,
            };
            feed.pend.insert(seq.0, next);
        }
        feed.log_dirty = true;
        feed.frontier_dirty = true;
        self.mark_dirty(fid)
    }

    fn pending_chains(&self, fid: &FeedId) -> Vec<PendingChain> {
        let Some(feed) = self.feeds.get(fid) else { return Vec::new() };
        feed.pend
            .iter()
            .map(|(&seq, p)| PendingChain {
                seq: Seq(seq),
                next_chunk: p.received,
                remaining: p.remaining,
                next_hash: p.next_hash,
            })
            .collect()
    }

    fn quarantine(&mut self, fid: &FeedId, keep: Frontier) -> Result<Option<PathBuf>, StoreError> {
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        let keep_len = usize::try_from(keep.seq.0).map_err(|_| StoreError::OutOfOrder)?;
        let Some(&cut) = feed.offsets.get(keep_len) else { return Err(StoreError::OutOfOrder) };
        let cut = u64::from(cut);
        let dir = feed_dir(&self.root, fid);
        // Copy the tail aside and make the copy durable before the log loses it.
        let file = self.handles.get(&self.root, fid)?;
        let size = file.metadata()?.len();
        let mut tail = vec![0u8; usize::try_from(size.saturating_sub(cut)).map_err(|_| StoreError::LogFull)?];
        file.read_exact_at(&mut tail, cut)?;
        let aside = (0u32..)
            .map(|n| dir.join(format!("{LOG}.corrupt-{}.{n}", keep.seq.0 + 1)))
            .find(|p| !p.exists())
            .ok_or_else(|| StoreError::Corrupt("no name for the quarantine file".into()))?;
        let mut out = OpenOptions::new().write(true).create_new(true).open(&aside)?;
        io::Write::write_all(&mut out, &tail)?;
        out.sync_all()?;
        let file = self.handles.get(&self.root, fid)?;
        file.set_len(cut)?;
        file.sync_all()?;
        feed.offsets.truncate(keep_len);
        feed.end = cut;
        feed.prev = keep.prev;
        feed.pend.retain(|&s, _| s <= keep.seq.0);
        feed.log_dirty = false;
        feed.frontier_dirty = true;
        sync_feed(&self.root, fid, feed, &mut self.handles)?;
        File::open(&dir)?.sync_all()?;
        Ok(Some(aside))
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        // Logs first, then frontiers, so a frontier never points at data that is not durable.
        let dirty = self.dirty.clone();
        for fid in &dirty {
            if let Some(feed) = self.feeds.get_mut(fid) {
                if feed.log_dirty {
                    self.handles.get(&self.root, fid)?.sync_data()?;
                    feed.log_dirty = false;
                }
            }
        }
        for fid in &dirty {
            if let Some(feed) = self.feeds.get_mut(fid) {
                sync_feed(&self.root, fid, feed, &mut self.handles)?;
            }
        }
        if self.root_dirty {
            File::open(&self.root)?.sync_all()?;
            self.root_dirty = false;
        }
        self.dirty.clear();
        self.unsynced = 0;
        Ok(())
    }

    fn drop_feed(&mut self, fid: &FeedId) -> Result<Option<PathBuf>, StoreError> {
        self.drop_feed_noted(fid, "")
    }

    fn tombstones(&self) -> Vec<FeedId> {
        self.tombstones.iter().copied().collect()
    }
}
