//! `pretrain/`: unlabelled slides of colorectal-like tissue (all nine classes) for RSP.

use histo_tensor::SampleRng;
use rand::Rng;

use crate::config::SynthConfig;
use crate::io::mkdir;
use crate::layout::{Mosaic, Palette};
use crate::render::Scene;
use crate::run::Run;
use crate::slide::{draw_optics, draw_tissue, pyramid_options, write_slide};
use crate::stain::Stain;
use crate::{Result, TissueClass};

/// File name of pretraining slide `k`.
pub fn slide_name(k: usize) -> String {
    format!("slide_{:03}.svs", k + 1)
}

/// The layout, staining, optics and seed of pretraining slide `k`.
pub fn model(cfg: &SynthConfig, k: usize) -> (Mosaic, Stain, crate::Optics, u64) {
    let d = &cfg.difficulty;
    let p = &cfg.pretrain;
    let mut rng = SampleRng::stream("synth-pretrain-slide", cfg.seed, 0, k as u64);
    let stain = Stain::draw(&mut rng, d.stain_variation, 0.0);
    let optics = draw_optics(d, cfg.mpp, &mut rng);
    let pieces = rng.random_range(1..=2);
    let tissue = draw_tissue(p.width, p.height, pieces, 1.15, &mut rng);
    // Mostly solid tissue (tumour, stroma, lymphocytes, muscle), some glands, debris, mucus
    // and fat; muscle, fat and stroma towards the rim.
    let inner = [0.05, 0.02, 0.06, 0.15, 0.05, 0.14, 0.08, 0.22, 0.23];
    let mut edge = [0.0f32; 9];
    edge[TissueClass::Adi.index()] = 0.35;
    edge[TissueClass::Mus.index()] = 0.3;
    edge[TissueClass::Str.index()] = 0.25;
    edge[TissueClass::Muc.index()] = 0.1;
    let spacing = 350.0 / cfg.mpp;
    let mosaic = Mosaic {
        seed: rng.random(),
        spacing,
        warp: 0.5 * spacing,
        palette: Palette {
            inner,
            edge,
            edge_depth: 0.2,
        },
        tissue: Some(tissue),
        tumours: Vec::new(),
        holes: Vec::new(),
        tumour_class: TissueClass::Tum,
        hole_class: TissueClass::Str,
        spread: d.spread,
        overlap: d.overlap,
    };
    (mosaic, stain, optics, rng.random())
}

/// Writes `pretrain/slide_NNN.svs`, skipping slides that exist.
pub(crate) fn generate(run: &Run<'_>) -> Result<()> {
    let cfg = run.cfg;
    let p = &cfg.pretrain;
    mkdir(&run.root)?;
    let rows = p.height.div_ceil(u64::from(cfg.slide.tile));
    run.progress
        .begin("pretrain slides (tile rows)", rows * p.slides as u64);
    for k in 0..p.slides {
        let path = run.root.join(slide_name(k));
        if path.exists() {
            run.skipped();
            run.progress.advance(rows);
            continue;
        }
        let (mosaic, stain, optics, seed) = model(cfg, k);
        let scene = Scene {
            layout: &mosaic,
            stain,
            optics,
            mpp: cfg.mpp as f32,
            seed,
        };
        let opts = pyramid_options(
            cfg,
            p.width,
            p.height,
            &format!("histo-synth pretrain {}", k + 1),
        );
        let px = write_slide(&path, &scene, p.width, p.height, opts, &|| {
            run.progress.advance(1)
        })?;
        run.wrote(px);
    }
    run.progress.end();
    Ok(())
}
