//! A deterministic network simulator for the tinySSB engine.
//!
//! N engines ([`tinyssb::node::Node`] over [`MemStore`](tinyssb::store::mem::MemStore)) joined
//! by virtual links with latency, jitter (reordering), loss, bandwidth and partitions, with
//! nodes that stop and restart from their stores and malicious peers that send what a script
//! says. Virtual time jumps to the next event; one seed drives every random choice and is
//! printed, so a failure can be replayed with `SIM_SEED`.
//!
//! ```
//! use tinyssb::time::Duration;
//! use tinyssb_sim::{seed, Attack, Corpus, LinkSpec, Scenario};
//!
//! let mut sim = Scenario::new(seed(8)) // SIM_SEED overrides 8
//!     .populated("a", Corpus::new(3, 20).chains(40, 800))
//!     .empty("b")
//!     .link("a", "b", LinkSpec::lossy(50, 0.3))
//!     .attacker("mallory", "b", LinkSpec::reliable(5))
//!     .build();
//! let [a, b, m] = sim.ids(["a", "b", "mallory"]);
//! let mut mallory = sim.adversary(m);
//! mallory.script(&mut sim, 10, Duration(20), &[Attack::AbsurdClaims, Attack::Replay]);
//! sim.converge(&[a, b], Duration::from_secs(600)); // panics naming the seed
//! sim.assert_same_contents(&[a, b]);
//! ```
//!
//! What each module owns:
//! - [`rng`]: the PRNG, the per-link and per-attacker streams derived from the seed, and
//!   [`seed`] (the `SIM_SEED` override).
//! - [`link`]: [`LinkSpec`], the link models.
//! - [`net`]: [`Sim`], the network itself: nodes, links, the event queue, virtual time,
//!   partitions and restarts.
//! - [`scenario`]: [`Scenario`], the builder that declares a simulation in one expression.
//! - [`corpus`]: test data and store comparisons: [`key`], [`Corpus`]/[`populated_store`],
//!   partial and damaged copies, [`contents`], [`counts`], [`converged`].
//! - [`adversary`]: [`Adversary`] and [`Attack`], malicious peers as scenario members.
//! - [`mesh`]: [`MeshNet`], a mesh of many pubs (their [`tinyssb::mesh::Mesh`] state machines
//!   over an abstract network and feed store, no engines), for placement and churn at scale.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adversary;
pub mod corpus;
pub mod link;
pub mod mesh;
pub mod net;
pub mod rng;
pub mod scenario;

pub use adversary::{fake_id_packets, want_packet, Adversary, Attack, GARBAGE_LENGTHS};
pub use corpus::{
    contents, converged, copy_altered, copy_prefix, counts, key, populated_store, sorted_feeds,
    store_with_feeds, Corpus, FeedBytes,
};
pub use link::LinkSpec;
pub use mesh::{MeshNet, MeshTraffic};
pub use net::{Sim, TraceItem};
pub use rng::{seed, Rng};
pub use scenario::Scenario;
