//! The networks of the method: [`TripletNet`] (shared trunk + pair head), the [`Classifier`]
//! heads, and the assembled [`PretextModel`] (RSP, stage 1) and [`FinetuneModel`] (stages 2, 3),
//! plus a plain torchvision-style [`ResNetClassifier`].

use std::path::Path;

use candle_core::{Device, Tensor};
use histo_tensor::SampleRng;
use serde::{Deserialize, Serialize};

use crate::batchnorm::Mode;
use crate::linear::Linear;
use crate::resnet::{ResNet, ResNetConfig};
use crate::store::{Builder, VarStore};
use crate::{Checkpoint, Error, Group, Result};

/// Shape of a [`TripletNet`]: the trunk and the pair head `Linear(2F, hidden) → ReLU →
/// Linear(hidden, out)`; the embedding is `3·out` wide (768 for the original).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripletConfig {
    /// The ResNet trunk.
    pub trunk: ResNetConfig,
    /// Hidden width of the pair head (512 in the original).
    pub head_hidden: usize,
    /// Output width of the pair head (256 in the original).
    pub head_out: usize,
}

impl Default for TripletConfig {
    fn default() -> Self {
        Self {
            trunk: ResNetConfig::resnet18(),
            head_hidden: 512,
            head_out: 256,
        }
    }
}

impl TripletConfig {
    /// A narrow network for CPU presets and tests: trunk width `w`, pair head scaled by `w/64`.
    pub fn narrow(depth: usize, width: usize) -> Self {
        let scale = |n: usize| (n * width / 64).max(1);
        Self {
            trunk: ResNetConfig { depth, width },
            head_hidden: scale(512),
            head_out: scale(256),
        }
    }

    /// Width of the concatenated pair features (`3·head_out`).
    pub fn embedding(&self) -> usize {
        3 * self.head_out
    }

    fn validate(&self) -> Result<()> {
        self.trunk.validate()?;
        if self.head_hidden == 0 || self.head_out == 0 {
            return Err(Error::Config("pair head widths must be positive".into()));
        }
        Ok(())
    }
}

fn rng_for(seed: u64, what: &str) -> SampleRng {
    SampleRng::global(&format!("init/{what}"), seed, 0)
}

/// The RSP TripletNet (original `models/net.py` `TripletNet` / `TripletNet_Finetune`): a shared
/// ResNet trunk `model.*` and a shared pair head `fc.0`, `fc.2`. Its state dict has the original
/// names, so the released `model` dicts load one to one.
#[derive(Debug)]
pub struct TripletNet {
    store: VarStore,
    config: TripletConfig,
    trunk: ResNet,
    fc0: Linear,
    fc2: Linear,
}

impl TripletNet {
    /// A freshly initialised network (torchvision initialisation from `seed`).
    pub fn new(config: TripletConfig, device: &Device, seed: u64) -> Result<Self> {
        config.validate()?;
        let mut store = VarStore::new(device);
        let mut rng = rng_for(seed, "triplet");
        let mut b = Builder::new(&mut store, &mut rng, Group::Stem);
        let trunk = ResNet::new(&mut b.sub("model"), config.trunk)?;
        let f = trunk.features();
        let mut head = b.group(Group::PairHead);
        let mut fc = head.sub("fc");
        let fc0 = Linear::new(&mut fc.sub(0), 2 * f, config.head_hidden)?;
        let fc2 = Linear::new(&mut fc.sub(2), config.head_hidden, config.head_out)?;
        Ok(Self {
            store,
            config,
            trunk,
            fc0,
            fc2,
        })
    }

    /// The TripletNet stored as part `part` of a checkpoint (e.g. `model`, or `model_student`
    /// of a converted consistency checkpoint), its shape taken from the metadata or, failing
    /// that, from the tensor shapes.
    pub fn from_checkpoint(
        ck: &Checkpoint,
        path: &Path,
        part: &str,
        device: &Device,
    ) -> Result<Self> {
        let config = match ck.meta.triplet {
            Some(c) => c,
            None => crate::pytorch::infer_triplet_config(&ck.part(part)).ok_or_else(|| {
                Error::BadCheckpoint {
                    path: path.to_path_buf(),
                    reason: format!("part `{part}` does not hold a TripletNet (no `model.conv1.weight`, `fc.0.weight`, `fc.2.weight`)"),
                }
            })?,
        };
        let net = Self::new(config, device, 0)?;
        ck.load_part(part, net.store(), path)?;
        Ok(net)
    }

    /// The configuration.
    pub fn config(&self) -> TripletConfig {
        self.config
    }

    /// The tensors (state dict `model.*`, `fc.*`).
    pub fn store(&self) -> &VarStore {
        &self.store
    }

    /// The tensors, for freezing.
    pub fn store_mut(&mut self) -> &mut VarStore {
        &mut self.store
    }

