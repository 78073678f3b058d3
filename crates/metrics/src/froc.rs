//! Camelyon16 lesion-level FROC, following the challenge's official evaluation script
//! `Evaluation_FROC.py` (Babak Ehteshami Bejnordi, 2016; github.com/computationalpathologygroup/
//! Camelyon16, `Python/Evaluation_FROC.py`) and the way NCRF (Li & Ping 2018, github.com/
//! baidu-research/NCRF, `wsi/bin/Evaluation_FROC.py` and `wsi/bin/nms.py`) turns a probability
//! map into detections and the curve into the challenge score. The rules, each with its source:
//!
//! 1. **Evaluation mask** (`computeEvaluationMask`): the ground-truth tumour mask at pyramid
//!    level L (5 in the challenge, level-0 pixel size 0.243 µm) is dilated by thresholding the
//!    Euclidean distance to the nearest tumour pixel: `distance < 75 / (mpp · 2^L · 2)` pixels
//!    ("75 µm is the equivalent size of 5 tumour cells"; the official code halves it), holes are
//!    filled (SciPy `binary_fill_holes`, 4-connected background) and lesions are the
//!    8-connected components (`skimage.measure.label(connectivity=2)`).
//! 2. **Isolated tumour cells** (`computeITCList`): a lesion whose major axis length
//!    (skimage `regionprops`: 4·sqrt of the largest eigenvalue of the pixel-coordinate
//!    covariance) is below `275 / (mpp · 2^L)` pixels (200 µm plus the 75 µm dilation) is an
//!    ITC: it is neither counted in the sensitivity nor can a detection on it be a false positive.
//! 3. **Detections** (`compute_FP_TP_Probs`): each `(probability, x, y)` in level-0 pixels is
//!    looked up in the evaluation mask at `(⌊y / 2^L⌋, ⌊x / 2^L⌋)`. Outside every lesion it is a
//!    false positive; on a non-ITC lesion it is a hit, and the lesion's probability is the
//!    highest of its hits (kept as float32 as the script does); on an ITC it is ignored. On a
//!    slide without tumour every detection is a false positive.
//! 4. **Curve** (`computeFROC`): thresholds are the distinct values among all false-positive
//!    probabilities and all lesion probabilities (missed lesions and ITCs count as 0), **except
//!    the smallest**; for each, the false positives with probability ≥ threshold divided by the
//!    number of slides, and the lesions with probability ≥ threshold divided by the number of
//!    non-ITC lesions; then a final point (0, 0). As NumPy evaluates it, lesion probabilities
//!    (float32) are compared with the threshold rounded to float32.
//! 5. **Score** (NCRF's `Evaluation_FROC.py`; the challenge's definition in Ehteshami Bejnordi
//!    et al., JAMA 2017): the mean of the sensitivities at 1/4, 1/2, 1, 2, 4 and 8 false
//!    positives per slide, read off the curve by `np.interp` (linear interpolation; beyond the
//!    curve's ends, its end values).
//! 6. **Detections from a probability map** (NCRF's `nms.py`): repeatedly take the highest cell
//!    above a probability threshold (0.5), report it at level-0 `((x + 0.5)·2^l, (y + 0.5)·2^l)`
//!    for a map at level l, and suppress the square window `[x − r, x + r) × [y − r, y + r)`
//!    around it (r = 12 cells). Ties go to the smallest x, then y (NumPy's order on NCRF's
//!    x-major maps).

use serde::Serialize;

use crate::error::{Result, invalid};

/// The geometry of the evaluation mask: the level-0 pixel size and the level the mask is at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaskGeometry {
    /// Level-0 pixel size in µm (Camelyon16: 0.243).
    pub level0_mpp: f64,
    /// Pyramid level of the mask, downsample `2^level` (Camelyon16 evaluation: 5).
    pub level: u32,
}

impl Default for MaskGeometry {
    /// The Camelyon16 challenge's values: 0.243 µm, level 5.
    fn default() -> Self {
        Self {
            level0_mpp: 0.243,
            level: 5,
        }
    }
}

impl MaskGeometry {
    fn downsample(&self) -> f64 {
        2f64.powi(self.level as i32)
    }
}

/// One detection: a probability at a level-0 pixel position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Detection {
    /// Confidence that a lesion is there.
    pub probability: f64,
    /// Level-0 column.
    pub x: u64,
    /// Level-0 row.
    pub y: u64,
}

