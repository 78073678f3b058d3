//! Where each class lies: layouts map a level-0 pixel position to a tissue region.
//!
//! A [`Layout`] answers two questions, both pure functions of the position: which region owns a
//! point ([`Layout::region_at`]) and which regions could own any point of a rectangle (a superset,
//! [`Layout::regions_near`]), so a tile can enumerate the nuclei of every region that reaches
//! into it without looking at its neighbours. Regions are drawn lazily from their key.

use histo_tensor::SampleRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::class::TissueClass;
use crate::hash::{hash2, unit};
use crate::noise::Noise;
use crate::params::TissueParams;
use crate::polygon::Polygon;

/// Identifies a region of a layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RegionKey {
    /// Bare glass around the tissue.
    Glass,
    /// The single (or main) region of a patch layout.
    Main,
    /// The minority region of a [`Split`] layout.
    Minor,
    /// A cell of a [`Mosaic`]'s warped Voronoi diagram.
    Cell(i32, i32),
    /// The inside of the k-th annotated tumour polygon.
    Tumour(u16),
    /// The inside of the k-th exclusion polygon (non-tumour tissue inside a tumour).
    Hole(u16),
}

/// One tissue region: a class and the parameters drawn for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The class (the label of pixels of this region).
    pub class: TissueClass,
    /// The recipe.
    pub params: TissueParams,
    /// Fibre direction (radians).
    pub angle: f32,
    /// Seed of the region's nuclei, glands and textures.
    pub seed: u64,
}

impl Region {
    /// A region of `class` with parameters drawn from the class distribution
    /// (see [`TissueParams::draw`]).
    pub fn draw(class: TissueClass, spread: f32, overlap: f32, rng: &mut impl Rng) -> Self {
        let params = TissueParams::draw(class, spread, overlap, rng);
        Self {
            class,
            params,
            angle: rng.random::<f32>() * std::f32::consts::PI,
            seed: rng.random(),
        }
    }

    /// Clean glass (background outside the tissue): a faint uneven film and rare dust.
    pub fn glass(rng: &mut impl Rng) -> Self {
        let params = TissueParams {
            matrix_e: 0.02,
            matrix_h: 0.012,
            matrix_fill: 0.25,
            gap_um: 150.0,
            grain: 0.3,
            debris_d: 0.01,
            nuc_density: 0.004,
            nuc_r_um: 3.0,
            nuc_pale: 1.0,
            nuc_h: 0.8,
            ..TissueParams::default()
        };
        Self {
            class: TissueClass::Back,
            params,
            angle: rng.random::<f32>() * std::f32::consts::PI,
            seed: rng.random(),
        }
    }
}

/// A map from level-0 pixel positions to regions.
pub trait Layout: Send + Sync {
    /// The region owning the point `(x, y)` (level-0 pixels).
    fn region_at(&self, x: f64, y: f64) -> RegionKey;
    /// Appends to `out` every region that may own a point of `[x0, x1] × [y0, y1]` (a superset,
    /// in a fixed order).
    fn regions_near(&self, x0: f64, y0: f64, x1: f64, y1: f64, out: &mut Vec<RegionKey>);
    /// The region behind a key (drawn deterministically from the key).
    fn region(&self, key: RegionKey) -> Region;
}

/// One region everywhere (a pure-class patch).
#[derive(Clone, Debug)]
pub struct Uniform {
    /// The region.
    pub region: Region,
}

impl Layout for Uniform {
    fn region_at(&self, _: f64, _: f64) -> RegionKey {
        RegionKey::Main
    }
    fn regions_near(&self, _: f64, _: f64, _: f64, _: f64, out: &mut Vec<RegionKey>) {
        out.push(RegionKey::Main);
    }
    fn region(&self, _: RegionKey) -> Region {
        self.region.clone()
    }
}

/// Two regions separated by a wavy line: a patch of one class with a minority of another.
#[derive(Clone, Debug)]
pub struct Split {
    /// The region on the negative side (the patch's label).
    pub main: Region,
    /// The region on the positive side.
    pub minor: Region,
    /// Unit normal of the dividing line.
    pub normal: (f64, f64),
    /// Offset of the line along the normal (pixels).
    pub offset: f64,
    /// Amplitude (pixels) and wavelength (pixels) of the line's waviness.
    pub warp: (f64, f64),
    /// Seed of the waviness.
    pub seed: u64,
}

