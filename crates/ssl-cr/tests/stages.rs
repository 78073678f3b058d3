//! Stages 2 and 3 end to end on tiny generated datasets: resume gives bit-identical results,
//! the original's three crash cases (B21, B25, B26) run, and bad input is refused clearly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use histo_models::{Checkpoint, PretextModel, TripletConfig};
use histo_ssl_cr::{
    Consistency, DataSpec, Finetune, Init, RunSummary, TaskKind, TeacherUpdate, consistency,
    finetune,
};
use histo_tensor::{DType, Device, Tensor};

fn tensors(path: &Path) -> BTreeMap<String, Tensor> {
    Checkpoint::load(path, &Device::Cpu).unwrap().tensors
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    let f = |t: &Tensor| {
        t.to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    };
    a.dims() == b.dims() && f(a) == f(b)
}

/// Every tensor of two checkpoints (network parts and optimiser state) is bit-identical.
fn assert_identical(a: &Path, b: &Path) {
    let (ta, tb) = (tensors(a), tensors(b));
    assert_eq!(ta.keys().collect::<Vec<_>>(), tb.keys().collect::<Vec<_>>());
    for (k, t) in &ta {
        assert!(same(t, &tb[k]), "{k} differs");
    }
}

fn folders_job(root: &Path, classes: usize, epochs: u64, init: Init) -> Finetune {
    Finetune {
        config: tiny_finetune(epochs),
        task: if classes == 2 {
            TaskKind::Binary
        } else {
            TaskKind::Multiclass
        },
        data: format!("folders:{}", root.display()).parse().unwrap(),
        init,
        classes: None,
    }
}