/// The labelled evaluation mask of one tumour slide (rules 1 and 2).
#[derive(Clone, Debug)]
pub struct LesionMask {
    width: usize,
    height: usize,
    geometry: MaskGeometry,
    /// 0 = background, else lesion label 1..=n.
    labels: Vec<u32>,
    /// `is_itc[label - 1]`.
    is_itc: Vec<bool>,
}

impl LesionMask {
    /// Builds the evaluation mask from a ground-truth tumour mask at `geometry.level`
    /// (row-major, `width × height`, true = tumour).
    pub fn new(
        tumour: &[bool],
        width: usize,
        height: usize,
        geometry: MaskGeometry,
    ) -> Result<Self> {
        if width == 0 || height == 0 || tumour.len() != width * height {
            return Err(invalid!(
                "tumour mask has {} pixels, not width × height = {width} × {height}",
                tumour.len()
            ));
        }
        if !(geometry.level0_mpp > 0.0 && geometry.level0_mpp.is_finite()) {
            return Err(invalid!(
                "level-0 pixel size must be positive, got {}",
                geometry.level0_mpp
            ));
        }
        let mpp_at_level = geometry.level0_mpp * geometry.downsample();
        let radius = 75.0 / (mpp_at_level * 2.0);
        let d2 = squared_distance_to_true(tumour, width, height);
        let dilated: Vec<bool> = d2.iter().map(|&d| d.sqrt() < radius).collect();
        let filled = fill_holes(&dilated, width, height);
        let (labels, n) = label_8(&filled, width, height);
        let itc_limit = 275.0 / mpp_at_level;
        let is_itc = major_axis_lengths(&labels, n, width)
            .into_iter()
            .map(|m| m < itc_limit)
            .collect();
        Ok(Self {
            width,
            height,
            geometry,
            labels,
            is_itc,
        })
    }

    /// Number of lesions (including ITCs).
    pub fn n_regions(&self) -> usize {
        self.is_itc.len()
    }

    /// Number of lesions that count for the sensitivity (not ITCs).
    pub fn n_lesions(&self) -> usize {
        self.is_itc.iter().filter(|&&i| !i).count()
    }

    /// The lesion label at a level-0 position (0 = none), or an error when it is outside.
    fn label_at(&self, x: u64, y: u64) -> Option<u32> {
        let d = self.geometry.downsample();
        let (mx, my) = (
            (x as f64 / d).floor() as usize,
            (y as f64 / d).floor() as usize,
        );
        (mx < self.width && my < self.height).then(|| self.labels[my * self.width + mx])
    }
}

/// False-positive and lesion probabilities of one slide (rule 3).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlideOutcome {
    /// Probabilities of the false-positive detections.
    pub fp_probs: Vec<f64>,
    /// Per lesion label (ITCs included, as 0): highest hit probability, float32 as the official
    /// script keeps it; 0 for a missed lesion.
    pub lesion_probs: Vec<f32>,
    /// Number of lesions that count (non-ITC).
    pub n_lesions: usize,
}

/// Scores the detections of one slide; `mask` is `None` for a slide without tumour.
pub fn evaluate_slide(mask: Option<&LesionMask>, detections: &[Detection]) -> Result<SlideOutcome> {
    for (i, d) in detections.iter().enumerate() {
        if !d.probability.is_finite() {
            return Err(invalid!("detection {i} has probability {}", d.probability));
        }
    }
    let Some(mask) = mask else {
        return Ok(SlideOutcome {
            fp_probs: detections.iter().map(|d| d.probability).collect(),
            lesion_probs: vec![],
            n_lesions: 0,
        });
    };
    let mut out = SlideOutcome {
        fp_probs: vec![],
        lesion_probs: vec![0.0; mask.n_regions()],
        n_lesions: mask.n_lesions(),
    };
    for (i, d) in detections.iter().enumerate() {
        let label = mask.label_at(d.x, d.y).ok_or_else(|| {
            invalid!(
                "detection {i} at level-0 ({}, {}) lies outside the {} × {} evaluation mask",
                d.x,
                d.y,
                mask.width,
                mask.height
            )
        })?;
        if label == 0 {
            out.fp_probs.push(d.probability);
        } else if !mask.is_itc[label as usize - 1] {
            let slot = &mut out.lesion_probs[label as usize - 1];
            if d.probability > *slot as f64 {
                *slot = d.probability as f32;
            }
        }
    }
    Ok(out)
}