impl Layout for Split {
    fn region_at(&self, x: f64, y: f64) -> RegionKey {
        let n = Noise::new(self.seed);
        let (amp, len) = self.warp;
        let w = amp * (2.0 * n.fbm((x / len) as f32, (y / len) as f32, 2) as f64 - 1.0);
        if x * self.normal.0 + y * self.normal.1 + w < self.offset {
            RegionKey::Main
        } else {
            RegionKey::Minor
        }
    }
    fn regions_near(&self, _: f64, _: f64, _: f64, _: f64, out: &mut Vec<RegionKey>) {
        out.push(RegionKey::Main);
        out.push(RegionKey::Minor);
    }
    fn region(&self, key: RegionKey) -> Region {
        if key == RegionKey::Minor {
            self.minor.clone()
        } else {
            self.main.clone()
        }
    }
}

/// An axis-aligned ellipse (level-0 pixels).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ellipse {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Semi-axis along x.
    pub rx: f64,
    /// Semi-axis along y.
    pub ry: f64,
}

/// The outline of the tissue on the glass: a union of noise-roughened ellipses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TissueShape {
    /// The tissue pieces.
    pub blobs: Vec<Ellipse>,
    /// Amplitude of the outline's roughness (in units of the ellipse equation; 0.3 is ragged).
    pub roughness: f64,
    /// Wavelength of the roughness (pixels).
    pub scale: f64,
    /// Seed of the roughness.
    pub seed: u64,
}

impl TissueShape {
    /// Positive inside the tissue, growing towards the centre of a piece (≤ 1 + roughness).
    pub fn depth(&self, x: f64, y: f64) -> f64 {
        let n = Noise::new(self.seed);
        let r = self.roughness
            * (2.0 * n.fbm((x / self.scale) as f32, (y / self.scale) as f32, 3) as f64 - 1.0);
        self.blobs
            .iter()
            .map(|e| {
                let dx = (x - e.cx) / e.rx;
                let dy = (y - e.cy) / e.ry;
                1.0 - (dx * dx + dy * dy)
            })
            .fold(f64::NEG_INFINITY, f64::max)
            + r
    }
}

/// Class weights of a [`Mosaic`]: one set for the interior of the tissue and one near its edge
/// (e.g. fat around a lymph node).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Palette {
    /// Weights (ADI … TUM order) inside the tissue.
    pub inner: [f32; 9],
    /// Weights where the tissue depth is below `edge_depth`.
    pub edge: [f32; 9],
    /// Depth (see [`TissueShape::depth`]) below which `edge` applies.
    pub edge_depth: f64,
}

impl Palette {
    /// The same weights everywhere.
    pub fn uniform(weights: [f32; 9]) -> Self {
        Self {
            inner: weights,
            edge: weights,
            edge_depth: 0.0,
        }
    }

    fn pick(&self, depth: f64, rng: &mut impl Rng) -> TissueClass {
        let w = if depth < self.edge_depth {
            &self.edge
        } else {
            &self.inner
        };
        let total: f32 = w.iter().sum();
        let mut u = rng.random::<f32>() * total;
        for (i, &wi) in w.iter().enumerate() {
            if u < wi {
                return TissueClass::ALL[i];
            }
            u -= wi;
        }
        TissueClass::ALL[w.iter().rposition(|&v| v > 0.0).unwrap_or(0)]
    }
}

/// Large regions arranged organically: a Voronoi diagram of jittered seeds, its domain warped
/// by fractal noise; optionally confined to a tissue outline on glass, with annotated tumour
/// polygons (and exclusion holes inside them) laid on top.
#[derive(Clone, Debug)]
pub struct Mosaic {
    /// Seed of the seeds, the warp and the regions.
    pub seed: u64,
    /// Seed spacing (pixels): the typical region diameter.
    pub spacing: f64,
    /// Warp amplitude (pixels).
    pub warp: f64,
    /// Class weights of the Voronoi regions.
    pub palette: Palette,
    /// Tissue outline; `None` = tissue everywhere.
    pub tissue: Option<TissueShape>,
    /// Tumour polygons (class `tumour_class`), level-0 pixels.
    pub tumours: Vec<Polygon>,
    /// Exclusion polygons (class `hole_class`), each inside a tumour.
    pub holes: Vec<Polygon>,
    /// Class inside tumour polygons.
    pub tumour_class: TissueClass,
    /// Class inside exclusion polygons.
    pub hole_class: TissueClass,
    /// Parameter spread (see [`TissueParams::draw`]).
    pub spread: f32,
    /// Class overlap (see [`TissueParams::draw`]).
    pub overlap: f32,
}

