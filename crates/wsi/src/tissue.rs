//! Tissue detection, exact to the original's decision and fast.
//!
//! The original reads every candidate tile at the detection level and tests its pixels. Here the
//! per-pixel test runs once per slide over the rows of the detection level that candidates
//! cover, and each candidate is answered in O(1) from column sums over a sliding band of rows
//! (a summed-area table restricted to the current band), in memory proportional to the level
//! width times the tile size, whatever the slide size.

use std::collections::VecDeque;
use std::str::FromStr;

use histo_tensor::Image;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::color::{LabThreshold, hsv_saturation, saturation_table, sum_lab_a};
use crate::slide::{LevelSpec, ReadLevel, Slide};
use crate::{Error, Result};

/// Statistics levels larger than this many pixels are read at a virtual downsample instead
/// (documented deviation: the original would read, e.g., a whole single-level slide).
pub const MAX_STATS_PIXELS: u64 = 1 << 26;

/// How tissue is told from background.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum TissueMethod {
    /// Original v1 (spec §1.4): μ = mean CIE-Lab a* over the whole statistics level
    /// (`level_count − lwst_level_idx`); a tile is tissue iff at least `thresh` of its pixels
    /// have a* > (1 + `mu_percent`)·μ. Defaults 0.15, 0.95, 1.
    V1 {
        /// Relative margin over the slide mean.
        mu_percent: f64,
        /// Minimum fraction of tissue pixels.
        thresh: f64,
        /// The statistics level counted from the end of the pyramid (1 = the smallest level).
        lwst_level_idx: usize,
    },
    /// Original v2: at least `thresh` of the pixels have HSV saturation > `s_min`
    /// (defaults 0.1, 0.75).
    V2 {
        /// Saturation threshold.
        s_min: f64,
        /// Minimum fraction of tissue pixels.
        thresh: f64,
    },
    /// Saturation above an Otsu threshold computed on the smallest level (256 bins, as
    /// `skimage.filters.threshold_otsu`); at least `thresh` of the pixels (default 0.75).
    Otsu {
        /// Minimum fraction of tissue pixels.
        thresh: f64,
    },
}

impl TissueMethod {
    /// v1 with the original's defaults.
    pub fn v1() -> Self {
        Self::V1 {
            mu_percent: 0.15,
            thresh: 0.95,
            lwst_level_idx: 1,
        }
    }

    /// v2 with the original's defaults.
    pub fn v2() -> Self {
        Self::V2 {
            s_min: 0.1,
            thresh: 0.75,
        }
    }

    /// Otsu on saturation, 75 % of the tile.
    pub fn otsu() -> Self {
        Self::Otsu { thresh: 0.75 }
    }

    /// The minimum tissue fraction of a tile.
    pub fn thresh(&self) -> f64 {
        match *self {
            Self::V1 { thresh, .. } | Self::V2 { thresh, .. } | Self::Otsu { thresh } => thresh,
        }
    }
}

impl FromStr for TissueMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "v1" | "lab" => Ok(Self::v1()),
            "v2" | "saturation" => Ok(Self::v2()),
            "otsu" => Ok(Self::otsu()),
            _ => Err(Error::Invalid(format!(
                "unknown tissue method `{s}` (expected v1, v2 or otsu)"
            ))),
        }
    }
}

/// The per-pixel test, prepared for one slide.
#[derive(Clone, Debug)]
enum PixelTest {
    /// a* > threshold
    LabA(LabThreshold),
    /// saturation > threshold, as a (max, min) table
    Sat(Vec<bool>),
}

impl PixelTest {
    #[inline]
    fn test(&self, p: &[u8]) -> bool {
        match self {
            Self::LabA(t) => t.test(p),
            Self::Sat(table) => {
                let mx = p[0].max(p[1]).max(p[2]) as usize;
                let mn = p[0].min(p[1]).min(p[2]) as usize;
                table[mx * 256 + mn]
            }
        }
    }

    /// Writes 1 (tissue) or 0 per pixel of `rgb` into `out` (one byte per pixel).
    fn mask(&self, rgb: &[u8], out: &mut [u8]) {
        let pixels = rgb.chunks_exact(3).zip(out.iter_mut());
        match self {
            Self::LabA(t) => pixels.for_each(|(p, o)| *o = u8::from(t.test(p))),
            Self::Sat(_) => pixels.for_each(|(p, o)| *o = u8::from(self.test(p))),
        }
    }
}

