//! [`Precision`]: the dtype the trunk's convolutions compute in (mixed precision).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use candle_core::DType;
use serde::{Deserialize, Serialize};

use crate::Error;

/// Compute precision of a network's convolutions.
///
/// With [`Precision::Bf16`] the ResNet trunk casts its input and each convolution weight to
/// bf16 (the casts are part of the autograd graph, so the gradients reach the f32 master
/// weights as f32), runs BatchNorm on an f32 copy of its input (statistics in f32), and returns
/// f32 features; the heads, the loss and the optimiser stay in f32. bf16 has f32's exponent
/// range, so unlike f16 it needs no loss scaling: gradients do not underflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// bf16 convolutions, f32 master weights, BatchNorm statistics, heads and loss.
    Bf16,
}

impl Precision {
    /// The dtype the convolutions run in.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(c: u8) -> Self {
        if c == Precision::Bf16 as u8 {
            Precision::Bf16
        } else {
            Precision::F32
        }
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            other => Err(Error::Config(format!(
                "unknown precision `{other}`: expected `f32` or `bf16`"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        })
    }
}

/// A precision shared by a [`crate::VarStore`] and the trunks built into it.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrecisionCell(Arc<AtomicU8>);

impl PrecisionCell {
    pub(crate) fn get(&self) -> Precision {
        Precision::from_code(self.0.load(Ordering::Relaxed))
    }

    pub(crate) fn set(&self, p: Precision) {
        self.0.store(p.code(), Ordering::Relaxed)
    }
}