impl Mosaic {
    fn seed_of(&self, i: i64, j: i64) -> (f64, f64) {
        let h = hash2(self.seed ^ 0x5eed, i, j);
        let u = unit(h) as f64;
        let v = unit(h.rotate_left(24)) as f64;
        (
            (i as f64 + 0.1 + 0.8 * u) * self.spacing,
            (j as f64 + 0.1 + 0.8 * v) * self.spacing,
        )
    }

    fn warped(&self, x: f64, y: f64) -> (f64, f64) {
        let n = Noise::new(self.seed ^ 0x3a4b);
        let m = n.layer(1);
        let (sx, sy) = ((x / self.spacing) as f32, (y / self.spacing) as f32);
        (
            x + self.warp * (2.0 * n.fbm(sx, sy, 3) as f64 - 1.0),
            y + self.warp * (2.0 * m.fbm(sx, sy, 3) as f64 - 1.0),
        )
    }

    fn polygon_key(&self, x: f64, y: f64) -> Option<RegionKey> {
        for (k, p) in self.tumours.iter().enumerate() {
            let (x0, y0, x1, y1) = p.bbox();
            if x >= x0 && x <= x1 && y >= y0 && y <= y1 && p.contains(x, y) {
                for (h, hp) in self.holes.iter().enumerate() {
                    if hp.contains(x, y) {
                        return Some(RegionKey::Hole(h as u16));
                    }
                }
                return Some(RegionKey::Tumour(k as u16));
            }
        }
        None
    }

    /// The class at a point (what a perfect annotator would say).
    pub fn class_at(&self, x: f64, y: f64) -> TissueClass {
        self.region(self.region_at(x, y)).class
    }
}

fn bbox_overlaps(p: &Polygon, x0: f64, y0: f64, x1: f64, y1: f64) -> bool {
    let (a, b, c, d) = p.bbox();
    a <= x1 && c >= x0 && b <= y1 && d >= y0
}

impl Layout for Mosaic {
    fn region_at(&self, x: f64, y: f64) -> RegionKey {
        if let Some(t) = &self.tissue
            && t.depth(x, y) <= 0.0
        {
            return RegionKey::Glass;
        }
        if let Some(k) = self.polygon_key(x, y) {
            return k;
        }
        let (wx, wy) = self.warped(x, y);
        let ci = (wx / self.spacing).floor() as i64;
        let cj = (wy / self.spacing).floor() as i64;
        let mut best = (f64::INFINITY, 0i64, 0i64);
        for di in -1..=1 {
            for dj in -1..=1 {
                let (sx, sy) = self.seed_of(ci + di, cj + dj);
                let d = (sx - wx).powi(2) + (sy - wy).powi(2);
                if d < best.0 {
                    best = (d, ci + di, cj + dj);
                }
            }
        }
        RegionKey::Cell(best.1 as i32, best.2 as i32)
    }

    fn regions_near(&self, x0: f64, y0: f64, x1: f64, y1: f64, out: &mut Vec<RegionKey>) {
        if self.tissue.is_some() {
            out.push(RegionKey::Glass);
        }
        for (k, p) in self.tumours.iter().enumerate() {
            if bbox_overlaps(p, x0, y0, x1, y1) {
                out.push(RegionKey::Tumour(k as u16));
            }
        }
        for (k, p) in self.holes.iter().enumerate() {
            if bbox_overlaps(p, x0, y0, x1, y1) {
                out.push(RegionKey::Hole(k as u16));
            }
        }
        let s = self.spacing;
        let i0 = ((x0 - self.warp) / s).floor() as i64 - 1;
        let i1 = ((x1 + self.warp) / s).floor() as i64 + 1;
        let j0 = ((y0 - self.warp) / s).floor() as i64 - 1;
        let j1 = ((y1 + self.warp) / s).floor() as i64 + 1;
        for j in j0..=j1 {
            for i in i0..=i1 {
                out.push(RegionKey::Cell(i as i32, j as i32));
            }
        }
    }

