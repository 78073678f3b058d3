//! `kather/`: 224×224 patches in one folder per class, `train/` and `test/` from different
//! slides with a stain shift between them (NCT-CRC-HE-100K → CRC-VAL-HE-7K).

use histo_tensor::{Image, SampleRng};
use rand::Rng;
use rayon::prelude::*;

use crate::Result;
use crate::class::TissueClass;
use crate::config::SynthConfig;
use crate::io::{mkdir, save_image};
use crate::layout::{Layout, Region, Split, Uniform};
use crate::params::confusable;
use crate::render::Scene;
use crate::run::Run;
use crate::slide::draw_optics;
use crate::stain::Stain;

/// `train` or `test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KatherSplit {
    /// `kather/train`.
    Train,
    /// `kather/test`.
    Test,
}

impl KatherSplit {
    fn id(self) -> u64 {
        match self {
            Self::Train => 0,
            Self::Test => 1,
        }
    }

    /// Folder name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Test => "test",
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Train => "TR",
            Self::Test => "TE",
        }
    }
}

/// The file name of patch `k` of `class` (e.g. `TUM-TR007-00042.tif`: class, split and
/// slide, index).
pub fn patch_name(cfg: &SynthConfig, split: KatherSplit, class: TissueClass, k: usize) -> String {
    let slide = patch_slide(cfg, split, class, k);
    format!("{}-{}{:03}-{:05}.tif", class.name(), split.tag(), slide, k)
}

fn patch_rng(cfg: &SynthConfig, split: KatherSplit, class: TissueClass, k: usize) -> SampleRng {
    SampleRng::stream(
        "synth-kather-patch",
        cfg.seed,
        split.id() * 16 + class.index() as u64,
        k as u64,
    )
}

fn patch_slide(cfg: &SynthConfig, split: KatherSplit, class: TissueClass, k: usize) -> usize {
    let n = match split {
        KatherSplit::Train => cfg.kather.train_slides,
        KatherSplit::Test => cfg.kather.test_slides,
    };
    patch_rng(cfg, split, class, k).random_range(0..n.max(1))
}

/// Renders patch `k` of `class` in `split` (a pure function of the configuration and these).
pub fn render_patch(cfg: &SynthConfig, split: KatherSplit, class: TissueClass, k: usize) -> Image {
    let d = &cfg.difficulty;
    let p = cfg.kather.patch as usize;
    let mut rng = patch_rng(cfg, split, class, k);
    let slide: usize = rng.random_range(
        0..match split {
            KatherSplit::Train => cfg.kather.train_slides.max(1),
            KatherSplit::Test => cfg.kather.test_slides.max(1),
        },
    );
    let mut srng = SampleRng::stream("synth-kather-slide", cfg.seed, split.id(), slide as u64);
    let shift = if split == KatherSplit::Test {
        d.test_stain_shift
    } else {
        0.0
    };
    let stain = Stain::draw(&mut srng, d.stain_variation, shift);
    let optics = draw_optics(d, cfg.mpp, &mut srng);
    let main = Region::draw(class, d.spread, d.overlap, &mut rng);
    let x0 = rng.random_range(0..1i64 << 24);
    let y0 = rng.random_range(0..1i64 << 24);
    let uniform;
    let split_layout;
    let layout: &dyn Layout = if rng.random::<f32>() < d.mix {
        let table = confusable(class);
        let other = table[rng.random_range(0..table.len())].0;
        let minor = Region::draw(other, d.spread, d.overlap, &mut rng);
        let a = rng.random::<f64>() * std::f64::consts::TAU;
        let normal = (a.cos(), a.sin());
        let frac = rng.random_range(0.08..0.35);
        let c = (x0 as f64 + p as f64 / 2.0) * normal.0 + (y0 as f64 + p as f64 / 2.0) * normal.1;
        split_layout = Split {
            main,
            minor,
            normal,
            offset: c + (0.5 - frac) * p as f64 * 0.9,
            warp: (p as f64 * 0.08, p as f64 * 0.5),
            seed: rng.random(),
        };
        &split_layout
    } else {
        uniform = Uniform { region: main };
        &uniform
    };
    let scene = Scene {
        layout,
        stain,
        optics,
        mpp: cfg.mpp as f32,
        seed: rng.random(),
    };
    scene.render(x0, y0, p, p)
}

/// Writes `kather/{train,test}/{CLASS}/*.tif`, skipping files that exist.
pub(crate) fn generate(run: &Run<'_>) -> Result<()> {
    let cfg = run.cfg;
    let mut jobs = Vec::new();
    for (split, n) in [
        (KatherSplit::Train, cfg.kather.train_per_class),
        (KatherSplit::Test, cfg.kather.test_per_class),
    ] {
        for class in TissueClass::ALL {
            mkdir(&run.root.join(split.name()).join(class.name()))?;
            for k in 0..n {
                jobs.push((split, class, k));
            }
        }
    }
    run.progress.begin("kather patches", jobs.len() as u64);
    jobs.par_iter()
        .try_for_each(|&(split, class, k)| -> Result<()> {
            let path = run
                .root
                .join(split.name())
                .join(class.name())
                .join(patch_name(cfg, split, class, k));
            if path.exists() {
                run.skipped();
            } else {
                let img = render_patch(cfg, split, class, k);
                save_image(&img, &path, cfg.mpp)?;
                run.wrote((img.width() * img.height()) as u64);
            }
            run.progress.advance(1);
            Ok(())
        })?;
    run.progress.end();
    Ok(())
}