/// Per-slide statistics behind the decision (recorded in tile-store manifests).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TissueStats {
    /// The method.
    pub method: TissueMethod,
    /// v1: the slide mean of a*.
    pub mu: Option<f64>,
    /// v1: the a* threshold (1 + mu_percent)·μ; v2/Otsu: the saturation threshold.
    pub pixel_threshold: f64,
    /// The level the slide statistics were computed on (v1 and Otsu).
    pub stats_level: Option<ReadLevel>,
}

/// A tissue detector prepared for one slide.
#[derive(Clone, Debug)]
pub struct TissueDetector {
    test: PixelTest,
    thresh: f64,
    stats: TissueStats,
}

/// Reads rows `[y, y+n)` × columns `[x, x+w)` of `level` in parallel column chunks, turns the
/// RGB of each chunk (`cw*n*3` bytes) into `k` bytes per pixel with `f`, and stitches the
/// chunks back together row-major (`w*n*k` bytes).
fn map_rows(
    slide: &Slide,
    level: &ReadLevel,
    (x, w): (i64, usize),
    (y, n): (i64, usize),
    k: usize,
    f: impl Fn(&mut Vec<u8>) -> Vec<u8> + Sync,
) -> Result<Vec<u8>> {
    const CHUNK: usize = 512;
    let chunks: Vec<(usize, usize)> = (0..w)
        .step_by(CHUNK)
        .map(|c| (c, CHUNK.min(w - c)))
        .collect();
    let mut parts: Vec<Vec<u8>> = chunks
        .par_iter()
        .map_init(Vec::new, |rgb, &(c, cw)| {
            rgb.resize(cw * n * 3, 0);
            slide.read_at_into(level, x + c as i64, y, cw, n, rgb)?;
            Ok(f(rgb))
        })
        .collect::<Result<_>>()?;
    if parts.len() == 1 {
        return Ok(parts.swap_remove(0));
    }
    let mut out = vec![0u8; w * n * k];
    for (&(c, cw), part) in chunks.iter().zip(&parts) {
        for (dst, src) in out.chunks_exact_mut(w * k).zip(part.chunks_exact(cw * k)) {
            dst[c * k..(c + cw) * k].copy_from_slice(src);
        }
    }
    Ok(out)
}

/// Reads rows `[y, y+n)` × columns `[x, x+w)` of `level` (RGB), in parallel column chunks.
pub(crate) fn read_rows(
    slide: &Slide,
    level: &ReadLevel,
    x: i64,
    w: usize,
    y: i64,
    n: usize,
) -> Result<Vec<u8>> {
    map_rows(slide, level, (x, w), (y, n), 3, std::mem::take)
}

/// The statistics level of a method on a slide: a native level, or a virtual one when the
/// native level holds more than [`MAX_STATS_PIXELS`].
fn stats_level(slide: &Slide, from_end: usize) -> Result<ReadLevel> {
    let n = slide.level_count();
    if from_end == 0 || from_end > n {
        return Err(Error::request(
            slide.path(),
            format!("lwst_level_idx {from_end} does not name a level of a {n}-level slide"),
        ));
    }
    let lvl = slide.resolve(LevelSpec::Index(n - from_end))?;
    let px = lvl.width * lvl.height;
    if px <= MAX_STATS_PIXELS {
        return Ok(lvl);
    }
    let f = (px as f64 / MAX_STATS_PIXELS as f64).sqrt();
    slide.resolve(LevelSpec::Downsample(lvl.downsample * f))
}

/// Calls `f` on every band of rows of a level (parallel reads, bounded memory).
fn for_each_rows(slide: &Slide, level: &ReadLevel, mut f: impl FnMut(&[u8])) -> Result<()> {
    let (w, h) = (level.width as usize, level.height as usize);
    if w == 0 || h == 0 {
        return Err(Error::request(
            slide.path(),
            "the statistics level is empty",
        ));
    }
    let rows = ((32 << 20) / (w * 3)).clamp(1, h);
    let mut y = 0;
    while y < h {
        let n = rows.min(h - y);
        let band = read_rows(slide, level, 0, w, y as i64, n)?;
        f(&band);
        y += n;
    }
    Ok(())
}

