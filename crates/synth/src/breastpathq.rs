//! `breastpathq/`: patches of breast-like tissue (tumour nests in stroma, fat, lymphocytes)
//! scored by their true tumour-cellularity (the fraction of the patch that is tumour-cell area),
//! plus two simulated pathologists for the test set.

use std::fmt::Write as _;

use histo_tensor::{Image, SampleRng};
use rand::Rng;
use rayon::prelude::*;

use crate::Result;
use crate::class::TissueClass;
use crate::config::SynthConfig;
use crate::io::{mkdir, save_image, write_atomic};
use crate::layout::{Mosaic, Palette};
use crate::params::gauss;
use crate::render::{Scene, Truth};
use crate::run::Run;
use crate::slide::draw_optics;
use crate::stain::Stain;

/// A BreastPathQ split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpqSplit {
    /// `train/` + `train_labels.csv`.
    Train,
    /// `validation/` + `val_labels.csv`.
    Validation,
    /// `test/` + `test_labels.csv` (two raters).
    Test,
}

impl BpqSplit {
    /// All splits.
    pub const ALL: [BpqSplit; 3] = [Self::Train, Self::Validation, Self::Test];

    fn id(self) -> u64 {
        self as u64
    }

    /// Image folder.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }

    /// Labels file.
    pub fn labels(self) -> &'static str {
        match self {
            Self::Train => "train_labels.csv",
            Self::Validation => "val_labels.csv",
            Self::Test => "test_labels.csv",
        }
    }

    fn count(self, cfg: &SynthConfig) -> usize {
        match self {
            Self::Train => cfg.breastpathq.train,
            Self::Validation => cfg.breastpathq.validation,
            Self::Test => cfg.breastpathq.test,
        }
    }
}

/// `(slide, rid)` of patch `i`: slides are numbered per split (train 1001…, validation 2001…,
/// test 3001…), `rid` counts from 1 within a slide.
pub fn patch_id(cfg: &SynthConfig, split: BpqSplit, i: usize) -> (u32, u32) {
    let per = cfg.breastpathq.patches_per_slide.max(1);
    (
        1000 * (split.id() as u32 + 1) + 1 + (i / per) as u32,
        (i % per) as u32 + 1,
    )
}

fn scene_for(
    cfg: &SynthConfig,
    split: BpqSplit,
    i: usize,
) -> (Mosaic, Stain, crate::Optics, u64, i64, i64) {
    let d = &cfg.difficulty;
    let per = cfg.breastpathq.patches_per_slide.max(1);
    let mut srng = SampleRng::stream("synth-bpq-slide", cfg.seed, split.id(), (i / per) as u64);
    let stain = Stain::draw(&mut srng, d.stain_variation, 0.0);
    let optics = draw_optics(d, cfg.mpp, &mut srng);
    let mut rng = SampleRng::stream("synth-bpq-patch", cfg.seed, split.id(), i as u64);
    // Tumour share of the regions: none in some patches, anything up to solid tumour in others.
    let q: f32 = if rng.random::<f32>() < 0.15 {
        0.0
    } else {
        rng.random()
    };
    let mut w = [0.0f32; 9];
    w[TissueClass::Str.index()] = 0.6 * (1.0 - q);
    w[TissueClass::Adi.index()] = 0.15 * (1.0 - q);
    w[TissueClass::Lym.index()] = 0.15 * (1.0 - q);
    w[TissueClass::Norm.index()] = 0.1 * (1.0 - q);
    w[TissueClass::Tum.index()] = q;
    let spacing_um: f64 = rng.random_range(50.0..140.0);
    let spacing = spacing_um / cfg.mpp;
    let mosaic = Mosaic {
        seed: rng.random(),
        spacing,
        warp: 0.5 * spacing,
        palette: Palette::uniform(w),
        tissue: None,
        tumours: Vec::new(),
        holes: Vec::new(),
        tumour_class: TissueClass::Tum,
        hole_class: TissueClass::Str,
        spread: d.spread,
        overlap: d.overlap,
    };
    let x0 = rng.random_range(0..1i64 << 24);
    let y0 = rng.random_range(0..1i64 << 24);
    (mosaic, stain, optics, rng.random(), x0, y0)
}

