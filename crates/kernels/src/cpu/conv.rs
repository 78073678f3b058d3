//! Convolution on contiguous NCHW / OIHW buffers: im2col + GEMM forward, GEMM + col2im input
//! gradient, im2col + GEMM weight gradient.
//!
//! The batch is processed in chunks of whole images whose column matrix stays under
//! [`COL_BUDGET`] elements. Chunk boundaries depend on the shape only, never on the thread
//! count, so the weight gradient (the one reduction across images) sums in a fixed order.

use super::Elem;
use super::gemm::{Mat, matmul};
use rayon::prelude::*;

/// Largest column matrix (elements) built at once: 4 Mi elements, 16 MiB in f32.
const COL_BUDGET: usize = 1 << 22;
/// Output planes at least this large get one GEMM per image written straight into place.
const DIRECT_MIN_PLANE: usize = 1024;

/// The geometry of one 2-D convolution (groups 1, dilation 1, same stride and padding on both axes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
}

impl ConvGeom {
    pub fn oh(&self) -> usize {
        (self.h + 2 * self.pad - self.kh) / self.stride + 1
    }
    pub fn ow(&self) -> usize {
        (self.w + 2 * self.pad - self.kw) / self.stride + 1
    }
    fn ohw(&self) -> usize {
        self.oh() * self.ow()
    }
    fn ckk(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// A 1×1, stride-1, unpadded convolution: the input plane is its own column matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    /// Images per chunk: as many as fit [`COL_BUDGET`], spread evenly over the chunks.
    fn images_per_chunk(&self) -> usize {
        let per_image = (self.ckk() * self.ohw()).max(1);
        let most = (COL_BUDGET / per_image).clamp(1, self.n.max(1));
        let chunks = self.n.max(1).div_ceil(most);
        self.n.max(1).div_ceil(chunks)
    }
    /// `(first image, image count)` of each chunk.
    fn chunks(&self) -> impl Iterator<Item = (usize, usize)> + use<> {
        let (n, nb) = (self.n, self.images_per_chunk());
        (0..n).step_by(nb).map(move |n0| (n0, nb.min(n - n0)))
    }
    /// The output columns `[lo, hi)` whose input column `ox * stride + j - pad` is inside the image.
    fn valid_range(&self, j: usize, size: usize, out: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = if self.pad > j {
            (self.pad - j).div_ceil(s)
        } else {
            0
        };
        let hi = if size + self.pad > j {
            (size + self.pad - j).div_ceil(s).min(out)
        } else {
            0
        };
        (lo.min(hi), hi)
    }
}

/// Output rows narrower than this (the small planes of the deeper stages) are handled through
/// [`offset_tables`] rather than row by row, whose per-row overhead dominates there.
const TABLE_MAX_WIDTH: usize = 16;

/// Whether [`im2col`] and [`col2im`] use [`offset_tables`] for this geometry.
fn use_tables(g: &ConvGeom) -> bool {
    g.ow() < TABLE_MAX_WIDTH && g.h * g.w < u32::MAX as usize
}

/// For each kernel offset `(i, j)` (row-major), the index within an input plane that each
/// output position reads, or `u32::MAX` where it falls into the padding: `[KH·KW, OH·OW]`.
fn offset_tables(g: &ConvGeom) -> Vec<u32> {
    let (oh, ow, ohw) = (g.oh(), g.ow(), g.ohw());
    let mut t = vec![u32::MAX; g.kh * g.kw * ohw];
    for i in 0..g.kh {
        for j in 0..g.kw {
            let map = &mut t[(i * g.kw + j) * ohw..][..ohw];
            for oy in 0..oh {
                let iy = (oy * g.stride + i) as isize - g.pad as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                for ox in 0..ow {
                    let ix = (ox * g.stride + j) as isize - g.pad as isize;
                    if ix >= 0 && ix < g.w as isize {
                        map[oy * ow + ox] = (iy as usize * g.w + ix as usize) as u32;
                    }
                }
            }
        }
    }
    t
}

/// `dst[k] = src[k·s]` for every `k < dst.len()`.
fn gather_strided<T: Elem>(dst: &mut [T], src: &[T], s: usize) {
    if s == 2 && !dst.is_empty() {
        // Pairs vectorise where `step_by` does not; the last element may have no partner.
        let last = dst.len() - 1;
        for (d, pair) in dst[..last].iter_mut().zip(src.chunks_exact(2)) {
            *d = pair[0];
        }
        dst[last] = src[2 * last];
    } else {
        for (d, v) in dst.iter_mut().zip(src.iter().step_by(s)) {
            *d = *v;
        }
    }
}

/// Column matrix `[C·KH·KW, nb·OH·OW]` of images `n0..n0+nb`.
fn im2col<T: Elem>(g: &ConvGeom, x: &[T], n0: usize, nb: usize, col: &mut [T]) {
    let (oh, ow, ohw) = (g.oh(), g.ow(), g.ohw());
    let ncols = nb * ohw;
    let plane = g.h * g.w;
    let s = g.stride;
    let kk = g.kh * g.kw;
    if use_tables(g) {
        let tables = offset_tables(g);
        col[..g.ckk() * ncols]
            .par_chunks_mut(ncols)
            .enumerate()
            .for_each(|(r, row)| {
                let (c, map) = (r / kk, &tables[(r % kk) * ohw..][..ohw]);
                for b in 0..nb {
                    let src = &x[((n0 + b) * g.c + c) * plane..][..plane];
                    for (d, &q) in row[b * ohw..][..ohw].iter_mut().zip(map) {
                        // `u32::MAX` (padding) is out of range: zero
                        *d = src.get(q as usize).copied().unwrap_or(T::ZERO);
                    }
                }
            });
        return;
    }
    col[..g.ckk() * ncols]
        .par_chunks_mut(ncols)
        .enumerate()
        .for_each(|(r, row)| {
            let (c, i, j) = (r / kk, (r / g.kw) % g.kh, r % g.kw);
            let (lo, hi) = g.valid_range(j, g.w, ow);
            for b in 0..nb {
                let src = &x[((n0 + b) * g.c + c) * plane..][..plane];
                for oy in 0..oh {
                    let dst = &mut row[b * ohw + oy * ow..][..ow];
                    let iy = (oy * s + i) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize || lo >= hi {
                        dst.fill(T::ZERO);
                        continue;
                    }
                    let line = &src[iy as usize * g.w..][..g.w];
                    dst[..lo].fill(T::ZERO);
                    dst[hi..].fill(T::ZERO);
                    let first = lo * s + j - g.pad;
                    if s == 1 {
                        dst[lo..hi].copy_from_slice(&line[first..first + hi - lo]);
                    } else {
                        gather_strided(&mut dst[lo..hi], &line[first..], s);
                    }
                }
            }
        });
}

/// Adds the column matrix `[C·KH·KW, nb·OH·OW]` back into the planes of images `n0..n0+nb`
/// of `dx` (the adjoint of [`im2col`]). Each plane is summed by one task in a fixed order
/// (kernel offsets, then output positions), the same on both paths.
fn col2im<T: Elem>(g: &ConvGeom, col: &[T], n0: usize, nb: usize, dx: &mut [T]) {
    let (oh, ow, ohw) = (g.oh(), g.ow(), g.ohw());
    let ncols = nb * ohw;
    let plane = g.h * g.w;
    let s = g.stride;
    let kk = g.kh * g.kw;
    let tables = use_tables(g).then(|| offset_tables(g));
    dx[n0 * g.c * plane..(n0 + nb) * g.c * plane]
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(bc, dst)| {
            let (b, c) = (bc / g.c, bc % g.c);
            if let Some(tables) = &tables {
                for ij in 0..kk {
                    let row = &col[(c * kk + ij) * ncols + b * ohw..][..ohw];
                    for (v, &q) in row.iter().zip(&tables[ij * ohw..][..ohw]) {
                        if let Some(d) = dst.get_mut(q as usize) {
                            *d += *v;
                        }
                    }
                }
                return;
            }
            for i in 0..g.kh {
                for j in 0..g.kw {
                    let (lo, hi) = g.valid_range(j, g.w, ow);
                    if lo >= hi {
                        continue;
                    }
                    let r = (c * g.kh + i) * g.kw + j;
                    let row = &col[r * ncols + b * ohw..][..ohw];
                    for oy in 0..oh {
                        let iy = (oy * s + i) as isize - g.pad as isize;
                        if iy < 0 || iy >= g.h as isize {
                            continue;
                        }
                        let line = &mut dst[iy as usize * g.w..][..g.w];
                        let src = &row[oy * ow + lo..oy * ow + hi];
                        let first = lo * s + j - g.pad;
                        if s == 1 {
                            for (d, v) in line[first..first + (hi - lo)].iter_mut().zip(src) {
                                *d += *v;
                            }
                        } else if s == 2 {
                            // pairs vectorise where `step_by` does not
                            let last = src.len() - 1;
                            for (pair, v) in line[first..].chunks_exact_mut(2).zip(&src[..last]) {
                                pair[0] += *v;
                            }
                            line[first + 2 * last] += src[last];
                        } else {
                            for (d, v) in line[first..].iter_mut().step_by(s).zip(src) {
                                *d += *v;
                            }
                        }
                    }
                }
            }
        });
}