/// `skimage.filters.threshold_otsu` with 256 bins over the value range.
pub fn otsu_threshold(values: &[f64]) -> Option<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if values.is_empty() || lo >= hi {
        return if values.is_empty() { None } else { Some(lo) };
    }
    // numpy.histogram(values, 256, range=(lo, hi)): linspace edges, index by scaling, then
    // the same edge corrections numpy applies.
    const NB: usize = 256;
    let step = (hi - lo) / NB as f64;
    let mut edges = [0f64; NB + 1];
    for (i, e) in edges.iter_mut().enumerate() {
        *e = i as f64 * step + lo;
    }
    edges[NB] = hi;
    let norm = NB as f64 / (hi - lo);
    let mut counts = [0f64; NB];
    for &v in values {
        let mut i = (((v - lo) * norm) as usize).min(NB - 1);
        if v < edges[i] {
            i -= 1;
        } else if i != NB - 1 && v >= edges[i + 1] {
            i += 1;
        }
        counts[i] += 1.0;
    }
    let centers: Vec<f64> = (0..NB).map(|i| (edges[i] + edges[i + 1]) / 2.0).collect();
    let mut w1 = [0f64; NB];
    let mut m1 = [0f64; NB];
    let (mut cw, mut cm) = (0.0, 0.0);
    for i in 0..NB {
        cw += counts[i];
        cm += counts[i] * centers[i];
        w1[i] = cw;
        m1[i] = if cw > 0.0 { cm / cw } else { f64::NAN };
    }
    let mut w2 = [0f64; NB];
    let mut m2 = [0f64; NB];
    let (mut cw, mut cm) = (0.0, 0.0);
    for i in (0..NB).rev() {
        cw += counts[i];
        cm += counts[i] * centers[i];
        w2[i] = cw;
        m2[i] = if cw > 0.0 { cm / cw } else { f64::NAN };
    }
    let mut best = (f64::NEG_INFINITY, 0);
    for i in 0..NB - 1 {
        let v = w1[i] * w2[i + 1] * (m1[i] - m2[i + 1]).powi(2);
        if v > best.0 {
            best = (v, i);
        }
    }
    Some(centers[best.1])
}

