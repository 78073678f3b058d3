//! The three downstream tasks, their losses and their validation metrics.

use std::fmt;
use std::str::FromStr;

use candle_core::{D, DType, Tensor};
use histo_tensor::Target;
use histo_train::Better;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What the network predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// One real output trained with MSE (BreastPathQ tumour cellularity).
    Regression,
    /// Two classes trained with cross-entropy (Camelyon16 tumour vs normal; class 1 = tumour).
    Binary,
    /// `C` classes trained with cross-entropy (Kather's 9 tissue types, or any `C ≥ 2`).
    Multiclass,
}

impl TaskKind {
    /// The name users write.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Regression => "regression",
            TaskKind::Binary => "binary",
            TaskKind::Multiclass => "multiclass",
        }
    }

    /// `true` for the two classification tasks.
    pub fn is_classification(self) -> bool {
        self != TaskKind::Regression
    }

    /// The validation metric that selects `best.safetensors`: the validation loss (MSE against
    /// float targets; the original cast them to integers, B12) for regression, the accuracy for
    /// classification.
    pub fn selection(self) -> (&'static str, Better) {
        match self {
            TaskKind::Regression => ("val_loss", Better::Lower),
            _ => ("val_acc", Better::Higher),
        }
    }

    /// The task a checkpoint with `outputs` outputs was trained for, when nothing else says.
    pub fn from_outputs(outputs: usize) -> Self {
        match outputs {
            1 => TaskKind::Regression,
            2 => TaskKind::Binary,
            _ => TaskKind::Multiclass,
        }
    }

    /// Checks that `outputs` network outputs fit this task.
    pub fn check_outputs(self, outputs: usize) -> Result<()> {
        let ok = match self {
            TaskKind::Regression => outputs == 1,
            TaskKind::Binary => outputs == 2,
            TaskKind::Multiclass => outputs >= 2,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "a {} task needs {}, not {outputs}",
                self.name(),
                match self {
                    TaskKind::Regression => "1 output",
                    TaskKind::Binary => "2 outputs",
                    TaskKind::Multiclass => "at least 2 outputs",
                }
            )))
        }
    }

    /// Checks that a sample's target fits this task with `outputs` outputs.
    pub fn check_target(self, target: Target, outputs: usize) -> std::result::Result<(), String> {
        match (self, target) {
            (TaskKind::Regression, Target::Score(s)) if s.is_finite() => Ok(()),
            (TaskKind::Regression, t) => Err(format!(
                "a regression task needs finite score targets, got {t:?}"
            )),
            (_, Target::Class(c)) if (c as usize) < outputs => Ok(()),
            (_, Target::Class(c)) => Err(format!(
                "class {c} is out of range for a {} task with {outputs} classes",
                self.name()
            )),
            (_, t) => Err(format!(
                "a {} task needs class targets, got {t:?} (use --task regression for scores)",
                self.name()
            )),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaskKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "regression" => Ok(TaskKind::Regression),
            "binary" => Ok(TaskKind::Binary),
            "multiclass" | "multi-class" => Ok(TaskKind::Multiclass),
            _ => Err(Error::Config(format!(
                "unknown task `{s}` (regression, binary or multiclass)"
            ))),
        }
    }
}

/// Mean squared error between `pred` (`[N, 1]` or `[N]`) and `target` (`[N]`).
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    let p = pred.flatten_all()?;
    let t = target.flatten_all()?.to_dtype(p.dtype())?;
    Ok((p - t)?.sqr()?.mean_all()?)
}

/// Row-wise log-softmax of `[N, C]` logits (max-shifted, so large logits do not overflow).
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?;
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Row-wise softmax of `[N, C]` logits.
pub fn softmax(logits: &Tensor) -> Result<Tensor> {
    Ok(log_softmax(logits)?.exp()?)
}

/// Per-sample cross-entropy `−log softmax(logits)[y]` of `[N, C]` logits and `[N]` u32 class
/// ids, as `[N]`.
pub fn cross_entropy_each(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let logp = log_softmax(logits)?;
    let idx = target.to_dtype(DType::U32)?.unsqueeze(1)?;
    Ok(logp.gather(&idx, 1)?.squeeze(1)?.neg()?)
}

/// Mean cross-entropy (PyTorch `F.cross_entropy`).
pub fn cross_entropy(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    Ok(cross_entropy_each(logits, target)?.mean_all()?)
}

/// The supervised loss of a task: MSE for regression, cross-entropy for classification.
pub fn supervised_loss(task: TaskKind, out: &Tensor, target: &Tensor) -> Result<Tensor> {
    match task {
        TaskKind::Regression => mse(out, target),
        _ => cross_entropy(out, target),
    }
}

/// Running sums of the validation figures of one pass.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    loss_sum: f64,
    abs_sum: f64,
    correct: usize,
    n: usize,
}

impl Tally {
    /// Adds one sample: its raw network outputs and its target.
    pub fn add(&mut self, task: TaskKind, outputs: &[f32], target: Target) {
        self.n += 1;
        match task {
            TaskKind::Regression => {
                let d = outputs[0] as f64 - target.value() as f64;
                self.loss_sum += d * d;
                self.abs_sum += d.abs();
            }
            _ => {
                let y = target.class().unwrap_or(0) as usize;
                let max = outputs.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
                let lse = outputs
                    .iter()
                    .map(|&o| (o as f64 - max).exp())
                    .sum::<f64>()
                    .ln()
                    + max;
                self.loss_sum += lse - outputs.get(y).copied().unwrap_or(0.0) as f64;
                if argmax(outputs) == y {
                    self.correct += 1;
                }
            }
        }
    }

