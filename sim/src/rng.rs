//! Randomness: the SplitMix64 generator, the per-link streams derived from one seed, and the
//! seed a scenario runs with (`SIM_SEED` replay).
//!
//! Every random choice of a simulation comes from one seed. The scenario itself (building
//! corpora, picking pauses) draws from [`Sim::rng`](crate::Sim::rng), seeded with the seed as
//! it is; each link and each adversary draws from a stream of its own, [`Rng::derive`]d from the
//! seed and its id, so adding a link, a node or an attacker leaves the choices of the others
//! as they were.

/// SplitMix64: a tiny, well-distributed PRNG for the simulator (not for the engine).
#[derive(Clone, Debug)]
pub struct Rng(u64);

/// The SplitMix64 output function: a bijective mix of all 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator whose state starts at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream number `stream` of `seed`: the same pair always gives the same
    /// generator, and different streams do not overlap in any way a simulation would notice.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng(mix(seed ^ mix(stream.wrapping_add(0x5eed_0f11_4b5c_0001))))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// The next random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

/// The seed for a scenario: `SIM_SEED` from the environment, else the scenario's default.
/// Prints it, so that a failing run can be replayed with `SIM_SEED=<seed> cargo test ...`.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    println!("simulation seed: {seed} (replay with SIM_SEED={seed})");
    seed
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn streams_are_stable_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(1, 0).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(1, 0).next_u64(), Rng::derive(1, 1).next_u64());
        assert_ne!(Rng::derive(1, 0).next_u64(), Rng::derive(2, 0).next_u64());
        assert_ne!(Rng::derive(1, 0).next_u64(), Rng::new(1).next_u64());
    }
}
