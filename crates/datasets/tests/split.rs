use std::collections::HashSet;

use histo_datasets::{Dataset, SPLIT_FILE, Sample, Sampling, SplitConfig, SplitPlan};
use histo_tensor::{Image, Target};

/// An in-memory dataset: labels only, 1×1 images.
struct Labels(Vec<Target>);

impl Dataset for Labels {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, i: usize) -> histo_datasets::Result<Sample> {
        Ok(Sample {
            image: Image::new(1, 1),
            target: self.target(i)?,
            id: self.id(i)?,
        })
    }
    fn target(&self, i: usize) -> histo_datasets::Result<Target> {
        self.0.get(i).copied().ok_or(histo_datasets::Error::Index {
            index: i,
            len: self.0.len(),
        })
    }
    fn id(&self, i: usize) -> histo_datasets::Result<String> {
        Ok(format!("s{i}"))
    }
}

fn classes(counts: &[usize]) -> Labels {
    Labels(
        counts
            .iter()
            .enumerate()
            .flat_map(|(c, &n)| std::iter::repeat_n(Target::Class(c as u32), n))
            .collect(),
    )
}

fn cfg(seed: u64, f: f64) -> SplitConfig {
    SplitConfig {
        seed,
        label_fraction: f,
        ..SplitConfig::default()
    }
}

#[test]
fn split_is_a_seeded_partition() {
    let ds = classes(&[1000]);
    let a = SplitPlan::new(&ds, &cfg(42, 0.1)).unwrap();
    assert_eq!(
        a,
        SplitPlan::new(&ds, &cfg(42, 0.1)).unwrap(),
        "same seed, same plan"
    );
    let b = SplitPlan::new(&ds, &cfg(43, 0.1)).unwrap();
    assert_ne!(a.val, b.val, "different seed, different split");
    assert_ne!(a.labelled, b.labelled);
    assert_eq!(a.val.len(), 200);
    assert_eq!(a.train.len(), 800);
    let all: HashSet<usize> = a.train.iter().chain(&a.val).copied().collect();
    assert_eq!(
        all.len(),
        1000,
        "train and val are disjoint and cover everything"
    );
    assert_eq!(
        a.unlabelled, a.train,
        "unlabelled pool = all training samples"
    );
    assert_eq!(a.labelled.len(), 80);
    assert!(a.labelled.iter().all(|i| a.train.binary_search(i).is_ok()));
    assert_eq!(a.labelled_ids[0], format!("s{}", a.labelled[0]));
}

#[test]
fn without_replacement_has_no_duplicates_and_subsets_are_nested() {
    let ds = classes(&[537]);
    let mut prev: Option<HashSet<usize>> = None;
    for f in [0.1, 0.25, 0.5, 1.0] {
        let p = SplitPlan::new(&ds, &cfg(7, f)).unwrap();
        let set: HashSet<usize> = p.labelled.iter().copied().collect();
        assert_eq!(set.len(), p.labelled.len(), "f = {f}: duplicates");
        assert_eq!(
            p.labelled.len(),
            (f * p.train.len() as f64 + 1e-9).floor() as usize
        );
        if let Some(prev) = prev {
            assert!(prev.is_subset(&set), "f = {f}: not nested");
        }
        prev = Some(set);
    }
    let full = SplitPlan::new(&ds, &cfg(7, 1.0)).unwrap();
    assert_eq!(full.labelled, full.train);
}

#[test]
fn original_mode_draws_with_replacement() {
    let ds = classes(&[1000]);
    let c = SplitConfig {
        sampling: Sampling::Original,
        ..cfg(1, 1.0)
    };
    let p = SplitPlan::new(&ds, &c).unwrap();
    assert_eq!(p.labelled.len(), 800);
    let unique = p.labelled.iter().collect::<HashSet<_>>().len();
    // Expected unique fraction 1 − (1 − 1/n)^n ≈ 0.632; sd ≈ 0.011 at n = 800.
    let frac = unique as f64 / 800.0;
    assert!((frac - 0.632).abs() < 0.05, "{frac}");
    assert!(p.labelled.iter().all(|i| p.train.binary_search(i).is_ok()));
}

#[test]
fn stratified_keeps_class_proportions() {
    let ds = classes(&[500, 300, 200]);
    let c = SplitConfig {
        stratified: true,
        ..cfg(3, 0.1)
    };
    let p = SplitPlan::new(&ds, &c).unwrap();
    let count = |idx: &[usize], class: u32| {
        idx.iter()
            .filter(|&&i| ds.0[i] == Target::Class(class))
            .count()
    };
    assert_eq!(
        [count(&p.val, 0), count(&p.val, 1), count(&p.val, 2)],
        [100, 60, 40]
    );
    assert_eq!(
        [
            count(&p.labelled, 0),
            count(&p.labelled, 1),
            count(&p.labelled, 2)
        ],
        [40, 24, 16]
    );
    // Regression targets cannot be stratified.
    let scores = Labels(vec![Target::Score(0.5); 10]);
    let e = SplitPlan::new(&scores, &c).unwrap_err().to_string();
    assert!(e.contains("class targets"), "{e}");
}

#[test]
fn bad_fractions_are_errors() {
    let ds = classes(&[10]);
    for f in [0.0, -0.1, 1.5, f64::NAN] {
        let e = SplitPlan::new(&ds, &cfg(0, f)).unwrap_err().to_string();
        assert!(e.contains("label fraction"), "{f}: {e}");
    }
    let e = SplitPlan::new(
        &ds,
        &SplitConfig {
            val_fraction: 1.0,
            ..cfg(0, 0.5)
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("validation fraction"), "{e}");
    let e = SplitPlan::new(&ds, &cfg(0, 0.1)).unwrap_err().to_string();
    assert!(e.contains("selects no sample"), "{e}");
    assert!(SplitPlan::new(&classes(&[]), &cfg(0, 0.5)).is_err());
    // No validation split: everything trains.
    let p = SplitPlan::new(
        &ds,
        &SplitConfig {
            val_fraction: 0.0,
            ..cfg(0, 0.5)
        },
    )
    .unwrap();
    assert_eq!((p.train.len(), p.val.len(), p.labelled.len()), (10, 0, 5));
}

#[test]
fn plan_is_saved_reloaded_and_checked_against_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(SPLIT_FILE);
    let ds = classes(&[40, 60]);
    let c = cfg(5, 0.25);
    let p = SplitPlan::load_or_create(&path, &ds, &c).unwrap();
    assert!(path.exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(json["config"]["sampling"], "without_replacement");
    assert_eq!(json["labelled"].as_array().unwrap().len(), 20);
    assert_eq!(SplitPlan::load(&path).unwrap(), p);
    assert_eq!(SplitPlan::load_or_create(&path, &ds, &c).unwrap(), p);
    // Another config or another dataset is refused, not silently replaced.
    let e = SplitPlan::load_or_create(&path, &ds, &cfg(6, 0.25))
        .unwrap_err()
        .to_string();
    assert!(e.contains("split.json"), "{e}");
    let other = classes(&[60, 40]);
    let e = p.verify(&other).unwrap_err().to_string();
    assert!(e.contains("another dataset"), "{e}");
    assert!(p.verify(&classes(&[40, 61])).is_err());
    std::fs::write(&path, "{ not json").unwrap();
    let e = SplitPlan::load(&path).unwrap_err().to_string();
    assert!(e.contains("split.json") && e.contains("bad split"), "{e}");
}
