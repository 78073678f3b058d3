//! [`Checkpoint`]: named tensors in a safetensors file with a JSON metadata block, written
//! atomically.
//!
//! Layout: each network part's state dict is stored under `"{part}.{name}"` (e.g.
//! `model.model.conv1.weight`, `classifier.classifier.0.weight`), as PyTorch would name a module
//! holding the parts as attributes. Training state (optimiser moments, Lookahead slow weights)
//! uses other prefixes (`optim.`, `lookahead.`) in the same file. The safetensors
//! `__metadata__` map holds one key, `histo`, whose value is the JSON of [`CheckpointMeta`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::store::VarStore;
use crate::{Error, ResNetConfig, Result, TripletConfig};

/// Version of the checkpoint layout written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// What a checkpoint holds, as JSON in the safetensors header.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointMeta {
    /// Layout version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// `pretext`, `finetune`, `consistency`, `resnet`, `imported`, …
    pub model_kind: String,
    /// TripletNet shape, when there is one.
    pub triplet: Option<TripletConfig>,
    /// Plain ResNet shape, when there is one.
    pub resnet: Option<ResNetConfig>,
    /// Output count of the classifier (1 = regression).
    pub classes: Option<usize>,
    /// Pipeline stage (`rsp`, `finetune`, `consistency`).
    pub stage: Option<String>,
    /// Epochs completed.
    pub epoch: Option<u64>,
    /// The resolved stage configuration.
    pub config: serde_json::Value,
    /// Metrics at save time (e.g. `{"val_loss": 0.31}`).
    pub metrics: BTreeMap<String, f64>,
    /// Training state that is not a tensor (optimiser step counts, schedule, Lookahead counter).
    pub train_state: serde_json::Value,
    /// Free-form provenance (e.g. the `.pt` a checkpoint was converted from).
    pub source: Option<String>,
}

/// Named tensors plus metadata; see the module documentation for the layout.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// The metadata.
    pub meta: CheckpointMeta,
    /// Every tensor, by full name.
    pub tensors: BTreeMap<String, Tensor>,
}

impl Checkpoint {
    /// An empty checkpoint with this metadata (its `format` is set to [`FORMAT_VERSION`]).
    pub fn new(meta: CheckpointMeta) -> Self {
        Self {
            meta: CheckpointMeta {
                format: FORMAT_VERSION,
                ..meta
            },
            tensors: BTreeMap::new(),
        }
    }

    /// Adds a snapshot of a network part under `"{part}."`.
    pub fn add_part(&mut self, part: &str, store: &VarStore) -> Result<()> {
        for (name, t) in store.state_dict()? {
            self.tensors.insert(format!("{part}.{name}"), t);
        }
        Ok(())
    }

