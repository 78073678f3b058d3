//! The renderer: stain concentrations from layered procedural structures, Beer–Lambert to RGB,
//! optical blur and sensor noise. Every value is a function of absolute level-0 coordinates, so
//! any rectangle of an arbitrarily large slide renders on its own, in bounded memory, with the
//! same pixels whichever tiling produced it.

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

use crate::class::TissueClass;
use crate::hash::{HashRng, derive, hash2, unit};
use crate::layout::{Layout, Region, RegionKey};
use crate::noise::{Noise, fill_threshold, smoothstep};
use crate::stain::Stain;

/// Spacing (level-0 pixels) of the lattice on which region membership is evaluated; pixels take
/// the region of the nearest lattice point.
const LATTICE: i64 = 4;

/// DAB-channel density added per unit of eosin (see [`Scene`]'s pixel model).
const EOSIN_WARMTH: f32 = 0.3;

/// Scanner optics of one slide or patch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optics {
    /// Standard deviation of the Gaussian blur, level-0 pixels (0 = sharp).
    pub blur_px: f32,
    /// Standard deviation of the additive sensor noise, grey levels.
    pub noise: f32,
}

/// Everything needed to render pixels: where the tissue is, how it is stained, how it is imaged.
pub struct Scene<'a> {
    /// The regions.
    pub layout: &'a dyn Layout,
    /// The staining.
    pub stain: Stain,
    /// The optics.
    pub optics: Optics,
    /// Microns per level-0 pixel (0.5 = 20×).
    pub mpp: f32,
    /// Seed of textures and sensor noise.
    pub seed: u64,
}

/// Ground truth of a rendered rectangle.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Class label of each pixel (row-major, [`TissueClass::index`]).
    pub classes: Vec<u8>,
    /// Whether each pixel is tumour-cell area: inside a TUM region, not in a gland lumen and not
    /// in an empty gap of the matrix.
    pub tumour_cell: Vec<bool>,
}

impl Truth {
    /// Fraction of pixels that are tumour-cell area (BreastPathQ's cellularity).
    pub fn cellularity(&self) -> f64 {
        if self.tumour_cell.is_empty() {
            return 0.0;
        }
        self.tumour_cell.iter().filter(|&&b| b).count() as f64 / self.tumour_cell.len() as f64
    }

    /// The majority class.
    pub fn majority(&self) -> TissueClass {
        let mut counts = [0usize; 9];
        for &c in &self.classes {
            counts[c as usize] += 1;
        }
        let best = (0..9).max_by_key(|&i| (counts[i], 9 - i)).unwrap_or(0);
        TissueClass::ALL[best]
    }
}

/// A region with its per-region constants.
struct Ctx {
    key: RegionKey,
    region: Region,
    cos: f32,
    sin: f32,
    n_fibre: Noise,
    n_thin: Noise,
    n_wave: Noise,
    n_gap: Noise,
    n_grain: Noise,
    n_grain2: Noise,
    fill_thr: f32,
    seed_cells: u64,
    seed_glands: u64,
    seed_nuclei: u64,
    seed_rbc: u64,
    /// Glands of the lattice cells around the rendered rectangle.
    glands: Cache<Option<Gland>>,
    /// Adipocyte centres of the cells around the rendered rectangle.
    cells: Cache<(f32, f32)>,
}

/// Values of lattice cells `[i0, i0 + w) × [j0, j0 + h)`, precomputed once per tile.
struct Cache<T> {
    i0: i64,
    j0: i64,
    w: i64,
    h: i64,
    v: Vec<T>,
}

impl<T> Cache<T> {
    fn empty() -> Self {
        Self {
            i0: 0,
            j0: 0,
            w: 0,
            h: 0,
            v: Vec::new(),
        }
    }

    fn build(cell: f32, rect: [f32; 4], f: impl Fn(i64, i64) -> T) -> Self {
        let i0 = (rect[0] / cell).floor() as i64 - 2;
        let j0 = (rect[1] / cell).floor() as i64 - 2;
        let w = (rect[2] / cell).floor() as i64 + 3 - i0;
        let h = (rect[3] / cell).floor() as i64 + 3 - j0;
        let mut v = Vec::with_capacity((w * h).max(0) as usize);
        for j in j0..j0 + h {
            for i in i0..i0 + w {
                v.push(f(i, j));
            }
        }
        Self { i0, j0, w, h, v }
    }

    #[inline]
    fn get(&self, i: i64, j: i64) -> Option<&T> {
        let (a, b) = (i - self.i0, j - self.j0);
        if a >= 0 && b >= 0 && a < self.w && b < self.h {
            self.v.get((b * self.w + a) as usize)
        } else {
            None
        }
    }
}

impl Ctx {
    /// A region's constants, with caches covering `rect` (microns: x0, y0, x1, y1).
    fn new(key: RegionKey, region: Region, rect: [f32; 4]) -> Self {
        let mut c = Self::bare(key, region);
        let p = c.region.params;
        if p.gland > 0.01 {
            let glands = Cache::build(c.gland_spacing(), rect, |i, j| c.make_gland(i, j));
            c.glands = glands;
        }
        if p.membrane > 0.01 {
            let cell = p.cell_um.max(5.0);
            let cells = Cache::build(cell, rect, |i, j| c.make_cell(i, j));
            c.cells = cells;
        }
        c
    }

