//! Importing the original PyTorch checkpoints (`.pt`/`.pth` zip-pickle files as saved by the
//! original scripts: a dict with keys `model`, `classifier`, `model_student`, … holding state
//! dicts, possibly with DataParallel's `module.` prefix), through candle's pickle reader.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::Tensor;
use candle_core::pickle::PthTensors;

use crate::{Checkpoint, CheckpointMeta, Error, ResNetConfig, Result, TripletConfig};

/// The state-dict keys the original scripts save (spec §2.3, §4.5), probed in this order.
pub const ORIGINAL_PARTS: [&str; 7] = [
    "model",
    "classifier",
    "model_student",
    "classifier_student",
    "model_teacher",
    "classifier_teacher",
    "state_dict",
];

/// Reads the state dict stored under `part` of a PyTorch checkpoint (or, with `None`, a file
/// that is itself a state dict). The `module.` prefix of DataParallel is removed from the names
/// that have it, and only from those (the original strips 7 characters unconditionally, B34).
pub fn read_part(path: &Path, part: Option<&str>) -> Result<BTreeMap<String, Tensor>> {
    let err = |reason: String| Error::PyTorch {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(err("no such file".into()));
    }
    let pth = PthTensors::new(path, part).map_err(|e| {
        let msg = e.to_string();
        if let (true, Some(p)) = (msg.contains("not found"), part) {
            let found = available_parts(path).unwrap_or_default();
            err(format!(
                "has no entry `{p}` (state dicts found: {})",
                if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                }
            ))
        } else {
            err(format!("cannot read as a PyTorch checkpoint: {msg}"))
        }
    })?;
    let mut out = BTreeMap::new();
    let mut names: Vec<&String> = pth.tensor_infos().keys().collect();
    names.sort();
    for name in names {
        let t = pth
            .get(name)
            .map_err(|e| err(format!("tensor `{name}`: {e}")))?
            .ok_or_else(|| err(format!("tensor `{name}` vanished while reading")))?;
        let clean = name.strip_prefix("module.").unwrap_or(name).to_string();
        if out.insert(clean.clone(), t).is_some() {
            return Err(err(format!(
                "tensor `{clean}` appears both with and without the `module.` prefix"
            )));
        }
    }
    if out.is_empty() {
        return Err(err(match part {
            Some(p) => format!("entry `{p}` holds no tensors"),
            None => {
                let found = available_parts(path).unwrap_or_default();
                format!(
                    "holds no top-level tensors; it is a dict of state dicts: choose a part ({})",
                    found.join(", ")
                )
            }
        }));
    }
    Ok(out)
}

/// The entries of [`ORIGINAL_PARTS`] present in a PyTorch checkpoint and holding tensors.
pub fn available_parts(path: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for p in ORIGINAL_PARTS {
        if let Ok(t) = PthTensors::new(path, Some(p))
            && !t.tensor_infos().is_empty()
        {
            found.push(p.to_string());
        }
    }
    Ok(found)
}

/// Converts a PyTorch checkpoint into a histo [`Checkpoint`]: each chosen part (all present
/// ones when `parts` is empty) is stored under `"{part}."`, and the metadata records the source
/// and, when the shapes say so, the TripletNet configuration and class count. A file that is a
/// bare state dict becomes part `model`.
pub fn convert(path: &Path, parts: &[String]) -> Result<Checkpoint> {
    let chosen: Vec<String> = if parts.is_empty() {
        available_parts(path)?
    } else {
        parts.to_vec()
    };
    let mut ck = Checkpoint::new(CheckpointMeta {
        model_kind: "imported".into(),
        source: Some(path.display().to_string()),
        ..Default::default()
    });
    let mut sets: Vec<(String, BTreeMap<String, Tensor>)> = Vec::new();
    if chosen.is_empty() {
        sets.push(("model".into(), read_part(path, None)?));
    } else {
        for p in &chosen {
            sets.push((p.clone(), read_part(path, Some(p))?));
        }
    }
    for (p, tensors) in &sets {
        let as_map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if ck.meta.triplet.is_none() {
            ck.meta.triplet = infer_triplet_config(&as_map);
        }
        if ck.meta.classes.is_none() && p.starts_with("classifier") {
            ck.meta.classes = infer_classes(&as_map);
        }
        for (k, t) in tensors {
            ck.insert(format!("{p}.{k}"), t.clone());
        }
    }
    Ok(ck)
}

/// The [`TripletConfig`] of a TripletNet state dict (`model.*`, `fc.*`), read from shapes.
pub fn infer_triplet_config(t: &HashMap<String, Tensor>) -> Option<TripletConfig> {
    let width = t.get("model.conv1.weight")?.dims()[0];
    let bottleneck = t.contains_key("model.layer1.0.conv3.weight");
    let deep = t.contains_key("model.layer3.5.conv1.weight");
    let depth = match (bottleneck, deep) {
        (true, _) => 50,
        (false, true) => 34,
        (false, false) => 18,
    };
    let hidden = t.get("fc.0.weight")?.dims()[0];
    let out = t.get("fc.2.weight")?.dims()[0];
    Some(TripletConfig {
        trunk: ResNetConfig { depth, width },
        head_hidden: hidden,
        head_out: out,
    })
}

/// Output count of a classifier state dict (`classifier.N.weight` with the largest N).
pub fn infer_classes(t: &HashMap<String, Tensor>) -> Option<usize> {
    t.iter()
        .filter_map(|(k, v)| {
            let idx: usize = k
                .strip_prefix("classifier.")?
                .strip_suffix(".weight")?
                .parse()
                .ok()?;
            Some((idx, v.dims()[0]))
        })
        .max_by_key(|(i, _)| *i)
        .map(|(_, n)| n)
}
