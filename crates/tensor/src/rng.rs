//! [`SampleRng`]: one deterministic random stream per (seed, epoch, sample index).

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random stream that depends only on `(domain, seed, epoch, index)`.
///
/// Each sample of each epoch gets its own stream, so an augmentation draws the same numbers
/// whichever thread runs it and in whatever order samples are requested: results do not depend
/// on `RAYON_NUM_THREADS`. The `domain` string separates unrelated uses of the same seed (e.g.
/// `"augment"` vs `"shuffle"` vs `"init"`), so they are not correlated.
///
/// It is ChaCha8 (a cryptographic-quality PRNG with a documented, portable output): the key is
/// made of the seed, a hash of the domain and the high bits of the index; the ChaCha stream
/// number is the epoch; the low 32 bits of the index select a disjoint window of 2³⁶ words
/// (256 GiB) of that stream. Distinct inputs therefore never share random numbers.
///
/// candle's own CPU random generator cannot be seeded, so everything random in histo goes
/// through this type.
#[derive(Clone, Debug)]
pub struct SampleRng {
    inner: ChaCha8Rng,
}

/// FNV-1a, 64 bit: a fixed, portable hash for domain names.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl SampleRng {
    /// The stream of sample `index` in `epoch` for `seed`, in the default `"sample"` domain.
    pub fn new(seed: u64, epoch: u64, index: u64) -> Self {
        Self::stream("sample", seed, epoch, index)
    }

    /// The stream of `(seed, epoch, index)` in a named domain.
    pub fn stream(domain: &str, seed: u64, epoch: u64, index: u64) -> Self {
        let mut key = [0u8; 32];
        key[0..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&fnv1a(domain).to_le_bytes());
        key[16..24].copy_from_slice(&(index >> 32).to_le_bytes());
        let mut inner = ChaCha8Rng::from_seed(key);
        inner.set_stream(epoch);
        inner.set_word_pos(((index & 0xffff_ffff) as u128) << 36);
        Self { inner }
    }

    /// A stream for things that are not per sample (e.g. weight initialisation, shuffling an
    /// epoch): `(domain, seed, epoch, 0)`.
    pub fn global(domain: &str, seed: u64, epoch: u64) -> Self {
        Self::stream(domain, seed, epoch, 0)
    }

    /// An independent child stream, keyed by 256 bits drawn from this one. Use it to hand
    /// separate streams to sub-steps (e.g. the three tiles of a triplet) in a fixed order.
    pub fn fork(&mut self) -> SampleRng {
        let mut key = [0u8; 32];
        self.inner.fill_bytes(&mut key);
        Self {
            inner: ChaCha8Rng::from_seed(key),
        }
    }
}

impl RngCore for SampleRng {
    fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;
    use rayon::prelude::*;

    fn draw(seed: u64, epoch: u64, index: u64) -> Vec<u64> {
        let mut r = SampleRng::new(seed, epoch, index);
        (0..16).map(|_| r.next_u64()).collect()
    }

    #[test]
    fn same_inputs_same_stream_whatever_the_request_order() {
        let forward: Vec<_> = (0..200).map(|i| draw(7, 3, i)).collect();
        let mut backward: Vec<_> = (0..200).rev().map(|i| draw(7, 3, i)).collect();
        backward.reverse();
        assert_eq!(forward, backward);
    }

    #[test]
    fn streams_do_not_depend_on_thread_count() {
        let serial: Vec<_> = (0..500).map(|i| draw(1, 0, i)).collect();
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let par: Vec<_> =
                pool.install(|| (0..500).into_par_iter().map(|i| draw(1, 0, i)).collect());
            assert_eq!(par, serial, "{threads} threads");
        }
    }

    #[test]
    fn different_inputs_give_different_streams() {
        let base = draw(1, 2, 3);
        assert_ne!(base, draw(2, 2, 3));
        assert_ne!(base, draw(1, 3, 3));
        assert_ne!(base, draw(1, 2, 4));
        assert_ne!(base, draw(1, 2, 3 + (1 << 32)));
        let mut a = SampleRng::stream("augment", 1, 2, 3);
        let mut b = SampleRng::stream("shuffle", 1, 2, 3);
        assert_ne!(a.next_u64(), b.next_u64());
    }

    #[test]
    fn consecutive_indices_do_not_overlap() {
        // Sample i's stream must not run into sample i+1's after many draws.
        let mut a = SampleRng::new(5, 0, 10);
        let b: Vec<u32> = {
            let mut b = SampleRng::new(5, 0, 11);
            (0..8).map(|_| b.next_u32()).collect()
        };
        let a_vals: Vec<u32> = (0..100_000).map(|_| a.next_u32()).collect();
        assert!(!a_vals.windows(8).any(|w| w == b.as_slice()));
    }

    #[test]
    fn forks_are_deterministic_and_distinct() {
        let mut p1 = SampleRng::new(9, 9, 9);
        let mut p2 = SampleRng::new(9, 9, 9);
        let (mut c1, mut c2) = (p1.fork(), p2.fork());
        assert_eq!(c1.next_u64(), c2.next_u64());
        let mut c3 = p1.fork();
        assert_ne!(c1.next_u64(), c3.next_u64());
    }

    #[test]
    fn uniform_draws_look_uniform() {
        let mut r = SampleRng::new(0, 0, 0);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| r.random::<f64>()).sum::<f64>() / n as f64;
        // standard error of the mean of U(0,1) is 0.289/sqrt(n) ≈ 0.0009
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
    }
}
