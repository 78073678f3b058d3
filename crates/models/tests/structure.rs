//! Architecture facts checked against torchvision / the original code: parameter counts,
//! names and order, freezing groups, initialisation determinism, BatchNorm modes.

use candle_core::{DType, Device, Tensor};
use histo_models::{
    Classifier, FinetuneModel, Group, Kind, Mode, PretextModel, ResNetClassifier, ResNetConfig,
    TripletConfig, TripletNet,
};

fn count(store: &histo_models::VarStore) -> usize {
    store.num_params()
}

#[test]
fn parameter_counts_equal_torchvision_and_the_original() {
    // torchvision resnet18/34/50 with a 1000-class fc: sum(p.numel() for p in m.parameters())
    for (depth, want) in [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032)] {
        let m = ResNetClassifier::new(ResNetConfig { depth, width: 64 }, 1000, &Device::Cpu, 0)
            .unwrap();
        assert_eq!(count(m.store()), want, "resnet{depth}");
    }
    // the original RSP network: TripletNet('resnet18') + Classifier(768, 6) (BASELINE.md)
    let p = PretextModel::new(TripletConfig::default(), &Device::Cpu, 0).unwrap();
    assert_eq!(
        count(p.net.store()) + count(p.classifier.store()),
        11_931_846
    );
}

#[test]
fn names_and_order_follow_named_parameters() {
    let net = TripletNet::new(TripletConfig::narrow(18, 8), &Device::Cpu, 0).unwrap();
    let params: Vec<&str> = net.store().params().map(|e| e.name.as_str()).collect();
    // spec §3.2: 64 tensors, with these at the documented indices
    assert_eq!(params.len(), 64);
    let at = |i: usize| params[i];
    assert_eq!(at(0), "model.conv1.weight");
    assert_eq!(at(2), "model.bn1.bias");
    assert_eq!(at(3), "model.layer1.0.conv1.weight");
    assert_eq!(at(15), "model.layer2.0.conv1.weight");
    assert_eq!(at(21), "model.layer2.0.downsample.0.weight");
    assert_eq!(at(23), "model.layer2.0.downsample.1.bias");
    assert_eq!(at(30), "model.layer3.0.conv1.weight");
    assert_eq!(at(36), "model.layer3.0.downsample.0.weight");
    assert_eq!(at(45), "model.layer4.0.conv1.weight");
    assert_eq!(at(51), "model.layer4.0.downsample.0.weight");
    assert_eq!(at(60), "fc.0.weight");
    assert_eq!(at(63), "fc.2.bias");
    // buffers sit after their layer's parameters, as in state_dict()
    let all: Vec<&str> = net
        .store()
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        &all[1..6],
        &[
            "model.bn1.weight",
            "model.bn1.bias",
            "model.bn1.running_mean",
            "model.bn1.running_var",
            "model.bn1.num_batches_tracked"
        ]
    );
    let c = Classifier::pretext(96, &Device::Cpu, 0).unwrap();
    let names: Vec<&str> = c
        .store()
        .entries()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "classifier.0.weight",
            "classifier.0.bias",
            "classifier.2.weight",
            "classifier.2.bias"
        ]
    );
}

#[test]
fn original_module_indices_equal_named_groups() {
    let mut net = TripletNet::new(TripletConfig::narrow(18, 8), &Device::Cpu, 0).unwrap();
    for n in [0usize, 3, 15, 30, 45, 60, 64] {
        net.store_mut().freeze_first(n, false).unwrap();
        let by_index: Vec<String> = net.store().trainable().into_iter().map(|p| p.0).collect();
        net.store_mut()
            .freeze_groups(&Group::from_original_modules(n).unwrap(), false);
        let by_group: Vec<String> = net.store().trainable().into_iter().map(|p| p.0).collect();
        assert_eq!(by_index, by_group, "--modules {n}");
        assert_eq!(by_index.len(), 64 - n);
    }
    assert!(net.store_mut().freeze_first(65, false).is_err());
}

fn running_mean_sum(net: &TripletNet) -> f32 {
    net.store()
        .entries()
        .iter()
        .filter(|e| e.kind == Kind::Buffer && e.name.ends_with("running_mean"))
        .map(|e| {
            e.var
                .as_tensor()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        })
        .sum()
}