/// The false-positive rates of the challenge score (per slide).
pub const FP_RATES: [f64; 6] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0];

/// A FROC curve and the challenge score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Froc {
    /// Mean false positives per slide at each threshold (decreasing, ends with 0).
    pub fps_per_slide: Vec<f64>,
    /// Lesion sensitivity at each threshold (ends with 0).
    pub sensitivity: Vec<f64>,
    /// Sensitivity at [`FP_RATES`].
    pub sensitivity_at_fp_rates: [f64; 6],
    /// Mean of `sensitivity_at_fp_rates`: the Camelyon16 lesion-level score.
    pub score: f64,
}

/// The FROC curve over slides (rules 4 and 5). Needs at least one slide and one lesion.
pub fn froc(slides: &[SlideOutcome]) -> Result<Froc> {
    if slides.is_empty() {
        return Err(invalid!("FROC needs at least one slide"));
    }
    let n_lesions: usize = slides.iter().map(|s| s.n_lesions).sum();
    if n_lesions == 0 {
        return Err(invalid!(
            "FROC needs at least one lesion (non-ITC) in the ground truth"
        ));
    }
    let mut fps: Vec<f64> = slides
        .iter()
        .flat_map(|s| s.fp_probs.iter().copied())
        .collect();
    let mut tps: Vec<f32> = slides
        .iter()
        .flat_map(|s| s.lesion_probs.iter().copied())
        .collect();
    let mut thresholds: Vec<f64> = fps
        .iter()
        .copied()
        .chain(tps.iter().map(|&t| t as f64))
        .collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup_by(|a, b| a == b);
    fps.sort_by(f64::total_cmp);
    tps.sort_by(f32::total_cmp);
    let n_slides = slides.len() as f64;
    let mut curve_fp = Vec::with_capacity(thresholds.len());
    let mut curve_se = Vec::with_capacity(thresholds.len());
    for &t in thresholds.iter().skip(1) {
        let n_fp = fps.len() - fps.partition_point(|&p| p < t);
        let t32 = t as f32;
        let n_tp = tps.len() - tps.partition_point(|&p| p < t32);
        curve_fp.push(n_fp as f64 / n_slides);
        curve_se.push(n_tp as f64 / n_lesions as f64);
    }
    curve_fp.push(0.0);
    curve_se.push(0.0);
    // np.interp(FP_RATES, fps[::-1], sens[::-1]).
    let xp: Vec<f64> = curve_fp.iter().rev().copied().collect();
    let fp_: Vec<f64> = curve_se.iter().rev().copied().collect();
    let at = FP_RATES.map(|x| np_interp(x, &xp, &fp_));
    Ok(Froc {
        fps_per_slide: curve_fp,
        sensitivity: curve_se,
        sensitivity_at_fp_rates: at,
        score: at.iter().sum::<f64>() / at.len() as f64,
    })
}

/// NumPy's `interp(x, xp, fp)` for non-decreasing `xp` (repeated values allowed: the last of a
/// run is used, as NumPy's binary search finds it).
fn np_interp(x: f64, xp: &[f64], fp: &[f64]) -> f64 {
    let last = xp.len() - 1;
    if x > xp[last] {
        return fp[last];
    }
    if x < xp[0] {
        return fp[0];
    }
    // j: last index with xp[j] <= x.
    let j = xp.partition_point(|&v| v <= x) - 1;
    if j == last || xp[j] == x {
        return fp[j];
    }
    let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    slope * (x - xp[j]) + fp[j]
}

