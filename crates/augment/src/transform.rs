//! The [`Transform`] trait, output [`Size`], and the random draws every op shares.

use std::fmt;
use std::str::FromStr;

use histo_tensor::{Image, SampleRng};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The domain string of the per-sample random streams of augmentation:
/// sample `index` of `epoch` draws from `SampleRng::stream("augment", seed, epoch, index)`.
pub const RNG_DOMAIN: &str = "augment";

/// The random stream of one sample: `SampleRng::stream(RNG_DOMAIN, seed, epoch, index)`.
pub fn sample_rng(seed: u64, epoch: u64, index: u64) -> SampleRng {
    SampleRng::stream(RNG_DOMAIN, seed, epoch, index)
}

/// A random (or fixed) image-to-image augmentation.
///
/// All randomness comes from `rng`, so the same stream gives the same output on any thread.
/// Pass a [`SampleRng`] (`&mut rng` coerces to `&mut dyn RngCore`).
pub trait Transform: Send + Sync {
    /// Augments one image.
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image>;
}

impl<T: Transform + ?Sized> Transform for Box<T> {
    fn apply(&self, img: &Image, rng: &mut dyn RngCore) -> Result<Image> {
        (**self).apply(img, rng)
    }
}

/// An output size in pixels. Parsed from `"256"` (square) or `"WIDTHxHEIGHT"` (`"320x256"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Size {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl Size {
    /// A `width` x `height` size.
    pub const fn new(width: usize, height: usize) -> Self {
        Self { width, height }
    }

    /// A square size.
    pub const fn square(side: usize) -> Self {
        Self::new(side, side)
    }

    /// The size of an image.
    pub fn of(img: &Image) -> Self {
        Self::new(img.width(), img.height())
    }

    /// The largest side an op produces (65 536 px) ...
    pub const MAX_SIDE: usize = 1 << 16;
    /// ... and the largest output (2^28 px, 768 MiB of RGB): larger requests are errors, not
    /// out-of-memory aborts.
    pub const MAX_PIXELS: usize = 1 << 28;

    /// Fails unless both sides are at least 1 pixel and the size is within the limits.
    pub(crate) fn check(self, op: &'static str) -> Result<Self> {
        if self.width == 0
            || self.height == 0
            || self.width > Self::MAX_SIDE
            || self.height > Self::MAX_SIDE
            || self.width * self.height > Self::MAX_PIXELS
        {
            return Err(Error::Param {
                op,
                name: "size",
                value: self.to_string(),
                expected: "a size of at least 1x1 pixels, at most 65536 per side and 2^28 pixels",
            });
        }
        Ok(self)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl FromStr for Size {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Param {
            op: "size",
            name: "size",
            value: s.to_string(),
            expected: "N (square) or WIDTHxHEIGHT with positive integers, e.g. 256 or 320x256",
        };
        let parse = |t: &str| t.trim().parse::<usize>().ok().filter(|&v| v > 0);
        match s.split_once(['x', 'X']) {
            Some((w, h)) => Ok(Size::new(
                parse(w).ok_or_else(bad)?,
                parse(h).ok_or_else(bad)?,
            )),
            None => parse(s).map(Size::square).ok_or_else(bad),
        }
    }
}

/// `x.floor()` without a libm call (baseline x86-64 has no SSE4.1 `roundsd`); exact for
/// |x| < 2^63, which every coordinate here is.
#[inline]
pub(crate) fn floor(x: f64) -> f64 {
    let t = x as i64 as f64;
    if t > x { t - 1.0 } else { t }
}

/// `x mod 1` in [0, 1), as numpy's float `%`.
#[inline]
pub(crate) fn frac(x: f64) -> f64 {
    x - floor(x)
}

/// `a + (b - a) * U[0, 1)`, like Python's `random.uniform(a, b)` (any order of `a`, `b`).
pub(crate) fn uniform(rng: &mut dyn RngCore, a: f64, b: f64) -> f64 {
    a + (b - a) * rng.random::<f64>()
}

/// `true` with probability `p`.
pub(crate) fn coin(rng: &mut dyn RngCore, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// A uniform integer in `lo..=hi` (`lo <= hi`).
pub(crate) fn int_inclusive(rng: &mut dyn RngCore, lo: usize, hi: usize) -> usize {
    rng.random_range(lo..=hi)
}

/// A uniformly random permutation of `0..n` (Fisher-Yates).
pub(crate) fn permutation(rng: &mut dyn RngCore, n: usize) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!("256".parse::<Size>().unwrap(), Size::square(256));
        assert_eq!("320x256".parse::<Size>().unwrap(), Size::new(320, 256));
        assert_eq!(" 7 X 9 ".parse::<Size>().unwrap(), Size::new(7, 9));
        for bad in ["", "0", "x", "3x", "-2", "2x0", "1.5"] {
            let e = bad.parse::<Size>().unwrap_err().to_string();
            assert!(e.contains("WIDTHxHEIGHT"), "{bad}: {e}");
        }
    }

    #[test]
    fn permutations_are_permutations() {
        let mut rng = sample_rng(1, 0, 0);
        for n in 0..6 {
            let mut p = permutation(&mut rng, n);
            p.sort_unstable();
            assert_eq!(p, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn uniform_accepts_reversed_bounds() {
        let mut rng = sample_rng(1, 0, 0);
        for _ in 0..100 {
            let v = uniform(&mut rng, 0.5, -0.5);
            assert!((-0.5..=0.5).contains(&v));
        }
    }
}
