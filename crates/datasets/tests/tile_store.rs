//! The RSP triplet dataset over a real tile store written with histo-wsi's shard writer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use histo_datasets::{ORDERINGS, RspConfig, RspSplit, StoreTriplets, TripletSource};
use histo_wsi::TripletCoords;
use histo_wsi::store::{Manifest, ShardEntry, SlideEntry, SlideStatus, shard_name, write_shard};

const T: usize = 4;

/// Tile k of triplet j of slide s is filled with [s, j, k].
fn tiles(slide: usize, n: usize) -> [Vec<u8>; 3] {
    [0u8, 1, 2].map(|k| {
        (0..n)
            .flat_map(|j| std::iter::repeat_n([slide as u8, j as u8, k], T * T).flatten())
            .collect()
    })
}

/// Slides 0..4 with `counts` triplets (slide 2 skipped), shards of at most 3 triplets.
fn store(dir: &Path, counts: &[usize]) {
    let mut m = Manifest::new(T, 3, serde_json::json!({"test": true}));
    for (s, &n) in counts.iter().enumerate() {
        let mut e = SlideEntry::pending(s, &dir.join(format!("slide{s}.svs")));
        if n == 0 {
            e.status = SlideStatus::Skipped;
            e.reason = Some("no tissue".into());
            m.slides.push(e);
            continue;
        }
        e.status = SlideStatus::Complete;
        let all = tiles(s, n);
        let per = T * T * 3;
        for (k, start) in (0..n).step_by(3).enumerate() {
            let end = (start + 3).min(n);
            let coords: Vec<TripletCoords> = (start..end)
                .map(|j| TripletCoords {
                    grid: (j as i64, 0),
                    lr2: (0, 0),
                    lr1: (0, 0),
                    hr: (0, 0),
                })
                .collect();
            let images = [0, 1, 2].map(|r| all[r][start * per..end * per].to_vec());
            let name = shard_name(s, k);
            write_shard(&dir.join(&name), s, T, &coords, &images).unwrap();
            e.shards.push(ShardEntry {
                file: name,
                count: end - start,
            });
        }
        e.accepted = n;
        m.slides.push(e);
    }
    m.save(dir).unwrap();
}

#[test]
fn store_triplets_know_their_slides_and_tiles() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), &[4, 2, 0, 7, 5]);
    let src = StoreTriplets::open(dir.path()).unwrap();
    assert_eq!(src.len(), 18);
    assert_eq!(src.tile_size(), T);
    let slides: Vec<usize> = (0..18).map(|i| src.slide(i).unwrap()).collect();
    assert_eq!(
        slides,
        [0, 0, 0, 0, 1, 1, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4]
    );
    assert_eq!(src.slide_name(3).unwrap(), "slide3");
    let [hr, lr1, lr2] = src.triplet(8).unwrap();
    assert_eq!(
        (hr.pixel(0, 0), lr1.pixel(3, 3), lr2.pixel(1, 2)),
        ([3, 2, 0], [3, 2, 1], [3, 2, 2])
    );
    assert!(src.triplet(18).is_err());
}

#[test]
fn slide_split_over_a_store_orders_tiles_by_label() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), &[4, 2, 0, 7, 5, 3]);
    let src = Arc::new(StoreTriplets::open(dir.path()).unwrap());
    let split = RspSplit::new(
        src.clone(),
        &RspConfig {
            val_fraction: 0.4,
            ..RspConfig::default()
        },
    )
    .unwrap();
    assert_eq!(split.val_slides.len(), 2); // floor(0.4 · 5 complete slides)
    let val: HashSet<usize> = split
        .val
        .triplets()
        .iter()
        .map(|&t| src.slide(t).unwrap())
        .collect();
    let train: HashSet<usize> = split
        .train
        .triplets()
        .iter()
        .map(|&t| src.slide(t).unwrap())
        .collect();
    assert!(val.is_disjoint(&train));
    assert_eq!(val.len() + train.len(), 5);
    for i in 0..split.train.len() {
        let s = split.train.get(0, i).unwrap();
        let o = ORDERINGS[s.label as usize];
        for (input, tile) in s.inputs.iter().zip(o) {
            assert_eq!(input.pixel(0, 0)[2] as usize, tile);
        }
        assert!(s.id.starts_with("slide"));
    }
}

#[test]
fn damaged_stores_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = StoreTriplets::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("manifest.json"), "{e}");
    store(dir.path(), &[4]);
    std::fs::write(dir.path().join(shard_name(0, 1)), b"truncated").unwrap();
    let e = StoreTriplets::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains(&shard_name(0, 1)), "{e}");
}

#[test]
fn info_reports_counts_and_skipped_slides() {
    let dir = tempfile::tempdir().unwrap();
    store(dir.path(), &[4, 0, 2]);
    let r =
        histo_datasets::info::inspect(histo_datasets::info::Kind::TileStore, dir.path()).unwrap();
    assert_eq!(r.parts[0].samples, 6);
    assert_eq!(r.parts[0].image_sizes[0].width, T as u32);
    assert_eq!(r.problems.len(), 1);
    assert!(
        r.problems[0].to_string().contains("skipped: no tissue"),
        "{}",
        r.problems[0]
    );
    let text = r.to_string();
    assert!(text.contains("2 of 3 slide(s) complete"), "{text}");
}