/// Detections from a probability map by iterative maximum suppression (rule 6).
///
/// `probs` is row-major `width × height` at pyramid level `level` (a cell covers `2^level`
/// level-0 pixels); cells that are NaN or negative (no tissue) are never detections.
pub fn detect_local_maxima(
    probs: &[f32],
    width: usize,
    height: usize,
    level: u32,
    radius: usize,
    threshold: f64,
) -> Result<Vec<Detection>> {
    if probs.len() != width * height {
        return Err(invalid!(
            "probability map has {} values but width × height = {width} × {height}",
            probs.len()
        ));
    }
    if threshold.is_nan() || threshold < 0.0 {
        return Err(invalid!("detection threshold must be ≥ 0, got {threshold}"));
    }
    let mut cand: Vec<(f32, usize, usize)> = probs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.is_finite() && (**p as f64) > threshold)
        .map(|(i, &p)| (p, i % width, i / width))
        .collect();
    cand.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut suppressed = vec![false; probs.len()];
    let scale = 2f64.powi(level as i32);
    let mut out = Vec::new();
    for (p, x, y) in cand {
        if suppressed[y * width + x] {
            continue;
        }
        out.push(Detection {
            probability: p as f64,
            x: ((x as f64 + 0.5) * scale) as u64,
            y: ((y as f64 + 0.5) * scale) as u64,
        });
        let (x0, x1) = (x.saturating_sub(radius), (x + radius).min(width));
        let (y0, y1) = (y.saturating_sub(radius), (y + radius).min(height));
        for yy in y0..y1 {
            suppressed[yy * width + x0..yy * width + x1].fill(true);
        }
    }
    Ok(out)
}

// ----------------------------------------------------------------------------- image ops

/// Exact squared Euclidean distance from each pixel to the nearest `true` pixel (Felzenszwalb &
/// Huttenlocher 2012, separable lower envelope of parabolas); `f64::INFINITY` when there is none.
fn squared_distance_to_true(mask: &[bool], width: usize, height: usize) -> Vec<f64> {
    const INF: f64 = 1e30;
    let mut f: Vec<f64> = mask.iter().map(|&t| if t { 0.0 } else { INF }).collect();
    let n = width.max(height);
    let (mut v, mut z, mut line, mut out) = (
        vec![0usize; n],
        vec![0.0; n + 1],
        vec![0.0; n],
        vec![0.0; n],
    );
    for x in 0..width {
        for y in 0..height {
            line[y] = f[y * width + x];
        }
        dt_1d(&line[..height], &mut out[..height], &mut v, &mut z);
        for y in 0..height {
            f[y * width + x] = out[y];
        }
    }
    for y in 0..height {
        line[..width].copy_from_slice(&f[y * width..(y + 1) * width]);
        dt_1d(&line[..width], &mut out[..width], &mut v, &mut z);
        f[y * width..(y + 1) * width].copy_from_slice(&out[..width]);
    }
    f.iter()
        .map(|&d| if d >= INF / 2.0 { f64::INFINITY } else { d })
        .collect()
}

fn dt_1d(f: &[f64], d: &mut [f64], v: &mut [usize], z: &mut [f64]) {
    let n = f.len();
    let mut k = 0usize;
    v[0] = 0;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in 1..n {
        let s_at = |p: usize| {
            ((f[q] + (q * q) as f64) - (f[p] + (p * p) as f64)) / (2.0 * (q as f64 - p as f64))
        };
        let mut s = s_at(v[k]);
        // z[0] = −∞, so this stops at k = 0 at the latest.
        while s <= z[k] {
            k -= 1;
            s = s_at(v[k]);
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    k = 0;
    for (q, dq) in d.iter_mut().enumerate() {
        while z[k + 1] < q as f64 {
            k += 1;
        }
        let p = v[k];
        *dq = (q as f64 - p as f64).powi(2) + f[p];
    }
}

/// Fills holes: background not 4-connected to the image border becomes foreground.
fn fill_holes(mask: &[bool], width: usize, height: usize) -> Vec<bool> {
    let mut outside = vec![false; mask.len()];
    let mut stack = Vec::new();
    let push = |i: usize, outside: &mut Vec<bool>, stack: &mut Vec<usize>| {
        if !mask[i] && !outside[i] {
            outside[i] = true;
            stack.push(i);
        }
    };
    for x in 0..width {
        push(x, &mut outside, &mut stack);
        push((height - 1) * width + x, &mut outside, &mut stack);
    }
    for y in 0..height {
        push(y * width, &mut outside, &mut stack);
        push(y * width + width - 1, &mut outside, &mut stack);
    }
    while let Some(i) = stack.pop() {
        let (x, y) = (i % width, i / width);
        if x > 0 {
            push(i - 1, &mut outside, &mut stack);
        }
        if x + 1 < width {
            push(i + 1, &mut outside, &mut stack);
        }
        if y > 0 {
            push(i - width, &mut outside, &mut stack);
        }
        if y + 1 < height {
            push(i + width, &mut outside, &mut stack);
        }
    }
    outside.iter().map(|&o| !o).collect()
}

/// 8-connected component labels in raster order of first pixel (1..=n), and n.
fn label_8(mask: &[bool], width: usize, height: usize) -> (Vec<u32>, usize) {
    let mut labels = vec![0u32; mask.len()];
    let mut n = 0u32;
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        n += 1;
        labels[start] = n;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = ((i % width) as isize, (i / width) as isize);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                        continue;
                    }
                    let j = ny as usize * width + nx as usize;
                    if mask[j] && labels[j] == 0 {
                        labels[j] = n;
                        stack.push(j);
                    }
                }
            }
        }
    }
    (labels, n as usize)
}

