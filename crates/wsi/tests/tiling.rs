//! RSP tiling end to end: exact grid and triplet coordinates on a written pyramid (hand-computed
//! for both geometries), the tile store round trip, resuming, bad slides in a batch, and the
//! real SVS at virtual 20x/10x/5x.

mod common;

use common::*;
use histo_wsi::sampler::{read_triplet, triplet_coords};
use histo_wsi::{
    Acceptance, BackendKind, Geometry, LevelSpec, Progress, RspConfig, RspRun, SlideStatus,
    TileStore, TissueMethod, plan_slide, tile_rsp,
};

/// 1024x1024 level 0, levels 1024/512/256/128 (tile 64). Pink over level-0 columns [0, 600),
/// i.e. LR2 (level 2, ds 4) columns [0, 150). Tile 64, stride 32 on LR2 (256x256):
/// grid = range(32, 256 - 1 - 64 = 191, 32) = 32, 64, 96, 128, 160 in x and y.
/// A tile [x, x + 64) is all pink iff x + 64 <= 150: x = 32, 64 (x = 96 has 10 white columns
/// of 64 = 15.6 % > 5 %), so v1 accepts 2 per row, 10 in all.
fn tissue_pyramid(dir: &std::path::Path) -> std::path::PathBuf {
    pyramid(
        dir,
        "half.tif",
        &half_tissue(1024, 1024, 600),
        64,
        Default::default(),
    )
}

fn cfg(geometry: Geometry) -> RspConfig {
    RspConfig {
        tile: 64,
        stride: 32,
        geometry,
        ..Default::default()
    }
}

#[test]
fn grid_and_coordinates_are_the_spec_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let p = tissue_pyramid(dir.path());
    for b in backends() {
        let s = open(&p, b);
        for (geometry, tissue) in [
            (Geometry::Corner, TissueMethod::v1()),
            (Geometry::Concentric, TissueMethod::v2()),
        ] {
            let plan = plan_slide(
                &s,
                &RspConfig {
                    tissue,
                    ..cfg(geometry)
                },
            )
            .unwrap();
            assert_eq!(plan.candidates, 25, "{b}");
            let grid: Vec<(i64, i64)> = plan.triplets.iter().map(|t| t.grid).collect();
            // v1 needs 95 % tissue: x = 32, 64; v2 needs 75 %: x = 96 too (54 of 64 columns
            // pink = 84 %), x = 128 has 22 of 64 (34 %).
            let xs: &[i64] = if geometry == Geometry::Corner {
                &[32, 64]
            } else {
                &[32, 64, 96]
            };
            let want: Vec<(i64, i64)> = [32, 64, 96, 128, 160]
                .iter()
                .flat_map(|&y| xs.iter().map(move |&x| (x, y)))
                .collect();
            assert_eq!(grid, want, "{b} {geometry:?}");
            // Hand-computed for grid (64, 96), d = 1, 2, 4, T = 64:
            // LR2 = (256, 384); c = (4*(64+32), 4*(96+32)) = (384, 512)
            let t = *plan.triplets.iter().find(|t| t.grid == (64, 96)).unwrap();
            assert_eq!(t.lr2, (256, 384));
            match geometry {
                // corner: LR1 = int(384/2)*2 = 384, HR = 384 (y: 512)
                Geometry::Corner => {
                    assert_eq!(t.lr1, (384, 512));
                    assert_eq!(t.hr, (384, 512));
                }
                // concentric: LR1 = (192 - 32) * 2 = 320, y (256 - 32) * 2 = 448;
                // HR = 384 - 32 = 352, y 512 - 32 = 480
                Geometry::Concentric => {
                    assert_eq!(t.lr1, (320, 448));
                    assert_eq!(t.hr, (352, 480));
                }
            }
            for t in &plan.triplets {
                assert_eq!(
                    *t,
                    triplet_coords(t.grid.0, t.grid.1, [1.0, 2.0, 4.0], 64, geometry)
                );
            }
            // tiles are read at those coordinates
            let tr = read_triplet(&s, &plan.levels, &t, 64).unwrap();
            assert_eq!(tr.hr, s.read_region(t.hr.0, t.hr.1, 0, 64, 64).unwrap());
            assert_eq!(tr.lr1, s.read_region(t.lr1.0, t.lr1.1, 1, 64, 64).unwrap());
            assert_eq!(tr.lr2, s.read_region(t.lr2.0, t.lr2.1, 2, 64, 64).unwrap());
        }
    }
}

