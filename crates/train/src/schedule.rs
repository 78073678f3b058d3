//! Learning-rate schedules: constant, MultiStep, cosine; stepped per epoch or per iteration.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A learning-rate schedule as a function of the step count `t` (epochs or iterations done).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout (the original pretraining).
    Constant,
    /// `torch.optim.lr_scheduler.MultiStepLR`: `base · γ^(number of milestones ≤ t)` (the
    /// original fine-tuning: milestones 30, 60, γ 0.1, per epoch).
    MultiStep {
        /// Sorted step counts at which the rate is multiplied by `gamma`.
        milestones: Vec<u64>,
        /// The factor.
        gamma: f64,
    },
    /// `CosineAnnealingLR` in closed form: `min + (base − min)·(1 + cos(π·t/total))/2`, then
    /// `min` after `total`.
    Cosine {
        /// Steps of the half cosine.
        total: u64,
        /// Final rate.
        min_lr: f64,
    },
}

/// What a schedule step is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUnit {
    /// One step per epoch, after validation (the original scripts).
    #[default]
    Epoch,
    /// One step per optimiser iteration.
    Iteration,
}

impl Schedule {
    /// The original fine-tune schedule: MultiStep at 30 and 60, γ 0.1.
    pub fn original_multistep() -> Self {
        Schedule::MultiStep {
            milestones: vec![30, 60],
            gamma: 0.1,
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::Constant => Ok(()),
            Schedule::MultiStep { milestones, gamma } => {
                if !milestones.windows(2).all(|w| w[0] <= w[1]) {
                    return Err(Error::Config(format!(
                        "MultiStep milestones must be sorted, got {milestones:?}"
                    )));
                }
                if !(gamma.is_finite() && *gamma > 0.0) {
                    return Err(Error::Config(format!(
                        "MultiStep gamma must be > 0, got {gamma}"
                    )));
                }
                Ok(())
            }
            Schedule::Cosine { total, min_lr } => {
                if *total == 0 || !(min_lr.is_finite() && *min_lr >= 0.0) {
                    return Err(Error::Config(format!(
                        "cosine schedule needs total ≥ 1 and min_lr ≥ 0, got {total} and {min_lr}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// The rate after `t` steps, from base rate `base`.
    pub fn lr(&self, base: f64, t: u64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::MultiStep { milestones, gamma } => {
                let n = milestones.iter().filter(|&&m| m <= t).count();
                base * gamma.powi(n as i32)
            }
            Schedule::Cosine { total, min_lr } => {
                if t >= *total {
                    *min_lr
                } else {
                    let c = (std::f64::consts::PI * t as f64 / *total as f64).cos();
                    min_lr + (base - min_lr) * (1.0 + c) / 2.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_matches_pytorch() {
        // MultiStepLR(milestones=[30, 60], gamma=0.1), lr 1e-4: epochs 0–29 at 1e-4,
        // 30–59 at 1e-5, 60– at 1e-6 (scheduler.step() after each epoch)
        let s = Schedule::original_multistep();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs();
        assert!(close(s.lr(1e-4, 0), 1e-4));
        assert!(close(s.lr(1e-4, 29), 1e-4));
        assert!(close(s.lr(1e-4, 30), 1e-5));
        assert!(close(s.lr(1e-4, 59), 1e-5));
        assert!(close(s.lr(1e-4, 60), 1e-6));
        assert!(close(s.lr(1e-4, 89), 1e-6));
    }

    #[test]
    fn cosine_and_constant() {
        let s = Schedule::Cosine {
            total: 10,
            min_lr: 0.0,
        };
        assert_eq!(s.lr(1.0, 0), 1.0);
        assert!((s.lr(1.0, 5) - 0.5).abs() < 1e-12);
        assert!(s.lr(1.0, 10).abs() < 1e-12);
        assert_eq!(s.lr(1.0, 20), 0.0);
        assert_eq!(Schedule::Constant.lr(0.3, 1000), 0.3);
        assert!(
            Schedule::MultiStep {
                milestones: vec![5, 2],
                gamma: 0.1
            }
            .validate()
            .is_err()
        );
    }
}
