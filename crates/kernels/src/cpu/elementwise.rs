//! Elementwise loops over contiguous buffers, split into fixed-size chunks run on rayon.

use super::Elem;
use rayon::prelude::*;

/// Elements per parallel task (fixed, so work splitting never depends on the thread count).
const CHUNK: usize = 1 << 15;

/// `y = max(0, a + b)`.
pub(crate) fn add_relu<T: Elem>(a: &[T], b: &[T]) -> Vec<T> {
    let mut y = vec![T::ZERO; a.len()];
    y.par_chunks_mut(CHUNK).enumerate().for_each(|(i, ys)| {
        let (a, b) = (&a[i * CHUNK..][..ys.len()], &b[i * CHUNK..][..ys.len()]);
        for ((y, a), b) in ys.iter_mut().zip(a).zip(b) {
            let v = *a + *b;
            *y = if v > T::ZERO { v } else { T::ZERO };
        }
    });
    y
}

/// `dy` where `y > 0`, else 0 (the ReLU backward from its output).
pub(crate) fn relu_grad<T: Elem>(y: &[T], dy: &[T]) -> Vec<T> {
    let mut g = vec![T::ZERO; y.len()];
    g.par_chunks_mut(CHUNK).enumerate().for_each(|(i, gs)| {
        let (y, dy) = (&y[i * CHUNK..][..gs.len()], &dy[i * CHUNK..][..gs.len()]);
        for ((g, y), d) in gs.iter_mut().zip(y).zip(dy) {
            // Load `dy` unconditionally: a load inside the branch keeps LLVM from vectorising.
            let d = *d;
            *g = if *y > T::ZERO { d } else { T::ZERO };
        }
    });
    g
}

/// Runs `f(dst_chunk, a_chunk, b_chunk)` over aligned chunks of three equally long buffers.
pub(crate) fn zip3_mut<T: Elem>(
    dst: &mut [T],
    a: &[T],
    b: &[T],
    f: impl Fn(&mut [T], &[T], &[T]) + Sync,
) {
    dst.par_chunks_mut(CHUNK).enumerate().for_each(|(i, d)| {
        let n = d.len();
        f(d, &a[i * CHUNK..][..n], &b[i * CHUNK..][..n]);
    });
}
