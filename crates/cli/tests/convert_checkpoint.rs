//! `histo convert-checkpoint` on the PyTorch fixture of histo-models (saved as the original
//! scripts save checkpoints, with DataParallel's `module.` prefix).

use std::path::{Path, PathBuf};
use std::process::Command;

use histo_models::{Checkpoint, FinetuneModel, Mode, TripletConfig};
use histo_tensor::{DType, Device, Tensor};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/models")
        .join(name)
}

fn histo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_histo"))
        .args(args)
        .output()
        .expect("run histo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn converts_the_pretrain_model_and_it_loads_into_a_finetune_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rsp.safetensors");
    let from = fixture("pretrain.pt");
    let (ok, stdout, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        from.to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
        "--part",
        "model",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("ResNet-18 width 8"), "{stdout}");
    let ck = Checkpoint::load(&out, &Device::Cpu).unwrap();
    assert_eq!(ck.part_names(), vec!["model".to_string()]);
    assert!(ck.tensors.contains_key("model.model.conv1.weight"));
    assert!(ck.tensors.keys().all(|k| !k.contains("module.")));
    assert_eq!(ck.meta.triplet, Some(TripletConfig::narrow(18, 8)));
    // the stage-2 use: a fine-tune model initialised from the pretrained TripletNet
    let m = FinetuneModel::new(TripletConfig::narrow(18, 8), 3, &Device::Cpu, 0).unwrap();
    ck.load_part("model", m.net.store(), &out).unwrap();
    let x = Tensor::ones((2, 3, 32, 32), DType::F32, &Device::Cpu).unwrap();
    assert_eq!(m.forward(&x, Mode::EVAL).unwrap().dims(), &[2, 3]);
}

#[test]
fn lists_parts_and_converts_all_by_default() {
    let from = fixture("finetune.pt");
    let (ok, stdout, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        from.to_str().unwrap(),
        "--list",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("model_student") && stdout.contains("classifier_student"),
        "{stdout}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cr.safetensors");
    let (ok, _, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        from.to_str().unwrap(),
        "--to",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let ck = Checkpoint::load(&out, &Device::Cpu).unwrap();
    assert_eq!(ck.part_names(), vec!["classifier_student", "model_student"]);
    assert_eq!(ck.meta.classes, Some(3));
    // the converted student computes exactly what the tensors read straight from the .pt do
    let m =
        FinetuneModel::from_checkpoint(&out, &Device::Cpu, "model_student", "classifier_student")
            .unwrap();
    let direct = FinetuneModel::new(TripletConfig::narrow(18, 8), 3, &Device::Cpu, 0).unwrap();
    let read = |p: &str| -> std::collections::HashMap<String, Tensor> {
        histo_models::pytorch::read_part(&from, Some(p))
            .unwrap()
            .into_iter()
            .collect()
    };
    direct
        .net
        .store()
        .load(&read("model_student"), "model_student")
        .unwrap();
    direct
        .classifier
        .store()
        .load(&read("classifier_student"), "classifier_student")
        .unwrap();
    let x = Tensor::arange(0f32, 2. * 3. * 40. * 40., &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 40, 40))
        .unwrap()
        .sin()
        .unwrap();
    let a = m.forward(&x, Mode::EVAL).unwrap().flatten_all().unwrap();
    let b = direct
        .forward(&x, Mode::EVAL)
        .unwrap()
        .flatten_all()
        .unwrap();
    assert_eq!(a.to_vec1::<f32>().unwrap(), b.to_vec1::<f32>().unwrap());
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.safetensors");
    let out_s = out.to_str().unwrap();
    let pre = fixture("pretrain.pt");
    // a part the file does not have
    let (ok, _, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        pre.to_str().unwrap(),
        "--to",
        out_s,
        "--part",
        "model_teacher",
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("model_teacher") && stderr.contains("state dicts found: model, classifier"),
        "{stderr}"
    );
    // a missing file and a file that is not a checkpoint
    let (ok, _, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        "/nonexistent.pt",
        "--to",
        out_s,
    ]);
    assert!(!ok && stderr.contains("/nonexistent.pt"), "{stderr}");
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"PK\x03\x04 truncated").unwrap();
    let (ok, _, stderr) = histo(&[
        "convert-checkpoint",
        "--from",
        junk.to_str().unwrap(),
        "--to",
        out_s,
    ]);
    assert!(!ok && stderr.contains("junk.pt"), "{stderr}");
    assert!(!out.exists());
}