    fn bare(key: RegionKey, region: Region) -> Self {
        let n = Noise::new(region.seed);
        let s = region.seed;
        Self {
            key,
            cos: region.angle.cos(),
            sin: region.angle.sin(),
            n_fibre: n.layer(10),
            n_thin: n.layer(15),
            n_wave: n.layer(11),
            n_gap: n.layer(12),
            n_grain: n.layer(13),
            n_grain2: n.layer(14),
            fill_thr: fill_threshold(region.params.matrix_fill),
            seed_cells: derive(s, 20),
            seed_glands: derive(s, 21),
            seed_nuclei: derive(s, 22),
            seed_rbc: derive(s, 23),
            glands: Cache::empty(),
            cells: Cache::empty(),
            region,
        }
    }

    fn gland_spacing(&self) -> f32 {
        let p = &self.region.params;
        p.gland_um * (2.3 + 0.4 * (1.0 - p.gland_irregular))
    }

    /// The gland of lattice cell `(gi, gj)`, if there is one (positions in microns).
    fn gland(&self, gi: i64, gj: i64) -> Option<Gland> {
        match self.glands.get(gi, gj) {
            Some(g) => g.clone(),
            None => self.make_gland(gi, gj),
        }
    }

    fn make_gland(&self, gi: i64, gj: i64) -> Option<Gland> {
        let p = &self.region.params;
        let mut r = HashRng::new(hash2(self.seed_glands, gi, gj));
        if r.unit() >= p.gland {
            return None;
        }
        let gs = self.gland_spacing();
        let jit = 0.2 + 0.6 * p.gland_irregular;
        let cx = (gi as f32 + 0.5 + jit * (r.unit() - 0.5)) * gs;
        let cy = (gj as f32 + 0.5 + jit * (r.unit() - 0.5)) * gs;
        let radius = p.gland_um * (0.15 * r.normal()).exp();
        let mut harm = [(0.0f32, 0.0f32); 3];
        for (k, h) in harm.iter_mut().enumerate() {
            *h = (
                p.gland_irregular * r.unit() * [0.45, 0.3, 0.18][k],
                r.unit() * std::f32::consts::TAU,
            );
        }
        Some(Gland {
            cx,
            cy,
            radius,
            harm,
            seed: r.next_u64(),
        })
    }

    /// Normalised distance to the nearest gland (< lumen: lumen; < 1: epithelium), microns.
    fn gland_r(&self, u: f32, v: f32) -> f32 {
        let gs = self.gland_spacing();
        let gi = (u / gs).floor() as i64;
        let gj = (v / gs).floor() as i64;
        let mut best = f32::INFINITY;
        for dj in -1..=1 {
            for di in -1..=1 {
                if let Some(g) = self.gland(gi + di, gj + dj) {
                    let (dx, dy) = (u - g.cx, v - g.cy);
                    let d2 = dx * dx + dy * dy;
                    let reach = g.radius * 1.9;
                    if d2 > reach * reach {
                        continue;
                    }
                    let r = d2.sqrt() / (g.radius * g.shape(dy.atan2(dx)));
                    best = best.min(r);
                }
            }
        }
        best
    }

    /// Centre (microns) of the adipocyte of cell `(i, j)`.
    fn make_cell(&self, i: i64, j: i64) -> (f32, f32) {
        let c = self.region.params.cell_um.max(5.0);
        let h = hash2(self.seed_cells, i, j);
        (
            (i as f32 + 0.1 + 0.8 * unit(h)) * c,
            (j as f32 + 0.1 + 0.8 * unit(h.rotate_left(21))) * c,
        )
    }

    /// Distance (microns) to the nearest adipocyte membrane (Voronoi edge).
    fn membrane_dist(&self, u: f32, v: f32) -> f32 {
        let c = self.region.params.cell_um.max(5.0);
        let ci = (u / c).floor() as i64;
        let cj = (v / c).floor() as i64;
        let mut s = [(f32::INFINITY, 0.0f32, 0.0f32); 2];
        for dj in -1..=1 {
            for di in -1..=1 {
                let (sx, sy) = match self.cells.get(ci + di, cj + dj) {
                    Some(&p) => p,
                    None => self.make_cell(ci + di, cj + dj),
                };
                let d = (sx - u).powi(2) + (sy - v).powi(2);
                if d < s[0].0 {
                    s[1] = s[0];
                    s[0] = (d, sx, sy);
                } else if d < s[1].0 {
                    s[1] = (d, sx, sy);
                }
            }
        }
        let sep = ((s[1].1 - s[0].1).powi(2) + (s[1].2 - s[0].2).powi(2)).sqrt();
        (s[1].0 - s[0].0) / (2.0 * sep.max(1e-3))
    }
}

#[derive(Clone)]
struct Gland {
    cx: f32,
    cy: f32,
    radius: f32,
    harm: [(f32, f32); 3],
    seed: u64,
}

