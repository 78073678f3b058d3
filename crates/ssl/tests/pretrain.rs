//! RSP pretraining end to end on small fixture stores: it learns, writes the documented run
//! folder, resumes exactly, and rejects bad input with clear messages.

mod common;

use std::path::Path;

use common::{small_config, write_store};
use histo_models::{Checkpoint, TripletNet};
use histo_ssl::probe::{ProbeConfig, probe};
use histo_ssl::{PretrainConfig, PretrainOptions, PretrainSummary, pretrain};
use histo_tensor::{Device, Image};

fn opts(store: &Path, out: &Path, resume: bool) -> PretrainOptions {
    PretrainOptions {
        store: store.to_path_buf(),
        out: out.to_path_buf(),
        resume,
        progress: false,
    }
}

fn run(config: &PretrainConfig, store: &Path, out: &Path, resume: bool) -> PretrainSummary {
    pretrain(config, &opts(store, out, resume), &Device::Cpu).unwrap()
}

fn err(config: &PretrainConfig, store: &Path, out: &Path, resume: bool) -> String {
    match pretrain(config, &opts(store, out, resume), &Device::Cpu) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn learns_an_easy_order_task_and_writes_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (store, out) = (dir.path().join("store"), dir.path().join("run"));
    write_store(&store, 4, 24, 32);
    let mut config = small_config(32, 3);
    config.data.orderings = histo_datasets::Orderings::All;
    let s = run(&config, &store, &out, false);
    // the order shows in the colours: a network that gets inputs and labels right learns it
    assert!(s.val_accuracy > 0.9, "{s:#?}");
    assert!(s.val_loss < 0.5, "{s:#?}");
    assert_eq!((s.epochs, s.epochs_this_run), (3, 3));
    assert_eq!(s.train_triplets, 72);
    assert_eq!(s.train_samples, 72 * 6);
    assert_eq!((s.val_triplets, s.val_samples), (8, 48));
    assert_eq!(s.val_slides.len(), 1);
    assert!(s.triplets_per_s > 0.0 && s.wall_s > 0.0);
    assert!(s.best_epoch.is_some());
    for f in [
        "config.toml",
        "train_log.csv",
        "train_log.jsonl",
        "curves.png",
        "val_confusion.json",
        "last.safetensors",
        "best.safetensors",
        "embedding.png",
        "embedding.csv",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // summary.json is what xtask reproduce reads
    let back: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(back["val_accuracy"].as_f64(), Some(s.val_accuracy));
    for k in ["val_loss", "epochs", "wall_s", "triplets_per_s"] {
        assert!(back[k].is_number(), "{k}");
    }
    // the resolved configuration round-trips
    let saved = PretrainConfig::load(&out.join("config.toml")).unwrap();
    assert_eq!(saved, config);
    // best.safetensors: trunk + pair head (part model) and the 6-way classifier
    let best = out.join("best.safetensors");
    let ck = Checkpoint::load(&best, &Device::Cpu).unwrap();
    assert_eq!(ck.meta.model_kind, "pretext");
    assert_eq!(ck.meta.stage.as_deref(), Some("rsp"));
    assert_eq!(ck.meta.triplet, Some(config.model.triplet()));
    assert!(ck.tensors.contains_key("model.model.conv1.weight"));
    assert!(ck.tensors.contains_key("model.fc.0.weight"));
    assert!(ck.tensors.contains_key("classifier.classifier.2.weight"));
    assert_eq!(ck.meta.config["store"]["tile"].as_u64(), Some(32));
    let net = TripletNet::from_checkpoint(&ck, &best, "model", &Device::Cpu).unwrap();
    assert_eq!(net.config(), config.model.triplet());
    // the confusion matrices of every epoch, 6×6, over the 48 validation samples
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("val_confusion.json")).unwrap())
            .unwrap();
    let rows = conf["by_epoch"]["3"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    let total: u64 = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 48);
    let csv = std::fs::read_to_string(out.join("train_log.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().next().unwrap().contains("val_acc"));

    // linear probe on patches coloured like the classes: plumbing and report
    let patches = dir.path().join("patches");
    for (split, n) in [("train", 12), ("test", 6)] {
        for (k, class) in ["AAA", "BBB", "CCC"].iter().enumerate() {
            let d = patches.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let mut rgb = [60u8, 60, 60];
                rgb[k] = 180 + (i as u8 % 7) * 5;
                Image::filled(40, 40, rgb)
                    .save(d.join(format!("{i}.png")))
                    .unwrap();
            }
        }
    }
    let r = probe(&best, &patches, &ProbeConfig::default(), &Device::Cpu).unwrap();
    assert_eq!((r.train, r.test, r.size), (36, 18, 40));
    assert_eq!(r.classes, vec!["AAA", "BBB", "CCC"]);
    assert_eq!(r.features, 8 * 4);
    assert!(r.pretrained.accuracy > 0.9, "{r:#?}");
    assert!(r.random.is_some());
}

