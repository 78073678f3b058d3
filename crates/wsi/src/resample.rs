//! Area-averaging (box) downsampling by any factor ≥ 1, used for virtual pyramid levels.
//!
//! Output pixel `i` of a level downsampled by `r` covers source pixels `[i·r, (i+1)·r)`; partly
//! covered source pixels count with the covered fraction (the average of the area under the
//! output pixel). The value of an output pixel depends only on its index, never on the extent of
//! the request, so a virtual level read in bands equals the same level read tile by tile.

/// The source span `[s0, s1)` (in source pixels) that output pixels `[o0, o0 + n)` cover.
pub(crate) fn source_span(o0: i64, n: usize, r: f64) -> (i64, i64) {
    let s0 = (o0 as f64 * r).floor() as i64;
    let s1 = ((o0 + n as i64) as f64 * r).ceil() as i64;
    (s0, s1)
}

/// Weights of output pixel `o` over source pixels: `(first source index, weights)`.
fn weights(o: i64, r: f64) -> (i64, Vec<f64>) {
    let a = o as f64 * r;
    let b = (o + 1) as f64 * r;
    let first = a.floor() as i64;
    let last = b.ceil() as i64; // exclusive
    let mut w = Vec::with_capacity((last - first) as usize);
    for s in first..last {
        let lo = a.max(s as f64);
        let hi = b.min((s + 1) as f64);
        w.push(((hi - lo).max(0.0)) / r);
    }
    (first, w)
}