/// skimage's `axis_major_length` of each label: 4·sqrt(largest eigenvalue of the covariance of
/// the pixel coordinates).
fn major_axis_lengths(labels: &[u32], n: usize, width: usize) -> Vec<f64> {
    // Per label: count, Σr, Σc, Σr², Σc², Σrc (exact in f64 for any realistic mask).
    let mut m = vec![[0.0f64; 6]; n];
    for (i, &l) in labels.iter().enumerate() {
        if l == 0 {
            continue;
        }
        let (r, c) = ((i / width) as f64, (i % width) as f64);
        let s = &mut m[l as usize - 1];
        s[0] += 1.0;
        s[1] += r;
        s[2] += c;
        s[3] += r * r;
        s[4] += c * c;
        s[5] += r * c;
    }
    m.iter()
        .map(|s| {
            let k = s[0];
            let (mr, mc) = (s[1] / k, s[2] / k);
            let vr = s[3] / k - mr * mr;
            let vc = s[4] / k - mc * mc;
            let cv = s[5] / k - mr * mc;
            let half = (vr + vc) / 2.0;
            let l1 = half + (((vr - vc) / 2.0).powi(2) + cv * cv).sqrt();
            4.0 * l1.max(0.0).sqrt()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_d2(mask: &[bool], w: usize, h: usize) -> Vec<f64> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                (0..w * h)
                    .filter(|&j| mask[j])
                    .map(|j| ((j % w) as f64 - x).powi(2) + ((j / w) as f64 - y).powi(2))
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn distance_transform_is_exact(bits in proptest::collection::vec(proptest::bool::weighted(0.1), 1..120), w in 1usize..12) {
            let h = bits.len() / w;
            proptest::prop_assume!(h > 0);
            let mask = &bits[..w * h];
            proptest::prop_assert_eq!(squared_distance_to_true(mask, w, h), brute_d2(mask, w, h));
        }
    }

    #[test]
    fn fill_and_label() {
        // A ring (hole in the middle) and a diagonal pair (8-connected), 6 × 5.
        #[rustfmt::skip]
        let m = [
            1, 1, 1, 0, 0, 0,
            1, 0, 1, 0, 0, 0,
            1, 1, 1, 0, 1, 0,
            0, 0, 0, 0, 0, 1,
            0, 0, 0, 0, 0, 0,
        ].map(|v| v == 1);
        let filled = fill_holes(&m, 6, 5);
        assert!(filled[6 + 1]);
        let (labels, n) = label_8(&filled, 6, 5);
        assert_eq!(n, 2);
        assert_eq!(labels[0], 1);
        assert_eq!(labels[2 * 6 + 4], 2);
        assert_eq!(labels[3 * 6 + 5], 2);
        // A horizontal bar of 5 pixels: variance (25 − 1) / 12 = 2, major axis 4·sqrt(2).
        let (bar, _) = label_8(&[true; 5], 5, 1);
        let got = major_axis_lengths(&bar, 1, 5)[0];
        assert!((got - 4.0 * 2f64.sqrt()).abs() < 1e-12, "{got}");
    }

    #[test]
    fn np_interp_matches_numpy_rules() {
        let xp = [0.0, 0.5, 0.5, 2.0];
        let fp = [0.1, 0.2, 0.4, 1.0];
        assert_eq!(np_interp(-1.0, &xp, &fp), 0.1);
        assert_eq!(np_interp(0.5, &xp, &fp), 0.4); // last of the repeated run
        assert_eq!(np_interp(3.0, &xp, &fp), 1.0);
        assert!((np_interp(1.25, &xp, &fp) - 0.7).abs() < 1e-15);
    }
}
