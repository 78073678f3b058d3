//! `camelyon16/`: lymph-node-like slides (lymphocytes, stroma, fat at the rim), some with
//! metastases (tumour polygons, annotated in ASAP XML and the original's JSON), patch folders as
//! the original expects, and test slides with a reference table.

use std::fmt::Write as _;

use histo_tensor::SampleRng;
use histo_wsi::Annotations;
use rand::Rng;
use rayon::prelude::*;

use crate::Result;
use crate::class::TissueClass;
use crate::config::SynthConfig;
use crate::io::{mkdir, save_image, write_atomic};
use crate::layout::{Mosaic, Palette};
use crate::polygon::Polygon;
use crate::render::{Optics, Scene};
use crate::run::Run;
use crate::slide::{draw_optics, draw_tissue, pyramid_options, write_slide};
use crate::stain::Stain;

/// Which part of the data a slide belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CamSplit {
    /// Patches in `PATCHES_*_TRAIN`, JSON in `jsons/train`.
    Train,
    /// Patches in `PATCHES_*_VALID`, JSON in `jsons/valid`.
    Valid,
    /// `slides/test/Test_NNN.tif`.
    Test,
}

/// One slide of the Camelyon16-style data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CamSlide {
    /// `Tumor_026`, `Normal_036`, `Test_001`, …
    pub name: String,
    /// The split.
    pub split: CamSplit,
    /// Whether it holds metastases.
    pub tumour: bool,
    /// Seed index (unique per slide).
    id: u64,
}

impl CamSlide {
    /// `slides/train` or `slides/test`.
    pub fn folder(&self) -> &'static str {
        if self.split == CamSplit::Test {
            "test"
        } else {
            "train"
        }
    }
}

/// All slides, in a fixed order. Training and validation slides are numbered from
/// `Tumor_026` and `Normal_036` so that the original code's slide-number filter (spec §5.4:
/// it keeps `Tumor_NNN` with NNN > 25 and `Normal_NNN` with NNN > 35) keeps every one of them.
/// Test slides are `Test_001…`, tumour and normal shuffled.
pub fn slides(cfg: &SynthConfig) -> Vec<CamSlide> {
    let c = &cfg.camelyon16;
    let mut v = Vec::new();
    let mut t = 26;
    let mut n = 36;
    for (split, tumours, normals) in [
        (CamSplit::Train, c.train_tumor, c.train_normal),
        (CamSplit::Valid, c.valid_tumor, c.valid_normal),
    ] {
        for _ in 0..tumours {
            v.push(CamSlide {
                name: format!("Tumor_{t:03}"),
                split,
                tumour: true,
                id: t,
            });
            t += 1;
        }
        for _ in 0..normals {
            v.push(CamSlide {
                name: format!("Normal_{n:03}"),
                split,
                tumour: false,
                id: 1000 + n,
            });
            n += 1;
        }
    }
    let mut kinds: Vec<bool> = (0..c.test_tumor)
        .map(|_| true)
        .chain((0..c.test_normal).map(|_| false))
        .collect();
    let mut rng = SampleRng::global("synth-cam-test-order", cfg.seed, 0);
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, rng.random_range(0..=i));
    }
    for (k, tumour) in kinds.into_iter().enumerate() {
        v.push(CamSlide {
            name: format!("Test_{:03}", k + 1),
            split: CamSplit::Test,
            tumour,
            id: 2001 + k as u64,
        });
    }
    v
}

/// Everything about one slide that does not need rendering.
pub struct SlideModel {
    /// Where each class lies.
    pub mosaic: Mosaic,
    /// Staining.
    pub stain: Stain,
    /// Optics.
    pub optics: Optics,
    /// Seed of textures and noise.
    pub seed: u64,
    /// Tumour and exclusion polygons, as written to the annotation files.
    pub annotations: Annotations,
}

impl SlideModel {
    /// The renderer of this slide.
    pub fn scene(&self, cfg: &SynthConfig) -> Scene<'_> {
        Scene {
            layout: &self.mosaic,
            stain: self.stain.clone(),
            optics: self.optics,
            mpp: cfg.mpp as f32,
            seed: self.seed,
        }
    }
}