    fn region(&self, key: RegionKey) -> Region {
        let stream = |domain: &str, index: u64| SampleRng::stream(domain, self.seed, 0, index);
        match key {
            RegionKey::Glass | RegionKey::Main | RegionKey::Minor => {
                Region::glass(&mut stream("synth-glass", 0))
            }
            RegionKey::Tumour(k) => Region::draw(
                self.tumour_class,
                self.spread,
                self.overlap,
                &mut stream("synth-tumour", k as u64),
            ),
            RegionKey::Hole(k) => Region::draw(
                self.hole_class,
                self.spread,
                self.overlap,
                &mut stream("synth-hole", k as u64),
            ),
            RegionKey::Cell(i, j) => {
                let mut rng = stream("synth-region", ((i as u32 as u64) << 32) | j as u32 as u64);
                let (sx, sy) = self.seed_of(i as i64, j as i64);
                let depth = self.tissue.as_ref().map_or(1.0, |t| t.depth(sx, sy));
                let class = self.palette.pick(depth, &mut rng);
                Region::draw(class, self.spread, self.overlap, &mut rng)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mosaic(tissue: bool) -> Mosaic {
        let mut rng = SampleRng::new(1, 0, 0);
        Mosaic {
            seed: 5,
            spacing: 400.0,
            warp: 150.0,
            palette: Palette::uniform([1.0; 9]),
            tissue: tissue.then(|| TissueShape {
                blobs: vec![Ellipse {
                    cx: 2000.0,
                    cy: 2000.0,
                    rx: 1500.0,
                    ry: 1200.0,
                }],
                roughness: 0.2,
                scale: 600.0,
                seed: 3,
            }),
            tumours: vec![Polygon::blob(2000.0, 2000.0, 300.0, 0.3, 64, &mut rng)],
            holes: vec![Polygon::blob(2000.0, 2000.0, 60.0, 0.0, 32, &mut rng)],
            tumour_class: TissueClass::Tum,
            hole_class: TissueClass::Str,
            spread: 0.2,
            overlap: 0.3,
        }
    }

    #[test]
    fn regions_near_is_a_superset_of_region_at() {
        let m = mosaic(true);
        for (x0, y0) in [
            (0.0, 0.0),
            (1700.0, 1900.0),
            (3000.0, 400.0),
            (-500.0, 3500.0),
        ] {
            let mut near = Vec::new();
            m.regions_near(x0, y0, x0 + 256.0, y0 + 256.0, &mut near);
            for k in 0..400 {
                let x = x0 + (k % 20) as f64 * 12.8;
                let y = y0 + (k / 20) as f64 * 12.8;
                let key = m.region_at(x, y);
                assert!(near.contains(&key), "{key:?} at ({x}, {y}) not in {near:?}");
            }
        }
    }

    #[test]
    fn polygons_glass_and_holes_take_precedence() {
        let m = mosaic(true);
        assert_eq!(m.region_at(2000.0, 2000.0), RegionKey::Hole(0));
        assert_eq!(m.class_at(2000.0, 2000.0), TissueClass::Str);
        assert_eq!(m.region_at(2150.0, 2000.0), RegionKey::Tumour(0));
        assert_eq!(m.class_at(2150.0, 2000.0), TissueClass::Tum);
        assert_eq!(m.region_at(-100.0, -100.0), RegionKey::Glass);
        assert_eq!(m.class_at(-100.0, -100.0), TissueClass::Back);
        let n = mosaic(false);
        assert!(matches!(n.region_at(-100.0, -100.0), RegionKey::Cell(..)));
    }

    #[test]
    fn regions_are_drawn_deterministically_and_cells_vary() {
        let m = mosaic(false);
        let a = m.region(RegionKey::Cell(3, 4));
        assert_eq!(a, m.region(RegionKey::Cell(3, 4)));
        let classes: std::collections::BTreeSet<_> = (0..60)
            .map(|i| m.region(RegionKey::Cell(i, -i)).class)
            .collect();
        assert!(classes.len() >= 6, "{classes:?}");
    }

    #[test]
    fn split_layout_divides_along_its_line() {
        let mut rng = SampleRng::new(2, 0, 0);
        let s = Split {
            main: Region::draw(TissueClass::Tum, 0.2, 0.0, &mut rng),
            minor: Region::draw(TissueClass::Str, 0.2, 0.0, &mut rng),
            normal: (1.0, 0.0),
            offset: 100.0,
            warp: (10.0, 50.0),
            seed: 1,
        };
        assert_eq!(s.region_at(50.0, 7.0), RegionKey::Main);
        assert_eq!(s.region_at(150.0, 7.0), RegionKey::Minor);
        assert_eq!(s.region(RegionKey::Minor).class, TissueClass::Str);
    }
}
