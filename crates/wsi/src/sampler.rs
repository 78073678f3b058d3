//! The RSP triplet sampler (spec §1.5–1.7): a grid over the lowest-resolution level (LR2), the
//! tissue test per candidate, and three tiles HR / LR1 / LR2 per accepted location, in either
//! the original's corner-aligned geometry (v1, bug B5) or the concentric one (v2, default).

use std::str::FromStr;

use histo_tensor::Image;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::slide::{LevelSpec, ReadLevel, Slide};
use crate::tissue::{TissueDetector, TissueMethod, TissueStats};
use crate::{Error, Result};

/// Where LR1 and HR sit relative to the LR2 tile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Geometry {
    /// The original v1 code as executed (bug B5): the top-left corners of LR1 and HR are at
    /// the LR2 centre.
    Corner,
    /// v2: all three tiles are centred on the LR2 centre.
    #[default]
    Concentric,
}

impl FromStr for Geometry {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "corner" | "v1" => Ok(Self::Corner),
            "concentric" | "v2" => Ok(Self::Concentric),
            _ => Err(Error::Invalid(format!(
                "unknown triplet geometry `{s}` (expected corner or concentric)"
            ))),
        }
    }
}

/// Which slides the sampler accepts (spec §1.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acceptance {
    /// Any slide whose three levels can be read.
    #[default]
    Any,
    /// v1: at least 3 native levels and `openslide.mpp-x` < 1 µm
    /// (`round(0.5 / mpp) >= 1`, NumPy rounding half to even).
    V1,
    /// v2: at least 3 native levels.
    V2,
}

impl FromStr for Acceptance {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "any" => Ok(Self::Any),
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            _ => Err(Error::Invalid(format!(
                "unknown slide acceptance rule `{s}` (expected any, v1 or v2)"
            ))),
        }
    }
}

/// Parameters of RSP triplet sampling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RspConfig {
    /// Tile width and height (256).
    pub tile: usize,
    /// Grid stride in LR2 pixels (128 BreastPathQ, 512 Camelyon16, 768 v2).
    pub stride: usize,
    /// Resolutions of HR, LR1, LR2 (the original: pyramid levels 0, 1, 2).
    pub levels: [LevelSpec; 3],
    /// Triplet geometry.
    pub geometry: Geometry,
    /// Tissue test.
    pub tissue: TissueMethod,
    /// Slide acceptance rule.
    pub acceptance: Acceptance,
}

impl Default for RspConfig {
    fn default() -> Self {
        Self {
            tile: 256,
            stride: 128,
            levels: [
                LevelSpec::Index(0),
                LevelSpec::Index(1),
                LevelSpec::Index(2),
            ],
            geometry: Geometry::Concentric,
            tissue: TissueMethod::v1(),
            acceptance: Acceptance::Any,
        }
    }
}

/// Level-0 top-left corners of the three tiles of one triplet, and its grid position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripletCoords {
    /// Grid position (x, y) in LR2 pixels.
    pub grid: (i64, i64),
    /// LR2 tile, level-0 pixels.
    pub lr2: (i64, i64),
    /// LR1 tile, level-0 pixels.
    pub lr1: (i64, i64),
    /// HR tile, level-0 pixels.
    pub hr: (i64, i64),
}

/// Python's `int()` of a non-negative or negative float: truncation toward zero.
fn pyint(v: f64) -> i64 {
    v.trunc() as i64
}

/// The spec's formulas (§1.6) for grid position (`x`, `y`) in LR2 pixels, with the level
/// downsamples `d` = [d_HR, d_LR1, d_LR2] and tile size `t`.
pub fn triplet_coords(x: i64, y: i64, d: [f64; 3], t: usize, geometry: Geometry) -> TripletCoords {
    let [d0, d1, d2] = d;
    let half = t as f64 / 2.0;
    let lr2 = (pyint(d2 * x as f64), pyint(d2 * y as f64));
    let cx = pyint(d2 * (x as f64 + half));
    let cy = pyint(d2 * (y as f64 + half));
    let place = |c: i64, ds: f64| -> i64 {
        match geometry {
            Geometry::Corner => pyint(pyint(c as f64 / ds) as f64 * ds),
            Geometry::Concentric => pyint((pyint(c as f64 / ds) as f64 - half) * ds),
        }
    };
    TripletCoords {
        grid: (x, y),
        lr2,
        lr1: (place(cx, d1), place(cy, d1)),
        hr: (place(cx, d0), place(cy, d0)),
    }
}

/// Grid positions of the original (`range(s, W2 − 1 − T, s)` for x and y, row-major).
pub fn grid_positions(w2: u64, h2: u64, stride: usize, tile: usize) -> Vec<(i64, Vec<i64>)> {
    let s = stride as i64;
    let end = |n: u64| n as i64 - 1 - tile as i64;
    let xs: Vec<i64> = (1..).map(|k| k * s).take_while(|&x| x < end(w2)).collect();
    (1..)
        .map(|k| k * s)
        .take_while(|&y| y < end(h2))
        .map(|y| (y, xs.clone()))
        .collect()
}

