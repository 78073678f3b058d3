//! Building and loading the fine-tune network: from an RSP checkpoint, from random, from an
//! original PyTorch `.pt`, or from a stage-2/3 checkpoint; the forward pass used by training
//! (with the trunk detached when it is frozen) and the teacher updates.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::{Device, Tensor};
use histo_models::{
    Checkpoint, CheckpointMeta, Classifier, FinetuneModel, Group, Mode, TripletNet, VarStore,
    pytorch,
};
use histo_tensor::InputScale;
use serde::{Deserialize, Serialize};

use crate::config::{InputConfig, ModelConfig};
use crate::task::TaskKind;
use crate::{Error, Result};

/// Where stage 2 starts from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// A freshly initialised network (torchvision initialisation, seeded): the "random"
    /// baseline of the paper.
    Random,
    /// A checkpoint: histo `.safetensors` (an RSP run's `best.safetensors`, or any checkpoint
    /// with a `model` part) or an original PyTorch `.pt`/`.pth`.
    Checkpoint(PathBuf),
}

impl FromStr for Init {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Config(
                "--init needs `random` or the path of a checkpoint".into(),
            ));
        }
        Ok(if s.eq_ignore_ascii_case("random") {
            Init::Random
        } else {
            Init::Checkpoint(PathBuf::from(s))
        })
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Random => f.write_str("random"),
            Init::Checkpoint(p) => write!(f, "{}", p.display()),
        }
    }
}

/// What a stage records about its run in every checkpoint (`meta.config.run`) and in
/// `run.json`, so that prediction knows the task, the classes and the input format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `finetune` or `consistency`.
    pub stage: String,
    /// The task.
    pub task: TaskKind,
    /// Network outputs (1 for regression).
    pub classes: usize,
    /// Class names in label order (empty for regression).
    pub class_names: Vec<String>,
    /// Input size and scaling.
    pub input: InputConfig,
    /// The dataset (`KIND:PATH`).
    pub data: String,
    /// What the network was initialised from.
    pub init: String,
    /// The seed.
    pub seed: u64,
}

fn is_pytorch(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("pt" | "pth" | "tar" | "ckpt")
    )
}

/// Reads a histo checkpoint or converts an original PyTorch one (all its parts).
pub fn read_checkpoint(path: &Path, device: &Device) -> Result<Checkpoint> {
    if !path.is_file() {
        return Err(Error::input(path, "no such checkpoint file"));
    }
    if is_pytorch(path) {
        Ok(pytorch::convert(path, &[])?)
    } else {
        Ok(Checkpoint::load(path, device)?)
    }
}

/// Finds `key` anywhere in a JSON value (depth first).
fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .or_else(|| m.values().find_map(|x| find_key(x, key))),
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_key(x, key)),
        _ => None,
    }
}

/// The [`RunInfo`] a histo-ssl-cr checkpoint carries.
pub fn run_info(meta: &CheckpointMeta) -> Option<RunInfo> {
    serde_json::from_value(meta.config.get("run")?.clone()).ok()
}

/// The input scaling recorded in a checkpoint (ours, or an RSP run's `input_scale`).
pub fn recorded_scale(meta: &CheckpointMeta) -> Option<InputScale> {
    if let Some(info) = run_info(meta) {
        return Some(info.input.scale);
    }
    find_key(&meta.config, "input_scale").and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The part of `ck` holding a TripletNet: `model`, else `model_student` (a converted
/// consistency checkpoint).
fn net_part(ck: &Checkpoint, path: &Path) -> Result<&'static str> {
    let names = ck.part_names();
    for p in ["model", "model_student"] {
        if names.iter().any(|n| n == p) {
            return Ok(p);
        }
    }
    Err(Error::input(
        path,
        format!(
            "holds no network part `model` (parts present: {})",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        ),
    ))
}

/// What a stage-2 network was initialised from, for the logs and the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InitInfo {
    /// `random` or the checkpoint path.
    pub from: String,
    /// The checkpoint's stage / kind, when it says.
    pub kind: Option<String>,
    /// The input scaling the checkpoint was trained with, when it says.
    pub scale: Option<InputScale>,
}

