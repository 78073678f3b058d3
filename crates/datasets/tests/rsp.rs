use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use histo_datasets::{ORDERINGS, Orderings, RspConfig, RspSplit, RspValSplit, TripletSource};
use histo_tensor::Image;

/// Triplets in memory: tile k of triplet t is filled with [t, k, slide].
struct Mem {
    slides: Vec<usize>,
}

impl TripletSource for Mem {
    fn len(&self) -> usize {
        self.slides.len()
    }
    fn slide(&self, i: usize) -> histo_datasets::Result<usize> {
        Ok(self.slides[i])
    }
    fn slide_name(&self, s: usize) -> histo_datasets::Result<String> {
        Ok(format!("slide{s}"))
    }
    fn triplet(&self, i: usize) -> histo_datasets::Result<[Image; 3]> {
        let s = self.slides[i] as u8;
        Ok([0u8, 1, 2].map(|k| Image::filled(2, 2, [i as u8, k, s])))
    }
}

/// 10 slides with 1..=10 triplets each (55 triplets).
fn source() -> Arc<Mem> {
    Arc::new(Mem {
        slides: (0..10)
            .flat_map(|s| std::iter::repeat_n(s, s + 1))
            .collect(),
    })
}

#[test]
fn orderings_match_the_original_table() {
    // label: (input1, input2, input3) with 0 = HR, 1 = LR1, 2 = LR2 (spec §2.1).
    assert_eq!(
        ORDERINGS,
        [
            [0, 1, 2],
            [0, 2, 1],
            [1, 2, 0],
            [1, 0, 2],
            [2, 0, 1],
            [2, 1, 0]
        ]
    );
    let set: HashSet<_> = ORDERINGS.iter().collect();
    assert_eq!(set.len(), 6);
}

#[test]
fn all_orders_gives_six_samples_per_triplet_with_the_right_tiles() {
    let src = source();
    let cfg = RspConfig {
        val_split: RspValSplit::ByTriplet,
        ..RspConfig::default()
    };
    let split = RspSplit::new(src.clone(), &cfg).unwrap();
    assert_eq!(split.val.triplets().len(), 11); // floor(0.2 · 55)
    assert_eq!(split.train.len(), 6 * 44);
    assert_eq!(split.val.len(), 6 * 11);
    let mut per_triplet: HashMap<usize, HashSet<u32>> = HashMap::new();
    for i in 0..split.train.len() {
        let s = split.train.get(3, i).unwrap();
        let o = ORDERINGS[s.label as usize];
        for (input, tile) in s.inputs.iter().zip(o) {
            // input k is tile o[k] of this triplet
            assert_eq!(
                input.pixel(0, 0),
                [s.triplet as u8, tile as u8, src.slides[s.triplet] as u8]
            );
        }
        per_triplet.entry(s.triplet).or_default().insert(s.label);
        assert_eq!(
            s.label,
            split.train.label(0, i).unwrap(),
            "fixed orders do not change per epoch"
        );
    }
    assert!(per_triplet.values().all(|l| l.len() == 6));
    let train: HashSet<usize> = split.train.triplets().into_iter().collect();
    assert!(
        split.val.triplets().iter().all(|t| !train.contains(t)),
        "triplets disjoint"
    );
    assert_eq!(
        split.train.get(0, 0).unwrap().id,
        format!(
            "slide{}/{}",
            src.slides[split.train.get(0, 0).unwrap().triplet],
            split.train.get(0, 0).unwrap().triplet
        )
    );
}

#[test]
fn one_random_order_per_epoch_is_seeded_and_uniform() {
    let src = Arc::new(Mem {
        slides: vec![0; 3000],
    });
    let cfg = RspConfig {
        orderings: Orderings::OneRandom,
        val_split: RspValSplit::ByTriplet,
        val_fraction: 0.0,
        seed: 9,
    };
    let a = RspSplit::new(src.clone(), &cfg).unwrap();
    let b = RspSplit::new(src.clone(), &cfg).unwrap();
    assert_eq!(a.train.len(), 3000);
    let labels = |s: &RspSplit<Mem>, e| {
        (0..3000)
            .map(|i| s.train.label(e, i).unwrap())
            .collect::<Vec<_>>()
    };
    let (e0, e1) = (labels(&a, 0), labels(&a, 1));
    assert_eq!(e0, labels(&b, 0), "same seed and epoch, same orders");
    assert_ne!(e0, e1, "orders change with the epoch");
    let mut hist = [0usize; 6];
    for &l in &e0 {
        hist[l as usize] += 1;
    }
    // Each order has p = 1/6: mean 500, sd ≈ 20.4; allow 5 sd.
    assert!(
        hist.iter().all(|&h| (h as f64 - 500.0).abs() < 102.0),
        "{hist:?}"
    );
    let s = a.train.get(1, 17).unwrap();
    assert_eq!(s.label, e1[17]);
}

#[test]
fn slide_split_holds_out_whole_slides() {
    let src = source();
    let split = RspSplit::new(src.clone(), &RspConfig::default()).unwrap();
    assert_eq!(split.val_slides.len(), 2); // floor(0.2 · 10)
    let val_slides: HashSet<usize> = split
        .val
        .triplets()
        .iter()
        .map(|&t| src.slides[t])
        .collect();
    let train_slides: HashSet<usize> = split
        .train
        .triplets()
        .iter()
        .map(|&t| src.slides[t])
        .collect();
    assert!(val_slides.is_disjoint(&train_slides));
    assert_eq!(val_slides, split.val_slides.iter().copied().collect());
    assert_eq!(
        split.train.triplets().len() + split.val.triplets().len(),
        55
    );
    let again = RspSplit::new(src.clone(), &RspConfig::default()).unwrap();
    assert_eq!(again.val_slides, split.val_slides, "same seed, same slides");
    let differs = (1..20).any(|seed| {
        let o = RspSplit::new(
            src.clone(),
            &RspConfig {
                seed,
                ..RspConfig::default()
            },
        )
        .unwrap();
        o.val_slides != split.val_slides
    });
    assert!(differs, "other seeds hold out other slides");
    // One slide cannot be split by slide.
    let one = Arc::new(Mem {
        slides: vec![0; 10],
    });
    let e = RspSplit::new(one, &RspConfig::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("split by triplet"), "{e}");
}

#[test]
fn original_permutation_split_shares_tiles_between_sets() {
    let src = source();
    let cfg = RspConfig {
        val_split: RspValSplit::OriginalPermutations,
        ..RspConfig::default()
    };
    let split = RspSplit::new(src.clone(), &cfg).unwrap();
    assert_eq!(split.val.len(), 66); // floor(0.2 · 330)
    assert_eq!(split.train.len(), 330 - 66);
    let train: HashSet<usize> = split.train.triplets().into_iter().collect();
    assert!(
        split.val.triplets().iter().any(|t| train.contains(t)),
        "B6: shared triplets"
    );
    let bad = RspConfig {
        orderings: Orderings::OneRandom,
        ..cfg
    };
    assert!(RspSplit::new(src, &bad).is_err());
}

#[test]
fn bad_configs_are_errors() {
    let src = source();
    let e = RspSplit::new(
        src.clone(),
        &RspConfig {
            val_fraction: 1.0,
            ..RspConfig::default()
        },
    );
    assert!(e.err().unwrap().to_string().contains("validation fraction"));
    let empty = Arc::new(Mem { slides: vec![] });
    assert!(RspSplit::new(empty, &RspConfig::default()).is_err());
    let split = RspSplit::new(src, &RspConfig::default()).unwrap();
    assert!(split.train.get(0, 10_000).is_err());
}