/// A slide planned for sampling: resolved levels, tissue statistics, accepted triplets.
#[derive(Clone, Debug)]
pub struct SlidePlan {
    /// HR, LR1, LR2 read levels.
    pub levels: [ReadLevel; 3],
    /// The tissue statistics.
    pub tissue: TissueStats,
    /// Number of grid candidates tested.
    pub candidates: usize,
    /// Accepted triplets, row-major.
    pub triplets: Vec<TripletCoords>,
}

/// Three tiles of one location.
#[derive(Clone, Debug)]
pub struct TripletImages {
    /// Highest resolution.
    pub hr: Image,
    /// Middle resolution.
    pub lr1: Image,
    /// Lowest resolution.
    pub lr2: Image,
}

/// Why a slide is not used (a warning, not an error).
pub fn check_acceptance(slide: &Slide, rule: Acceptance) -> std::result::Result<(), String> {
    let n = slide.level_count();
    match rule {
        Acceptance::Any => Ok(()),
        Acceptance::V2 if n < 3 => Err(format!(
            "{n} pyramid level(s), the v2 rule needs at least 3"
        )),
        Acceptance::V2 => Ok(()),
        Acceptance::V1 => {
            if n < 3 {
                return Err(format!(
                    "{n} pyramid level(s), the v1 rule needs at least 3"
                ));
            }
            let Some(mpp) = slide.mpp().0 else {
                return Err("no openslide.mpp-x property, the v1 rule needs it".into());
            };
            // numpy.uint8(round(0.5 / mpp)): round half to even
            let scale = (0.5 / mpp).round_ties_even();
            if scale < 1.0 {
                return Err(format!("mpp {mpp} µm is not below 1 µm (v1 rule)"));
            }
            Ok(())
        }
    }
}

/// Plans one slide: resolves the levels, computes the tissue statistics, tests every grid
/// candidate and returns the accepted triplets.
pub fn plan_slide(slide: &Slide, cfg: &RspConfig) -> Result<SlidePlan> {
    if cfg.tile == 0 || cfg.stride == 0 {
        return Err(Error::Invalid("tile and stride must be positive".into()));
    }
    if let Err(why) = check_acceptance(slide, cfg.acceptance) {
        return Err(Error::request(slide.path(), why));
    }
    let levels = [
        slide.resolve(cfg.levels[0])?,
        slide.resolve(cfg.levels[1])?,
        slide.resolve(cfg.levels[2])?,
    ];
    let detector = TissueDetector::prepare(slide, &cfg.tissue)?;
    let lr2 = &levels[2];
    let rows = grid_positions(lr2.width, lr2.height, cfg.stride, cfg.tile);
    let candidates = rows.iter().map(|(_, xs)| xs.len()).sum();
    let counts = detector.count_squares(slide, lr2, &rows, cfg.tile)?;
    let total = (cfg.tile * cfg.tile) as u64;
    let d = [
        levels[0].downsample,
        levels[1].downsample,
        levels[2].downsample,
    ];
    let mut triplets = Vec::new();
    for ((y, xs), cs) in rows.iter().zip(&counts) {
        for (&x, &c) in xs.iter().zip(cs) {
            if detector.accepts(u64::from(c), total) {
                triplets.push(triplet_coords(x, *y, d, cfg.tile, cfg.geometry));
            }
        }
    }
    Ok(SlidePlan {
        levels,
        tissue: detector.stats().clone(),
        candidates,
        triplets,
    })
}

/// Level pixel of a level-0 coordinate (snapped to the nearest pixel; exact for the
/// coordinates the formulas give on integer downsamples).
fn to_level(v: i64, ds: f64) -> i64 {
    (v as f64 / ds).round() as i64
}

/// Reads the three tiles of one triplet into `hr`, `lr1`, `lr2` (`tile*tile*3` bytes each).
pub fn read_triplet_into(
    slide: &Slide,
    levels: &[ReadLevel; 3],
    c: &TripletCoords,
    tile: usize,
    out: [&mut [u8]; 3],
) -> Result<()> {
    let [hr, lr1, lr2] = out;
    for (buf, lvl, (x, y)) in [
        (hr, &levels[0], c.hr),
        (lr1, &levels[1], c.lr1),
        (lr2, &levels[2], c.lr2),
    ] {
        slide.read_at_into(
            lvl,
            to_level(x, lvl.downsample),
            to_level(y, lvl.downsample),
            tile,
            tile,
            buf,
        )?;
    }
    Ok(())
}

/// Reads the three tiles of one triplet.
pub fn read_triplet(
    slide: &Slide,
    levels: &[ReadLevel; 3],
    c: &TripletCoords,
    tile: usize,
) -> Result<TripletImages> {
    let n = tile * tile * 3;
    let (mut a, mut b, mut d) = (vec![0u8; n], vec![0u8; n], vec![0u8; n]);
    read_triplet_into(slide, levels, c, tile, [&mut a, &mut b, &mut d])?;
    Ok(TripletImages {
        hr: Image::from_raw(tile, tile, a)?,
        lr1: Image::from_raw(tile, tile, b)?,
        lr2: Image::from_raw(tile, tile, d)?,
    })
}

