//! Per-sample read times of the datasets, on the files `benches/reference.py` writes and times
//! with the original's Python calls (PIL, h5py), plus the RSP tile store and the decode cache.
//!
//! ```sh
//! /work/venvs/datasets/bin/python crates/datasets/benches/reference.py target/histo-datasets-bench
//! cargo bench -p histo-datasets     # HISTO_DATASETS_BENCH=DIR to read another folder
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use histo_datasets::{
    BreastPathQH5, Cached, CamelyonOptions, CamelyonPatches, ClassFolders, Dataset, RspConfig,
    RspSplit, RspValSplit, StoreTriplets,
};
use histo_wsi::TripletCoords;
use histo_wsi::store::{Manifest, ShardEntry, SlideEntry, SlideStatus, shard_name, write_shard};

fn per_sample<D: Dataset>(c: &mut Criterion, name: &str, ds: &D) {
    let n = ds.len();
    c.bench_function(&format!("{name} (all {n} samples)"), |b| {
        b.iter(|| {
            for i in 0..n {
                black_box(ds.get(i).unwrap());
            }
        })
    });
}

/// A one-slide store of `n` triplets of 256² tiles.
fn store(dir: &std::path::Path, n: usize) {
    let t = 256;
    let mut m = Manifest::new(t, n, serde_json::json!({}));
    let mut e = SlideEntry::pending(0, &dir.join("slide.svs"));
    e.status = SlideStatus::Complete;
    let images = [0u8, 1, 2].map(|k| {
        (0..n * t * t * 3)
            .map(|i| (i as u8).wrapping_mul(31) ^ k)
            .collect::<Vec<u8>>()
    });
    let coords = vec![
        TripletCoords {
            grid: (0, 0),
            lr2: (0, 0),
            lr1: (0, 0),
            hr: (0, 0)
        };
        n
    ];
    write_shard(&dir.join(shard_name(0, 0)), 0, t, &coords, &images).unwrap();
    e.shards.push(ShardEntry {
        file: shard_name(0, 0),
        count: n,
    });
    m.slides.push(e);
    m.save(dir).unwrap();
}

fn benches(c: &mut Criterion) {
    let dir = PathBuf::from(std::env::var("HISTO_DATASETS_BENCH").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/histo-datasets-bench"
        )
        .into()
    }));
    if dir.join("bpq.h5").exists() {
        let kather = ClassFolders::kather(dir.join("kather")).unwrap();
        per_sample(c, "kather_tiff_224", &kather);
        let cam = CamelyonPatches::open(
            dir.join("camelyon/PATCHES_TUMOR_TRAIN"),
            &CamelyonOptions::default(),
        )
        .unwrap();
        per_sample(c, "camelyon_png_256", &cam);
        let h5 = BreastPathQH5::open_files(&[dir.join("bpq.h5")]).unwrap();
        per_sample(c, "bpq_h5_gzip_256", &h5);
        let cached = Cached::new(ClassFolders::kather(dir.join("kather")).unwrap(), 64 << 20);
        per_sample(c, "kather_tiff_224 cached (warm)", &cached);
    } else {
        eprintln!(
            "{} has no data: run benches/reference.py first (see this file's header); \
             only the tile store is benchmarked",
            dir.display()
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    store(tmp.path(), 64);
    let src = Arc::new(StoreTriplets::open(tmp.path()).unwrap());
    let cfg = RspConfig {
        val_split: RspValSplit::ByTriplet,
        val_fraction: 0.0,
        ..RspConfig::default()
    };
    let split = RspSplit::new(src, &cfg).unwrap();
    let n = split.train.len();
    c.bench_function(&format!("rsp_store_triplet_256 (all {n} samples)"), |b| {
        b.iter(|| {
            for i in 0..n {
                black_box(split.train.get(0, i).unwrap());
            }
        })
    });
}

criterion_group! {
    name = read;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(read);