#[test]
fn frozen_batchnorm_runs_in_train_or_eval_mode_as_asked() {
    let x = Tensor::arange(0f32, 2. * 3. * 32. * 32., &Device::Cpu)
        .unwrap()
        .reshape((2, 3, 32, 32))
        .unwrap()
        .sin()
        .unwrap();
    let mut m = FinetuneModel::new(TripletConfig::narrow(18, 4), 2, &Device::Cpu, 5).unwrap();
    let before = running_mean_sum(&m.net);
    // frozen trunk, BN still in train mode (the original, B2): running stats move
    m.freeze(&Group::TRUNK, false);
    m.forward(&x, Mode::TRAIN).unwrap();
    let after_train = running_mean_sum(&m.net);
    assert_ne!(before, after_train);
    // frozen trunk with BN in eval mode: statistics stay, output equals an eval forward
    m.freeze(&Group::TRUNK, true);
    let y_train = m.forward(&x, Mode::TRAIN).unwrap();
    assert_eq!(running_mean_sum(&m.net), after_train);
    let y_eval = m.forward(&x, Mode::EVAL).unwrap();
    let d = (y_train - y_eval)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0);
    // one update per forward by default, three in the original's fine-tune mode (B1)
    let tracked = |m: &FinetuneModel| {
        m.net
            .store()
            .get("model.bn1.num_batches_tracked")
            .unwrap()
            .var
            .as_tensor()
            .to_scalar::<i64>()
            .unwrap()
    };
    m.freeze(&[], false);
    let t0 = tracked(&m);
    m.forward(&x, Mode::TRAIN).unwrap();
    assert_eq!(tracked(&m), t0 + 1);
    m.original_bn_updates = true;
    m.forward(&x, Mode::TRAIN).unwrap();
    assert_eq!(tracked(&m), t0 + 4);
}

#[test]
fn initialisation_is_seeded() {
    let cfg = TripletConfig::narrow(18, 4);
    let a = TripletNet::new(cfg, &Device::Cpu, 1).unwrap();
    let b = TripletNet::new(cfg, &Device::Cpu, 1).unwrap();
    let c = TripletNet::new(cfg, &Device::Cpu, 2).unwrap();
    let w = |n: &TripletNet| -> Vec<f32> {
        n.store()
            .get("model.layer3.1.conv2.weight")
            .unwrap()
            .var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    assert_eq!(w(&a), w(&b));
    assert_ne!(w(&a), w(&c));
    // BN: gamma 1, beta 0, running var 1
    let g = a
        .store()
        .get("model.layer1.0.bn1.weight")
        .unwrap()
        .var
        .as_tensor();
    assert_eq!(g.to_vec1::<f32>().unwrap(), vec![1.0; 4]);
}

#[test]
fn deeper_trunks_and_odd_inputs_run() {
    for depth in [34, 50] {
        let cfg = TripletConfig::narrow(depth, 4);
        let m = PretextModel::new(cfg, &Device::Cpu, 0).unwrap();
        let x = Tensor::ones((2, 3, 37, 45), DType::F32, &Device::Cpu).unwrap();
        let y = m.forward(&x, &x, &x, Mode::TRAIN).unwrap();
        assert_eq!(y.dims(), &[2, 6]);
        assert_eq!(
            m.net.config().trunk.features(),
            if depth == 50 { 128 } else { 32 }
        );
    }
    let bad = TripletNet::new(TripletConfig::narrow(20, 4), &Device::Cpu, 0).unwrap_err();
    assert!(bad.to_string().contains("depth 20"), "{bad}");
    let m = TripletNet::new(TripletConfig::narrow(18, 4), &Device::Cpu, 0).unwrap();
    let small = Tensor::ones((1, 3, 16, 16), DType::F32, &Device::Cpu).unwrap();
    assert!(m.embed(&small, Mode::EVAL).is_err());
}

#[test]
fn loading_names_the_missing_mismatched_or_unexpected_tensor() {
    use std::collections::HashMap;
    let c = Classifier::pretext(96, &Device::Cpu, 0).unwrap();
    let good: HashMap<String, Tensor> = c.store().state_dict().unwrap().into_iter().collect();
    let mut extra = good.clone();
    extra.insert(
        "classifier.4.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let e = c.store().load(&extra, "x.pt").unwrap_err().to_string();
    assert!(
        e.contains("x.pt") && e.contains("classifier.4.weight"),
        "{e}"
    );
    let mut missing = good.clone();
    missing.remove("classifier.2.bias");
    let e = c.store().load(&missing, "x.pt").unwrap_err().to_string();
    assert!(e.contains("`classifier.2.bias` is missing"), "{e}");
    // a failed load changes nothing
    let before = c.store().state_dict().unwrap();
    let mut wrong = good.clone();
    wrong.insert(
        "classifier.0.weight".into(),
        Tensor::zeros((128, 95), DType::F32, &Device::Cpu).unwrap(),
    );
    wrong.insert(
        "classifier.0.bias".into(),
        Tensor::ones(128, DType::F32, &Device::Cpu).unwrap(),
    );
    assert!(c.store().load(&wrong, "x.pt").is_err());
    let after = c.store().state_dict().unwrap();
    for ((n, a), (_, b)) in before.iter().zip(&after) {
        let d = (a - b).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(d.to_scalar::<f32>().unwrap(), 0.0, "{n}");
    }
}
