//! The scenario builder: the nodes, their starting stores and the links of a simulation, named
//! and described in one expression instead of set up by hand in every test.
//!
//! ```
//! use tinyssb_sim::{Corpus, LinkSpec, Scenario};
//! use tinyssb::time::Duration;
//!
//! let mut sim = Scenario::new(7)
//!     .populated("a", Corpus::new(2, 5).chains(30, 600))
//!     .empty("b")
//!     .link("a", "b", LinkSpec::reliable(10))
//!     .build();
//! let [a, b] = sim.ids(["a", "b"]);
//! sim.converge(&[a, b], Duration::from_secs(60));
//! sim.assert_same_contents(&[a, b]);
//! ```
//!
//! Nodes get indices in the order they are declared; links get ids (the nodes' face ids) in the
//! order they are declared. Corpora are drawn from the scenario's random stream in declaration
//! order, and that stream goes on as [`Sim::rng`], so a scenario written with the builder
//! replays exactly like one set up by hand with [`Sim::new`].

use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;

use crate::corpus::Corpus;
use crate::link::LinkSpec;
use crate::net::Sim;
use crate::rng::Rng;

/// How a declared node starts.
enum Start {
    /// Running from the start.
    Running,
    /// Not running until [`Sim::start`].
    Offline,
    /// An attacker of the named node: never runs; its link comes with it.
    Attacker(String, LinkSpec),
}

/// A declared node.
struct NodeDecl {
    name: String,
    cfg: Config,
    store: MemStore,
    start: Start,
}

/// One declaration, in order: nodes and links interleave as written.
enum Decl {
    Node(Box<NodeDecl>),
    Link(String, String, LinkSpec),
}

/// A simulation being described; [`Scenario::build`] makes the [`Sim`].
pub struct Scenario {
    seed: u64,
    rng: Rng,
    decls: Vec<Decl>,
}

impl Scenario {
    /// A scenario whose random choices all derive from `seed` (pass it through
    /// [`seed`](crate::seed) so that `SIM_SEED` can replay it).
    pub fn new(seed: u64) -> Scenario {
        Scenario { seed, rng: Rng::new(seed), decls: Vec::new() }
    }

    /// The most common start: node `a` over a store built from `corpus`, an empty node `b`,
    /// and a link between them (a catch-up). Declare more nodes and links after it as usual.
    pub fn catch_up(seed: u64, corpus: Corpus, link: LinkSpec) -> Scenario {
        Scenario::new(seed).populated("a", corpus).empty("b").link("a", "b", link)
    }

    /// The scenario's random stream, for building starting stores by hand (it goes on as
    /// [`Sim::rng`]).
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn declare(mut self, name: impl Into<String>, cfg: Config, store: MemStore, start: Start) -> Scenario {
        self.decls.push(Decl::Node(Box::new(NodeDecl { name: name.into(), cfg, store, start })));
        self
    }

    /// A running node called `name` with `cfg` over `store`.
    #[must_use]
    pub fn node(self, name: impl Into<String>, cfg: Config, store: MemStore) -> Scenario {
        self.declare(name, cfg, store, Start::Running)
    }

    /// A running node with the default configuration over an empty store.
    #[must_use]
    pub fn empty(self, name: impl Into<String>) -> Scenario {
        self.node(name, Config::default(), MemStore::default())
    }

    /// A running node with the default configuration over a store built from `corpus`, drawn
    /// from the scenario's random stream now.
    #[must_use]
    pub fn populated(self, name: impl Into<String>, corpus: Corpus) -> Scenario {
        self.populated_with(name, Config::default(), corpus)
    }

    /// As [`Scenario::populated`], with `cfg`.
    #[must_use]
    pub fn populated_with(mut self, name: impl Into<String>, cfg: Config, corpus: Corpus) -> Scenario {
        let store = corpus.build(&mut self.rng);
        self.node(name, cfg, store)
    }

    /// A node with `cfg` over `store` that does not run until [`Sim::start`] (a late joiner).
    #[must_use]
    pub fn offline(self, name: impl Into<String>, cfg: Config, store: MemStore) -> Scenario {
        self.declare(name, cfg, store, Start::Offline)
    }

    /// A malicious peer called `name` with a link to `target`; it never runs an engine. Get its
    /// handle with [`Sim::adversary`].
    #[must_use]
    pub fn attacker(self, name: impl Into<String>, target: impl Into<String>, spec: LinkSpec) -> Scenario {
        let start = Start::Attacker(target.into(), spec);
        self.declare(name, Config::default(), MemStore::default(), start)
    }

    /// A link between the nodes called `a` and `b`, up from the start.
    #[must_use]
    pub fn link(mut self, a: impl Into<String>, b: impl Into<String>, spec: LinkSpec) -> Scenario {
        self.decls.push(Decl::Link(a.into(), b.into(), spec));
        self
    }

    /// Links the node called `hub` to each of `spokes`, in order.
    #[must_use]
    pub fn star<S: Into<String>>(
        mut self,
        hub: &str,
        spokes: impl IntoIterator<Item = S>,
        spec: LinkSpec,
    ) -> Scenario {
        for s in spokes {
            self = self.link(hub, s, spec);
        }
        self
    }

    /// The simulation, at time zero.
    pub fn build(self) -> Sim {
        let mut sim = Sim::new(self.seed);
        sim.rng = self.rng;
        for d in self.decls {
            match d {
                Decl::Node(n) => match *n {
                    NodeDecl { name, cfg, store, start: Start::Running } => {
                        sim.add_named(name, cfg, store);
                    }
                    NodeDecl { name, cfg, store, start: Start::Offline } => {
                        sim.add_offline(name, cfg, store);
                    }
                    NodeDecl { name, start: Start::Attacker(target, spec), .. } => {
                        let target = sim.id(&target);
                        sim.add_attacker(name, target, spec);
                    }
                },
                Decl::Link(a, b, spec) => {
                    let (a, b) = (sim.id(&a), sim.id(&b));
                    sim.link(a, b, spec);
                }
            }
        }
        sim
    }
}
