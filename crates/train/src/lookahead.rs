//! Lookahead (Zhang et al. 2019) around an [`Optimizer`], in the published per-step form and in
//! the form the original scripts actually execute (spec §2.5, B4).

use std::collections::{BTreeMap, HashMap};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::optim::{Grads, Optimizer};
use crate::{Error, Result};

/// When the slow weights are pulled in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LookaheadMode {
    /// The published algorithm: every optimiser step counts; every `k` steps
    /// `p ← α·p + (1 − α)·slow`, `slow ← p`.
    #[default]
    PerStep,
    /// As the original scripts run it: batches step the inner optimiser directly, and once per
    /// epoch (after validation) `Lookahead.step()` runs, i.e. one extra inner step with the
    /// stale gradients of the epoch's last batch, then the counter; so the pull-back happens
    /// every `k` epochs (towards the initial weights at epoch `k`).
    Original,
}

/// Lookahead settings (the original: k = 5, α = 0.5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LookaheadConfig {
    /// Synchronisation period `k`.
    pub k: u64,
    /// Interpolation factor α (fraction of the fast weights kept).
    pub alpha: f64,
    /// Per step or as the original executes it.
    pub mode: LookaheadMode,
}

impl Default for LookaheadConfig {
    fn default() -> Self {
        Self {
            k: 5,
            alpha: 0.5,
            mode: LookaheadMode::PerStep,
        }
    }
}

/// Non-tensor Lookahead state, stored as JSON in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LookaheadMeta {
    /// Steps since the last synchronisation.
    pub counter: u64,
}

/// Slow weights (a copy of every optimised parameter taken at construction, as in the
/// original `lookahead.py`) and the step counter.
#[derive(Debug)]
pub struct Lookahead {
    config: LookaheadConfig,
    counter: u64,
    slow: HashMap<String, Tensor>,
}

impl Lookahead {
    /// Caches the current parameters of `opt` as the slow weights.
    pub fn new(config: LookaheadConfig, opt: &Optimizer) -> Result<Self> {
        if config.k == 0 || !(0.0..=1.0).contains(&config.alpha) {
            return Err(Error::Config(format!(
                "Lookahead needs k ≥ 1 and α in [0, 1], got k {} α {}",
                config.k, config.alpha
            )));
        }
        let slow = opt
            .params()
            .into_iter()
            .map(|(n, v)| Ok((n, v.as_tensor().detach().copy()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            config,
            counter: 0,
            slow,
        })
    }

    /// The configuration.
    pub fn config(&self) -> LookaheadConfig {
        self.config
    }

    /// `Lookahead.step()`: one inner optimiser step with `grads`, then the counter; every `k`
    /// calls the parameters move to `α·fast + (1 − α)·slow` and become the new slow weights.
    pub fn step(&mut self, opt: &mut Optimizer, grads: &Grads) -> Result<()> {
        opt.step(grads)?;
        self.counter += 1;
        if self.counter >= self.config.k {
            self.counter = 0;
            let a = self.config.alpha;
            for (name, var) in opt.params() {
                let Some(slow) = self.slow.get(&name) else {
                    continue;
                };
                let p = ((var.as_tensor().detach() * a)? + (slow * (1.0 - a))?)?;
                var.set(&p)?;
                self.slow.insert(name, p.copy()?);
            }
        }
        Ok(())
    }

    /// Slow weights as `{prefix}{param}` tensors, and the counter.
    pub fn state(&self, prefix: &str) -> (Vec<(String, Tensor)>, LookaheadMeta) {
        let mut v: Vec<(String, Tensor)> = self
            .slow
            .iter()
            .map(|(n, t)| (format!("{prefix}{n}"), t.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        (
            v,
            LookaheadMeta {
                counter: self.counter,
            },
        )
    }

    /// Restores what [`state`](Self::state) saved.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, Tensor>,
        meta: &LookaheadMeta,
    ) -> Result<()> {
        for (name, slow) in self.slow.iter_mut() {
            let key = format!("{prefix}{name}");
            let t = tensors.get(&key).ok_or_else(|| {
                Error::Resume(format!(
                    "the checkpoint has no Lookahead slow weights `{key}`"
                ))
            })?;
            if t.dims() != slow.dims() {
                return Err(Error::Resume(format!(
                    "Lookahead slow weights `{key}` have shape {:?}, expected {:?}",
                    t.dims(),
                    slow.dims()
                )));
            }
            *slow = t.to_device(slow.device())?.to_dtype(slow.dtype())?;
        }
        self.counter = meta.counter;
        Ok(())
    }
}