/// Builds the model of a slide (a pure function of the configuration and the slide).
pub fn model(cfg: &SynthConfig, slide: &CamSlide) -> SlideModel {
    let c = &cfg.camelyon16;
    let d = &cfg.difficulty;
    let mut rng = SampleRng::stream("synth-cam-slide", cfg.seed, 0, slide.id);
    let stain = Stain::draw(&mut rng, d.stain_variation, 0.0);
    let optics = draw_optics(d, cfg.mpp, &mut rng);
    let pieces = rng.random_range(1..=2);
    let tissue = draw_tissue(c.width, c.height, pieces, 1.0, &mut rng);
    let mut inner = [0.0f32; 9];
    inner[TissueClass::Lym.index()] = 0.8;
    inner[TissueClass::Str.index()] = 0.15;
    inner[TissueClass::Adi.index()] = 0.05;
    let mut edge = [0.0f32; 9];
    edge[TissueClass::Adi.index()] = 0.6;
    edge[TissueClass::Str.index()] = 0.25;
    edge[TissueClass::Lym.index()] = 0.15;
    let spacing = 250.0 / cfg.mpp;
    let mut tumours: Vec<Polygon> = Vec::new();
    let mut holes: Vec<Polygon> = Vec::new();
    if slide.tumour {
        let [lo, hi] = c.tumours_per_slide;
        let n = rng.random_range(lo..=hi.max(lo));
        let (w, h) = (c.width as f64, c.height as f64);
        for _ in 0..n {
            let r = rng.random_range(c.tumour_radius_um[0]..=c.tumour_radius_um[1]) / cfg.mpp;
            // A centre well inside the tissue, away from the other metastases.
            let mut centre = None;
            for _ in 0..500 {
                let x = rng.random_range(r.min(w / 2.0)..(w - r).max(w / 2.0 + 1.0));
                let y = rng.random_range(r.min(h / 2.0)..(h - r).max(h / 2.0 + 1.0));
                let clear = tumours.iter().all(|p| {
                    let (a, b, cc, dd) = p.bbox();
                    let (px, py) = ((a + cc) / 2.0, (b + dd) / 2.0);
                    let pr = (cc - a).max(dd - b) / 2.0;
                    ((px - x).powi(2) + (py - y).powi(2)).sqrt() > pr + r
                });
                if clear && tissue.depth(x, y) > 0.35 {
                    centre = Some((x, y));
                    break;
                }
            }
            let Some((x, y)) = centre else { continue };
            let mut p = Polygon::blob(x, y, r, 0.35, 64, &mut rng);
            for v in &mut p.vertices {
                v.0 = v.0.clamp(0.0, w - 1.0);
                v.1 = v.1.clamp(0.0, h - 1.0);
            }
            if rng.random::<f32>() < 0.3 {
                holes.push(Polygon::blob(x, y, 0.22 * r, 0.2, 32, &mut rng));
            }
            tumours.push(p);
        }
        if tumours.is_empty() {
            // No clear spot found: put one metastasis at the centre of the largest tissue piece.
            let b = tissue
                .blobs
                .iter()
                .max_by(|a, b| (a.rx * a.ry).total_cmp(&(b.rx * b.ry)))
                .cloned()
                .unwrap_or(crate::layout::Ellipse {
                    cx: w / 2.0,
                    cy: h / 2.0,
                    rx: w / 4.0,
                    ry: h / 4.0,
                });
            let r = (c.tumour_radius_um[0] / cfg.mpp).min(0.5 * b.rx.min(b.ry));
            tumours.push(Polygon::blob(b.cx, b.cy, r, 0.35, 64, &mut rng));
        }
    }
    let to_wsi = |p: &Polygon, k: usize, group: &str| histo_wsi::Polygon {
        name: format!("Annotation {k}"),
        group: Some(group.to_string()),
        vertices: p.vertices.iter().map(|&(x, y)| [x, y]).collect(),
    };
    let annotations = Annotations {
        positive: tumours
            .iter()
            .enumerate()
            .map(|(k, p)| to_wsi(p, k, "Tumor"))
            .collect(),
        negative: holes
            .iter()
            .enumerate()
            .map(|(k, p)| to_wsi(p, tumours.len() + k, "_2"))
            .collect(),
    };
    let mosaic = Mosaic {
        seed: rng.random(),
        spacing,
        warp: 0.5 * spacing,
        palette: Palette {
            inner,
            edge,
            edge_depth: 0.15,
        },
        tissue: Some(tissue),
        tumours,
        holes,
        tumour_class: TissueClass::Tum,
        hole_class: TissueClass::Str,
        spread: d.spread,
        overlap: d.overlap,
    };
    SlideModel {
        mosaic,
        stain,
        optics,
        seed: rng.random(),
        annotations,
    }
}