    /// Trunk features `[N, F]` of images `[N, 3, H, W]`.
    pub fn embed(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.trunk.forward(x, mode)
    }

    /// The pair head on `[a; b]` (concatenated along features, `a` first).
    pub fn pair(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        let ab = Tensor::cat(&[a, b], 1)?;
        self.fc2.forward(&self.fc0.forward(&ab)?.relu()?)
    }

    /// The pretext forward on three views: `[g(E1;E2); g(E2;E3); g(E1;E3)]`, `[N, 3·out]`.
    /// The trunk runs once per view, as in the original (each view's batch statistics).
    pub fn forward(&self, x1: &Tensor, x2: &Tensor, x3: &Tensor, mode: Mode) -> Result<Tensor> {
        let e1 = self.embed(x1, mode)?;
        let e2 = self.embed(x2, mode)?;
        let e3 = self.embed(x3, mode)?;
        let f12 = self.pair(&e1, &e2)?;
        let f23 = self.pair(&e2, &e3)?;
        let f13 = self.pair(&e1, &e3)?;
        Ok(Tensor::cat(&[f12, f23, f13], 1)?)
    }

    /// The fine-tune forward on one view (original `TripletNet_Finetune`): `[f; f; f]` with
    /// `f = g(E;E)`. The trunk runs once (the original runs it three times on the same input,
    /// spec B1: same output and gradient; only BatchNorm running statistics differ, which
    /// `mode.bn_updates = 3` reproduces).
    pub fn forward_single(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let e = self.embed(x, mode)?;
        let f = self.pair(&e, &e)?;
        Ok(Tensor::cat(&[&f, &f, &f], 1)?)
    }
}

/// A classifier head (original `Classifier` / `FinetuneResNet`): `classifier.0` …
#[derive(Debug)]
pub struct Classifier {
    store: VarStore,
    layers: Vec<Linear>,
}

impl Classifier {
    /// The 6-way RSP pretext classifier `Linear(in, 128) → ReLU → Linear(128, 6)`
    /// (`classifier.0`, `classifier.2`).
    pub fn pretext(inputs: usize, device: &Device, seed: u64) -> Result<Self> {
        Self::mlp(inputs, &[128, 6], device, seed)
    }

    /// The fine-tune head `Linear(in, C)` (`classifier.0`); `C = 1` is a regression output.
    pub fn linear(inputs: usize, classes: usize, device: &Device, seed: u64) -> Result<Self> {
        Self::mlp(inputs, &[classes], device, seed)
    }

    /// `Linear → ReLU → … → Linear` with `Sequential` names `classifier.0`, `classifier.2`, ….
    pub fn mlp(inputs: usize, widths: &[usize], device: &Device, seed: u64) -> Result<Self> {
        if inputs == 0 || widths.is_empty() || widths.contains(&0) {
            return Err(Error::Config(format!(
                "classifier widths must be positive: in {inputs}, layers {widths:?}"
            )));
        }
        let mut store = VarStore::new(device);
        let mut rng = rng_for(seed, "classifier");
        let mut b = Builder::new(&mut store, &mut rng, Group::Classifier);
        let mut seq = b.sub("classifier");
        let mut layers = Vec::new();
        let mut cin = inputs;
        for (i, &w) in widths.iter().enumerate() {
            layers.push(Linear::new(&mut seq.sub(2 * i), cin, w)?);
            cin = w;
        }
        Ok(Self { store, layers })
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.layers.last().map(Linear::outputs).unwrap_or(0)
    }

    /// Number of inputs.
    pub fn inputs(&self) -> usize {
        self.layers.first().map(Linear::inputs).unwrap_or(0)
    }

    /// Output widths of the layers (e.g. `[128, 6]`).
    pub fn widths(&self) -> Vec<usize> {
        self.layers.iter().map(Linear::outputs).collect()
    }

    /// The tensors (state dict `classifier.*`).
    pub fn store(&self) -> &VarStore {
        &self.store
    }

    /// The tensors, for freezing.
    pub fn store_mut(&mut self) -> &mut VarStore {
        &mut self.store
    }