/// Reads many triplets in parallel into contiguous `[n, tile, tile, 3]` buffers (HR, LR1, LR2),
/// in the order given.
pub fn read_triplets(
    slide: &Slide,
    levels: &[ReadLevel; 3],
    coords: &[TripletCoords],
    tile: usize,
) -> Result<[Vec<u8>; 3]> {
    let n = tile * tile * 3;
    let mut hr = vec![0u8; coords.len() * n];
    let mut lr1 = vec![0u8; coords.len() * n];
    let mut lr2 = vec![0u8; coords.len() * n];
    hr.par_chunks_mut(n)
        .zip(lr1.par_chunks_mut(n))
        .zip(lr2.par_chunks_mut(n))
        .zip(coords.par_iter())
        .try_for_each(|(((a, b), d), c)| read_triplet_into(slide, levels, c, tile, [a, b, d]))?;
    Ok([hr, lr1, lr2])
}

/// Reads the triplets of `coords` in parallel, each into per-thread buffers, and hands each
/// one to `sink` with its index (from any worker thread, in no particular order): the way to
/// stream triplets to a file without holding them all in memory. Stops at the first error.
pub fn for_each_triplet<F>(
    slide: &Slide,
    levels: &[ReadLevel; 3],
    coords: &[TripletCoords],
    tile: usize,
    sink: F,
) -> Result<()>
where
    F: Fn(usize, [&[u8]; 3]) -> Result<()> + Sync,
{
    let n = tile * tile * 3;
    coords.par_iter().enumerate().try_for_each_init(
        || [vec![0u8; n], vec![0u8; n], vec![0u8; n]],
        |[a, b, d], (i, c)| {
            read_triplet_into(slide, levels, c, tile, [a, b, d])?;
            sink(i, [a, b, d])
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_python_range() {
        // range(128, 4096 - 1 - 256, 128) has 29 values: 128 .. 3712
        let rows = grid_positions(4096, 4096, 128, 256);
        assert_eq!(rows.len(), 29);
        assert_eq!(rows[0].0, 128);
        assert_eq!(rows[28].0, 3712);
        assert_eq!(rows[0].1.len(), 29);
        // exclusive end: W2 - 1 - T = 3839 is not reached by 30 * 128 = 3840
        let rows = grid_positions(3840 + 257, 400, 128, 256);
        assert_eq!(*rows[0].1.last().unwrap(), 3712);
        assert!(grid_positions(300, 300, 128, 256).is_empty());
    }

    #[test]
    fn hand_computed_corner_triplet() {
        // d = 1, 2, 4; x = 128, y = 256; T = 256.
        // LR2 = (512, 1024); c = (int(4*(128+128)), int(4*(256+128))) = (1024, 1536)
        // corner: LR1 = int(int(1024/2)*2) = 1024, HR = 1024 (and 1536 for y)
        let c = triplet_coords(128, 256, [1.0, 2.0, 4.0], 256, Geometry::Corner);
        assert_eq!(c.lr2, (512, 1024));
        assert_eq!(c.lr1, (1024, 1536));
        assert_eq!(c.hr, (1024, 1536));
    }

    #[test]
    fn hand_computed_concentric_triplet() {
        // concentric: LR1 = int((int(1024/2) - 128) * 2) = 768; y: (768 - 128) * 2 = 1280
        //             HR  = 1024 - 128 = 896; y: 1536 - 128 = 1408
        let c = triplet_coords(128, 256, [1.0, 2.0, 4.0], 256, Geometry::Concentric);
        assert_eq!(c.lr2, (512, 1024));
        assert_eq!(c.lr1, (768, 1280));
        assert_eq!(c.hr, (896, 1408));
        // all three centred on c: LR2 centre 512+4*128 = 1024, LR1 centre 768+2*128 = 1024,
        // HR centre 896+128 = 1024
    }

    #[test]
    fn hand_computed_fractional_downsamples() {
        // Aperio-like downsamples 1, 4.000345, 16.00138; x = y = 128, T = 256:
        // LR2 = int(16.00138*128) = int(2048.17664) = 2048
        // c = int(16.00138*256) = int(4096.35328) = 4096
        // corner LR1 = int(int(4096/4.000345)*4.000345) = int(1023*4.000345) = int(4092.352935) = 4092
        // concentric LR1 = int((1023-128)*4.000345) = int(3580.308775) = 3580; HR = 4096-128 = 3968
        let d = [1.0, 4.000345, 16.00138];
        let c = triplet_coords(128, 128, d, 256, Geometry::Corner);
        assert_eq!(c.lr2, (2048, 2048));
        assert_eq!(c.lr1, (4092, 4092));
        assert_eq!(c.hr, (4096, 4096));
        let c = triplet_coords(128, 128, d, 256, Geometry::Concentric);
        assert_eq!(c.lr1, (3580, 3580));
        assert_eq!(c.hr, (3968, 3968));
    }
}