/// Downsamples `src` (`sw`×`sh` RGB, whose pixel (0, 0) is source pixel (`sx0`, `sy0`)) into
/// `out` (`w`×`h` RGB), whose pixel (0, 0) is output pixel (`ox`, `oy`), by the factor `r`.
/// `src` must cover [`source_span`] of the output in both directions.
#[allow(clippy::too_many_arguments)]
pub(crate) fn area_downsample(
    src: &[u8],
    sw: usize,
    sx0: i64,
    sy0: i64,
    r: f64,
    ox: i64,
    oy: i64,
    w: usize,
    h: usize,
    out: &mut [u8],
) {
    let ri = r.round();
    if (r - ri).abs() < 1e-9 && ri >= 1.0 {
        integer_box(src, sw, sx0, sy0, ri as usize, ox, oy, w, h, out);
        return;
    }
    // Separable: horizontal pass into f32 rows, then vertical.
    let cols: Vec<(i64, Vec<f64>)> = (0..w as i64).map(|i| weights(ox + i, r)).collect();
    let (ys0, ys1) = source_span(oy, h, r);
    let rows = (ys1 - ys0) as usize;
    let mut hp = vec![0f32; rows * w * 3];
    for ry in 0..rows {
        let srow = &src[((ys0 - sy0) as usize + ry) * sw * 3..];
        for (i, (first, wts)) in cols.iter().enumerate() {
            let mut acc = [0f64; 3];
            for (k, &wt) in wts.iter().enumerate() {
                let s = ((first + k as i64 - sx0) as usize) * 3;
                acc[0] += wt * f64::from(srow[s]);
                acc[1] += wt * f64::from(srow[s + 1]);
                acc[2] += wt * f64::from(srow[s + 2]);
            }
            let d = (ry * w + i) * 3;
            hp[d] = acc[0] as f32;
            hp[d + 1] = acc[1] as f32;
            hp[d + 2] = acc[2] as f32;
        }
    }
    for j in 0..h {
        let (first, wts) = weights(oy + j as i64, r);
        for i in 0..w {
            let mut acc = [0f64; 3];
            for (k, &wt) in wts.iter().enumerate() {
                let ry = (first + k as i64 - ys0) as usize;
                let s = (ry * w + i) * 3;
                acc[0] += wt * f64::from(hp[s]);
                acc[1] += wt * f64::from(hp[s + 1]);
                acc[2] += wt * f64::from(hp[s + 2]);
            }
            let d = (j * w + i) * 3;
            for c in 0..3 {
                out[d + c] = acc[c].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Exact integer box average (rounded half up) for an integral factor `r`.
#[allow(clippy::too_many_arguments)]
fn integer_box(
    src: &[u8],
    sw: usize,
    sx0: i64,
    sy0: i64,
    r: usize,
    ox: i64,
    oy: i64,
    w: usize,
    h: usize,
    out: &mut [u8],
) {
    let area = (r * r) as u32;
    let mut acc = vec![0u32; w * 3];
    for j in 0..h {
        acc.fill(0);
        let base_y = ((oy + j as i64) * r as i64 - sy0) as usize;
        for dy in 0..r {
            let row = &src[(base_y + dy) * sw * 3..];
            let x_off = (ox * r as i64 - sx0) as usize;
            let row = &row[x_off * 3..x_off * 3 + w * r * 3];
            for (i, px) in row.chunks_exact(r * 3).enumerate() {
                let a = &mut acc[i * 3..i * 3 + 3];
                for p in px.chunks_exact(3) {
                    a[0] += u32::from(p[0]);
                    a[1] += u32::from(p[1]);
                    a[2] += u32::from(p[2]);
                }
            }
        }
        let o = &mut out[j * w * 3..(j + 1) * w * 3];
        for (d, &a) in o.iter_mut().zip(&acc) {
            *d = ((a + area / 2) / area) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut v = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let g = f(x, y);
                v.extend([g, g, g]);
            }
        }
        v
    }

    #[test]
    fn integer_factor_is_the_rounded_block_mean() {
        // 4x2 source, factor 2 -> 2x1: blocks {0,1,4,5} and {2,3,6,7}
        let src = grey(4, 2, |x, y| (x + 4 * y) as u8 * 10);
        let mut out = vec![0; 2 * 3];
        area_downsample(&src, 4, 0, 0, 2.0, 0, 0, 2, 1, &mut out);
        // (0+10+40+50)/4 = 25, (20+30+60+70)/4 = 45
        assert_eq!(out, [25, 25, 25, 45, 45, 45]);
    }

    #[test]
    fn fractional_factor_weights_partial_pixels() {
        // 1-D along x: source 0,30,60 with factor 1.5: pixel 0 covers [0,1.5) = 0*(1/1.5)+30*(0.5/1.5) = 10
        // pixel 1 covers [1.5,3) = 30*(0.5/1.5)+60*(1/1.5) = 50
        let src = grey(3, 3, |x, _| (x * 30) as u8);
        let mut out = vec![0; 2 * 2 * 3];
        area_downsample(&src, 3, 0, 0, 1.5, 0, 0, 2, 2, &mut out);
        assert_eq!(out[0], 10);
        assert_eq!(out[3], 50);
        assert_eq!(out[6], 10);
    }

    #[test]
    fn output_does_not_depend_on_the_request_window() {
        let src = grey(40, 40, |x, y| ((x * 7 + y * 13) % 251) as u8);
        for r in [2.0, 3.0, 2.5, 1.7] {
            let (w, h) = ((40.0 / r) as usize, (40.0 / r) as usize);
            let mut full = vec![0; w * h * 3];
            area_downsample(&src, 40, 0, 0, r, 0, 0, w, h, &mut full);
            // a sub-window read from a sub-rectangle of the source
            let (ox, oy, ww, hh) = (3i64, 2i64, 5usize, 6usize);
            let (sx0, sx1) = source_span(ox, ww, r);
            let (sy0, sy1) = source_span(oy, hh, r);
            let sw = (sx1 - sx0) as usize;
            let mut sub = Vec::new();
            for y in sy0..sy1 {
                let s = (y as usize * 40 + sx0 as usize) * 3;
                sub.extend_from_slice(&src[s..s + sw * 3]);
            }
            let mut part = vec![0; ww * hh * 3];
            area_downsample(&sub, sw, sx0, sy0, r, ox, oy, ww, hh, &mut part);
            for j in 0..hh {
                for i in 0..ww {
                    let a = ((oy as usize + j) * w + ox as usize + i) * 3;
                    let b = (j * ww + i) * 3;
                    assert_eq!(full[a..a + 3], part[b..b + 3], "r={r} ({i},{j})");
                }
            }
        }
    }
}