    /// Number of samples added.
    pub fn len(&self) -> usize {
        self.n
    }

    /// `true` when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// `val_loss` (mean MSE or cross-entropy) and `val_acc` (classification) or `val_mae`
    /// (regression).
    pub fn metrics(&self, task: TaskKind) -> Vec<(String, f64)> {
        let n = self.n.max(1) as f64;
        let mut v = vec![("val_loss".to_string(), self.loss_sum / n)];
        match task {
            TaskKind::Regression => v.push(("val_mae".into(), self.abs_sum / n)),
            _ => v.push(("val_acc".into(), self.correct as f64 / n)),
        }
        v
    }
}

/// Index of the largest value (the first one on ties; NaN never wins).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] || v[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t2(v: &[f32], n: usize, c: usize) -> Tensor {
        Tensor::from_slice(v, (n, c), &Device::Cpu).unwrap()
    }

    #[test]
    fn cross_entropy_matches_hand_values() {
        // logits [1, 2, 3], target 2: −log(e³/(e+e²+e³)) = log(1 + e⁻¹ + e⁻²) = 0.40760596
        // logits [0, 0], target 0: log 2 = 0.69314718
        let logits = t2(&[1.0, 2.0, 3.0, 0.0, 0.0, -1000.0], 2, 3);
        let y = Tensor::from_slice(&[2u32, 0], 2, &Device::Cpu).unwrap();
        let each = cross_entropy_each(&logits, &y)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!((each[0] - 0.407_605_96).abs() < 1e-6, "{each:?}");
        assert!((each[1] - std::f32::consts::LN_2).abs() < 1e-6, "{each:?}");
        let mean = cross_entropy(&logits, &y)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((mean - (0.407_605_96 + std::f32::consts::LN_2) / 2.0).abs() < 1e-6);
        // huge logits do not overflow
        let big = t2(&[1000.0, 0.0], 1, 2);
        let y0 = Tensor::from_slice(&[1u32], 1, &Device::Cpu).unwrap();
        let v = cross_entropy(&big, &y0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((v - 1000.0).abs() < 1e-3, "{v}");
    }

    #[test]
    fn softmax_rows_sum_to_one_and_mse_is_mean_square() {
        let s = softmax(&t2(&[1.0, 2.0, 3.0, 5.0, 5.0, 5.0], 2, 3))
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        // e^1, e^2, e^3 normalised: 0.09003057, 0.24472847, 0.66524096
        assert!((s[0][0] - 0.090_030_57).abs() < 1e-6);
        assert!((s[0][2] - 0.665_240_96).abs() < 1e-6);
        assert!((s[1][1] - 1.0 / 3.0).abs() < 1e-6);
        let p = t2(&[0.5, 1.0, -1.0], 3, 1);
        let y = Tensor::from_slice(&[0.0f32, 1.0, 1.0], 3, &Device::Cpu).unwrap();
        let m = mse(&p, &y).unwrap().to_scalar::<f32>().unwrap();
        assert!((m - (0.25 + 0.0 + 4.0) / 3.0).abs() < 1e-6);
    }

    #[test]
    fn tally_matches_the_tensor_losses() {
        let mut t = Tally::default();
        t.add(TaskKind::Multiclass, &[1.0, 2.0, 3.0], Target::Class(2));
        t.add(TaskKind::Multiclass, &[0.0, 0.0, -1000.0], Target::Class(1));
        let m: std::collections::BTreeMap<_, _> =
            t.metrics(TaskKind::Multiclass).into_iter().collect();
        assert!((m["val_loss"] - (0.407_605_96 + std::f64::consts::LN_2) / 2.0).abs() < 1e-6);
        // the tie [0, 0] goes to class 0, so the second sample is wrong
        assert_eq!(m["val_acc"], 0.5);
        let mut r = Tally::default();
        r.add(TaskKind::Regression, &[0.5], Target::Score(0.25));
        r.add(TaskKind::Regression, &[0.0], Target::Score(0.5));
        let m: std::collections::BTreeMap<_, _> =
            r.metrics(TaskKind::Regression).into_iter().collect();
        assert!((m["val_loss"] - (0.0625 + 0.25) / 2.0).abs() < 1e-12);
        assert!((m["val_mae"] - 0.375).abs() < 1e-12);
    }

    #[test]
    fn targets_and_outputs_are_checked() {
        assert!(TaskKind::Binary.check_outputs(2).is_ok());
        assert!(TaskKind::Binary.check_outputs(9).is_err());
        assert!(TaskKind::Regression.check_outputs(1).is_ok());
        assert!(TaskKind::Multiclass.check_outputs(1).is_err());
        assert!(
            TaskKind::Regression
                .check_target(Target::Class(1), 1)
                .is_err()
        );
        assert!(
            TaskKind::Multiclass
                .check_target(Target::Class(9), 9)
                .unwrap_err()
                .contains("class 9")
        );
        assert!("Multiclass".parse::<TaskKind>().is_ok());
        assert!("ranking".parse::<TaskKind>().is_err());
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.2]), 1);
    }
}
