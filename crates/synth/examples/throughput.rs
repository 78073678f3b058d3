//! Single-thread rendering throughput of slide tiles and patches:
//! `cargo run -p histo-synth --release --example throughput [TILES]`.

use std::time::Instant;

use histo_synth::kather::{KatherSplit, render_patch};
use histo_synth::{Scale, SynthConfig, TissueClass, camelyon, pretrain};

fn main() {
    let tiles: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    let cfg = SynthConfig::preset(Scale::Small, 42);
    let t = 256usize;

    let (mosaic, stain, optics, seed) = pretrain::model(&cfg, 0);
    let scene = histo_synth::Scene {
        layout: &mosaic,
        stain,
        optics,
        mpp: 0.5,
        seed,
    };
    // Tiles along the middle row of the slide (mostly tissue).
    let y = cfg.pretrain.height as i64 / 2;
    let start = Instant::now();
    for k in 0..tiles {
        std::hint::black_box(scene.render(k as i64 * t as i64, y, t, t));
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "pretrain slide tiles: {:.2} Mpixel/s ({tiles} tiles of {t}², {s:.2} s)",
        (tiles * t * t) as f64 / s / 1e6
    );

    let slides = camelyon::slides(&cfg);
    let m = camelyon::model(&cfg, &slides[0]);
    let scene = m.scene(&cfg);
    let y = cfg.camelyon16.height as i64 / 2;
    let start = Instant::now();
    for k in 0..tiles {
        std::hint::black_box(scene.render(k as i64 * t as i64, y, t, t));
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "camelyon16 slide tiles: {:.2} Mpixel/s ({tiles} tiles, {s:.2} s)",
        (tiles * t * t) as f64 / s / 1e6
    );

    let start = Instant::now();
    let mut n = 0;
    for class in TissueClass::ALL {
        for k in 0..tiles / 9 + 1 {
            std::hint::black_box(render_patch(&cfg, KatherSplit::Train, class, k));
            n += 1;
        }
    }
    let s = start.elapsed().as_secs_f64();
    let p = cfg.kather.patch as usize;
    println!(
        "kather patches: {:.2} Mpixel/s ({n} patches of {p}², {s:.2} s)",
        (n * p * p) as f64 / s / 1e6
    );
}
