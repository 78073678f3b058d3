//! The loaders on histo-synth's `tiny` output: the layouts the generator writes are the ones the
//! readers read, end to end (Kather, BreastPathQ, Camelyon16 patches with annotations, and a
//! tile store cut from the synthetic pretraining slides by histo-wsi).

use std::sync::Arc;

use histo_datasets::info::{Kind, inspect};
use histo_datasets::{
    BreastPathQ, CamelyonLabels, CamelyonOptions, CamelyonPatches, ClassFolders, Dataset,
    RspConfig, RspSplit, RspValSplit, SplitConfig, SplitPlan, StoreTriplets, annotation_dir,
};
use histo_synth::{Scale, Selection, Silent, SynthConfig, generate};
use histo_tensor::Target;
use histo_wsi::{LevelSpec, RspRun, TissueMethod, collect_slides, tile_rsp};

#[test]
fn tiny_synthetic_datasets_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mut cfg = SynthConfig::preset(Scale::Tiny, 3);
    // Smaller slides than `tiny`'s, to keep the test quick; patch datasets as `tiny`.
    cfg.pretrain.width = 1024;
    cfg.pretrain.height = 1024;
    cfg.camelyon16.width = 1024;
    cfg.camelyon16.height = 1024;
    generate(&cfg, out, Selection::all(), false, &Silent).unwrap();

    // Kather: 9 classes, 224 px, train and test roots.
    let train = ClassFolders::kather(out.join("kather/train")).unwrap();
    assert!(train.problems().is_empty(), "{:?}", train.problems());
    assert_eq!(train.class_counts(), vec![cfg.kather.train_per_class; 9]);
    let test = ClassFolders::kather(out.join("kather/test")).unwrap();
    assert_eq!(test.len(), 9 * cfg.kather.test_per_class);
    let s = train.get(train.len() - 1).unwrap();
    assert_eq!((s.image.width(), s.image.height()), (224, 224));
    assert_eq!(s.target, Target::Class(8));
    let plan = SplitPlan::new(
        &train,
        &SplitConfig {
            stratified: true,
            label_fraction: 0.5,
            ..SplitConfig::default()
        },
    )
    .unwrap();
    assert_eq!(plan.val.len(), 9 * cfg.kather.train_per_class / 5);

    // BreastPathQ release layout, one and two raters.
    let bpq = BreastPathQ::open_release(out.join("breastpathq"), "train").unwrap();
    assert!(bpq.problems().is_empty(), "{:?}", bpq.problems());
    assert_eq!(bpq.len(), cfg.breastpathq.train);
    let s = bpq.get(0).unwrap();
    assert_eq!((s.image.width(), s.image.height()), (256, 256));
    assert!(matches!(s.target, Target::Score(v) if (0.0..=1.0).contains(&v)));
    let val = BreastPathQ::open_release(out.join("breastpathq"), "validation").unwrap();
    assert_eq!(val.len(), cfg.breastpathq.validation);
    let bpq_test = BreastPathQ::open_release(out.join("breastpathq"), "test").unwrap();
    assert!(bpq_test.has_two_raters());
    assert_eq!(bpq_test.len(), cfg.breastpathq.test);

    // Camelyon16 patch folders, labelled from the annotations as the original does.
    let root = out.join("camelyon16");
    for folder in [
        "PATCHES_TUMOR_TRAIN",
        "PATCHES_NORMAL_TRAIN",
        "PATCHES_TUMOR_VALID",
        "PATCHES_NORMAL_VALID",
    ] {
        let ann = annotation_dir(&root, folder).expect("synth writes annotations");
        let opts = CamelyonOptions {
            labels: CamelyonLabels::Annotations(ann),
            ..CamelyonOptions::default()
        };
        let ds = CamelyonPatches::open(root.join(folder), &opts).unwrap();
        assert!(ds.problems().is_empty(), "{folder}: {:?}", ds.problems());
        let folder_label =
            CamelyonPatches::open(root.join(folder), &CamelyonOptions::default()).unwrap();
        assert_eq!(ds.len(), folder_label.len());
        // Every patch of a tumour folder is centred in a tumour polygon and vice versa.
        let want = u32::from(folder.contains("TUMOR"));
        for i in 0..ds.len() {
            assert_eq!(ds.target(i).unwrap(), Target::Class(want), "{folder} {i}");
        }
        let s = ds.get(0).unwrap();
        assert_eq!((s.image.width(), s.image.height()), (256, 256));
    }
    let report = inspect(Kind::Camelyon16, &root).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    // A tile store cut from the pretraining slides, read as RSP triplets.
    let slides = collect_slides(&[out.join("pretrain")]).unwrap();
    assert_eq!(slides.len(), cfg.pretrain.slides);
    let store = dir.path().join("store");
    let mut run = RspRun::default();
    run.config.tile = 64;
    run.config.stride = 64;
    run.config.levels = [
        LevelSpec::Index(0),
        LevelSpec::Index(1),
        LevelSpec::Index(2),
    ];
    run.config.tissue = TissueMethod::v2();
    let summary = tile_rsp(&slides, &store, &run, &|_| {});
    let summary = summary.unwrap();
    let src = Arc::new(StoreTriplets::open(&store).unwrap());
    let complete = src
        .store()
        .slides()
        .iter()
        .filter(|e| e.accepted > 0)
        .count();
    assert_eq!(complete, 2, "both slides give triplets: {summary:?}");
    assert_eq!(src.tile_size(), 64);
    let split = RspSplit::new(
        src.clone(),
        &RspConfig {
            val_fraction: 0.5,
            ..RspConfig::default()
        },
    )
    .unwrap();
    assert_eq!(split.val_slides.len(), 1);
    let s = split.train.get(0, 0).unwrap();
    assert_eq!(s.inputs[0].width(), 64);
    let by_triplet = RspSplit::new(
        src,
        &RspConfig {
            val_split: RspValSplit::ByTriplet,
            ..RspConfig::default()
        },
    )
    .unwrap();
    assert_eq!(by_triplet.train.len() % 6, 0);
}