/// Patch centres (level-0) of one slide: tumour patches inside a tumour polygon and outside
/// every exclusion, normal patches in non-background tissue outside every tumour; each patch
/// lies wholly inside the slide.
pub fn patch_centres(
    cfg: &SynthConfig,
    slide: &CamSlide,
    m: &SlideModel,
    tumour: bool,
) -> Vec<(i64, i64)> {
    let c = &cfg.camelyon16;
    let n = if tumour {
        if !slide.tumour {
            return Vec::new();
        }
        c.tumor_patches_per_slide
    } else {
        c.normal_patches_per_slide
    };
    let half = c.patch as f64 / 2.0;
    let (w, h) = (c.width as f64, c.height as f64);
    let mut rng = SampleRng::stream("synth-cam-centres", cfg.seed, u64::from(tumour), slide.id);
    let mut out = Vec::with_capacity(n);
    let in_slide = |x: f64, y: f64| x >= half && y >= half && x <= w - half && y <= h - half;
    let areas: Vec<f64> = m.mosaic.tumours.iter().map(Polygon::area).collect();
    let total: f64 = areas.iter().sum();
    for _ in 0..n {
        for _ in 0..2000 {
            let (x, y) = if tumour {
                if total <= 0.0 {
                    break;
                }
                let mut u = rng.random::<f64>() * total;
                let mut k = 0;
                while k + 1 < areas.len() && u >= areas[k] {
                    u -= areas[k];
                    k += 1;
                }
                let (x0, y0, x1, y1) = m.mosaic.tumours[k].bbox();
                (
                    rng.random_range(x0..=x1).round(),
                    rng.random_range(y0..=y1).round(),
                )
            } else {
                (
                    rng.random_range(half..=w - half).round(),
                    rng.random_range(half..=h - half).round(),
                )
            };
            if !in_slide(x, y) {
                continue;
            }
            let positive = m.annotations.is_positive(x, y);
            let excluded = m.mosaic.holes.iter().any(|p| p.contains(x, y));
            let ok = if tumour {
                positive && !excluded
            } else {
                !positive && m.mosaic.class_at(x, y) != TissueClass::Back
            };
            if ok {
                out.push((x as i64, y as i64));
                break;
            }
        }
    }
    out
}