/// Writes `[O, nb·P]` from images `n0..n0+nb` of an `[N, O, P]` buffer into `out`.
fn gather_channels_major<T: Elem>(
    src: &[T],
    o: usize,
    p: usize,
    n0: usize,
    nb: usize,
    out: &mut [T],
) {
    out[..o * nb * p]
        .par_chunks_mut(nb * p)
        .enumerate()
        .for_each(|(oc, row)| {
            for b in 0..nb {
                row[b * p..(b + 1) * p].copy_from_slice(&src[((n0 + b) * o + oc) * p..][..p]);
            }
        });
}

/// Writes `[O, nb·P]` into images `n0..n0+nb` of an `[N, O, P]` buffer.
fn scatter_channels_major<T: Elem>(
    src: &[T],
    o: usize,
    p: usize,
    n0: usize,
    nb: usize,
    dst: &mut [T],
) {
    dst[n0 * o * p..(n0 + nb) * o * p]
        .par_chunks_mut(o * p)
        .enumerate()
        .for_each(|(b, img)| {
            for oc in 0..o {
                img[oc * p..(oc + 1) * p].copy_from_slice(&src[oc * nb * p + b * p..][..p]);
            }
        });
}

/// Forward: `y[N, O, OH, OW]` from `x[N, C, H, W]` and `w[O, C, KH, KW]`.
pub(crate) fn forward<T: Elem>(g: &ConvGeom, x: &[T], w: &[T]) -> Vec<T> {
    let (ohw, ckk) = (g.ohw(), g.ckk());
    let mut y = vec![T::ZERO; g.n * g.o * ohw];
    let wm = Mat::rows(w, g.o, ckk, ckk);
    if g.is_pointwise() {
        for n in 0..g.n {
            let xm = Mat::rows(&x[n * g.c * ohw..], g.c, ohw, ohw);
            matmul(&mut y[n * g.o * ohw..], ohw, false, wm, xm);
        }
        return y;
    }
    T::with_scratch(0, ckk * g.images_per_chunk() * ohw, |col| {
        for (n0, nb) in g.chunks() {
            let ncols = nb * ohw;
            im2col(g, x, n0, nb, col);
            if ohw >= DIRECT_MIN_PLANE || nb == 1 {
                for b in 0..nb {
                    let cm = Mat::rows(&col[b * ohw..], ckk, ohw, ncols);
                    matmul(&mut y[(n0 + b) * g.o * ohw..], ohw, false, wm, cm);
                }
            } else {
                T::with_scratch(1, g.o * ncols, |tmp| {
                    matmul(tmp, ncols, false, wm, Mat::rows(col, ckk, ncols, ncols));
                    scatter_channels_major(tmp, g.o, ohw, n0, nb, &mut y);
                });
            }
        }
    });
    y
}