#[test]
fn store_round_trip_resume_and_bad_slides() {
    let dir = tempfile::tempdir().unwrap();
    let good = tissue_pyramid(dir.path());
    let blank = pyramid(
        dir.path(),
        "blank.tif",
        &half_tissue(512, 512, 0),
        64,
        Default::default(),
    );
    let broken = dir.path().join("broken.tif");
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let two_levels = pyramid(
        dir.path(),
        "two.tif",
        &half_tissue(512, 512, 300),
        64,
        histo_wsi::PyramidOptions {
            max_levels: Some(2),
            ..Default::default()
        },
    );
    let out = dir.path().join("store");
    let run = RspRun {
        config: cfg(Geometry::Concentric),
        shard_triplets: 4, // 10 triplets -> shards of 4, 4, 2
        ..Default::default()
    };
    let slides = vec![
        good.clone(),
        blank.clone(),
        broken.clone(),
        two_levels.clone(),
    ];
    let events = std::sync::Mutex::new(Vec::new());
    let summary = tile_rsp(&slides, &out, &run, &|p: &Progress| {
        events.lock().unwrap().push(format!("{p:?}"))
    })
    .unwrap();
    assert_eq!(summary.used, 1);
    assert_eq!(summary.triplets, 10);
    assert_eq!(summary.store_total, 10);
    assert_eq!(summary.skipped.len(), 2, "{:?}", summary.skipped); // blank: no tissue; two: no level 2
    assert_eq!(summary.failed.len(), 1, "{:?}", summary.failed);
    assert!(
        summary.failed[0].1.contains("broken.tif"),
        "{:?}",
        summary.failed
    );
    assert!(
        summary
            .skipped
            .iter()
            .any(|(p, r)| p.ends_with("blank.tif") && r.contains("no tissue"))
    );
    assert!(
        summary
            .skipped
            .iter()
            .any(|(p, r)| p.ends_with("two.tif") && r.contains("no level 2"))
    );
    assert!(!events.lock().unwrap().is_empty());

    let store = TileStore::open(&out).unwrap();
    assert_eq!(store.len(), 10);
    assert_eq!(store.tile_size(), 64);
    assert_eq!(store.slides().len(), 4);
    assert_eq!(store.slides()[0].status, SlideStatus::Complete);
    assert_eq!(store.slides()[0].shards.len(), 3);
    assert_eq!(store.slides()[2].status, SlideStatus::Failed);
    let s = open(&good, BackendKind::Rust);
    let plan = plan_slide(&s, &run.config).unwrap();
    for i in 0..store.len() {
        let t = store.get(i).unwrap();
        assert_eq!(t.slide, 0);
        assert_eq!(t.coords, plan.triplets[i]);
        assert_eq!((t.x, t.y), plan.triplets[i].lr2);
        let want = read_triplet(&s, &plan.levels, &plan.triplets[i], 64).unwrap();
        assert_eq!(
            (t.hr, t.lr1, t.lr2),
            (want.hr, want.lr1, want.lr2),
            "triplet {i}"
        );
    }
    assert!(store.get(10).is_err());

    // Re-running skips the complete slide and retries the failed one; nothing changes.
    let before = std::fs::read(out.join("s00000-0000.safetensors")).unwrap();
    let again = tile_rsp(&slides, &out, &run, &|_: &Progress| {}).unwrap();
    assert_eq!(again.already_complete, 1);
    assert_eq!(again.used, 0);
    assert_eq!(again.triplets, 0);
    assert_eq!(again.failed.len(), 1);
    assert_eq!(again.store_total, 10);
    assert_eq!(
        std::fs::read(out.join("s00000-0000.safetensors")).unwrap(),
        before
    );

    // Other parameters on the same store are refused.
    let other = RspRun {
        config: RspConfig {
            stride: 64,
            ..run.config.clone()
        },
        ..run.clone()
    };
    let e = tile_rsp(&slides, &out, &other, &|_: &Progress| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("other parameters"), "{e}");

    // Damaged stores: error naming the file.
    std::fs::write(out.join("s00000-0001.safetensors"), b"garbage").unwrap();
    let e = TileStore::open(&out).unwrap_err().to_string();
    assert!(e.contains("s00000-0001.safetensors"), "{e}");
    std::fs::remove_file(out.join("s00000-0002.safetensors")).unwrap();
    std::fs::write(out.join("manifest.json"), b"{ not json").unwrap();
    let e = TileStore::open(&out).unwrap_err().to_string();
    assert!(e.contains("manifest.json"), "{e}");
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let e = TileStore::open(&out).unwrap_err().to_string();
    assert!(e.contains("manifest.json"), "{e}");
}