impl Gland {
    /// Radius factor of the outline at angle `phi`.
    fn shape(&self, phi: f32) -> f32 {
        let mut f = 1.0;
        for (k, (amp, ph)) in self.harm.iter().enumerate() {
            f += amp * ((k as f32 + 2.0) * phi + ph).cos();
        }
        f.max(0.4)
    }
}

/// What kind of blob is splatted.
#[derive(Clone, Copy, PartialEq)]
enum Blob {
    Nucleus,
    RedCell,
}

/// One nucleus (or red cell), positions in level-0 pixels.
struct Nucleus {
    cx: f64,
    cy: f64,
    a: f32,
    b: f32,
    cos: f32,
    sin: f32,
    value: f32,
    harm: [(f32, f32); 2],
    nucleolus: Option<(f32, f32, f32)>,
    kind: Blob,
}

/// Working buffers over the rendered rectangle plus its margin.
struct Work {
    x0: i64,
    y0: i64,
    w: usize,
    h: usize,
    hh: Vec<f32>,
    ee: Vec<f32>,
    dd: Vec<f32>,
    cov: Vec<f32>,
    lumen: Vec<bool>,
    region: Vec<u16>,
}

impl Scene<'_> {
    /// Renders the `w`×`h` rectangle with top-left level-0 pixel `(x0, y0)`.
    pub fn render(&self, x0: i64, y0: i64, w: usize, h: usize) -> Image {
        self.run(x0, y0, w, h, true).0.expect("colour requested")
    }

    /// Renders a rectangle and returns its ground truth too.
    pub fn render_with_truth(&self, x0: i64, y0: i64, w: usize, h: usize) -> (Image, Truth) {
        let (img, truth) = self.run(x0, y0, w, h, true);
        (img.expect("colour requested"), truth)
    }

    /// The ground truth of a rectangle without rendering its pixels (no nuclei, no colour: much
    /// cheaper; identical to what [`Scene::render_with_truth`] returns).
    pub fn truth(&self, x0: i64, y0: i64, w: usize, h: usize) -> Truth {
        self.run(x0, y0, w, h, false).1
    }

    fn run(&self, x0: i64, y0: i64, w: usize, h: usize, colour: bool) -> (Option<Image>, Truth) {
        let margin = if colour && self.optics.blur_px > 0.05 {
            (2.5 * self.optics.blur_px).ceil() as i64 + 1
        } else {
            0
        };
        let mut work = Work {
            x0: x0 - margin,
            y0: y0 - margin,
            w: w + 2 * margin as usize,
            h: h + 2 * margin as usize,
            hh: Vec::new(),
            ee: Vec::new(),
            dd: Vec::new(),
            cov: Vec::new(),
            lumen: Vec::new(),
            region: Vec::new(),
        };
        let n = work.w * work.h;
        work.hh = vec![0.0; n];
        work.ee = vec![0.0; n];
        work.dd = vec![0.0; n];
        work.cov = vec![0.0; n];
        work.lumen = vec![false; n];
        work.region = vec![0; n];

        // Regions that may reach into the rectangle (nuclei up to ~40 µm from their centre).
        let reach = (40.0 / self.mpp) as f64 + LATTICE as f64;
        let mut keys = Vec::new();
        self.layout.regions_near(
            work.x0 as f64 - reach,
            work.y0 as f64 - reach,
            (work.x0 + work.w as i64) as f64 + reach,
            (work.y0 + work.h as i64) as f64 + reach,
            &mut keys,
        );
        let m = self.mpp;
        let rect = [
            work.x0 as f32 * m - 100.0,
            work.y0 as f32 * m - 100.0,
            (work.x0 + work.w as i64) as f32 * m + 100.0,
            (work.y0 + work.h as i64) as f32 * m + 100.0,
        ];
        let mut ctx: Vec<Ctx> = keys
            .iter()
            .map(|&k| Ctx::new(k, self.layout.region(k), rect))
            .collect();

        self.map_regions(&mut work, &mut ctx, rect);
        self.background(&mut work, &ctx);

        let mut truth = Truth {
            width: w,
            height: h,
            classes: vec![0; w * h],
            tumour_cell: vec![false; w * h],
        };
        let m = margin as usize;
        for y in 0..h {
            for x in 0..w {
                let i = (y + m) * work.w + x + m;
                let class = ctx[work.region[i] as usize].region.class;
                truth.classes[y * w + x] = class.index() as u8;
                truth.tumour_cell[y * w + x] =
                    class == TissueClass::Tum && !work.lumen[i] && work.cov[i] >= 0.5;
            }
        }
        if !colour {
            return (None, truth);
        }
        for c in &ctx {
            self.splat_region(&mut work, c);
        }
        (Some(self.to_image(&work, margin as usize, w, h)), truth)
    }

    /// Region index of every pixel: the layout is evaluated on a global lattice; a pixel whose
    /// four surrounding lattice points agree takes their region, the others (near a boundary)
    /// are evaluated exactly at their centre.
    #[inline(never)]
    fn map_regions(&self, work: &mut Work, ctx: &mut Vec<Ctx>, rect: [f32; 4]) {
        let l = LATTICE;
        let lx0 = work.x0.div_euclid(l);
        let lx1 = (work.x0 + work.w as i64 - 1).div_euclid(l) + 1;
        let ly0 = work.y0.div_euclid(l);
        let ly1 = (work.y0 + work.h as i64 - 1).div_euclid(l) + 1;
        let lw = (lx1 - lx0 + 1) as usize;
        let index_of = |key: RegionKey, ctx: &mut Vec<Ctx>| -> u16 {
            match ctx.iter().position(|c| c.key == key) {
                Some(i) => i as u16,
                None => {
                    // Not announced by regions_near (should not happen): add it.
                    ctx.push(Ctx::new(key, self.layout.region(key), rect));
                    (ctx.len() - 1) as u16
                }
            }
        };
        let mut lat = Vec::with_capacity(lw * (ly1 - ly0 + 1) as usize);
        for ly in ly0..=ly1 {
            for lx in lx0..=lx1 {
                let key = self.layout.region_at((lx * l) as f64, (ly * l) as f64);
                lat.push(index_of(key, ctx));
            }
        }
        for y in 0..work.h {
            let gy = work.y0 + y as i64;
            let ly = (gy.div_euclid(l) - ly0) as usize;
            for x in 0..work.w {
                let gx = work.x0 + x as i64;
                let lx = (gx.div_euclid(l) - lx0) as usize;
                let a = lat[ly * lw + lx];
                let same = a == lat[ly * lw + lx + 1]
                    && a == lat[(ly + 1) * lw + lx]
                    && a == lat[(ly + 1) * lw + lx + 1];
                work.region[y * work.w + x] = if same {
                    a
                } else {
                    let key = self.layout.region_at(gx as f64 + 0.5, gy as f64 + 0.5);
                    index_of(key, ctx)
                };
            }
        }
    }

    /// Matrix, fat membranes and glands: per-pixel stain concentrations before nuclei.
    #[inline(never)]
    fn background(&self, work: &mut Work, ctx: &[Ctx]) {
        let mpp = self.mpp;
        for y in 0..work.h {
            let v = (work.y0 + y as i64) as f32 * mpp + 0.5 * mpp;
            for x in 0..work.w {
                let i = y * work.w + x;
                let c = &ctx[work.region[i] as usize];
                let p = &c.region.params;
                let u = (work.x0 + x as i64) as f32 * mpp + 0.5 * mpp;

                let a = u * c.cos + v * c.sin;
                let b = -u * c.sin + v * c.cos;
                let fibrous = p.fibre >= 0.02;
                let gaps = p.matrix_fill < 0.985 && p.matrix_fill > 0.015;
                let bw = if fibrous || gaps {
                    b + p.wave * 4.0 * (2.0 * c.n_wave.value(a / 30.0, b / 30.0) - 1.0)
                } else {
                    b
                };
                let (f, fmod) = if fibrous {
                    let f = c.n_fibre.fbm(
                        a / (p.fibre_um * p.fibre_aniso).max(0.5),
                        bw / p.fibre_um.max(0.5),
                        2,
                    );
                    let streak = smoothstep(0.32, 0.68, f);
                    // Thin fibres on top of the bundles.
                    let thin = c.n_thin.value(
                        a / (p.fibre_um * p.fibre_aniso * 0.6).max(0.5),
                        bw / (p.fibre_um * 0.35).max(0.3),
                    );
                    let fmod = 1.0
                        + p.fibre * 0.5 * (2.0 * streak - 1.0)
                        + p.fibre * 0.5 * (2.0 * thin - 1.0);
                    (f, fmod)
                } else {
                    // Smooth, non-fibrous matrix: one octave of texture.
                    let f = c.n_fibre.value(a / 4.0, b / 4.0);
                    (f, 1.0 + p.fibre * (2.0 * f - 1.0))
                };
                let (g1, g2) = if p.grain > 0.01 {
                    (
                        1.0 + p.grain * 1.6 * (c.n_grain.value(u / 1.5, v / 1.5) - 0.5),
                        1.0 + p.grain * 1.6 * (c.n_grain2.value(u / 2.5, v / 2.5) - 0.5),
                    )
                } else {
                    (1.0, 1.0)
                };
                let mut cov = if !gaps {
                    if p.matrix_fill >= 0.5 { 1.0 } else { 0.0 }
                } else {
                    let an = 1.0 + 3.0 * p.fibre;
                    let gn = c.n_gap.fbm(a / (p.gap_um * an), bw / p.gap_um, 2);
                    smoothstep(c.fill_thr - 0.08, c.fill_thr + 0.08, gn)
                };
                let mut e = p.matrix_e * fmod * g1;
                let mut hh = p.matrix_h * (0.85 + 0.3 * f) * g2;
                let d = p.debris_d * g1;

                if p.membrane > 0.01 {
                    let dist = c.membrane_dist(u, v);
                    let mem = 1.0 - smoothstep(0.4, 1.3, dist);
                    let m = p.membrane;
                    cov = cov * (1.0 - m) + mem * m;
                    e = e * (1.0 - m) + p.membrane_e * (0.8 + 0.4 * f) * m;
                    hh = hh * (1.0 - m) + 0.04 * m;
                }
                let mut lumen = false;
                if p.gland > 0.01 {
                    let r = c.gland_r(u, v);
                    if r < p.lumen {
                        lumen = true;
                        cov = 0.1;
                        e = 0.2 * g1;
                        hh = 0.05;
                    } else if r < 1.0 {
                        cov = 1.0;
                        e = p.epi_e * (0.85 + 0.3 * f) * g1;
                        hh = p.epi_h * (0.8 + 0.4 * f) * g2;
                    }
                }
                work.hh[i] = hh * cov;
                work.ee[i] = e * cov;
                // A little DAB-channel density follows eosin: without it the HED matrix's eosin
                // vector renders magenta rather than the pink of real H&E.
                work.dd[i] = (d + EOSIN_WARMTH * e) * cov;
                work.cov[i] = cov;
                work.lumen[i] = lumen;
            }
        }
    }

    /// Nuclei (stromal, epithelial around glands, fragments) and red cells of one region.
    #[inline(never)]
    fn splat_region(&self, work: &mut Work, c: &Ctx) {
        let p = &c.region.params;
        let mpp = self.mpp as f64;
        // Rectangle in microns, grown by the largest blob extent.
        let ext = (p.nuc_r_um * (3.0 * p.nuc_pleo).exp() * p.nuc_elong.max(1.0).sqrt() * 1.6)
            .max(p.gland_um * 2.2) as f64;
        let ux0 = work.x0 as f64 * mpp - ext;
        let uy0 = work.y0 as f64 * mpp - ext;
        let ux1 = (work.x0 + work.w as i64) as f64 * mpp + ext;
        let uy1 = (work.y0 + work.h as i64) as f64 * mpp + ext;
        let owned = |ux: f64, uy: f64| self.layout.region_at(ux / mpp, uy / mpp) == c.key;

        // Nuclei outside glands, on a jittered lattice with one candidate per cell.
        if p.nuc_density > 0.005 {
            let s = (1000.0 / p.nuc_density as f64).sqrt();
            for j in (uy0 / s).floor() as i64..=(uy1 / s).floor() as i64 {
                for i in (ux0 / s).floor() as i64..=(ux1 / s).floor() as i64 {
                    let mut r = HashRng::new(hash2(c.seed_nuclei, i, j));
                    if r.unit() > 0.9 {
                        continue;
                    }
                    let ux = (i as f64 + 0.5 + 0.8 * (r.unit() as f64 - 0.5)) * s;
                    let uy = (j as f64 + 0.5 + 0.8 * (r.unit() as f64 - 0.5)) * s;
                    if !owned(ux, uy) {
                        continue;
                    }
                    if p.gland > 0.01 && c.gland_r(ux as f32, uy as f32) < 1.0 {
                        continue;
                    }
                    let angle = if r.unit() < p.nuc_align {
                        c.region.angle + 0.15 * r.normal()
                    } else {
                        r.unit() * std::f32::consts::PI
                    };
                    self.nucleus(work, c, &mut r, ux, uy, angle, p.nuc_elong);
                }
            }
        }

        // Epithelial nuclei around each gland.
        if p.gland > 0.01 {
            let gs = c.gland_spacing() as f64;
            for gj in (uy0 / gs).floor() as i64 - 1..=(uy1 / gs).floor() as i64 + 1 {
                for gi in (ux0 / gs).floor() as i64 - 1..=(ux1 / gs).floor() as i64 + 1 {
                    let Some(g) = c.gland(gi, gj) else { continue };
                    if !owned(g.cx as f64, g.cy as f64) {
                        continue;
                    }
                    let mut r = HashRng::new(g.seed);
                    let rows = p.gland_rows.max(0.5);
                    let nrows = rows.floor() as usize + usize::from(r.unit() < rows.fract());
                    let nr = p.nuc_r_um / p.gland_elong.max(1.0).sqrt();
                    for k in 0..nrows.max(1) {
                        let t = if nrows <= 1 {
                            0.62
                        } else {
                            0.3 + 0.5 * k as f32 / (nrows - 1) as f32
                        };
                        let rr = p.lumen + (1.0 - p.lumen) * t;
                        let n = ((std::f32::consts::TAU * rr * g.radius) / (2.3 * nr)).floor();
                        let n = n.max(3.0) as usize;
                        let phase = r.unit() * std::f32::consts::TAU;
                        for q in 0..n {
                            let phi = phase
                                + (q as f32 + 0.35 * (r.unit() - 0.5)) / n as f32
                                    * std::f32::consts::TAU;
                            let rad = g.radius
                                * g.shape(phi)
                                * (rr + 0.12 * p.gland_irregular * r.normal());
                            let ux = (g.cx + rad * phi.cos()) as f64;
                            let uy = (g.cy + rad * phi.sin()) as f64;
                            if r.unit() > 0.93 {
                                continue;
                            }
                            self.nucleus(work, c, &mut r, ux, uy, phi, p.gland_elong);
                        }
                    }
                }
            }
        }

        // Red blood cells.
        if p.rbc > 0.005 {
            let s = (1000.0 / p.rbc as f64).sqrt();
            for j in (uy0 / s).floor() as i64..=(uy1 / s).floor() as i64 {
                for i in (ux0 / s).floor() as i64..=(ux1 / s).floor() as i64 {
                    let mut r = HashRng::new(hash2(c.seed_rbc, i, j));
                    let ux = (i as f64 + r.unit() as f64) * s;
                    let uy = (j as f64 + r.unit() as f64) * s;
                    if !owned(ux, uy) {
                        continue;
                    }
                    let rad = 3.6 * (0.08 * r.normal()).exp();
                    let el = 1.0 + 0.25 * r.unit();
                    let ang = r.unit() * std::f32::consts::PI;
                    let blob = Nucleus {
                        cx: ux / mpp,
                        cy: uy / mpp,
                        a: rad * el.sqrt() / self.mpp,
                        b: rad / el.sqrt() / self.mpp,
                        cos: ang.cos(),
                        sin: ang.sin(),
                        value: 1.1 * r.range(0.85, 1.15),
                        harm: [(0.0, 0.0); 2],
                        nucleolus: None,
                        kind: Blob::RedCell,
                    };
                    self.splat(work, &blob);
                }
            }
        }
    }

    /// Draws one nucleus (or its fragments) of region `c` centred at microns `(ux, uy)`.
    #[allow(clippy::too_many_arguments)]
    fn nucleus(
        &self,
        work: &mut Work,
        c: &Ctx,
        r: &mut HashRng,
        ux: f64,
        uy: f64,
        angle: f32,
        elong: f32,
    ) {
        let p = &c.region.params;
        let mpp = self.mpp;
        let radius = p.nuc_r_um * (p.nuc_pleo * r.normal()).exp();
        let el = (1.0 + (elong - 1.0).max(0.0) * r.range(0.6, 1.4)).max(1.0);
        let mut value = p.nuc_h * r.range(0.8, 1.2);
        if r.unit() < p.nuc_pale {
            value *= 0.4;
        }
        let fragment = r.unit() < p.nuc_fragment;
        let nucleolus = (r.unit() < p.nucleoli).then(|| {
            (
                r.range(-0.3, 0.3) * radius / mpp,
                r.range(-0.3, 0.3) * radius / mpp,
                (0.22 * radius).max(0.5) / mpp,
            )
        });
        let irr = p.nuc_irregular;
        let harm = [
            (irr * r.unit() * 0.5, r.unit() * std::f32::consts::TAU),
            (irr * r.unit() * 0.3, r.unit() * std::f32::consts::TAU),
        ];
        if fragment {
            let pieces = 2 + (r.unit() * 4.0) as usize;
            for _ in 0..pieces {
                let rr = radius * r.range(0.2, 0.45);
                let ox = (r.range(-1.1, 1.1) * radius) as f64;
                let oy = (r.range(-1.1, 1.1) * radius) as f64;
                let blob = Nucleus {
                    cx: (ux + ox) / mpp as f64,
                    cy: (uy + oy) / mpp as f64,
                    a: rr / mpp,
                    b: rr / mpp * r.range(0.7, 1.0),
                    cos: 1.0,
                    sin: 0.0,
                    value: value * 1.2,
                    harm: [(0.0, 0.0); 2],
                    nucleolus: None,
                    kind: Blob::Nucleus,
                };
                self.splat(work, &blob);
            }
            return;
        }
        let blob = Nucleus {
            cx: ux / mpp as f64,
            cy: uy / mpp as f64,
            a: radius * el.sqrt() / mpp,
            b: radius / el.sqrt() / mpp,
            cos: angle.cos(),
            sin: angle.sin(),
            value,
            harm,
            nucleolus,
            kind: Blob::Nucleus,
        };
        self.splat(work, &blob);
    }

    /// Rasterises one blob into the working buffers (anti-aliased edge, chromatin texture).
    fn splat(&self, work: &mut Work, n: &Nucleus) {
        let irr = n.harm[0].0 + n.harm[1].0;
        let ext = (n.a.max(n.b) * (1.0 + irr) + 1.5) as f64;
        let x0 = ((n.cx - ext).floor() as i64 - work.x0).max(0);
        let x1 = ((n.cx + ext).ceil() as i64 - work.x0).min(work.w as i64 - 1);
        let y0 = ((n.cy - ext).floor() as i64 - work.y0).max(0);
        let y1 = ((n.cy + ext).ceil() as i64 - work.y0).min(work.h as i64 - 1);
        if x0 > x1 || y0 > y1 {
            return;
        }
        let chrom = Noise::new(derive(self.seed, 77));
        let minor = n.a.min(n.b).max(0.3);
        for y in y0..=y1 {
            let dy = ((work.y0 + y) as f64 + 0.5 - n.cy) as f32;
            for x in x0..=x1 {
                let dx = ((work.x0 + x) as f64 + 0.5 - n.cx) as f32;
                let la = dx * n.cos + dy * n.sin;
                let lb = -dx * n.sin + dy * n.cos;
                let (qa, qb) = (la / n.a, lb / n.b);
                let mut q = (qa * qa + qb * qb).sqrt();
                if irr > 0.01 {
                    let phi = qb.atan2(qa);
                    let f = 1.0
                        + n.harm[0].0 * (2.0 * phi + n.harm[0].1).cos()
                        + n.harm[1].0 * (3.0 * phi + n.harm[1].1).cos();
                    q /= f.max(0.5);
                }
                // Signed distance to the outline in pixels, approximately.
                let alpha = ((1.0 - q) * minor + 0.5).clamp(0.0, 1.0);
                if alpha <= 0.0 {
                    continue;
                }
                let i = y as usize * work.w + x as usize;
                match n.kind {
                    Blob::Nucleus => {
                        let gx = (work.x0 + x) as f32 * self.mpp;
                        let gy = (work.y0 + y) as f32 * self.mpp;
                        let t = chrom.value(gx / 0.9, gy / 0.9);
                        let rim = smoothstep(0.65, 1.0, q);
                        let mut val = n.value * (0.72 + 0.56 * t) * (1.0 + 0.3 * rim);
                        if let Some((ox, oy, rn)) = n.nucleolus {
                            let d2 = (dx - ox).powi(2) + (dy - oy).powi(2);
                            if d2 < rn * rn {
                                val *= 1.7;
                            }
                        }
                        let h0 = work.hh[i];
                        if val > h0 {
                            work.hh[i] = h0 + alpha * (val - h0);
                        }
                        // The cytoplasm above and below the nucleus keeps most of its eosin.
                        work.ee[i] *= 1.0 - 0.15 * alpha;
                    }
                    Blob::RedCell => {
                        let val = n.value * (0.7 + 0.3 * q * q);
                        let e0 = work.ee[i];
                        if val > e0 {
                            work.ee[i] = e0 + alpha * (val - e0);
                        }
                        work.hh[i] *= 1.0 - 0.6 * alpha;
                    }
                }
                work.cov[i] = work.cov[i].max(alpha);
            }
        }
    }

    /// Beer–Lambert to RGB, blur, sensor noise, rounding; crops the margin.
    #[inline(never)]
    fn to_image(&self, work: &Work, margin: usize, w: usize, h: usize) -> Image {
        let n = work.w * work.h;
        let mut planes = [vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]];
        for i in 0..n {
            let rgb = self.stain.rgb([work.hh[i], work.ee[i], work.dd[i]]);
            for (plane, v) in planes.iter_mut().zip(rgb) {
                plane[i] = v;
            }
        }
        if margin > 0 {
            let kernel = gaussian_kernel(self.optics.blur_px, margin);
            for p in planes.iter_mut() {
                blur_separable(p, work.w, work.h, &kernel);
            }
        }
        let mut img = Image::new(w, h);
        let out = img.as_mut_slice();
        let noise_seed = derive(self.seed, 99);
        let sd = self.optics.noise;
        for y in 0..h {
            for x in 0..w {
                let i = (y + margin) * work.w + x + margin;
                let gx = work.x0 + (x + margin) as i64;
                let gy = work.y0 + (y + margin) as i64;
                let mut hsh = hash2(noise_seed, gx, gy);
                for c in 0..3 {
                    hsh = crate::hash::mix64(hsh.wrapping_add(c as u64));
                    // Sum of four 16-bit uniforms: mean 2, variance 1/3.
                    let s = (hsh & 0xffff) as f32
                        + ((hsh >> 16) & 0xffff) as f32
                        + ((hsh >> 32) & 0xffff) as f32
                        + (hsh >> 48) as f32;
                    let z = (s / 65536.0 - 2.0) * 3.0f32.sqrt();
                    let v = planes[c][i] + sd * z;
                    out[(y * w + x) * 3 + c] = (v.clamp(0.0, 255.0) + 0.5) as u8;
                }
            }
        }
        img
    }
}