#[test]
fn finetune_resumed_after_one_epoch_equals_an_uninterrupted_run() {
    let data = tempfile::tempdir().unwrap();
    class_folders(data.path(), 3, 8);
    let runs = tempfile::tempdir().unwrap();
    let (a, b) = (runs.path().join("a"), runs.path().join("b"));
    let sa = finetune(
        &folders_job(data.path(), 3, 2, Init::Random),
        &opts(&a, false),
    )
    .unwrap();
    assert_eq!(sa.epochs, 2);
    finetune(
        &folders_job(data.path(), 3, 1, Init::Random),
        &opts(&b, false),
    )
    .unwrap();
    // a second start without --resume is refused, naming the folder
    let e = finetune(
        &folders_job(data.path(), 3, 2, Init::Random),
        &opts(&b, false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("already holds a run") && e.contains("--resume"),
        "{e}"
    );
    let sb = finetune(
        &folders_job(data.path(), 3, 2, Init::Random),
        &opts(&b, true),
    )
    .unwrap();
    assert_eq!(sb.epochs, 2);
    assert_identical(&a.join("last.safetensors"), &b.join("last.safetensors"));
    assert_eq!(sa.best_value, sb.best_value);
    // the summary on disk is what the call returned
    assert_eq!(RunSummary::load(&b).unwrap(), sb);
    // resuming with another configuration is refused
    let mut other = folders_job(data.path(), 3, 3, Init::Random);
    other.config.train.lr = 0.5;
    let e = finetune(&other, &opts(&b, true)).unwrap_err().to_string();
    assert!(e.contains("configuration differs"), "{e}");
}

/// Stage 2 from `init`, then stage 3 from its best checkpoint; returns the stage-3 folder.
fn two_stages(
    data: &str,
    task: TaskKind,
    runs: &Path,
    tweak: impl Fn(&mut histo_ssl_cr::ConsistencyConfig),
    epochs: u64,
) -> (RunSummary, std::path::PathBuf) {
    let spec: DataSpec = data.parse().unwrap();
    let mut ft = tiny_finetune(1);
    ft.train.class_balanced = task.is_classification();
    let job = Finetune {
        config: ft,
        task,
        data: spec.clone(),
        init: Init::Random,
        classes: None,
    };
    let ssl = runs.join("ssl");
    finetune(&job, &opts(&ssl, false)).unwrap();
    let mut cr = tiny_consistency(epochs);
    tweak(&mut cr);
    let job = Consistency {
        config: cr,
        task,
        data: spec,
        init: ssl.join("best.safetensors"),
    };
    let out = runs.join("cr");
    (consistency(&job, &opts(&out, false)).unwrap(), out)
}

fn part_identical(ck: &BTreeMap<String, Tensor>, a: &str, b: &str) -> bool {
    let pa: Vec<_> = ck
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{a}.")))
        .collect();
    assert!(!pa.is_empty(), "no part {a}");
    pa.iter().all(|(k, t)| {
        let kb = format!("{b}.{}", &k[a.len() + 1..]);
        same(t, &ck[&kb])
    })
}

#[test]
fn b26_the_teacher_takes_the_students_weights_after_every_epoch() {
    // eval_Kather_SSL_CR.py dies with a NameError at this update after epoch 1
    let data = tempfile::tempdir().unwrap();
    class_folders(data.path(), 3, 10);
    let runs = tempfile::tempdir().unwrap();
    let (s, out) = two_stages(
        &format!("folders:{}", data.path().display()),
        TaskKind::Multiclass,
        runs.path(),
        |_| {},
        2,
    );
    assert_eq!(s.epochs, 2);
    assert!(s.last_metrics.contains_key("loss_u") && s.last_metrics.contains_key("pseudo_acc"));
    let ck = tensors(&out.join("last.safetensors"));
    assert!(part_identical(&ck, "model", "model_teacher"));
    assert!(part_identical(&ck, "classifier", "classifier_teacher"));
    // and the student did train: its pair head moved away from the stage-2 weights
    let ssl = tensors(&runs.path().join("ssl/best.safetensors"));
    assert!(!same(&ck["model.fc.0.weight"], &ssl["model.fc.0.weight"]));
    // its trunk was frozen (the original's modules_student 60)
    assert!(same(
        &ck["model.model.layer1.0.conv1.weight"],
        &ssl["model.model.layer1.0.conv1.weight"]
    ));
}

#[test]
fn consistency_resumed_after_one_epoch_equals_an_uninterrupted_run() {
    let data = tempfile::tempdir().unwrap();
    class_folders(data.path(), 2, 10);
    let runs = tempfile::tempdir().unwrap();
    let spec = format!("folders:{}", data.path().display());
    let (_, a) = two_stages(
        &spec,
        TaskKind::Binary,
        &runs.path().join("a"),
        |c| c.consistency.teacher = TeacherUpdate::Ema { decay: 0.9 },
        2,
    );
    let (_, b1) = two_stages(
        &spec,
        TaskKind::Binary,
        &runs.path().join("b"),
        |c| c.consistency.teacher = TeacherUpdate::Ema { decay: 0.9 },
        1,
    );
    let mut cr = tiny_consistency(2);
    cr.consistency.teacher = TeacherUpdate::Ema { decay: 0.9 };
    let job = Consistency {
        config: cr,
        task: TaskKind::Binary,
        data: spec.parse().unwrap(),
        init: runs.path().join("b/ssl/best.safetensors"),
    };
    consistency(&job, &opts(&b1, true)).unwrap();
    assert_identical(&a.join("last.safetensors"), &b1.join("last.safetensors"));
    // an EMA teacher trails the student
    let ck = tensors(&a.join("last.safetensors"));
    assert!(!part_identical(&ck, "classifier", "classifier_teacher"));
}

#[test]
fn b21_camelyon_consistency_takes_three_view_labelled_batches_per_class() {
    // eval_Camelyon_SSL_CR.py builds its labelled dataset without image size or transform
    let data = tempfile::tempdir().unwrap();
    camelyon(data.path(), 8);
    let runs = tempfile::tempdir().unwrap();
    let (s, out) = two_stages(
        &format!("camelyon16:{}", data.path().display()),
        TaskKind::Binary,
        runs.path(),
        |c| {
            c.train.class_balanced = true;
            c.consistency.per_class_unlabelled = true;
        },
        1,
    );
    // validation on the *_VALID folders, all of them
    assert_eq!((s.val, s.train, s.epochs), (16, 16, 1));
    assert!(s.last_metrics["val_acc"] >= 0.0);
    let split: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("split.json")).unwrap()).unwrap();
    assert_eq!(split["config"]["val_fraction"], 0.0);
    // 1 labelled sample per class per step × 3 views + 2 unlabelled per class per step
    let log = std::fs::read_to_string(out.join("train_log.csv")).unwrap();
    assert!(log.contains("loss_x") && log.contains("mask_rate"), "{log}");
}

