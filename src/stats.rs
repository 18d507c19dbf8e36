//! Counters kept by the engine: packets in and out, drops by reason, entries and chunks moved.

/// Why an incoming packet was dropped. Every drop is counted; none is an error to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Longer than any tinySSB packet, or too short to hold a DMX.
    BadLength,
    /// Neither an expected DMX nor the hash of an expected chunk.
    Unknown,
    /// An entry whose signature did not verify.
    BadSignature,
    /// A GOset message that could not be parsed or made no sense.
    BadGoset,
    /// A WANT or CHNK request that could not be parsed.
    BadRequest,
    /// A request that this node's role does not serve, or an entry/chunk it does not ingest.
    Role,
    /// The store failed to persist the packet's content.
    Store,
    /// A feed id (or an entry of a feed) on the deny list.
    Denied,
    /// A feed id (or an entry of a feed) not on the allow list, when one is set.
    NotAllowed,
    /// The first entry of a new feed when the node already holds `max_feeds` feeds.
    TooManyFeeds,
    /// An entry that would grow its feed's log beyond `max_feed_bytes`.
    FeedTooLarge,
    /// A chain20 entry announcing more than `max_sidechain_bytes` of content.
    SidechainTooLarge,
}

impl DropReason {
    /// All reasons, in a stable order (for reports).
    pub const ALL: [DropReason; 12] = [
        DropReason::BadLength,
        DropReason::Unknown,
        DropReason::BadSignature,
        DropReason::BadGoset,
        DropReason::BadRequest,
        DropReason::Role,
        DropReason::Store,
        DropReason::Denied,
        DropReason::NotAllowed,
        DropReason::TooManyFeeds,
        DropReason::FeedTooLarge,
        DropReason::SidechainTooLarge,
    ];

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::BadLength => "bad-length",
            DropReason::Unknown => "unknown",
            DropReason::BadSignature => "bad-signature",
            DropReason::BadGoset => "bad-goset",
            DropReason::BadRequest => "bad-request",
            DropReason::Role => "role",
            DropReason::Store => "store",
            DropReason::Denied => "denied",
            DropReason::NotAllowed => "not-allowed",
            DropReason::TooManyFeeds => "too-many-feeds",
            DropReason::FeedTooLarge => "feed-too-large",
            DropReason::SidechainTooLarge => "sidechain-too-large",
        }
    }

    fn index(self) -> usize {
        match self {
            DropReason::BadLength => 0,
            DropReason::Unknown => 1,
            DropReason::BadSignature => 2,
            DropReason::BadGoset => 3,
            DropReason::BadRequest => 4,
            DropReason::Role => 5,
            DropReason::Store => 6,
            DropReason::Denied => 7,
            DropReason::NotAllowed => 8,
            DropReason::TooManyFeeds => 9,
            DropReason::FeedTooLarge => 10,
            DropReason::SidechainTooLarge => 11,
        }
    }
}

/// Running totals since the engine started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets handed to the engine.
    pub packets_in: u64,
    /// Packets the engine asked to send.
    pub packets_out: u64,
    /// Entries verified and stored.
    pub entries_in: u64,
    /// Chunks verified and stored.
    pub chunks_in: u64,
    /// Entries sent in answer to WANTs.
    pub entries_out: u64,
    /// Chunks sent in answer to CHNKs (or pushed after their entry).
    pub chunks_out: u64,
    /// WANT requests sent.
    pub wants_out: u64,
    /// CHNK requests sent.
    pub chnks_out: u64,
    /// GOset packets sent.
    pub goset_out: u64,
    /// Control packets (GOset messages, requests) not queued because the face's output was full.
    pub out_dropped: u64,
    /// Times a driver reported output it dropped instead of writing.
    pub send_dropped: u64,
    /// Stored entries checked before they were first served.
    pub entries_audited: u64,
    /// Feeds whose stored tail failed the audit and was quarantined.
    pub quarantined: u64,
    dropped: [u64; 12],
}

impl Stats {
    /// Packets dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(reason.index()).copied().unwrap_or(0)
    }

    /// Packets dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        if let Some(n) = self.dropped.get_mut(reason.index()) {
            *n += 1;
        }
    }
}