/// Input gradient: `dx[N, C, H, W]` from `dy[N, O, OH, OW]` and `w[O, C, KH, KW]`.
pub(crate) fn backward_input<T: Elem>(g: &ConvGeom, dy: &[T], w: &[T]) -> Vec<T> {
    let (ohw, ckk) = (g.ohw(), g.ckk());
    let mut dx = vec![T::ZERO; g.n * g.c * g.h * g.w];
    let wt = Mat::rows(w, g.o, ckk, ckk).t();
    if g.is_pointwise() {
        for n in 0..g.n {
            let dym = Mat::rows(&dy[n * g.o * ohw..], g.o, ohw, ohw);
            matmul(&mut dx[n * g.c * ohw..], ohw, false, wt, dym);
        }
        return dx;
    }
    T::with_scratch(0, ckk * g.images_per_chunk() * ohw, |dcol| {
        for (n0, nb) in g.chunks() {
            let ncols = nb * ohw;
            if nb == 1 {
                let dym = Mat::rows(&dy[n0 * g.o * ohw..], g.o, ohw, ohw);
                matmul(dcol, ncols, false, wt, dym);
            } else {
                T::with_scratch(1, g.o * ncols, |dyp| {
                    gather_channels_major(dy, g.o, ohw, n0, nb, dyp);
                    matmul(dcol, ncols, false, wt, Mat::rows(dyp, g.o, ncols, ncols));
                });
            }
            col2im(g, dcol, n0, nb, &mut dx);
        }
    });
    dx
}

