//! Gradient parity with PyTorch: the pretext model of `data/fixtures/models/pretrain.pt` runs
//! once in training mode on the fixture's three views, cross-entropy against fixed labels is
//! backpropagated, and the parameter gradients must equal PyTorch's (`grads.pt`, made by
//! `make_grad_parity.py` there). This checks the whole training path through histo-kernels'
//! convolution, fused BatchNorm(+ReLU), max-pool and add+ReLU backward passes.
//!
//! Tolerance: per tensor, `max|ours − torch| ≤ 1e-4 · max|torch|` (f32 throughout; the observed
//! errors are printed); the loss to 1e-5 relative.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{D, Device, Tensor};
use histo_models::pytorch::read_part;
use histo_models::{Mode, PretextModel, TripletConfig};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/fixtures/models")
        .join(name)
}

fn read(name: &str) -> HashMap<String, Tensor> {
    candle_core::pickle::read_all(fixture(name))
        .unwrap()
        .into_iter()
        .collect()
}

fn load_pretext() -> PretextModel {
    let m = PretextModel::new(TripletConfig::narrow(18, 8), &Device::Cpu, 0).unwrap();
    let path = fixture("pretrain.pt");
    for (part, store) in m.parts() {
        let tensors: HashMap<_, _> = read_part(&path, Some(part)).unwrap().into_iter().collect();
        store.load(&tensors, part).unwrap();
    }
    m
}

/// Mean cross-entropy of `logits` `[N, C]` against `labels` `[N]`, from candle ops.
fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    let max = logits.max_keepdim(D::Minus1).unwrap();
    let shifted = logits.broadcast_sub(&max).unwrap();
    let lse = shifted
        .exp()
        .unwrap()
        .sum_keepdim(D::Minus1)
        .unwrap()
        .log()
        .unwrap();
    let picked = shifted.gather(&labels.unsqueeze(1).unwrap(), 1).unwrap();
    (lse - picked).unwrap().mean_all().unwrap()
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
    diff.to_scalar::<f32>().unwrap() / scale.to_scalar::<f32>().unwrap().max(1e-12)
}

#[test]
fn pretext_gradients_match_pytorch() {
    let exp = read("expected.pt");
    let want = read("grads.pt");
    let m = load_pretext();
    let labels = want["labels"].to_dtype(candle_core::DType::U32).unwrap();
    let logits = m
        .forward(&exp["x1"], &exp["x2"], &exp["x3"], Mode::TRAIN)
        .unwrap();
    let loss = cross_entropy(&logits, &labels);
    let torch_loss = want["loss"].to_vec1::<f32>().unwrap()[0];
    let ours = loss.to_scalar::<f32>().unwrap();
    assert!(
        (ours - torch_loss).abs() <= 1e-5 * torch_loss.abs(),
        "loss {ours} vs PyTorch {torch_loss}"
    );
    let grads = loss.backward().unwrap();
    let vars: HashMap<String, Tensor> = m
        .parts()
        .into_iter()
        .flat_map(|(_, s)| {
            s.entries()
                .iter()
                .map(|e| (e.name.clone(), e.var.as_tensor().clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut checked = 0;
    for (key, reference) in &want {
        let Some(name) = key.strip_prefix("grad.") else {
            continue;
        };
        let var = vars
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let g = grads
            .get(var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let e = rel_err(g, reference);
        eprintln!("{name:<40} rel err {e:.2e}");
        assert!(e <= 1e-4, "{name}: rel err {e}");
        checked += 1;
    }
    assert_eq!(checked, 16);
}
