//! Numerical parity with PyTorch: the fixture `data/fixtures/models/` (made by
//! `make_parity.py` there) holds a width-8 ResNet-18-topology TripletNet saved as the original
//! scripts save it, inputs, and PyTorch's outputs. We import the `.pt` files, run our networks and
//! compare.
//!
//! Tolerances: outputs agree to a max error ≤ 1e-4 relative to the largest reference magnitude
//! (`max|ours − torch| / max|torch|`); BatchNorm running statistics after one train-mode
//! forward to 1e-4 relative per tensor; `num_batches_tracked` exactly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use histo_models::pytorch::{available_parts, convert, read_part};
use histo_models::{Classifier, FinetuneModel, Mode, PretextModel, TripletConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/models")
        .join(name)
}

fn expected() -> HashMap<String, Tensor> {
    candle_core::pickle::read_all(fixture("expected.pt"))
        .unwrap()
        .into_iter()
        .collect()
}

fn rel_err(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims());
    let diff = (ours - reference)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    let scale = reference.abs().unwrap().max_all().unwrap();
    let e = diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap().max(1e-12);
    eprintln!("rel err {e:.3e} over {:?}", reference.dims());
    e
}

fn config() -> TripletConfig {
    TripletConfig::narrow(18, 8)
}

fn pretext_from_pt() -> PretextModel {
    let m = PretextModel::new(config(), &Device::Cpu, 0).unwrap();
    let path = fixture("pretrain.pt");
    let model: HashMap<_, _> = read_part(&path, Some("model"))
        .unwrap()
        .into_iter()
        .collect();
    m.net.store().load(&model, "pretrain.pt model").unwrap();
    let cls: HashMap<_, _> = read_part(&path, Some("classifier"))
        .unwrap()
        .into_iter()
        .collect();
    m.classifier
        .store()
        .load(&cls, "pretrain.pt classifier")
        .unwrap();
    m
}

fn finetune_from_pt() -> FinetuneModel {
    let path = fixture("finetune.pt");
    let ck = convert(
        &path,
        &["model_student".into(), "classifier_student".into()],
    )
    .unwrap();
    assert_eq!(ck.meta.triplet, Some(config()));
    assert_eq!(ck.meta.classes, Some(3));
    let m = FinetuneModel::new(config(), 3, &Device::Cpu, 0).unwrap();
    ck.load_part("model_student", m.net.store(), &path).unwrap();
    ck.load_part("classifier_student", m.classifier.store(), &path)
        .unwrap();
    m
}

#[test]
fn pretext_model_matches_pytorch_in_eval_mode() {
    let exp = expected();
    let m = pretext_from_pt();
    let emb = m
        .net
        .forward(&exp["x1"], &exp["x2"], &exp["x3"], Mode::EVAL)
        .unwrap();
    let e = rel_err(&emb, &exp["pretext_eval_embedding"]);
    assert!(e <= 1e-4, "embedding rel err {e}");
    let logits = m.classifier.forward(&emb).unwrap();
    let e = rel_err(&logits, &exp["pretext_eval_logits"]);
    assert!(e <= 1e-4, "logits rel err {e}");
}

#[test]
fn finetune_model_matches_pytorch_in_eval_mode() {
    let exp = expected();
    let m = finetune_from_pt();
    let out = m.forward(&exp["x1"], Mode::EVAL).unwrap();
    let e = rel_err(&out, &exp["finetune_eval_out"]);
    assert!(e <= 1e-4, "rel err {e}");
}

fn check_bn(m_store: &histo_models::VarStore, exp: &HashMap<String, Tensor>, prefix: &str) {
    let mut checked = 0;
    for e in m_store.entries() {
        let key = format!("{prefix}.{}", e.name);
        let Some(want) = exp.get(&key) else { continue };
        let got = e.var.as_tensor();
        if e.name.ends_with("num_batches_tracked") {
            assert_eq!(
                got.to_scalar::<i64>().unwrap(),
                want.to_scalar::<i64>().unwrap(),
                "{key}"
            );
        } else {
            let err = rel_err(got, want);
            assert!(err <= 1e-4, "{key}: rel err {err}");
        }
        checked += 1;
    }
    // 20 BatchNorm layers in a ResNet-18 (stem 1, 8 blocks × 2, 3 downsamples), 3 tensors each
    assert_eq!(checked, 60, "{prefix}");
}

#[test]
fn pretext_train_mode_output_and_running_stats_match_pytorch() {
    let exp = expected();
    let m = pretext_from_pt();
    let logits = m
        .forward(&exp["x1"], &exp["x2"], &exp["x3"], Mode::TRAIN)
        .unwrap();
    let e = rel_err(&logits, &exp["pretext_train_logits"]);
    assert!(e <= 1e-4, "logits rel err {e}");
    check_bn(m.net.store(), &exp, "pretext_train_bn");
}

#[test]
fn finetune_train_mode_with_original_bn_updates_matches_pytorch() {
    let exp = expected();
    let mut m = finetune_from_pt();
    m.original_bn_updates = true;
    let out = m.forward(&exp["x1"], Mode::TRAIN).unwrap();
    let e = rel_err(&out, &exp["finetune_train_out"]);
    assert!(e <= 1e-4, "rel err {e}");
    check_bn(m.net.store(), &exp, "finetune_train_bn");
}

#[test]
fn the_pt_files_list_their_parts_and_bad_requests_are_clear() {
    let pre = fixture("pretrain.pt");
    assert_eq!(available_parts(&pre).unwrap(), vec!["model", "classifier"]);
    let e = read_part(&pre, Some("model_student"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pretrain.pt") && e.contains("model_student") && e.contains("model, classifier"),
        "{e}"
    );
    let e = read_part(&pre, None).unwrap_err().to_string();
    assert!(e.contains("choose a part"), "{e}");
    // module. is stripped where present: pretrain.pt has it, finetune.pt does not
    let model = read_part(&pre, Some("model")).unwrap();
    assert!(model.contains_key("model.conv1.weight"));
    assert!(model.keys().all(|k| !k.starts_with("module.")));
    let student = read_part(&fixture("finetune.pt"), Some("model_student")).unwrap();
    assert_eq!(
        model.keys().collect::<Vec<_>>(),
        student.keys().collect::<Vec<_>>()
    );
    // a part of another architecture: the pretext classifier does not fit a 3-class head
    let head = Classifier::linear(96, 3, &Device::Cpu, 0).unwrap();
    let cls: HashMap<_, _> = read_part(&pre, Some("classifier"))
        .unwrap()
        .into_iter()
        .collect();
    let e = head
        .store()
        .load(&cls, "pretrain.pt classifier")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("classifier.0.weight") && e.contains("[128, 96]"),
        "{e}"
    );
    // not a zip at all
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not a checkpoint").unwrap();
    let e = read_part(&junk, Some("model")).unwrap_err().to_string();
    assert!(e.contains("junk.pt"), "{e}");
}