/// Weight gradient: `dw[O, C, KH, KW]` from `x[N, C, H, W]` and `dy[N, O, OH, OW]`.
pub(crate) fn backward_weight<T: Elem>(g: &ConvGeom, x: &[T], dy: &[T]) -> Vec<T> {
    let (ohw, ckk) = (g.ohw(), g.ckk());
    let mut dw = vec![T::ZERO; g.o * ckk];
    let nbmax = g.images_per_chunk();
    T::with_scratch(0, ckk * nbmax * ohw, |col| {
        T::with_scratch(1, g.o * nbmax * ohw, |dyp| {
            for (idx, (n0, nb)) in g.chunks().enumerate() {
                let ncols = nb * ohw;
                let dym = if nb == 1 {
                    Mat::rows(&dy[n0 * g.o * ohw..], g.o, ohw, ohw)
                } else {
                    gather_channels_major(dy, g.o, ohw, n0, nb, dyp);
                    Mat::rows(&*dyp, g.o, ncols, ncols)
                };
                let colm = if g.is_pointwise() && nb == 1 {
                    Mat::rows(&x[n0 * g.c * ohw..], g.c, ohw, ohw)
                } else if g.is_pointwise() {
                    gather_channels_major(x, g.c, ohw, n0, nb, col);
                    Mat::rows(&*col, g.c, ncols, ncols)
                } else {
                    im2col(g, x, n0, nb, col);
                    Mat::rows(&*col, ckk, ncols, ncols)
                };
                matmul(&mut dw, ckk, idx > 0, dym, colm.t());
            }
        })
    });
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct-loop reference convolution in f64.
    fn naive_forward(g: &ConvGeom, x: &[f64], w: &[f64]) -> Vec<f64> {
        let (oh, ow) = (g.oh(), g.ow());
        let mut y = vec![0.0; g.n * g.o * oh * ow];
        for n in 0..g.n {
            for o in 0..g.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..g.c {
                            for i in 0..g.kh {
                                for j in 0..g.kw {
                                    let iy = (oy * g.stride + i) as isize - g.pad as isize;
                                    let ix = (ox * g.stride + j) as isize - g.pad as isize;
                                    if iy < 0 || ix < 0 || iy >= g.h as isize || ix >= g.w as isize
                                    {
                                        continue;
                                    }
                                    acc += x
                                        [((n * g.c + c) * g.h + iy as usize) * g.w + ix as usize]
                                        * w[((o * g.c + c) * g.kh + i) * g.kw + j];
                                }
                            }
                        }
                        y[((n * g.o + o) * oh + oy) * ow + ox] = acc;
                    }
                }
            }
        }
        y
    }

    fn data(len: usize, seed: f64) -> Vec<f64> {
        (0..len)
            .map(|i| ((i as f64 + seed) * 0.7315).sin())
            .collect()
    }

    #[test]
    fn forward_and_adjoints_match_direct_loops() {
        // <conv(x, w), dy> = <x, dx(dy, w)> = <w, dw(x, dy)>: the backward kernels are the exact
        // adjoints of the forward, which is checked against a direct loop.
        let mut paths = [0usize; 2]; // row-by-row, table
        for &(kh, stride, pad, h, w) in &[
            (1, 1, 0, 5, 4),
            (1, 2, 0, 7, 6),
            (3, 1, 1, 6, 5),
            (3, 2, 1, 7, 9),
            (7, 2, 3, 11, 10),
            (3, 3, 0, 8, 8),
            // rows of at least TABLE_MAX_WIDTH outputs take the row-by-row path
            (3, 1, 1, 5, 33),
            (3, 2, 1, 6, 37),
            (7, 2, 3, 9, 40),
            (1, 2, 0, 4, 34),
            (3, 3, 1, 5, 50),
        ] {
            let g = ConvGeom {
                n: 3,
                c: 2,
                h,
                w,
                o: 4,
                kh,
                kw: kh,
                stride,
                pad,
            };
            paths[use_tables(&g) as usize] += 1;
            let x = data(g.n * g.c * h * w, 0.0);
            let wt = data(g.o * g.ckk(), 3.0);
            let dy = data(g.n * g.o * g.ohw(), 7.0);
            let y = forward(&g, &x, &wt);
            let want = naive_forward(&g, &x, &wt);
            for (a, b) in y.iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{g:?}: {a} vs {b}");
            }
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
            let lhs = dot(&y, &dy);
            let dx = backward_input(&g, &dy, &wt);
            let dw = backward_weight(&g, &x, &dy);
            assert!(
                (lhs - dot(&x, &dx)).abs() < 1e-10 * lhs.abs().max(1.0),
                "{g:?} dx"
            );
            assert!(
                (lhs - dot(&wt, &dw)).abs() < 1e-10 * lhs.abs().max(1.0),
                "{g:?} dw"
            );
        }
        assert!(paths[0] > 0 && paths[1] > 0, "both im2col paths are tested");
    }
}
