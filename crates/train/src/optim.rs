//! Optimisers with PyTorch semantics on candle [`Var`]s: SGD (momentum, Nesterov, coupled L2),
//! Adam with coupled L2 (`torch.optim.Adam(weight_decay=…)`, the original's choice, spec B41)
//! and AdamW; parameter groups; state that round-trips through a checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which update rule, with its hyper-parameters (the learning rate lives in [`Optimizer`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// `torch.optim.SGD(momentum, dampening=0, nesterov, weight_decay)`.
    Sgd {
        /// Momentum factor (0.9 in the original).
        momentum: f64,
        /// Nesterov momentum (on in the original).
        nesterov: bool,
        /// Coupled L2 weight decay: `g ← g + wd·p` (1e-4 in the original).
        weight_decay: f64,
    },
    /// `torch.optim.Adam(betas, eps, weight_decay)`: L2 decay added to the gradient.
    Adam {
        /// `(β1, β2)`.
        betas: (f64, f64),
        /// ε.
        eps: f64,
        /// Coupled L2 weight decay.
        weight_decay: f64,
    },
    /// `torch.optim.AdamW(betas, eps, weight_decay)`: decoupled decay `p ← p·(1 − lr·wd)`.
    AdamW {
        /// `(β1, β2)`.
        betas: (f64, f64),
        /// ε.
        eps: f64,
        /// Decoupled weight decay.
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// The original pretraining optimiser: SGD, momentum 0.9, Nesterov, weight decay 1e-4.
    pub fn sgd_nesterov() -> Self {
        OptimizerConfig::Sgd {
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
        }
    }

    /// The original fine-tune optimiser: Adam, β (0.9, 0.999), ε 1e-8, coupled L2 1e-4.
    pub fn adam_l2() -> Self {
        OptimizerConfig::Adam {
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 1e-4,
        }
    }

    fn weight_decay(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd { weight_decay, .. }
            | OptimizerConfig::Adam { weight_decay, .. }
            | OptimizerConfig::AdamW { weight_decay, .. } => *weight_decay,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let wd = self.weight_decay();
        if !(wd.is_finite() && wd >= 0.0) {
            return bad(format!("weight decay must be ≥ 0, got {wd}"));
        }
        match self {
            OptimizerConfig::Sgd {
                momentum, nesterov, ..
            } => {
                if !(0.0..1.0).contains(momentum) {
                    return bad(format!("SGD momentum must be in [0, 1), got {momentum}"));
                }
                if *nesterov && *momentum == 0.0 {
                    return bad("Nesterov momentum needs a momentum > 0".into());
                }
            }
            OptimizerConfig::Adam { betas, eps, .. }
            | OptimizerConfig::AdamW { betas, eps, .. } => {
                for b in [betas.0, betas.1] {
                    if !(0.0..1.0).contains(&b) {
                        return bad(format!("Adam betas must be in [0, 1), got {betas:?}"));
                    }
                }
                if !(eps.is_finite() && *eps > 0.0) {
                    return bad(format!("Adam eps must be > 0, got {eps}"));
                }
            }
        }
        Ok(())
    }
}

/// A set of parameters sharing a learning-rate multiplier and weight decay.
#[derive(Clone, Debug)]
pub struct ParamGroup {
    /// `(name, var)`; names must be unique across groups (they key the saved state).
    pub params: Vec<(String, Var)>,
    /// This group's learning rate is `lr_mult ×` the optimiser's current rate.
    pub lr_mult: f64,
    /// Overrides the configured weight decay for this group (e.g. 0 for BatchNorm parameters).
    pub weight_decay: Option<f64>,
}

impl ParamGroup {
    /// A group with the optimiser's rate and decay.
    pub fn new(params: Vec<(String, Var)>) -> Self {
        Self {
            params,
            lr_mult: 1.0,
            weight_decay: None,
        }
    }
}

/// Gradients of the parameters of one step, by name (only what the optimiser needs, so keeping
/// them for later — Lookahead's `original` mode — is cheap).
#[derive(Clone, Debug, Default)]
pub struct Grads(pub HashMap<String, Tensor>);

