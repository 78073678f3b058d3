//! The `tiny` scale end to end: every dataset in its real layout, readable by histo-wsi and the
//! image codecs, consistent with its labels, and resumable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use histo_synth::camelyon::{self, CamSplit};
use histo_synth::{Scale, Selection, Silent, SynthConfig, TissueClass, generate};
use histo_tensor::Image;
use histo_wsi::{Annotations, Slide};

fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn csv(path: &Path) -> (String, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap().to_string();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

#[test]
fn tiny_writes_every_dataset_in_the_real_layouts_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let cfg = SynthConfig::preset(Scale::Tiny, 42);
    let report = generate(&cfg, out, Selection::all(), true, &Silent).unwrap();
    assert_eq!(report.datasets.len(), 4);
    assert!(report.notes.is_empty(), "{:?}", report.notes);

    // Kather: class folders of 224×224 TIFFs, train and test.
    for (split, n) in [
        ("train", cfg.kather.train_per_class),
        ("test", cfg.kather.test_per_class),
    ] {
        for class in TissueClass::ALL {
            let d = out.join("kather").join(split).join(class.name());
            let names: Vec<_> = std::fs::read_dir(&d)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert_eq!(names.len(), n, "{}", d.display());
            for name in names {
                let name = name.to_string_lossy().into_owned();
                assert!(
                    name.starts_with(&format!("{}-", class.name())) && name.ends_with(".tif"),
                    "{name}"
                );
                let img = Image::open(d.join(&name)).unwrap();
                assert_eq!((img.width(), img.height()), (224, 224));
            }
        }
    }

    // BreastPathQ: images named {slide}_{rid}.tif, labels in [0, 1], two raters on the test set.
    let bpq = out.join("breastpathq");
    for (folder, labels, n) in [
        ("train", "train_labels.csv", cfg.breastpathq.train),
        ("validation", "val_labels.csv", cfg.breastpathq.validation),
    ] {
        let (header, rows) = csv(&bpq.join(labels));
        assert_eq!(header, "slide,rid,y");
        assert_eq!(rows.len(), n);
        for r in &rows {
            let y: f64 = r[2].parse().unwrap();
            assert!((0.0..=1.0).contains(&y));
            let img = Image::open(bpq.join(folder).join(format!("{}_{}.tif", r[0], r[1]))).unwrap();
            assert_eq!(img.width(), 256);
        }
    }
    let (header, rows) = csv(&bpq.join("test_labels.csv"));
    assert_eq!(header, "slide,rid,pathologist1,pathologist2");
    assert_eq!(rows.len(), cfg.breastpathq.test);
    let (_, truth) = csv(&bpq.join("test_truth.csv"));
    for (r, t) in rows.iter().zip(&truth) {
        assert!(
            bpq.join("test")
                .join(format!("{}_{}.tif", r[0], r[1]))
                .exists()
        );
        let y: f64 = t[2].parse().unwrap();
        for v in [&r[2], &r[3]] {
            let v: f64 = v.parse().unwrap();
            assert!((0.0..=1.0).contains(&v));
            assert!(
                ((v / 0.05) - (v / 0.05).round()).abs() < 1e-6,
                "{v} is not a multiple of 5 %"
            );
            assert!((v - y).abs() < 0.5, "rater {v} vs truth {y}");
        }
    }

    // Camelyon16: slides open with histo-wsi, annotations round-trip, patch lists match PNGs.
    let cam = out.join("camelyon16");
    let slides = camelyon::slides(&cfg);
    for s in &slides {
        let path = cam
            .join("slides")
            .join(s.folder())
            .join(format!("{}.tif", s.name));
        let slide = Slide::open(&path).unwrap();
        assert!(
            slide.level_count() >= 4,
            "{}: {} levels",
            s.name,
            slide.level_count()
        );
        assert_eq!(
            slide.dimensions(),
            (cfg.camelyon16.width, cfg.camelyon16.height)
        );
        assert_eq!(slide.mpp().0, Some(0.5));
        assert_eq!(slide.objective_power(), Some(20.0));
        assert!((slide.levels()[1].downsample - 2.0).abs() < 1e-9);
        let xml = cam.join("annotations").join(format!("{}.xml", s.name));
        assert_eq!(xml.exists(), s.tumour, "{}", xml.display());
        if s.tumour {
            let a = Annotations::read_asap_xml(&xml).unwrap();
            let m = camelyon::model(&cfg, s);
            assert_eq!(a.positive.len(), m.annotations.positive.len());
            assert!(!a.positive.is_empty());
            assert_eq!(a.positive[0].vertices, m.annotations.positive[0].vertices);
        }
    }
    let (header, rows) = csv(&cam.join("test_reference.csv"));
    assert_eq!(header, "image,label");
    assert_eq!(
        rows.len(),
        cfg.camelyon16.test_tumor + cfg.camelyon16.test_normal
    );
    for (kind, tag) in [
        ("TUMOR", "TRAIN"),
        ("NORMAL", "TRAIN"),
        ("TUMOR", "VALID"),
        ("NORMAL", "VALID"),
    ] {
        let d = cam.join(format!("PATCHES_{kind}_{tag}"));
        let list = std::fs::read_to_string(d.join("list.txt")).unwrap();
        let lines: Vec<&str> = list.lines().collect();
        assert!(!lines.is_empty(), "{}", d.display());
        let pngs = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
            .count();
        assert_eq!(pngs, lines.len());
        let json_dir = cam
            .join("jsons")
            .join(if tag == "TRAIN" { "train" } else { "valid" });
        for (i, line) in lines.iter().enumerate() {
            let f: Vec<&str> = line.split(',').collect();
            let (pid, x, y): (&str, f64, f64) =
                (f[0], f[1].parse().unwrap(), f[2].parse().unwrap());
            let ann = Annotations::read_json(json_dir.join(format!("{pid}.json"))).unwrap();
            assert_eq!(ann.is_positive(x, y), kind == "TUMOR", "{line}");
            if i == 0 {
                // The PNG is the slide's pixels there (up to JPEG error).
                let png = Image::open(d.join("0.png")).unwrap();
                assert_eq!((png.width(), png.height()), (256, 256));
                let slide =
                    Slide::open(cam.join("slides/train").join(format!("{pid}.tif"))).unwrap();
                let region = slide
                    .read_region(x as i64 - 128, y as i64 - 128, 0, 256, 256)
                    .unwrap();
                let diff: f64 = png
                    .as_slice()
                    .iter()
                    .zip(region.as_slice())
                    .map(|(a, b)| (*a as f64 - *b as f64).abs())
                    .sum::<f64>()
                    / png.as_slice().len() as f64;
                assert!(
                    diff < 6.0,
                    "{line}: mean abs difference to the slide {diff}"
                );
            }
        }
    }
    assert!(slides.iter().any(|s| s.split == CamSplit::Test && s.tumour));

    // Pretraining slides.
    for k in 0..cfg.pretrain.slides {
        let slide =
            Slide::open(out.join("pretrain").join(format!("slide_{:03}.svs", k + 1))).unwrap();
        assert!(slide.level_count() >= 4);
        assert_eq!(slide.mpp().0, Some(0.5));
    }

    // Previews.
    for p in ["classes.png", "breastpathq.png", "slide.png"] {
        Image::open(out.join("preview").join(p)).unwrap();
    }

    // Resuming: nothing is rewritten; a deleted file comes back byte-identical.
    let before = files(out);
    let victims = [
        "kather/test/TUM".to_string(),
        "breastpathq/test".to_string(),
        "camelyon16/PATCHES_TUMOR_TRAIN".to_string(),
    ];
    let mut removed = Vec::new();
    for v in &victims {
        let d = out.join(v);
        let f = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x != "txt"))
            .unwrap();
        std::fs::remove_file(&f).unwrap();
        removed.push(f);
    }
    std::fs::remove_file(out.join("pretrain/slide_001.svs")).unwrap();
    let again = generate(&cfg, out, Selection::all(), true, &Silent).unwrap();
    let written: u64 = again.datasets.iter().map(|d| d.written).sum();
    assert_eq!(written, 4, "{:?}", again.datasets);
    assert_eq!(files(out), before);

    // Another configuration in the same folder is refused.
    let other = SynthConfig::preset(Scale::Tiny, 7);
    let e = generate(&other, out, Selection::all(), false, &Silent).unwrap_err();
    assert!(e.to_string().contains("synth.json"), "{e}");
}

#[test]
fn slides_do_not_depend_on_the_thread_count() {
    let cfg = SynthConfig::preset(Scale::Tiny, 11)
        .with_overrides(&[
            "pretrain.slides=1".into(),
            "pretrain.width=1280".into(),
            "pretrain.height=1024".into(),
        ])
        .unwrap();
    let sel = Selection {
        pretrain: true,
        kather: false,
        breastpathq: false,
        camelyon16: false,
    };
    let mut bytes = Vec::new();
    for threads in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| generate(&cfg, dir.path(), sel, false, &Silent))
            .unwrap();
        bytes.push(std::fs::read(dir.path().join("pretrain/slide_001.svs")).unwrap());
    }
    assert!(
        bytes[0] == bytes[1],
        "1 and 3 threads wrote different slides"
    );
}