/// The stage-2 network: trunk + pair head from `init` (or random, shaped by `shape`) and a new
/// `Linear(3·out, classes)` head.
pub fn finetune_model(
    init: &Init,
    shape: &ModelConfig,
    classes: usize,
    device: &Device,
    seed: u64,
) -> Result<(FinetuneModel, InitInfo)> {
    let (net, info) = match init {
        Init::Random => (
            TripletNet::new(shape.triplet(), device, seed)?,
            InitInfo {
                from: "random".into(),
                kind: None,
                scale: None,
            },
        ),
        Init::Checkpoint(path) => {
            let ck = read_checkpoint(path, device)?;
            let part = net_part(&ck, path)?;
            let net = TripletNet::from_checkpoint(&ck, path, part, device)?;
            let kind =
                ck.meta.stage.clone().or_else(|| {
                    (!ck.meta.model_kind.is_empty()).then(|| ck.meta.model_kind.clone())
                });
            if net.config() != shape.triplet() {
                tracing::info!(
                    "{}: using the checkpoint's network shape {:?} (the preset's is {:?})",
                    path.display(),
                    net.config(),
                    shape.triplet()
                );
            }
            if let Some(w) = ck.part("classifier").get("classifier.0.weight")
                && !ck.part("classifier").contains_key("classifier.2.weight")
            {
                tracing::info!(
                    "{}: its fine-tune head ({} outputs) is not used; stage 2 starts a new head \
                     with {classes}",
                    path.display(),
                    w.dims()[0]
                );
            }
            let info = InitInfo {
                from: path.display().to_string(),
                kind,
                scale: recorded_scale(&ck.meta),
            };
            (net, info)
        }
    };
    let classifier = Classifier::linear(net.config().embedding(), classes, device, seed)?;
    Ok((
        FinetuneModel {
            net,
            classifier,
            original_bn_updates: false,
        },
        info,
    ))
}

/// A trained fine-tune model and what its checkpoint says about it.
pub struct Finetuned {
    /// The network (student part of a consistency checkpoint).
    pub model: FinetuneModel,
    /// The checkpoint metadata.
    pub meta: CheckpointMeta,
    /// The run information (`None` for imported checkpoints).
    pub info: Option<RunInfo>,
}

/// Loads the full fine-tune model (trunk, pair head and head) of a stage-2 or stage-3
/// checkpoint: parts `model` + `classifier`, or `model_student` + `classifier_student` of a
/// converted original consistency checkpoint. An RSP checkpoint is refused with a message that
/// says so.
pub fn load_finetuned(path: &Path, device: &Device) -> Result<Finetuned> {
    let ck = read_checkpoint(path, device)?;
    let stage = ck.meta.stage.as_deref().unwrap_or("");
    let names = ck.part_names();
    let (mpart, cpart) = if names.iter().any(|n| n == "classifier_student")
        && !names.iter().any(|n| n == "classifier")
    {
        ("model_student", "classifier_student")
    } else {
        ("model", "classifier")
    };
    let head = ck.part(cpart);
    let pretext = matches!(stage, "rsp" | "pretrain" | "pretext")
        || ck.meta.model_kind == "pretext"
        || head.contains_key("classifier.2.weight");
    if pretext {
        return Err(Error::input(
            path,
            "is an RSP (stage 1) checkpoint: its classifier predicts the 6 tile orders, not the \
             task. Fine-tune it first (`histo finetune --init` this file), then use the \
             fine-tuned checkpoint",
        ));
    }
    if head.is_empty() {
        return Err(Error::input(
            path,
            format!(
                "has no fine-tune head (part `{cpart}`; parts present: {}); is it a fine-tuned \
                 checkpoint?",
                names.join(", ")
            ),
        ));
    }
    let net = TripletNet::from_checkpoint(&ck, path, mpart, device)?;
    let classes = head
        .get("classifier.0.weight")
        .map(|w| w.dims()[0])
        .ok_or_else(|| Error::input(path, format!("part `{cpart}` has no classifier.0.weight")))?;
    let classifier = Classifier::linear(net.config().embedding(), classes, device, 0)?;
    ck.load_part(cpart, classifier.store(), path)?;
    let info = run_info(&ck.meta);
    Ok(Finetuned {
        model: FinetuneModel {
            net,
            classifier,
            original_bn_updates: false,
        },
        meta: ck.meta,
        info,
    })
}

/// `true` when every trunk parameter is frozen (then the trunk's output can be detached, which
/// spares its backward pass).
pub fn trunk_frozen(model: &FinetuneModel) -> bool {
    model
        .net
        .store()
        .params()
        .filter(|e| Group::TRUNK.contains(&e.group))
        .all(|e| !e.trainable)
}

