//! Training targets: a class id or a regression score.

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The label of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A class id in `0..C` (classification).
    Class(u32),
    /// A real-valued score, e.g. tumour cellularity in [0, 1] (regression).
    Score(f32),
}

impl Target {
    fn kind(&self) -> &'static str {
        match self {
            Target::Class(_) => "class id",
            Target::Score(_) => "score",
        }
    }

    /// The class id, if this is a classification target.
    pub fn class(&self) -> Option<u32> {
        match *self {
            Target::Class(c) => Some(c),
            Target::Score(_) => None,
        }
    }

    /// The target as a float (a class id is converted).
    pub fn value(&self) -> f32 {
        match *self {
            Target::Class(c) => c as f32,
            Target::Score(s) => s,
        }
    }
}

/// The targets of a batch, all of one kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetBatch {
    /// Class ids.
    Classes(Vec<u32>),
    /// Regression scores.
    Scores(Vec<f32>),
}

impl TargetBatch {
    /// Collects targets of one kind; mixing class ids and scores, or an empty slice, is an error.
    pub fn from_targets(targets: &[Target]) -> Result<Self> {
        let first = targets.first().ok_or(Error::Empty(
            "TargetBatch::from_targets needs at least one target",
        ))?;
        let mismatch = |index: usize, t: &Target| Error::MixedTargets {
            first: first.kind(),
            index,
            other: t.kind(),
        };
        match first {
            Target::Class(_) => targets
                .iter()
                .enumerate()
                .map(|(i, t)| t.class().ok_or_else(|| mismatch(i, t)))
                .collect::<Result<_>>()
                .map(TargetBatch::Classes),
            Target::Score(_) => targets
                .iter()
                .enumerate()
                .map(|(i, t)| match *t {
                    Target::Score(s) => Ok(s),
                    Target::Class(_) => Err(mismatch(i, t)),
                })
                .collect::<Result<_>>()
                .map(TargetBatch::Scores),
        }
    }

    /// Number of targets.
    pub fn len(&self) -> usize {
        match self {
            TargetBatch::Classes(v) => v.len(),
            TargetBatch::Scores(v) => v.len(),
        }
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each target repeated `k` times in place (`[a, b]` → `[a, a, b, b]` for k = 2): the order
    /// of the original's multi-view batches, reshaped sample-major from `[B, k, …]` to `[B·k, …]`.
    pub fn repeat_each(&self, k: usize) -> Self {
        fn rep<T: Copy>(v: &[T], k: usize) -> Vec<T> {
            v.iter().flat_map(|&x| std::iter::repeat_n(x, k)).collect()
        }
        match self {
            TargetBatch::Classes(v) => TargetBatch::Classes(rep(v, k)),
            TargetBatch::Scores(v) => TargetBatch::Scores(rep(v, k)),
        }
    }

    /// A rank-1 tensor of length N: `u32` class ids or `f32` scores.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(match self {
            TargetBatch::Classes(v) => Tensor::from_slice(v, v.len(), device)?,
            TargetBatch::Scores(v) => Tensor::from_slice(v, v.len(), device)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn classes_become_u32_and_scores_f32() {
        let c = TargetBatch::from_targets(&[Target::Class(3), Target::Class(0)]).unwrap();
        let t = c.to_tensor(&Device::Cpu).unwrap();
        assert_eq!(t.dtype(), DType::U32);
        assert_eq!(t.to_vec1::<u32>().unwrap(), vec![3, 0]);
        let s = TargetBatch::from_targets(&[Target::Score(0.25)]).unwrap();
        let t = s.to_tensor(&Device::Cpu).unwrap();
        assert_eq!(t.dtype(), DType::F32);
        assert_eq!(t.to_vec1::<f32>().unwrap(), vec![0.25]);
    }

    #[test]
    fn mixed_or_empty_targets_are_errors() {
        let e = TargetBatch::from_targets(&[Target::Class(1), Target::Score(0.5)]).unwrap_err();
        assert!(e.to_string().contains("item 1"), "{e}");
        assert!(TargetBatch::from_targets(&[]).is_err());
    }

    #[test]
    fn repeat_each_is_sample_major() {
        let c = TargetBatch::Classes(vec![1, 2]).repeat_each(3);
        assert_eq!(c, TargetBatch::Classes(vec![1, 1, 1, 2, 2, 2]));
    }
}
