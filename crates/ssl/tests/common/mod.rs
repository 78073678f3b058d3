//! Test fixtures: small tile stores written directly with histo-wsi's shard writer.

#![allow(dead_code)]

use std::path::Path;

use histo_ssl::PretrainConfig;
use histo_tensor::SampleRng;
use histo_wsi::sampler::TripletCoords;
use histo_wsi::store::{Manifest, ShardEntry, SlideEntry, SlideStatus, shard_name, write_shard};
use histo_wsi::{LevelSpec, RspConfig};
use rand::Rng;

/// Writes a store of `slides` slides with `per_slide` triplets of `tile`-pixel tiles whose
/// resolution shows in the colour: HR reddish, LR1 greenish, LR2 bluish, plus noise — an easy
/// RSP task whose order a tiny network learns in a few steps (if labels and inputs agree).
pub fn write_store(dir: &Path, slides: usize, per_slide: usize, tile: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let params = RspConfig {
        tile,
        stride: tile / 2,
        levels: [
            LevelSpec::Magnification(20.0),
            LevelSpec::Magnification(10.0),
            LevelSpec::Magnification(5.0),
        ],
        ..RspConfig::default()
    };
    let mut m = Manifest::new(tile, per_slide, serde_json::to_value(&params).unwrap());
    let n = tile * tile * 3;
    for s in 0..slides {
        let mut rng = SampleRng::new(99, s as u64, 0);
        let mut images = [
            vec![0u8; n * per_slide],
            vec![0u8; n * per_slide],
            vec![0u8; n * per_slide],
        ];
        for (r, img) in images.iter_mut().enumerate() {
            for px in img.chunks_exact_mut(3) {
                for (c, v) in px.iter_mut().enumerate() {
                    let base: i32 = if c == r { 170 } else { 90 };
                    *v = (base + rng.random_range(-60..60)).clamp(0, 255) as u8;
                }
            }
        }
        let coords: Vec<TripletCoords> = (0..per_slide as i64)
            .map(|i| TripletCoords {
                grid: (i, 0),
                lr2: (i * 100, 0),
                lr1: (i * 100, 0),
                hr: (i * 100, 0),
            })
            .collect();
        let file = shard_name(s, 0);
        write_shard(&dir.join(&file), s, tile, &coords, &images).unwrap();
        let mut e = SlideEntry::pending(s, Path::new(&format!("slide_{s:03}.svs")));
        e.status = SlideStatus::Complete;
        e.candidates = per_slide;
        e.accepted = per_slide;
        e.shards = vec![ShardEntry {
            file,
            count: per_slide,
        }];
        m.slides.push(e);
    }
    m.save(dir).unwrap();
}

/// A small, fast configuration for `tile`-pixel fixture stores.
pub fn small_config(tile: usize, epochs: u64) -> PretrainConfig {
    let mut c = PretrainConfig::preset("synthetic").unwrap();
    c.store.tile = tile;
    c.store.stride = None;
    c.model.width = 4;
    c.data.augment = histo_ssl::Augment::None;
    c.data.val_fraction = 0.25;
    c.data.val_max_triplets = 8;
    c.train.epochs = epochs;
    c.train.batch_size = 16;
    c.train.workers = 1;
    c.outputs.embedding_points = 24;
    c
}