#[test]
fn b25_regression_consistency_keeps_teacher_student_and_data_on_the_run_device() {
    let device = histo_tensor::select_device("auto").unwrap();
    let data = tempfile::tempdir().unwrap();
    breastpathq(data.path(), 20, 6);
    let runs = tempfile::tempdir().unwrap();
    let spec: DataSpec = format!("breastpathq:{}", data.path().display())
        .parse()
        .unwrap();
    let ssl = runs.path().join("ssl");
    let mut o = opts(&ssl, false);
    o.device = device.clone();
    finetune(
        &Finetune {
            config: tiny_finetune(1),
            task: TaskKind::Regression,
            data: spec.clone(),
            init: Init::Random,
            classes: None,
        },
        &o,
    )
    .unwrap();
    let cr = runs.path().join("cr");
    let mut o = opts(&cr, false);
    o.device = device.clone();
    let s = consistency(
        &Consistency {
            config: tiny_consistency(1),
            task: TaskKind::Regression,
            data: spec,
            init: ssl.join("best.safetensors"),
        },
        &o,
    )
    .unwrap();
    assert_eq!(s.device, format!("{device:?}"));
    assert_eq!(s.metric, "val_loss"); // selected by MSE against float targets (B12)
    assert!(s.best_value.unwrap().is_finite());
    assert!(s.last_metrics.contains_key("loss_u") && !s.last_metrics.contains_key("mask_rate"));
}

#[test]
fn finetune_starts_from_an_rsp_checkpoint_and_an_original_pt() {
    let data = tempfile::tempdir().unwrap();
    class_folders(data.path(), 2, 6);
    let runs = tempfile::tempdir().unwrap();
    // an RSP checkpoint as histo-ssl writes it: parts `model` (TripletNet) and `classifier`
    let rsp = PretextModel::new(TripletConfig::narrow(18, 8), &Device::Cpu, 3).unwrap();
    let mut ck = Checkpoint::new(histo_models::CheckpointMeta {
        model_kind: "pretext".into(),
        stage: Some("rsp".into()),
        triplet: Some(TripletConfig::narrow(18, 8)),
        ..Default::default()
    });
    for (p, s) in rsp.parts() {
        ck.add_part(p, s).unwrap();
    }
    let rsp_path = runs.path().join("rsp.safetensors");
    ck.save(&rsp_path).unwrap();
    let mut job = folders_job(data.path(), 2, 1, Init::Checkpoint(rsp_path.clone()));
    job.config.train.freeze = "trunk".into();
    job.config.model.width = 32; // ignored: the checkpoint's shape wins
    let out = runs.path().join("from-rsp");
    finetune(&job, &opts(&out, false)).unwrap();
    let got = tensors(&out.join("last.safetensors"));
    let want = rsp.net.store().state_dict().unwrap();
    for (name, t) in want.iter().filter(|(n, _)| n.ends_with("weight")) {
        // frozen trunk weights are the RSP ones; BN running stats may move (B2)
        if name.starts_with("model.") {
            assert!(same(&got[&format!("model.{name}")], t), "{name}");
        }
    }
    // an RSP checkpoint is not a fine-tuned one
    let e = consistency(
        &Consistency {
            config: tiny_consistency(1),
            task: TaskKind::Binary,
            data: job.data.clone(),
            init: rsp_path,
        },
        &opts(&runs.path().join("bad"), false),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("RSP (stage 1) checkpoint"), "{e}");
    // the original PyTorch pretraining checkpoint of the models fixture
    let pt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/models/pretrain.pt");
    let job = folders_job(data.path(), 2, 1, Init::Checkpoint(pt));
    let s = finetune(&job, &opts(&runs.path().join("from-pt"), false)).unwrap();
    assert!(s.init.ends_with("pretrain.pt"));
}

