//! Hashing and signatures behind small functions: SHA-256 (optionally truncated) and ed25519.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ids::FeedId;

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The first `N` bytes of SHA-256 over the concatenation of `parts` (`N` ≤ 32).
pub fn sha256_prefix<const N: usize>(parts: &[&[u8]]) -> [u8; N] {
    let full = sha256(parts);
    let mut out = [0u8; N];
    let n = N.min(32);
    out[..n].copy_from_slice(&full[..n]);
    out
}

/// A feed's secret key: the 32-byte ed25519 seed together with its expanded form.
#[derive(Clone)]
pub struct Keypair {
    key: SigningKey,
}

impl core::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Keypair({})", self.feed_id())
    }
}

impl Keypair {
    /// Derives the key pair from a 32-byte secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Keypair {
        Keypair { key: SigningKey::from_bytes(seed) }
    }

    /// The 32-byte secret seed.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The feed id, i.e. the public key.
    pub fn feed_id(&self) -> FeedId {
        FeedId(self.key.verifying_key().to_bytes())
    }

    /// Signs `msg`, returning the 64-byte signature (deterministic, RFC 8032).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// A parsed public key, cheap to verify with. Parsing costs microseconds, so callers cache these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses a feed id as an ed25519 point; `None` if it is not a valid point.
    pub fn from_feed_id(fid: &FeedId) -> Option<PublicKey> {
        VerifyingKey::from_bytes(&fid.0).ok().map(PublicKey)
    }

    /// Checks `sig` over `msg`.
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.0.verify(msg, &Signature::from_bytes(sig)).is_ok()
    }
}

/// Verifies one signature by feed id (parses the key each time; prefer [`PublicKey`] in loops).
pub fn verify(fid: &FeedId, msg: &[u8], sig: &[u8; 64]) -> bool {
    PublicKey::from_feed_id(fid).is_some_and(|pk| pk.verify(msg, sig))
}

/// Verifies many signatures at once; true only if every one is valid.
///
/// Faster than one by one for more than a few signatures. On `false` the caller
/// falls back to checking each signature to find the bad one(s).
pub fn verify_batch(msgs: &[&[u8]], sigs: &[[u8; 64]], keys: &[PublicKey]) -> bool {
    if msgs.len() != sigs.len() || msgs.len() != keys.len() {
        return false;
    }
    if msgs.is_empty() {
        return true;
    }
    let sigs: Vec<Signature> = sigs.iter().map(Signature::from_bytes).collect();
    let keys: Vec<VerifyingKey> = keys.iter().map(|k| k.0).collect();
    ed25519_dalek::verify_batch(msgs, &sigs, &keys).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let seed = crate::ids::from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap_or_default();
        let seed: [u8; 32] = seed.try_into().unwrap_or([0; 32]);
        let kp = Keypair::from_seed(&seed);
        assert_eq!(kp.feed_id().to_hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = kp.sign(b"");
        assert_eq!(
            crate::ids::to_hex(&sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        assert!(verify(&kp.feed_id(), b"", &sig));
        assert!(!verify(&kp.feed_id(), b"x", &sig));
    }

    #[test]
    fn batch_agrees_with_single() {
        let kps: Vec<Keypair> = (0u8..4).map(|i| Keypair::from_seed(&[i; 32])).collect();
        let msgs: Vec<Vec<u8>> = (0u8..4).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<[u8; 64]> = kps.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
        let keys: Vec<PublicKey> = kps.iter().filter_map(|k| PublicKey::from_feed_id(&k.feed_id())).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        assert!(verify_batch(&refs, &sigs, &keys));
        sigs[2][0] ^= 1;
        assert!(!verify_batch(&refs, &sigs, &keys));
    }
}