    /// Adds a tensor.
    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    /// The names of the parts present (the text before the first `.`), sorted.
    pub fn part_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tensors
            .keys()
            .filter_map(|k| k.split_once('.').map(|(p, _)| p.to_string()))
            .collect();
        v.dedup();
        v
    }

    /// The tensors of one part, names without the `"{part}."` prefix.
    pub fn part(&self, part: &str) -> HashMap<String, Tensor> {
        let prefix = format!("{part}.");
        self.tensors
            .iter()
            .filter_map(|(k, t)| k.strip_prefix(&prefix).map(|n| (n.to_string(), t.clone())))
            .collect()
    }

    /// Loads part `part` into `store`, failing with the name of any missing, mismatched or
    /// unexpected tensor. `source` names the file in messages.
    pub fn load_part(&self, part: &str, store: &VarStore, source: &Path) -> Result<()> {
        let tensors = self.part(part);
        let name = format!("{} (part `{part}`)", source.display());
        if tensors.is_empty() {
            return Err(Error::BadCheckpoint {
                path: source.to_path_buf(),
                reason: format!(
                    "no tensors of part `{part}` (parts present: {})",
                    self.part_names().join(", ")
                ),
            });
        }
        store.load(&tensors, &name)
    }

    /// Writes the checkpoint to `path` atomically: a temporary file in the same folder is
    /// written, flushed to disk and renamed over `path`, so a crash leaves either the old file or
    /// the new one, never a torn file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut cpu = BTreeMap::new();
        for (k, t) in &self.tensors {
            cpu.insert(k.as_str(), t.to_device(&Device::Cpu)?.contiguous()?);
        }
        let meta = serde_json::to_string(&self.meta).map_err(|e| Error::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!("cannot encode metadata: {e}"),
        })?;
        let header = HashMap::from([("histo".to_string(), meta)]);
        let bytes = safetensors::serialize(cpu.iter().map(|(k, v)| (*k, v)), Some(header))
            .map_err(|e| Error::BadCheckpoint {
                path: path.to_path_buf(),
                reason: format!("cannot serialise: {e}"),
            })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io(std::io::Error::other("not a file path")))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            file_name.to_string_lossy(),
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&tmp, path)?;
            // make the rename itself durable; not every platform can sync a folder
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Reads a checkpoint (any safetensors file; metadata defaults when absent) onto `device`.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |reason: String| Error::BadCheckpoint {
            path: path.to_path_buf(),
            reason,
        };
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("{e} (truncated or not a safetensors file?)")))?;
        safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("{e} (truncated or not a safetensors file?)")))?;
        let meta = match header.metadata().as_ref().and_then(|m| m.get("histo")) {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| bad(format!("metadata `histo` is not valid: {e}")))?,
            None => CheckpointMeta::default(),
        };
        let tensors = candle_core::safetensors::load_buffer(&bytes, device)
            .map_err(|e| bad(e.to_string()))?
            .into_iter()
            .collect();
        Ok(Self { meta, tensors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Classifier, Mode};

    #[test]
    fn save_load_round_trip_keeps_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let c = Classifier::pretext(12, &Device::Cpu, 3).unwrap();
        let mut ck = Checkpoint::new(CheckpointMeta {
            model_kind: "test".into(),
            epoch: Some(7),
            metrics: BTreeMap::from([("val_loss".to_string(), 0.25)]),
            ..Default::default()
        });
        ck.add_part("classifier", c.store()).unwrap();
        let p = dir.path().join("c.safetensors");
        ck.save(&p).unwrap();
        let back = Checkpoint::load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.meta, ck.meta);
        assert_eq!(back.meta.format, FORMAT_VERSION);
        assert_eq!(back.part_names(), vec!["classifier".to_string()]);
        let c2 = Classifier::pretext(12, &Device::Cpu, 4).unwrap();
        back.load_part("classifier", c2.store(), &p).unwrap();
        let x = Tensor::ones((2, 12), candle_core::DType::F32, &Device::Cpu).unwrap();
        let (a, b) = (c.forward(&x).unwrap(), c2.forward(&x).unwrap());
        assert_eq!(
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
        // no temporary file is left behind
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        let _ = Mode::EVAL;
    }

    #[test]
    fn truncated_and_foreign_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = Classifier::pretext(12, &Device::Cpu, 3).unwrap();
        let mut ck = Checkpoint::new(CheckpointMeta::default());
        ck.add_part("classifier", c.store()).unwrap();
        let p = dir.path().join("c.safetensors");
        ck.save(&p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
        let e = Checkpoint::load(&cut, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cut.safetensors") && e.contains("not a valid"),
            "{e}"
        );
        let junk = dir.path().join("junk.safetensors");
        std::fs::write(&junk, b"hello").unwrap();
        assert!(Checkpoint::load(&junk, &Device::Cpu).is_err());
        let e = Checkpoint::load(dir.path().join("absent"), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("absent"), "{e}");
        // wrong architecture: a 7-input classifier cannot take these tensors
        let other = Classifier::pretext(7, &Device::Cpu, 3).unwrap();
        let e = ck
            .load_part("classifier", other.store(), &p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("classifier.0.weight") && e.contains("[128, 12]"),
            "{e}"
        );
        let e = ck
            .load_part("model", other.store(), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no tensors of part `model`"), "{e}");
    }
}