#[test]
fn bad_input_is_refused_with_clear_messages() {
    let data = tempfile::tempdir().unwrap();
    class_folders(data.path(), 3, 6);
    let runs = tempfile::tempdir().unwrap();
    // label fractions outside (0, 1]
    for f in [0.0, -0.1, 1.5, f64::NAN] {
        let mut job = folders_job(data.path(), 3, 1, Init::Random);
        job.config.split.label_fraction = f;
        let e = finetune(&job, &opts(&runs.path().join("f"), false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("label fraction"), "{f}: {e}");
    }
    // a 3-class task fine-tuned, then consistency on 2-class data: class count mismatch
    let ssl = runs.path().join("ssl3");
    finetune(
        &folders_job(data.path(), 3, 1, Init::Random),
        &opts(&ssl, false),
    )
    .unwrap();
    let two = tempfile::tempdir().unwrap();
    class_folders(two.path(), 2, 6);
    let e = consistency(
        &Consistency {
            config: tiny_consistency(1),
            task: TaskKind::Binary,
            data: format!("folders:{}", two.path().display()).parse().unwrap(),
            init: ssl.join("best.safetensors"),
        },
        &opts(&runs.path().join("cr"), false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("3 output(s)") && e.contains("best.safetensors"),
        "{e}"
    );
    let e = consistency(
        &Consistency {
            config: tiny_consistency(1),
            task: TaskKind::Multiclass,
            data: format!("folders:{}", two.path().display()).parse().unwrap(),
            init: ssl.join("best.safetensors"),
        },
        &opts(&runs.path().join("cr2"), false),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("3 outputs") && e.contains("2 classes"), "{e}");
    // a regression task on class folders
    let mut job = folders_job(data.path(), 3, 1, Init::Random);
    job.task = TaskKind::Regression;
    let e = finetune(&job, &opts(&runs.path().join("r"), false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs finite score targets"), "{e}");
    // a binary task on 3 classes
    let mut job = folders_job(data.path(), 3, 1, Init::Random);
    job.task = TaskKind::Binary;
    let e = finetune(&job, &opts(&runs.path().join("b"), false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 classes") && e.contains("task has 2"), "{e}");
    // a missing checkpoint
    let job = folders_job(
        data.path(),
        3,
        1,
        Init::Checkpoint("/no/rsp.safetensors".into()),
    );
    let e = finetune(&job, &opts(&runs.path().join("m"), false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/no/rsp.safetensors"), "{e}");
    // a corrupt checkpoint
    let junk = runs.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let job = folders_job(data.path(), 3, 1, Init::Checkpoint(junk));
    let e = finetune(&job, &opts(&runs.path().join("j"), false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.safetensors"), "{e}");
}

#[test]
fn an_original_finetune_checkpoint_predicts() {
    // the models fixture, saved as eval_*_SSL.py saves checkpoints (`model`, `classifier`)
    let pt = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/models/finetune.pt");
    let p = histo_ssl_cr::Predictor::load(&pt, &Device::Cpu, None).unwrap();
    let c = p.outputs();
    assert_eq!(p.task, TaskKind::from_outputs(c));
    let out = p
        .predict(&[patch(COLOURS[0], 1, 1), patch(COLOURS[1], 1, 2)])
        .unwrap();
    assert_eq!(out.len(), 2);
    if p.task.is_classification() {
        assert!(
            out.iter()
                .all(|r| r.len() == c && (r.iter().sum::<f64>() - 1.0).abs() < 1e-9)
        );
    }
    // a task the head cannot serve is refused
    let wrong = if c == 1 {
        TaskKind::Binary
    } else {
        TaskKind::Regression
    };
    let e = histo_ssl_cr::Predictor::load(&pt, &Device::Cpu, Some(wrong))
        .err()
        .unwrap();
    assert!(e.to_string().contains("finetune.pt"), "{e}");
}
