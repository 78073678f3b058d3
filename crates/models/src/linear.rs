//! [`Linear`]: `y = x Wᵀ + b` with PyTorch's default initialisation.

use candle_core::{Tensor, Var};

use crate::Result;
use crate::init::uniform;
use crate::store::Builder;

/// A fully connected layer (`weight` `[out, in]`, `bias` `[out]`), initialised as PyTorch's
/// `nn.Linear`: weight and bias U(±1/√in).
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Var,
    bias: Var,
}

impl Linear {
    pub(crate) fn new(b: &mut Builder, inputs: usize, outputs: usize) -> Result<Self> {
        let bound = 1.0 / (inputs as f64).sqrt();
        let w = uniform(b.rng(), inputs * outputs, bound);
        let bias = uniform(b.rng(), outputs, bound);
        Ok(Self {
            weight: b.param("weight", &[outputs, inputs], w)?,
            bias: b.param("bias", &[outputs], bias)?,
        })
    }

    /// Input features.
    pub fn inputs(&self) -> usize {
        self.weight.dims()[1]
    }

    /// Output features.
    pub fn outputs(&self) -> usize {
        self.weight.dims()[0]
    }

    /// `x` `[N, in]` → `[N, out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.weight.as_tensor().t()?)?
            .broadcast_add(self.bias.as_tensor())?)
    }
}