#[test]
fn a_resumed_run_equals_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    write_store(&store, 3, 12, 32);
    let mut config = small_config(32, 2);
    config.data.augment = histo_ssl::Augment::V1; // random streams must resume too
    config.train.lookahead = Some(histo_train::LookaheadConfig {
        k: 3,
        ..Default::default()
    });
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&config, &store, &a, false);
    let mut first = config.clone();
    first.train.epochs = 1;
    run(&first, &store, &b, false);
    // continuing without --resume is refused; with it, training goes on from epoch 1
    let e = err(&config, &store, &b, false);
    assert!(
        e.contains("already holds a run") && e.contains("--resume"),
        "{e}"
    );
    let s = run(&config, &store, &b, true);
    assert_eq!((s.epochs, s.epochs_this_run), (2, 1));
    let load = |p: &Path| Checkpoint::load(p.join("last.safetensors"), &Device::Cpu).unwrap();
    let (ca, cb) = (load(&a), load(&b));
    assert_eq!(ca.tensors.len(), cb.tensors.len());
    for (k, ta) in &ca.tensors {
        let tb = &cb.tensors[k];
        let va = ta
            .flatten_all()
            .unwrap()
            .to_dtype(histo_tensor::DType::F64)
            .unwrap();
        let vb = tb
            .flatten_all()
            .unwrap()
            .to_dtype(histo_tensor::DType::F64)
            .unwrap();
        assert_eq!(
            va.to_vec1::<f64>().unwrap(),
            vb.to_vec1::<f64>().unwrap(),
            "{k} differs after resume"
        );
    }
    // the same losses in the logs
    let losses = |p: &Path| -> Vec<String> {
        std::fs::read_to_string(p.join("train_log.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(&a), losses(&b));
}

#[test]
fn bad_stores_and_runs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config(32, 1);
    let out = dir.path().join("run");
    // missing, not a store, corrupt manifest
    let e = err(&config, &dir.path().join("absent"), &out, false);
    assert!(e.contains("absent") && e.contains("not a folder"), "{e}");
    let e = err(&config, dir.path(), &out, false);
    assert!(e.contains("no manifest.json"), "{e}");
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("manifest.json"), "{ not json").unwrap();
    let e = err(&config, &bad, &out, false);
    assert!(
        e.contains("manifest.json") && e.contains("not a valid"),
        "{e}"
    );
    // a store with no triplet
    let empty = dir.path().join("empty");
    write_store(&empty, 2, 4, 32);
    let mut m = histo_wsi::Manifest::load(&empty).unwrap();
    for s in &mut m.slides {
        s.status = histo_wsi::SlideStatus::Skipped;
        s.reason = Some("no tissue".into());
    }
    m.save(&empty).unwrap();
    let e = err(&config, &empty, &out, false);
    assert!(
        e.contains("holds no triplet") && e.contains("no tissue"),
        "{e}"
    );
    // a truncated shard
    let cut = dir.path().join("cut");
    write_store(&cut, 2, 4, 32);
    let shard = cut.join("s00001-0000.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).unwrap();
    let e = err(&config, &cut, &out, false);
    assert!(e.contains("s00001-0000.safetensors"), "{e}");
    // tile size mismatch
    let store = dir.path().join("store");
    write_store(&store, 2, 8, 32);
    let e = err(&small_config(64, 1), &store, &out, false);
    assert!(
        e.contains("32×32") && e.contains("64×64") && e.contains("--tile 64"),
        "{e}"
    );
    // one slide cannot be split by slide
    let one = dir.path().join("one");
    write_store(&one, 1, 8, 32);
    let e = err(&config, &one, &out, false);
    assert!(e.contains("1 slide") && e.contains("by_triplet"), "{e}");
    assert!(!out.exists(), "nothing is written for bad input");
    // --resume with another architecture
    run(&config, &store, &out, false);
    let mut wider = config.clone();
    wider.model.width = 8;
    let e = err(&wider, &store, &out, true);
    assert!(
        e.contains("width 4") && e.contains("leave out --preset"),
        "{e}"
    );
    // a checkpoint of another architecture in place of last.safetensors
    let other = dir.path().join("other");
    let mut w8 = config.clone();
    w8.model.width = 8;
    run(&w8, &store, &other, false);
    std::fs::copy(other.join("last.safetensors"), out.join("last.safetensors")).unwrap();
    let mut more = config.clone();
    more.train.epochs = 2;
    let e = err(&more, &store, &out, true);
    assert!(
        e.contains("last.safetensors") && e.contains("width 8") && e.contains("width 4"),
        "{e}"
    );
    // the probe: a checkpoint that holds no TripletNet, a missing dataset
    let e = probe(
        &dir.path().join("absent.safetensors"),
        dir.path(),
        &ProbeConfig::default(),
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("absent.safetensors"), "{e}");
    let e = probe(
        &out.join("best.safetensors"),
        &dir.path().join("nodata"),
        &ProbeConfig::default(),
        &Device::Cpu,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("nodata") && e.contains("not a folder"), "{e}");
}