    /// `[N, in]` → `[N, out]` logits (or scores).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h)?;
            if i < last {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

/// Stage 1: TripletNet + 6-way pretext classifier. Checkpoint parts `model` and `classifier`
/// (the original did not save the classifier, B9; histo does).
#[derive(Debug)]
pub struct PretextModel {
    /// The TripletNet (part `model`).
    pub net: TripletNet,
    /// The 6-way classifier (part `classifier`).
    pub classifier: Classifier,
}

impl PretextModel {
    /// A freshly initialised model.
    pub fn new(config: TripletConfig, device: &Device, seed: u64) -> Result<Self> {
        let net = TripletNet::new(config, device, seed)?;
        let classifier = Classifier::pretext(config.embedding(), device, seed)?;
        Ok(Self { net, classifier })
    }

    /// Logits `[N, 6]` for the order of the three views.
    pub fn forward(&self, x1: &Tensor, x2: &Tensor, x3: &Tensor, mode: Mode) -> Result<Tensor> {
        self.classifier
            .forward(&self.net.forward(x1, x2, x3, mode)?)
    }

    /// The parts, for checkpoints: `[("model", …), ("classifier", …)]`.
    pub fn parts(&self) -> Vec<(&'static str, &VarStore)> {
        vec![
            ("model", self.net.store()),
            ("classifier", self.classifier.store()),
        ]
    }
}

/// Stages 2 and 3: TripletNet (one view) + `Linear(3·out, C)`. Checkpoint parts `model` and
/// `classifier`, as the original's `TripletNet_Finetune` + `FinetuneResNet`.
#[derive(Debug)]
pub struct FinetuneModel {
    /// The TripletNet (part `model`).
    pub net: TripletNet,
    /// The `Linear(3·out, C)` head (part `classifier`).
    pub classifier: Classifier,
    /// Reproduce the original's three BatchNorm running-statistic updates per training forward
    /// (spec B1). Off by default: one trunk pass, one update.
    pub original_bn_updates: bool,
}

impl FinetuneModel {
    /// A freshly initialised model with `classes` outputs (1 = regression).
    pub fn new(config: TripletConfig, classes: usize, device: &Device, seed: u64) -> Result<Self> {
        let net = TripletNet::new(config, device, seed)?;
        let classifier = Classifier::linear(config.embedding(), classes, device, seed)?;
        Ok(Self {
            net,
            classifier,
            original_bn_updates: false,
        })
    }

    /// The fine-tune model of a checkpoint: the TripletNet of part `model_part` and the
    /// `Linear(3·out, C)` head of part `classifier_part` (`model`/`classifier` for histo's own
    /// checkpoints, `model_student`/`classifier_student` for a converted consistency checkpoint).
    pub fn from_checkpoint(
        path: &Path,
        device: &Device,
        model_part: &str,
        classifier_part: &str,
    ) -> Result<Self> {
        let ck = Checkpoint::load(path, device)?;
        let net = TripletNet::from_checkpoint(&ck, path, model_part, device)?;
        let head = ck.part(classifier_part);
        let classes = head
            .get("classifier.0.weight")
            .map(|w| w.dims()[0])
            .ok_or_else(|| Error::BadCheckpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "part `{classifier_part}` has no `classifier.0.weight` (a fine-tune head Linear({}, C))",
                    net.config().embedding()
                ),
            })?;
        let classifier = Classifier::linear(net.config().embedding(), classes, device, 0)?;
        ck.load_part(classifier_part, classifier.store(), path)?;
        Ok(Self {
            net,
            classifier,
            original_bn_updates: false,
        })
    }

    /// Outputs `[N, C]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mode = if self.original_bn_updates {
            Mode {
                bn_updates: 3,
                ..mode
            }
        } else {
            mode
        };
        self.classifier.forward(&self.net.forward_single(x, mode)?)
    }

    /// Freezes whole groups of the TripletNet and the classifier (see
    /// [`VarStore::freeze_groups`]).
    pub fn freeze(&mut self, groups: &[Group], bn_eval: bool) {
        self.net.store_mut().freeze_groups(groups, bn_eval);
        self.classifier.store_mut().freeze_groups(groups, bn_eval);
    }

    /// The parts, for checkpoints: `[("model", …), ("classifier", …)]`.
    pub fn parts(&self) -> Vec<(&'static str, &VarStore)> {
        vec![
            ("model", self.net.store()),
            ("classifier", self.classifier.store()),
        ]
    }
}

/// torchvision's `resnet18()` etc.: a trunk plus `fc` (`Linear(F, C)`), parameter names
/// `conv1.weight` … `fc.weight`, `fc.bias`.
#[derive(Debug)]
pub struct ResNetClassifier {
    store: VarStore,
    trunk: ResNet,
    fc: Linear,
}

impl ResNetClassifier {
    /// A freshly initialised network.
    pub fn new(config: ResNetConfig, classes: usize, device: &Device, seed: u64) -> Result<Self> {
        let mut store = VarStore::new(device);
        let mut rng = rng_for(seed, "resnet");
        let mut b = Builder::new(&mut store, &mut rng, Group::Stem);
        let trunk = ResNet::new(&mut b, config)?;
        let f = trunk.features();
        let fc = Linear::new(&mut b.group(Group::Classifier).sub("fc"), f, classes)?;
        Ok(Self { store, trunk, fc })
    }

    /// The tensors.
    pub fn store(&self) -> &VarStore {
        &self.store
    }

    /// The tensors, for freezing.
    pub fn store_mut(&mut self) -> &mut VarStore {
        &mut self.store
    }

    /// Logits `[N, C]`.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        self.fc.forward(&self.trunk.forward(x, mode)?)
    }
}