#[test]
fn v1_acceptance_rule_skips_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let p = tissue_pyramid(dir.path()); // no mpp recorded
    let s = open(&p, BackendKind::Rust);
    let e = plan_slide(
        &s,
        &RspConfig {
            acceptance: Acceptance::V1,
            ..cfg(Geometry::Corner)
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mpp"), "{e}");
}

#[test]
fn real_svs_at_virtual_20_10_5x_gives_triplets() {
    for b in backends() {
        let s = open(&svs(), b);
        let cfg = RspConfig {
            tile: 256,
            stride: 64,
            levels: [
                LevelSpec::Magnification(20.0),
                LevelSpec::Magnification(10.0),
                LevelSpec::Magnification(5.0),
            ],
            geometry: Geometry::Concentric,
            tissue: TissueMethod::v2(),
            acceptance: Acceptance::Any,
        };
        let plan = plan_slide(&s, &cfg).unwrap();
        assert_eq!(plan.levels[2].downsample, 4.0);
        assert_eq!((plan.levels[2].width, plan.levels[2].height), (555, 741));
        // x: range(64, 555 - 257 = 298, 64) -> 4 values; y: range(64, 484, 64) -> 7 values
        assert_eq!(plan.candidates, 28, "{b}");
        assert!(!plan.triplets.is_empty(), "{b}: no triplet");
        eprintln!(
            "{b}: {} of {} candidates accepted",
            plan.triplets.len(),
            plan.candidates
        );
        let t = read_triplet(&s, &plan.levels, &plan.triplets[0], 256).unwrap();
        assert_eq!(
            (t.hr.width(), t.lr1.width(), t.lr2.width()),
            (256, 256, 256)
        );
    }
}

/// A slide whose level-0 tiles are damaged plans fine (tissue comes from level 2) but fails
/// while its triplets stream into a shard: it is recorded as failed, and neither the shard nor
/// its temporary file is left in the store (nor the temporaries of an earlier, killed run).
#[test]
fn damaged_tiles_fail_the_slide_and_leave_no_partial_shard() {
    let dir = tempfile::tempdir().unwrap();
    let good = tissue_pyramid(dir.path());
    let mut bytes = std::fs::read(&good).unwrap();
    // garble the data of every level-0 tile (the first directory)
    let mut dec = tiff::decoder::Decoder::new(std::io::Cursor::new(&bytes)).unwrap();
    let offsets = dec.get_tag_u64_vec(tiff::tags::Tag::TileOffsets).unwrap();
    let counts = dec
        .get_tag_u64_vec(tiff::tags::Tag::TileByteCounts)
        .unwrap();
    for (o, c) in offsets.into_iter().zip(counts) {
        for b in &mut bytes[o as usize..(o + c) as usize] {
            *b = 0x5A;
        }
    }
    let bad = dir.path().join("damaged.tif");
    std::fs::write(&bad, &bytes).unwrap();
    let run = RspRun {
        config: cfg(Geometry::Concentric),
        ..Default::default()
    };
    let plan = plan_slide(&open(&bad, BackendKind::Rust), &run.config).unwrap();
    assert_eq!(plan.triplets.len(), 10);
    // what a killed run leaves behind: removed when the store is next written
    let out = dir.path().join("store");
    std::fs::create_dir_all(&out).unwrap();
    for stale in ["s00000-0000.safetensors.4242.tmp", "manifest.json.4242.tmp"] {
        std::fs::write(out.join(stale), b"partial").unwrap();
    }
    std::fs::write(out.join("notes.tmp"), b"not ours").unwrap();
    let summary = tile_rsp(&[bad], &out, &run, &|_: &Progress| {}).unwrap();
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert!(
        summary.failed[0].1.contains("damaged.tif") && summary.failed[0].1.contains("tile"),
        "{:?}",
        summary.failed
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["manifest.json", "notes.tmp"]);
    let store = TileStore::open(&out).unwrap();
    assert_eq!(store.len(), 0);
    assert_eq!(store.slides()[0].status, SlideStatus::Failed);
}