impl Grads {
    /// Backpropagates `loss` and keeps the gradients of `params` (those that got one).
    pub fn backward(loss: &Tensor, params: &[(String, Var)]) -> Result<Self> {
        let store = loss.backward()?;
        let mut out = HashMap::new();
        for (name, var) in params {
            if let Some(g) = store.get(var.as_tensor()) {
                out.insert(name.clone(), g.clone());
            }
        }
        Ok(Self(out))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ParamState {
    step: u64,
    #[serde(skip)]
    buf: Option<Tensor>,
    /// `buf` may share its storage with a tensor handed out by [`Optimizer::state`] or given to
    /// [`Optimizer::load_state`]: the in-place SGD update must then work on a copy.
    #[serde(skip)]
    buf_shared: AtomicBool,
    #[serde(skip)]
    exp_avg: Option<Tensor>,
    #[serde(skip)]
    exp_avg_sq: Option<Tensor>,
}

/// Non-tensor optimiser state, stored as JSON in checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizerMeta {
    /// The configuration, checked on resume.
    pub config: Option<OptimizerConfig>,
    /// Current base learning rate.
    pub lr: f64,
    /// Per-parameter step counts (Adam bias correction).
    pub steps: BTreeMap<String, u64>,
}

/// An optimiser over parameter groups; see [`OptimizerConfig`] for the rules.
#[derive(Debug)]
pub struct Optimizer {
    config: OptimizerConfig,
    groups: Vec<ParamGroup>,
    lr: f64,
    state: HashMap<String, ParamState>,
}

impl Optimizer {
    /// An optimiser with base learning rate `lr` over `groups`.
    pub fn new(config: OptimizerConfig, lr: f64, groups: Vec<ParamGroup>) -> Result<Self> {
        config.validate()?;
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config(format!(
                "learning rate must be ≥ 0, got {lr}"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for g in &groups {
            for (n, _) in &g.params {
                if !seen.insert(n.clone()) {
                    return Err(Error::Config(format!("parameter `{n}` is in two groups")));
                }
            }
        }
        Ok(Self {
            config,
            groups,
            lr,
            state: HashMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The current base learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Sets the base learning rate (schedules call this).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Every `(name, var)` optimised, in group order.
    pub fn params(&self) -> Vec<(String, Var)> {
        self.groups
            .iter()
            .flat_map(|g| g.params.iter().cloned())
            .collect()
    }

    /// One update from `grads`. Parameters without a gradient are left alone (as PyTorch does
    /// for `p.grad is None`).
    pub fn step(&mut self, grads: &Grads) -> Result<()> {
        for gi in 0..self.groups.len() {
            let lr = self.lr * self.groups[gi].lr_mult;
            let wd = self.groups[gi]
                .weight_decay
                .unwrap_or(self.config.weight_decay());
            for pi in 0..self.groups[gi].params.len() {
                let (name, var) = &self.groups[gi].params[pi];
                let Some(g) = grads.0.get(name) else { continue };
                let st = self.state.entry(name.clone()).or_default();
                update(&self.config, var, g, st, lr, wd)?;
            }
        }
        Ok(())
    }

    /// The tensor state (`{prefix}{param}.momentum_buffer`, `.exp_avg`, `.exp_avg_sq`) and the
    /// rest as [`OptimizerMeta`], for a checkpoint.
    pub fn state(&self, prefix: &str) -> (Vec<(String, Tensor)>, OptimizerMeta) {
        let mut tensors = Vec::new();
        let mut steps = BTreeMap::new();
        let mut names: Vec<&String> = self.state.keys().collect();
        names.sort();
        for name in names {
            let st = &self.state[name];
            steps.insert(name.clone(), st.step);
            st.buf_shared.store(true, Ordering::Relaxed);
            for (suffix, t) in [
                ("momentum_buffer", &st.buf),
                ("exp_avg", &st.exp_avg),
                ("exp_avg_sq", &st.exp_avg_sq),
            ] {
                if let Some(t) = t {
                    tensors.push((format!("{prefix}{name}.{suffix}"), t.clone()));
                }
            }
        }
        let meta = OptimizerMeta {
            config: Some(self.config.clone()),
            lr: self.lr,
            steps,
        };
        (tensors, meta)
    }

    /// Restores what [`state`](Self::state) saved. `tensors` holds names with `prefix`.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, Tensor>,
        meta: &OptimizerMeta,
    ) -> Result<()> {
        if let Some(c) = &meta.config
            && *c != self.config
        {
            return Err(Error::Resume(format!(
                "the checkpoint's optimiser is {c:?}, this run's is {:?}",
                self.config
            )));
        }
        let known: HashMap<String, Var> = self.params().into_iter().collect();
        let mut state = HashMap::new();
        for (name, &step) in &meta.steps {
            let Some(var) = known.get(name) else {
                return Err(Error::Resume(format!(
                    "the checkpoint has optimiser state for `{name}`, which this run does not optimise"
                )));
            };
            let get = |suffix: &str| -> Result<Option<Tensor>> {
                match tensors.get(&format!("{prefix}{name}.{suffix}")) {
                    None => Ok(None),
                    Some(t) if t.dims() != var.dims() => Err(Error::Resume(format!(
                        "optimiser state `{prefix}{name}.{suffix}` has shape {:?}, parameter has {:?}",
                        t.dims(),
                        var.dims()
                    ))),
                    Some(t) => Ok(Some(t.to_device(var.device())?.to_dtype(var.dtype())?)),
                }
            };
            state.insert(
                name.clone(),
                ParamState {
                    step,
                    buf: get("momentum_buffer")?,
                    buf_shared: AtomicBool::new(true),
                    exp_avg: get("exp_avg")?,
                    exp_avg_sq: get("exp_avg_sq")?,
                },
            );
        }
        self.state = state;
        self.lr = meta.lr;
        Ok(())
    }
}

fn update(
    config: &OptimizerConfig,
    var: &Var,
    grad: &Tensor,
    st: &mut ParamState,
    lr: f64,
    wd: f64,
) -> Result<()> {
    st.step += 1;
    let (betas, eps, decoupled) = match *config {
        OptimizerConfig::Sgd {
            momentum, nesterov, ..
        } => return sgd_update(var, grad, st, lr, wd, momentum, nesterov),
        OptimizerConfig::Adam { betas, eps, .. } => (betas, eps, false),
        OptimizerConfig::AdamW { betas, eps, .. } => (betas, eps, true),
    };
    let p = var.as_tensor().detach();
    let g = grad.detach();
    let (p, g) = if wd == 0.0 {
        (p, g)
    } else if decoupled {
        ((&p * (1.0 - lr * wd))?, g)
    } else {
        let g = (&g + (&p * wd)?)?;
        (p, g)
    };
    let (b1, b2) = betas;
    let m = match st.exp_avg.take() {
        None => (&g * (1.0 - b1))?,
        Some(m) => ((m * b1)? + (&g * (1.0 - b1))?)?,
    };
    let v = match st.exp_avg_sq.take() {
        None => (g.sqr()? * (1.0 - b2))?,
        Some(v) => ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?,
    };
    let bc1 = 1.0 - b1.powi(st.step as i32);
    let bc2 = 1.0 - b2.powi(st.step as i32);
    let denom = ((v.sqrt()? / bc2.sqrt())? + eps)?;
    let new_p = (&p - ((&m / denom)? * (lr / bc1))?)?;
    st.exp_avg = Some(m);
    st.exp_avg_sq = Some(v);
    var.set(&new_p)?;
    Ok(())
}

/// SGD through histo-kernels: on the CPU two fused passes writing into the parameter and the
/// momentum buffer (no temporaries); elsewhere the same formula as tensor ops. The formula and
/// the order of the floating-point operations are those of the tensor-op version it replaced.
fn sgd_update(
    var: &Var,
    grad: &Tensor,
    st: &mut ParamState,
    lr: f64,
    wd: f64,
    momentum: f64,
    nesterov: bool,
) -> Result<()> {
    let sgd = histo_kernels::Sgd {
        lr,
        momentum,
        weight_decay: wd,
        nesterov,
    };
    let buf = match st.buf.take() {
        // shared with a saved or loaded state: update a private copy instead
        Some(b) if st.buf_shared.swap(false, Ordering::Relaxed) => Some(b.copy()?),
        b => b,
    };
    st.buf = sgd.step(var, &grad.detach(), buf)?;
    Ok(())
}
