//! BatchNorm2d on contiguous NCHW buffers: per-channel statistics in one pass, normalisation
//! (optionally fused with ReLU) in one pass, and the backward in two passes.
//!
//! Reductions run per channel on one task each, in a fixed order with `f64` accumulators, so
//! the results do not depend on the thread count.

use super::Elem;
use rayon::prelude::*;

/// The shape of an NCHW tensor seen as `n` images of `c` planes of `hw` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Planes {
    pub n: usize,
    pub c: usize,
    pub hw: usize,
}

impl Planes {
    /// Values per channel (`N·H·W`).
    pub fn per_channel(&self) -> usize {
        self.n * self.hw
    }
    fn plane<'a, T>(&self, buf: &'a [T], n: usize, c: usize) -> &'a [T] {
        &buf[(n * self.c + c) * self.hw..][..self.hw]
    }
}

/// Sums the two outputs of `f(a[i], b[i], c[i])` over the given plane triples, with eight
/// `f64` lanes each (a fixed order, so the result does not depend on scheduling).
fn lane_sums<'a, T: Elem>(
    planes: impl Iterator<Item = (&'a [T], &'a [T], &'a [T])>,
    f: impl Fn(T, T, T) -> (f64, f64),
) -> (f64, f64) {
    let mut s1 = [0f64; 8];
    let mut s2 = [0f64; 8];
    for (a, b, c) in planes {
        let (ca, cb, cc) = (a.chunks_exact(8), b.chunks_exact(8), c.chunks_exact(8));
        let (ra, rb, rc) = (ca.remainder(), cb.remainder(), cc.remainder());
        for ((xa, xb), xc) in ca.zip(cb).zip(cc) {
            for l in 0..8 {
                let (p, q) = f(xa[l], xb[l], xc[l]);
                s1[l] += p;
                s2[l] += q;
            }
        }
        for (l, ((p, q), r)) in ra.iter().zip(rb).zip(rc).enumerate() {
            let (p, q) = f(*p, *q, *r);
            s1[l] += p;
            s2[l] += q;
        }
    }
    (s1.iter().sum(), s2.iter().sum())
}

/// Per-channel mean and biased variance (shifted one-pass sums, exact for a constant channel).
pub(crate) fn stats<T: Elem>(p: &Planes, x: &[T]) -> (Vec<f64>, Vec<f64>) {
    let m = p.per_channel() as f64;
    (0..p.c)
        .into_par_iter()
        .map(|c| {
            if p.per_channel() == 0 {
                return (0.0, 0.0);
            }
            let shift = p.plane(x, 0, c)[0].to_f64();
            let planes = (0..p.n).map(|n| {
                let xp = p.plane(x, n, c);
                (xp, xp, xp)
            });
            let (s1, s2) = lane_sums(planes, |v, _, _| {
                let d = v.to_f64() - shift;
                (d, d * d)
            });
            let mean_d = s1 / m;
            (shift + mean_d, (s2 / m - mean_d * mean_d).max(0.0))
        })
        .unzip()
}

/// `y = max(0, x·scale[c] + shift[c])` (or without the max), plane by plane.
pub(crate) fn affine<T: Elem>(p: &Planes, x: &[T], scale: &[T], shift: &[T], relu: bool) -> Vec<T> {
    let mut y = vec![T::ZERO; x.len()];
    y.par_chunks_mut(p.hw.max(1))
        .zip(x.par_chunks(p.hw.max(1)))
        .enumerate()
        .for_each(|(nc, (yp, xp))| {
            let (a, b) = (scale[nc % p.c], shift[nc % p.c]);
            if relu {
                for (yv, xv) in yp.iter_mut().zip(xp) {
                    let v = *xv * a + b;
                    *yv = if v > T::ZERO { v } else { T::ZERO };
                }
            } else {
                for (yv, xv) in yp.iter_mut().zip(xp) {
                    *yv = *xv * a + b;
                }
            }
        });
    y
}

/// Per-channel `Σ dy'` and `Σ dy'·(x - mean)`, where `dy' = dy` masked by `y > 0` when the
/// forward had a fused ReLU (`y` given).
pub(crate) fn grad_sums<T: Elem>(
    p: &Planes,
    x: &[T],
    dy: &[T],
    y: Option<&[T]>,
    mean: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    (0..p.c)
        .into_par_iter()
        .map(|c| {
            let mu = mean[c];
            let planes = (0..p.n).map(|n| {
                let (gp, xp) = (p.plane(dy, n, c), p.plane(x, n, c));
                (gp, xp, y.map_or(gp, |y| p.plane(y, n, c)))
            });
            if y.is_some() {
                lane_sums(planes, |g, v, o| {
                    let g = if o > T::ZERO { g.to_f64() } else { 0.0 };
                    (g, g * (v.to_f64() - mu))
                })
            } else {
                lane_sums(planes, |g, v, _| {
                    (g.to_f64(), g.to_f64() * (v.to_f64() - mu))
                })
            }
        })
        .unzip()
}

/// `dx = dy'·a[c] + x·b[c] + k[c]` plane by plane, with `dy'` masked by `y > 0` when given.
pub(crate) fn input_grad<T: Elem>(
    p: &Planes,
    x: &[T],
    dy: &[T],
    y: Option<&[T]>,
    coef: &[[T; 3]],
) -> Vec<T> {
    let mut dx = vec![T::ZERO; x.len()];
    let hw = p.hw.max(1);
    dx.par_chunks_mut(hw).enumerate().for_each(|(nc, dxp)| {
        let [a, b, k] = coef[nc % p.c];
        let xp = &x[nc * hw..][..dxp.len()];
        let gp = &dy[nc * hw..][..dxp.len()];
        match y {
            None => {
                for ((d, g), v) in dxp.iter_mut().zip(gp).zip(xp) {
                    *d = *g * a + *v * b + k;
                }
            }
            Some(y) => {
                let yp = &y[nc * hw..][..dxp.len()];
                for (((d, g), v), o) in dxp.iter_mut().zip(gp).zip(xp).zip(yp) {
                    // Load `dy` unconditionally: a load inside the branch keeps LLVM from
                    // vectorising the loop.
                    let g = *g;
                    let g = if *o > T::ZERO { g } else { T::ZERO };
                    *d = g * a + *v * b + k;
                }
            }
        }
    });
    dx
}