/// Normalised Gaussian weights for offsets `-r..=r`, `r = min(max_r, ⌈2.5σ⌉)`.
fn gaussian_kernel(sigma: f32, max_r: usize) -> Vec<f32> {
    let r = max_r.min((2.5 * sigma).ceil() as usize).max(1);
    let mut k: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let d = i as f32 - r as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    k
}

/// In-place separable convolution with edge clamping (the margin absorbs the edge effects).
#[inline(never)]
fn blur_separable(p: &mut [f32], w: usize, h: usize, k: &[f32]) {
    let r = k.len() / 2;
    let mut tmp = vec![0.0f32; p.len()];
    let clamp = |v: i64, n: usize| v.clamp(0, n as i64 - 1) as usize;
    for y in 0..h {
        let row = &p[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        for x in 0..w {
            if x >= r && x + r < w {
                let win = &row[x - r..=x + r];
                out[x] = win.iter().zip(k).map(|(a, b)| a * b).sum();
            } else {
                out[x] = k
                    .iter()
                    .enumerate()
                    .map(|(t, kv)| kv * row[clamp(x as i64 + t as i64 - r as i64, w)])
                    .sum();
            }
        }
    }
    for y in 0..h {
        let out = &mut p[y * w..(y + 1) * w];
        out.iter_mut().for_each(|v| *v = 0.0);
        for (t, kv) in k.iter().enumerate() {
            let yy = clamp(y as i64 + t as i64 - r as i64, h);
            let src = &tmp[yy * w..(yy + 1) * w];
            for (o, s) in out.iter_mut().zip(src) {
                *o += kv * s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{Ellipse, Mosaic, Palette, TissueShape, Uniform};
    use histo_tensor::SampleRng;

    fn scene(layout: &dyn Layout, blur: f32) -> Scene<'_> {
        Scene {
            layout,
            stain: Stain::reference(),
            optics: Optics {
                blur_px: blur,
                noise: 2.0,
            },
            mpp: 0.5,
            seed: 3,
        }
    }

    fn mosaic() -> Mosaic {
        Mosaic {
            seed: 11,
            spacing: 300.0,
            warp: 100.0,
            palette: Palette::uniform([1.0; 9]),
            tissue: Some(TissueShape {
                blobs: vec![Ellipse {
                    cx: 400.0,
                    cy: 400.0,
                    rx: 450.0,
                    ry: 350.0,
                }],
                roughness: 0.2,
                scale: 200.0,
                seed: 1,
            }),
            tumours: vec![],
            holes: vec![],
            tumour_class: TissueClass::Tum,
            hole_class: TissueClass::Str,
            spread: 0.2,
            overlap: 0.3,
        }
    }

    #[test]
    fn tiles_match_the_whole_whatever_the_tiling() {
        let m = mosaic();
        let s = scene(&m, 0.8);
        let whole = s.render(100, 60, 192, 160);
        for (tx, ty, tw, th) in [(0, 0, 64, 64), (64, 32, 128, 100), (150, 100, 42, 60)] {
            let tile = s.render(100 + tx as i64, 60 + ty as i64, tw, th);
            for y in 0..th {
                for x in 0..tw {
                    assert_eq!(
                        tile.pixel(x, y),
                        whole.pixel(tx + x, ty + y),
                        "tile ({tx},{ty}) pixel ({x},{y})"
                    );
                }
            }
        }
    }

    #[test]
    fn truth_alone_equals_truth_with_pixels() {
        let m = mosaic();
        let s = scene(&m, 0.6);
        let (_, t1) = s.render_with_truth(0, 0, 200, 150);
        let t2 = s.truth(0, 0, 200, 150);
        assert_eq!(t1, t2);
    }

    #[test]
    fn classes_have_their_characteristic_colours() {
        let mut means = Vec::new();
        for class in TissueClass::ALL {
            let mut rng = SampleRng::new(5, 0, class.index() as u64);
            let u = Uniform {
                region: Region::draw(class, 0.0, 0.0, &mut rng),
            };
            let img = scene(&u, 0.5).render(10_000, 20_000, 128, 128);
            let mut m = [0.0f64; 3];
            for px in img.as_slice().chunks_exact(3) {
                for c in 0..3 {
                    m[c] += px[c] as f64 / (128.0 * 128.0);
                }
            }
            means.push((class, m));
        }
        let mean = |c: TissueClass| means[c.index()].1;
        let brightness = |c: TissueClass| mean(c).iter().sum::<f64>() / 3.0;
        // Glass and fat are the brightest; lymphocytes are darker than stroma; eosin-rich
        // muscle is pink (green absorbed more than red and blue).
        for c in TissueClass::ALL {
            if c != TissueClass::Back && c != TissueClass::Adi {
                assert!(
                    brightness(TissueClass::Back) > brightness(c),
                    "{c}: {means:?}"
                );
                assert!(
                    brightness(TissueClass::Adi) > brightness(c),
                    "{c}: {means:?}"
                );
            }
        }
        assert!(brightness(TissueClass::Lym) < brightness(TissueClass::Str));
        let mus = mean(TissueClass::Mus);
        assert!(mus[1] < mus[0] && mus[1] < mus[2], "{mus:?}");
    }

    #[test]
    fn tumour_cell_truth_follows_the_tumour_region() {
        let mut rng = SampleRng::new(1, 0, 0);
        let tum = Uniform {
            region: Region::draw(TissueClass::Tum, 0.0, 0.0, &mut rng),
        };
        let t = scene(&tum, 0.0).truth(0, 0, 256, 256);
        let c = t.cellularity();
        // Lumens take some of the area, but most of a tumour region is cells.
        assert!(c > 0.6 && c < 1.0, "{c}");
        assert_eq!(t.majority(), TissueClass::Tum);
        let str_ = Uniform {
            region: Region::draw(TissueClass::Str, 0.0, 0.0, &mut rng),
        };
        assert_eq!(scene(&str_, 0.0).truth(0, 0, 64, 64).cellularity(), 0.0);
    }

    #[test]
    fn gaussian_kernel_is_normalised_and_blur_preserves_constants() {
        let k = gaussian_kernel(1.0, 4);
        assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(k.len(), 7);
        // exp(-1/2) relative weight one sigma away
        assert!((k[4] / k[3] - (-0.5f32).exp()).abs() < 1e-6);
        let mut p = vec![7.0f32; 20 * 10];
        blur_separable(&mut p, 20, 10, &k);
        assert!(p.iter().all(|v| (v - 7.0).abs() < 1e-4));
    }
}
