//! Inference in eval mode over images or a dataset, and the per-epoch validation.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::Device;
use histo_datasets::Dataset;
use histo_models::{FinetuneModel, Mode};
use histo_tensor::{Image, InputScale, Target};
use rayon::prelude::*;

use crate::pipeline::{images_tensor, to_input};
use crate::task::{Tally, TaskKind};
use crate::{Error, Result};

/// Raw network outputs (logits, or the regression score) of `images` (already at the input
/// size), one row per image, in eval mode.
pub fn infer(
    model: &FinetuneModel,
    images: &[Image],
    scale: InputScale,
    device: &Device,
) -> Result<Vec<Vec<f32>>> {
    if images.is_empty() {
        return Ok(Vec::new());
    }
    let x = images_tensor(images, scale, device)?;
    let y = model.forward(&x, Mode::EVAL)?.detach();
    Ok(y.to_device(&Device::Cpu)?.to_vec2::<f32>()?)
}

/// Softmax of one row of logits (in f64, normalised so the row sums to 1).
pub fn softmax_row(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let e: Vec<f64> = logits.iter().map(|&l| (l as f64 - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// Pixel budget under which validation images are decoded once and kept.
const CACHE_BYTES: usize = 256 << 20;

/// Decodes and resizes samples of a dataset in batches (on rayon threads), keeping them in
/// memory when they fit in 256 MiB.
pub struct Images {
    data: Arc<dyn Dataset>,
    indices: Vec<usize>,
    size: usize,
    cache: Option<Vec<Image>>,
}

impl Images {
    /// `indices` of `data` at `size` pixels.
    pub fn new(data: Arc<dyn Dataset>, indices: Vec<usize>, size: usize) -> Result<Self> {
        let mut s = Self {
            data,
            indices,
            size,
            cache: None,
        };
        if s.indices.len() * size * size * 3 <= CACHE_BYTES {
            s.cache = Some(s.load(0..s.indices.len())?);
        }
        Ok(s)
    }

    fn load(&self, range: std::ops::Range<usize>) -> Result<Vec<Image>> {
        self.indices[range]
            .par_iter()
            .map(|&i| {
                let s = self.data.get(i)?;
                to_input(&s.image, self.size)
            })
            .collect()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The dataset index of sample `k`.
    pub fn index(&self, k: usize) -> usize {
        self.indices[k]
    }

    /// Samples `range`, decoded and resized.
    pub fn batch(&self, range: std::ops::Range<usize>) -> Result<Vec<Image>> {
        match &self.cache {
            Some(c) => Ok(c[range].to_vec()),
            None => self.load(range),
        }
    }

    /// Raw outputs for every sample, `batch` images per forward pass.
    pub fn outputs(
        &self,
        model: &FinetuneModel,
        scale: InputScale,
        device: &Device,
        batch: usize,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(self.len());
        let mut start = 0;
        while start < self.len() {
            let end = (start + batch).min(self.len());
            out.extend(infer(model, &self.batch(start..end)?, scale, device)?);
            start = end;
        }
        Ok(out)
    }
}

/// The validation set of a run and its figures (`val_loss`, `val_acc` or `val_mae`).
pub struct Validator {
    images: Images,
    targets: Vec<Target>,
    task: TaskKind,
    scale: InputScale,
    batch: usize,
}

impl Validator {
    /// Validation over `indices` of `data`.
    pub fn new(
        data: Arc<dyn Dataset>,
        indices: Vec<usize>,
        task: TaskKind,
        size: usize,
        scale: InputScale,
        batch: usize,
    ) -> Result<Self> {
        if indices.is_empty() {
            return Err(Error::Config(
                "the validation set is empty (raise the validation fraction or give a dataset \
                 with a validation part)"
                    .into(),
            ));
        }
        let targets = indices
            .iter()
            .map(|&i| data.target(i))
            .collect::<histo_datasets::Result<Vec<_>>>()?;
        Ok(Self {
            images: Images::new(data, indices, size)?,
            targets,
            task,
            scale,
            batch,
        })
    }

    /// Number of validation samples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// The figures of `model` (eval mode).
    pub fn run(&self, model: &FinetuneModel, device: &Device) -> Result<BTreeMap<String, f64>> {
        let outputs = self.images.outputs(model, self.scale, device, self.batch)?;
        let mut tally = Tally::default();
        for (o, &t) in outputs.iter().zip(&self.targets) {
            tally.add(self.task, o, t);
        }
        Ok(tally.metrics(self.task).into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_rows_are_normalised() {
        let p = softmax_row(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!((p[0] - 0.090_030_573_170_380_46).abs() < 1e-12);
        let q = softmax_row(&[1000.0, -1000.0]);
        assert_eq!(q, vec![1.0, 0.0]);
    }
}