/// Renders patch `i` of `split` with its ground truth.
pub fn render_patch(cfg: &SynthConfig, split: BpqSplit, i: usize) -> (Image, Truth) {
    let (mosaic, stain, optics, seed, x0, y0) = scene_for(cfg, split, i);
    let p = cfg.breastpathq.patch as usize;
    let scene = Scene {
        layout: &mosaic,
        stain,
        optics,
        mpp: cfg.mpp as f32,
        seed,
    };
    scene.render_with_truth(x0, y0, p, p)
}

/// The ground truth of patch `i` without rendering its pixels.
pub fn patch_truth(cfg: &SynthConfig, split: BpqSplit, i: usize) -> Truth {
    let (mosaic, stain, optics, seed, x0, y0) = scene_for(cfg, split, i);
    let p = cfg.breastpathq.patch as usize;
    let scene = Scene {
        layout: &mosaic,
        stain,
        optics,
        mpp: cfg.mpp as f32,
        seed,
    };
    scene.truth(x0, y0, p, p)
}

/// A pathologist's score of a patch with true cellularity `y`: `y` plus independent Gaussian
/// error, clamped to [0, 1] and rounded to the rater's step (5 % by default).
pub fn rate(cfg: &SynthConfig, rater: u64, i: usize, y: f64) -> f64 {
    let b = &cfg.breastpathq;
    let mut rng = SampleRng::stream("synth-bpq-rater", cfg.seed, rater, i as u64);
    let v = (y + b.rater_sd as f64 * gauss(&mut rng) as f64).clamp(0.0, 1.0);
    if b.rater_step > 0.0 {
        let s = b.rater_step as f64;
        ((v / s).round() * s).clamp(0.0, 1.0)
    } else {
        v
    }
}

/// Writes `breastpathq/{train,validation,test}/{slide}_{rid}.tif` and the label files.
pub(crate) fn generate(run: &Run<'_>) -> Result<()> {
    let cfg = run.cfg;
    let total: usize = BpqSplit::ALL.iter().map(|s| s.count(cfg)).sum();
    run.progress.begin("breastpathq patches", total as u64);
    for split in BpqSplit::ALL {
        let dir = run.root.join(split.folder());
        mkdir(&dir)?;
        let n = split.count(cfg);
        let ys: Vec<f64> = (0..n)
            .into_par_iter()
            .map(|i| -> Result<f64> {
                let (slide, rid) = patch_id(cfg, split, i);
                let path = dir.join(format!("{slide}_{rid}.tif"));
                let p = (cfg.breastpathq.patch as u64).pow(2);
                let truth = if path.exists() {
                    run.skipped();
                    run.rendered(p);
                    patch_truth(cfg, split, i)
                } else {
                    let (img, truth) = render_patch(cfg, split, i);
                    save_image(&img, &path, cfg.mpp)?;
                    run.wrote(p);
                    truth
                };
                run.progress.advance(1);
                Ok(truth.cellularity())
            })
            .collect::<Result<_>>()?;
        let mut csv = String::new();
        if split == BpqSplit::Test {
            csv.push_str("slide,rid,pathologist1,pathologist2\n");
            for (i, &y) in ys.iter().enumerate() {
                let (slide, rid) = patch_id(cfg, split, i);
                let _ = writeln!(
                    csv,
                    "{slide},{rid},{:.4},{:.4}",
                    rate(cfg, 1, i, y),
                    rate(cfg, 2, i, y)
                );
            }
            let mut truth = String::from("slide,rid,y\n");
            for (i, &y) in ys.iter().enumerate() {
                let (slide, rid) = patch_id(cfg, split, i);
                let _ = writeln!(truth, "{slide},{rid},{y:.6}");
            }
            write_atomic(&run.root.join("test_truth.csv"), truth.as_bytes())?;
        } else {
            csv.push_str("slide,rid,y\n");
            for (i, &y) in ys.iter().enumerate() {
                let (slide, rid) = patch_id(cfg, split, i);
                let _ = writeln!(csv, "{slide},{rid},{y:.6}");
            }
        }
        write_atomic(&run.root.join(split.labels()), csv.as_bytes())?;
    }
    run.progress.end();
    Ok(())
}
