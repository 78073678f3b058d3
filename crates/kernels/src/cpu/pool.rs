//! 2-D max-pooling with implicit −∞ padding on contiguous NCHW buffers, one task per plane.

use super::Elem;
use rayon::prelude::*;

/// Pooling geometry: `n·c` planes of `h × w`, square window `k`, `stride`, `pad ≤ k / 2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
}

impl PoolGeom {
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// The input rows (or columns) `[lo, hi)` covered by output row `o` along an axis of `size`.
    fn window(&self, o: usize, size: usize) -> (usize, usize) {
        let start = (o * self.stride) as isize - self.pad as isize;
        let lo = start.max(0) as usize;
        let hi = ((start + self.k as isize) as usize).min(size);
        (lo, hi)
    }
    /// Index (within the plane) of the first maximum of the window of output `(oy, ox)`; NaN wins.
    fn argmax<T: Elem>(&self, plane: &[T], oy: usize, ox: usize) -> usize {
        let (y0, y1) = self.window(oy, self.h);
        let (x0, x1) = self.window(ox, self.w);
        let mut best = y0 * self.w + x0;
        let mut best_v = plane[best];
        for iy in y0..y1 {
            for ix in x0..x1 {
                let v = plane[iy * self.w + ix];
                if v > best_v || (v.is_nan() && !best_v.is_nan()) {
                    best = iy * self.w + ix;
                    best_v = v;
                }
            }
        }
        best
    }
}

/// The forward and, for each output, the index within its plane of the input it took (the
/// first maximum of its window), for [`backward_from_argmax`].
pub(crate) fn forward_with_argmax<T: Elem>(g: &PoolGeom, x: &[T]) -> (Vec<T>, Vec<u32>) {
    let (oh, ow, hw) = (g.oh(), g.ow(), g.h * g.w);
    let mut y = vec![T::ZERO; g.planes * oh * ow];
    let mut idx = vec![0u32; g.planes * oh * ow];
    y.par_chunks_mut((oh * ow).max(1))
        .zip(idx.par_chunks_mut((oh * ow).max(1)))
        .enumerate()
        .for_each(|(p, (out, at))| {
            let plane = &x[p * hw..][..hw];
            for oy in 0..oh {
                for ox in 0..ow {
                    let i = g.argmax(plane, oy, ox);
                    out[oy * ow + ox] = plane[i];
                    at[oy * ow + ox] = i as u32;
                }
            }
        });
    (y, idx)
}

/// The backward from the indices recorded by [`forward_with_argmax`].
pub(crate) fn backward_from_argmax<T: Elem>(g: &PoolGeom, idx: &[u32], dy: &[T]) -> Vec<T> {
    let (ohw, hw) = (g.oh() * g.ow(), g.h * g.w);
    let mut dx = vec![T::ZERO; g.planes * hw];
    dx.par_chunks_mut(hw.max(1)).enumerate().for_each(|(p, d)| {
        let at = &idx[p * ohw..][..ohw];
        let grad = &dy[p * ohw..][..ohw];
        for (i, v) in at.iter().zip(grad) {
            d[*i as usize] += *v;
        }
    });
    dx
}

/// Routes each output gradient to the first maximum of its window (as PyTorch does).
pub(crate) fn backward<T: Elem>(g: &PoolGeom, x: &[T], dy: &[T]) -> Vec<T> {
    let (oh, ow, hw) = (g.oh(), g.ow(), g.h * g.w);
    let mut dx = vec![T::ZERO; x.len()];
    dx.par_chunks_mut(hw.max(1)).enumerate().for_each(|(p, d)| {
        let plane = &x[p * hw..][..hw];
        let grad = &dy[p * oh * ow..][..oh * ow];
        for oy in 0..oh {
            for ox in 0..ow {
                d[g.argmax(plane, oy, ox)] += grad[oy * ow + ox];
            }
        }
    });
    dx
}