impl TissueDetector {
    /// Computes the slide statistics the method needs (μ or the Otsu threshold).
    pub fn prepare(slide: &Slide, method: &TissueMethod) -> Result<Self> {
        let check = |t: f64| {
            if (0.0..=1.0).contains(&t) {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "tissue fraction threshold {t} must be in [0, 1]"
                )))
            }
        };
        check(method.thresh())?;
        match *method {
            TissueMethod::V1 {
                mu_percent,
                thresh,
                lwst_level_idx,
            } => {
                let lvl = stats_level(slide, lwst_level_idx)?;
                let (mut sum, mut n) = (0.0, 0u64);
                for_each_rows(slide, &lvl, |band| {
                    let parts: Vec<(f64, u64)> = band.par_chunks(3 * 4096).map(sum_lab_a).collect();
                    for (s, c) in parts {
                        sum += s;
                        n += c;
                    }
                })?;
                let mu = sum / n as f64;
                let t = (1.0 + mu_percent) * mu;
                Ok(Self {
                    test: PixelTest::LabA(LabThreshold::new(t)),
                    thresh,
                    stats: TissueStats {
                        method: *method,
                        mu: Some(mu),
                        pixel_threshold: t,
                        stats_level: Some(lvl),
                    },
                })
            }
            TissueMethod::V2 { s_min, thresh } => Ok(Self {
                test: PixelTest::Sat(saturation_table(s_min)),
                thresh,
                stats: TissueStats {
                    method: *method,
                    mu: None,
                    pixel_threshold: s_min,
                    stats_level: None,
                },
            }),
            TissueMethod::Otsu { thresh } => {
                let lvl = stats_level(slide, 1)?;
                let mut s = Vec::with_capacity((lvl.width * lvl.height) as usize);
                for_each_rows(slide, &lvl, |band| {
                    s.extend(
                        band.chunks_exact(3)
                            .map(|p| hsv_saturation([p[0], p[1], p[2]])),
                    );
                })?;
                let t = otsu_threshold(&s).unwrap_or(0.0);
                Ok(Self {
                    test: PixelTest::Sat(saturation_table(t)),
                    thresh,
                    stats: TissueStats {
                        method: *method,
                        mu: None,
                        pixel_threshold: t,
                        stats_level: Some(lvl),
                    },
                })
            }
        }
    }

    /// The statistics behind the decision.
    pub fn stats(&self) -> &TissueStats {
        &self.stats
    }

    /// The per-pixel test.
    pub fn is_tissue_pixel(&self, rgb: [u8; 3]) -> bool {
        self.test.test(&rgb)
    }

    /// Number of tissue pixels in an image.
    pub fn count(&self, img: &Image) -> u64 {
        img.as_slice()
            .chunks_exact(3)
            .filter(|p| self.test.test(p))
            .count() as u64
    }

    /// The original's decision for a tile with `count` tissue pixels out of `total`:
    /// `count / total >= thresh`.
    pub fn accepts(&self, count: u64, total: u64) -> bool {
        total > 0 && count as f64 / total as f64 >= self.thresh
    }

    /// Whether one tile (already read) is tissue.
    pub fn is_tissue_tile(&self, img: &Image) -> bool {
        self.accepts(self.count(img), (img.width() * img.height()) as u64)
    }

    /// Counts the tissue pixels of `size`×`size` squares of `level` (top-left corners in that
    /// level's pixels), given as rows `(y, xs)` sorted by `y`. Each needed row of the level is
    /// read and tested once; each square is then answered in O(1). Pixels outside the slide
    /// are black, as OpenSlide reads them.
    pub fn count_squares(
        &self,
        slide: &Slide,
        level: &ReadLevel,
        rows: &[(i64, Vec<i64>)],
        size: usize,
    ) -> Result<Vec<Vec<u32>>> {
        if size == 0 {
            return Err(Error::Invalid("tile size must be positive".into()));
        }
        if rows.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Invalid("candidate rows must be sorted by y".into()));
        }
        let all_x = rows.iter().flat_map(|(_, xs)| xs.iter().copied());
        let (Some(x_lo), Some(x_hi)) = (all_x.clone().min(), all_x.max()) else {
            return Ok(rows.iter().map(|_| Vec::new()).collect());
        };
        let width = (x_hi - x_lo) as usize + size;
        let size_i = size as i64;
        let mut colsum = vec![0u32; width];
        let mut window: VecDeque<Vec<u8>> = VecDeque::new();
        let (mut cur_lo, mut cur_hi) = (i64::MIN, i64::MIN);
        let mut prefix = vec![0u32; width + 1];
        let mut out = Vec::with_capacity(rows.len());
        const BAND: usize = 256;
        for (y, xs) in rows {
            let y = *y;
            if y >= cur_hi {
                colsum.fill(0);
                window.clear();
                cur_lo = y;
                cur_hi = y;
            }
            while cur_lo < y {
                if let Some(row) = window.pop_front() {
                    for (c, &m) in colsum.iter_mut().zip(&row) {
                        *c -= u32::from(m);
                    }
                }
                cur_lo += 1;
            }
            while cur_hi < y + size_i {
                let n = ((y + size_i - cur_hi) as usize).min(BAND);
                let band = self.mask_rows(slide, level, x_lo, width, cur_hi, n)?;
                for m in band.chunks_exact(width) {
                    for (c, &v) in colsum.iter_mut().zip(m) {
                        *c += u32::from(v);
                    }
                    window.push_back(m.to_vec());
                }
                cur_hi += n as i64;
            }
            for i in 0..width {
                prefix[i + 1] = prefix[i] + colsum[i];
            }
            out.push(
                xs.iter()
                    .map(|&x| {
                        let a = (x - x_lo) as usize;
                        prefix[a + size] - prefix[a]
                    })
                    .collect(),
            );
        }
        Ok(out)
    }

    /// The tissue mask (1 or 0 per pixel) of rows `[y, y+n)` × columns `[x, x+w)` of `level`,
    /// computed in parallel column chunks straight from the decoded pixels.
    fn mask_rows(
        &self,
        slide: &Slide,
        level: &ReadLevel,
        x: i64,
        w: usize,
        y: i64,
        n: usize,
    ) -> Result<Vec<u8>> {
        map_rows(slide, level, (x, w), (y, n), 1, |rgb| {
            let mut m = vec![0u8; rgb.len() / 3];
            self.test.mask(rgb, &mut m);
            m
        })
    }

    /// The per-pixel tissue mask of a whole level (`width*height` booleans, row-major).
    pub fn mask(&self, slide: &Slide, level: &ReadLevel) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity((level.width * level.height) as usize);
        for_each_rows(slide, level, |band| {
            let mut m = vec![0u8; band.len() / 3];
            m.par_chunks_mut(4096)
                .zip(band.par_chunks(3 * 4096))
                .for_each(|(o, rgb)| self.test.mask(rgb, o));
            out.extend(m.iter().map(|&v| v != 0));
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otsu_separates_two_clusters() {
        let mut v = vec![0.1; 100];
        v.extend(vec![0.9; 100]);
        let t = otsu_threshold(&v).unwrap();
        assert!(t > 0.1 && t < 0.9, "{t}");
        assert_eq!(otsu_threshold(&[]), None);
        assert_eq!(otsu_threshold(&[0.5, 0.5]), Some(0.5));
    }

    #[test]
    fn parse_methods() {
        assert_eq!("v1".parse::<TissueMethod>().unwrap(), TissueMethod::v1());
        assert_eq!(
            "OTSU".parse::<TissueMethod>().unwrap(),
            TissueMethod::otsu()
        );
        assert!("v3".parse::<TissueMethod>().is_err());
    }
}