/// Writes `camelyon16/`: slides, annotations (XML and JSON), patch folders, test reference.
pub(crate) fn generate(run: &Run<'_>) -> Result<()> {
    let cfg = run.cfg;
    let c = &cfg.camelyon16;
    let root = &run.root;
    let all = slides(cfg);
    let models: Vec<SlideModel> = all.par_iter().map(|s| model(cfg, s)).collect();

    // Slides.
    let rows = c.height.div_ceil(u64::from(cfg.slide.tile));
    run.progress
        .begin("camelyon16 slides (tile rows)", rows * all.len() as u64);
    for (s, m) in all.iter().zip(&models) {
        let dir = root.join("slides").join(s.folder());
        mkdir(&dir)?;
        let path = dir.join(format!("{}.tif", s.name));
        if path.exists() {
            run.skipped();
            run.progress.advance(rows);
            continue;
        }
        let opts = pyramid_options(cfg, c.width, c.height, &format!("histo-synth {}", s.name));
        let px = write_slide(&path, &m.scene(cfg), c.width, c.height, opts, &|| {
            run.progress.advance(1)
        })?;
        run.wrote(px);
    }
    run.progress.end();

    // Annotations: ASAP XML for every slide with metastases.
    let xml_dir = root.join("annotations");
    mkdir(&xml_dir)?;
    for (s, m) in all.iter().zip(&models) {
        if s.tumour {
            write_atomic(
                &xml_dir.join(format!("{}.xml", s.name)),
                m.annotations.to_asap_xml().as_bytes(),
            )?;
        }
    }

    // Patch folders with list.txt, and the JSON of every slide a list mentions.
    let mut jobs = Vec::new();
    for (split, tag, json) in [
        (CamSplit::Train, "TRAIN", "train"),
        (CamSplit::Valid, "VALID", "valid"),
    ] {
        let json_dir = root.join("jsons").join(json);
        mkdir(&json_dir)?;
        for (tumour, kind) in [(true, "TUMOR"), (false, "NORMAL")] {
            let dir = root.join(format!("PATCHES_{kind}_{tag}"));
            mkdir(&dir)?;
            let mut list = String::new();
            let mut i = 0usize;
            for (sk, (s, m)) in all.iter().zip(&models).enumerate() {
                if s.split != split {
                    continue;
                }
                let centres = patch_centres(cfg, s, m, tumour);
                if !centres.is_empty() {
                    write_atomic(
                        &json_dir.join(format!("{}.json", s.name)),
                        m.annotations.to_json().as_bytes(),
                    )?;
                }
                for (x, y) in centres {
                    let _ = writeln!(list, "{},{x},{y}", s.name);
                    jobs.push((dir.join(format!("{i}.png")), sk, x, y));
                    i += 1;
                }
            }
            write_atomic(&dir.join("list.txt"), list.as_bytes())?;
        }
    }
    run.progress.begin("camelyon16 patches", jobs.len() as u64);
    let p = c.patch as usize;
    jobs.par_iter()
        .try_for_each(|(path, sk, x, y)| -> Result<()> {
            if path.exists() {
                run.skipped();
            } else {
                let img = models[*sk]
                    .scene(cfg)
                    .render(x - p as i64 / 2, y - p as i64 / 2, p, p);
                save_image(&img, path, cfg.mpp)?;
                run.wrote((p * p) as u64);
            }
            run.progress.advance(1);
            Ok(())
        })?;
    run.progress.end();

    // Test reference.
    let mut reference = String::from("image,label\n");
    for s in all.iter().filter(|s| s.split == CamSplit::Test) {
        let _ = writeln!(
            reference,
            "{},{}",
            s.name,
            if s.tumour { "Tumor" } else { "Normal" }
        );
    }
    write_atomic(&root.join("test_reference.csv"), reference.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scale;

    #[test]
    fn slide_names_pass_the_original_filter_and_are_unique() {
        let cfg = SynthConfig::preset(Scale::Small, 3);
        let s = slides(&cfg);
        let names: std::collections::BTreeSet<_> = s.iter().map(|s| s.name.clone()).collect();
        assert_eq!(names.len(), s.len());
        for sl in &s {
            let num: u32 = sl.name.rsplit('_').next().unwrap().parse().unwrap();
            if sl.name.starts_with("Tumor_") {
                assert!(num > 25);
            } else if sl.name.starts_with("Normal_") {
                assert!(num > 35);
            }
        }
        let tests = s.iter().filter(|s| s.split == CamSplit::Test).count();
        assert_eq!(
            tests,
            cfg.camelyon16.test_tumor + cfg.camelyon16.test_normal
        );
    }

    #[test]
    fn patch_centres_respect_the_annotations() {
        let cfg = SynthConfig::preset(Scale::Tiny, 5);
        let all = slides(&cfg);
        let s = all.iter().find(|s| s.tumour).unwrap();
        let m = model(&cfg, s);
        assert!(!m.annotations.positive.is_empty());
        let t = patch_centres(&cfg, s, &m, true);
        assert_eq!(t.len(), cfg.camelyon16.tumor_patches_per_slide);
        for &(x, y) in &t {
            assert!(m.annotations.is_positive(x as f64, y as f64));
            assert_eq!(m.mosaic.class_at(x as f64, y as f64), TissueClass::Tum);
        }
        let n = patch_centres(&cfg, s, &m, false);
        for &(x, y) in &n {
            assert!(!m.annotations.is_positive(x as f64, y as f64));
            assert_ne!(m.mosaic.class_at(x as f64, y as f64), TissueClass::Back);
        }
    }
}