/// The fine-tune forward `[N, C]`. With `detach_trunk` the trunk features are cut from the
/// graph (same values; no gradient flows into a frozen trunk). BatchNorm layers follow `mode`
/// (and the freezing flags), as in [`FinetuneModel::forward`].
pub fn forward(
    model: &FinetuneModel,
    x: &Tensor,
    mode: Mode,
    detach_trunk: bool,
) -> Result<Tensor> {
    if !detach_trunk {
        return Ok(model.forward(x, mode)?);
    }
    let mode = if model.original_bn_updates {
        Mode {
            bn_updates: 3,
            ..mode
        }
    } else {
        mode
    };
    let e = model.net.embed(x, mode)?.detach();
    let f = model.net.pair(&e, &e)?;
    let emb = Tensor::cat(&[&f, &f, &f], 1)?;
    Ok(model.classifier.forward(&emb)?)
}

/// `teacher ← decay·teacher + (1 − decay)·student` for every float tensor (parameters and
/// BatchNorm statistics); integer buffers (`num_batches_tracked`) are copied.
pub fn ema_update(teacher: &VarStore, student: &VarStore, decay: f64) -> Result<()> {
    if teacher.entries().len() != student.entries().len() {
        return Err(Error::Config(
            "teacher and student have different architectures".into(),
        ));
    }
    for (t, s) in teacher.entries().iter().zip(student.entries()) {
        if t.name != s.name {
            return Err(Error::Config(format!(
                "teacher tensor `{}` does not match student tensor `{}`",
                t.name, s.name
            )));
        }
        let sv = s.var.as_tensor().detach();
        let new = if t.var.dtype().is_float() {
            ((t.var.as_tensor().detach() * decay)? + (sv * (1.0 - decay))?)?
        } else {
            sv.copy()?
        };
        t.var.set(&new)?;
    }
    Ok(())
}

/// Checks that a store's tensors live on `device` (B25: the original's BreastPathQ consistency
/// script built its models on the CPU and fed them CUDA tensors).
pub fn check_device(store: &VarStore, device: &Device, what: &str) -> Result<()> {
    for e in store.entries() {
        if !e.var.device().same_device(device) {
            return Err(Error::Config(format!(
                "{what}: tensor `{}` is on {:?}, the run is on {device:?}",
                e.name,
                e.var.device()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn detached_forward_has_the_same_values() {
        let dev = Device::Cpu;
        let shape = ModelConfig {
            depth: 18,
            width: 8,
        };
        let (m, info) = finetune_model(&Init::Random, &shape, 3, &dev, 1).unwrap();
        assert_eq!(info.from, "random");
        let x = Tensor::rand(0f32, 255.0, (2, 3, 32, 32), &dev).unwrap();
        let a = forward(&m, &x, Mode::EVAL, false).unwrap();
        let b = forward(&m, &x, Mode::EVAL, true).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
    }

    #[test]
    fn ema_moves_towards_the_student_and_copies_counters() {
        let dev = Device::Cpu;
        let shape = ModelConfig {
            depth: 18,
            width: 8,
        };
        let (t, _) = finetune_model(&Init::Random, &shape, 2, &dev, 1).unwrap();
        let (s, _) = finetune_model(&Init::Random, &shape, 2, &dev, 2).unwrap();
        let before = t.classifier.store().state_dict().unwrap();
        ema_update(t.classifier.store(), s.classifier.store(), 0.75).unwrap();
        let after = t.classifier.store().state_dict().unwrap();
        let stud = s.classifier.store().state_dict().unwrap();
        for ((b, a), st) in before.iter().zip(&after).zip(&stud) {
            let want = ((&b.1 * 0.75).unwrap() + (&st.1 * 0.25).unwrap()).unwrap();
            let d = (&a.1 - want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-6, "{}", a.0);
        }
        // num_batches_tracked is copied, not averaged
        let s_nbt = s.net.store().get("model.bn1.num_batches_tracked").unwrap();
        s_nbt.var.set(&Tensor::new(5i64, &dev).unwrap()).unwrap();
        ema_update(t.net.store(), s.net.store(), 0.9).unwrap();
        let t_nbt = t.net.store().get("model.bn1.num_batches_tracked").unwrap();
        assert_eq!(t_nbt.var.as_tensor().to_scalar::<i64>().unwrap(), 5);
        check_device(t.net.store(), &dev, "teacher").unwrap();
    }

    #[test]
    fn bad_checkpoints_are_named() {
        let dev = Device::Cpu;
        let e = load_finetuned(Path::new("/no/such.safetensors"), &dev)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("/no/such.safetensors"), "{e}");
        assert!("".parse::<Init>().is_err());
        assert_eq!("random".parse::<Init>().unwrap(), Init::Random);
    }
}
