//! # tinyssb: a sans-IO tinySSB protocol library
//!
//! tinySSB replicates signed append-only logs ("feeds") in packets of at most
//! 120 bytes. This crate holds everything a tinySSB node does except I/O:
//! wire formats, feed authoring and checking, the GOset of feed ids, the feed
//! store and the replication engine. Time is passed in, output is polled.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Wire and store code converts between widths a lot; a silent truncation there is a protocol
// bug. Tests and benches are not held to this.
#![warn(clippy::cast_possible_truncation)]

pub mod crypto;
pub mod feed;
pub mod goset;
pub mod ids;
pub mod mesh;
// The engine is being reworked elsewhere; these two pedantic lints fire there and wait until
// that work has landed, to keep the merges small.
#[allow(clippy::needless_pass_by_value, clippy::redundant_closure_for_method_calls)]
pub mod node;
#[cfg(feature = "secure")]
pub mod secure;
pub mod stats;
pub mod store;
pub mod time;
pub mod wire;

pub use ids::{Dmx, FeedId, HashPtr, MsgId, Seq};
