//! ResNet-18/34/50 trunks with torchvision's parameter names and initialisation.

use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::batchnorm::{BatchNorm2d, Mode};
use crate::init::kaiming_normal_fan_out;
use crate::ops::{add_relu, conv2d, global_avg_pool, max_pool2d};
use crate::precision::PrecisionCell;
use crate::store::Builder;
use crate::{Error, Group, Precision, Result};

/// Which ResNet, and how wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResNetConfig {
    /// 18, 34 or 50.
    pub depth: usize,
    /// Channels of the stem and of `layer1` (torchvision: 64); the stages have
    /// `width·{1, 2, 4, 8}` channels (×4 at the output of ResNet-50's bottlenecks). Narrow
    /// trunks (e.g. 16) make CPU presets and tests fast.
    pub width: usize,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self::resnet18()
    }
}

impl ResNetConfig {
    /// torchvision's `resnet18()`.
    pub fn resnet18() -> Self {
        Self {
            depth: 18,
            width: 64,
        }
    }

    /// Checks the depth and width.
    pub fn validate(&self) -> Result<()> {
        if ![18, 34, 50].contains(&self.depth) {
            return Err(Error::Config(format!(
                "ResNet depth {} is not supported (18, 34 or 50)",
                self.depth
            )));
        }
        if self.width == 0 || self.width > 4096 {
            return Err(Error::Config(format!(
                "ResNet width {} is out of range (1..=4096)",
                self.width
            )));
        }
        Ok(())
    }

    fn blocks(&self) -> [usize; 4] {
        match self.depth {
            18 => [2, 2, 2, 2],
            _ => [3, 4, 6, 3],
        }
    }

    fn expansion(&self) -> usize {
        if self.depth >= 50 { 4 } else { 1 }
    }

    /// Size of the pooled feature vector (512 for ResNet-18/34, 2048 for ResNet-50 at width 64).
    pub fn features(&self) -> usize {
        8 * self.width * self.expansion()
    }
}

/// A bias-free convolution with Kaiming-normal (fan_out, ReLU) initialisation.
#[derive(Clone, Debug)]
struct Conv {
    weight: Var,
    stride: usize,
    padding: usize,
}

impl Conv {
    fn new(b: &mut Builder, cin: usize, cout: usize, k: usize, stride: usize) -> Result<Self> {
        let shape = [cout, cin, k, k];
        let values = kaiming_normal_fan_out(b.rng(), &shape);
        Ok(Self {
            weight: b.param("weight", &shape, values)?,
            stride,
            padding: k / 2,
        })
    }

    /// Convolves in the dtype of `x` (the f32 weight is cast, differentiably, for bf16).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        if w.dtype() == x.dtype() {
            conv2d(x, w, self.stride, self.padding)
        } else {
            conv2d(x, &w.to_dtype(x.dtype())?, self.stride, self.padding)
        }
    }
}

#[derive(Clone, Debug)]
struct Downsample {
    conv: Conv,
    bn: BatchNorm2d,
}

/// A BasicBlock (ResNet-18/34) or Bottleneck (ResNet-50) residual block.
#[derive(Clone, Debug)]
struct Block {
    convs: Vec<(Conv, BatchNorm2d)>,
    downsample: Option<Downsample>,
}

impl Block {
    fn new(
        b: &mut Builder,
        cin: usize,
        planes: usize,
        stride: usize,
        bottleneck: bool,
    ) -> Result<Self> {
        let spec: Vec<(usize, usize, usize, usize)> = if bottleneck {
            vec![
                (cin, planes, 1, 1),
                (planes, planes, 3, stride),
                (planes, planes * 4, 1, 1),
            ]
        } else {
            vec![(cin, planes, 3, stride), (planes, planes, 3, 1)]
        };
        let cout = spec.last().map(|s| s.1).unwrap_or(planes);
        let mut convs = Vec::new();
        for (i, &(ci, co, k, s)) in spec.iter().enumerate() {
            let conv = Conv::new(&mut b.sub(format!("conv{}", i + 1)), ci, co, k, s)?;
            let bn = BatchNorm2d::new(&mut b.sub(format!("bn{}", i + 1)), co)?;
            convs.push((conv, bn));
        }
        let downsample = if stride != 1 || cin != cout {
            let mut d = b.sub("downsample");
            Some(Downsample {
                conv: Conv::new(&mut d.sub(0), cin, cout, 1, stride)?,
                bn: BatchNorm2d::new(&mut d.sub(1), cout)?,
            })
        } else {
            None
        };
        Ok(Self { convs, downsample })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.convs.len() - 1;
        for (i, (conv, bn)) in self.convs.iter().enumerate() {
            let z = conv.forward(&h)?;
            h = if i < last {
                bn.forward_relu(&z, mode)?
            } else {
                bn.forward(&z, mode)?
            };
        }
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(&d.conv.forward(x)?, mode)?,
            None => x.clone(),
        };
        add_relu(&h, &identity)
    }
}

/// A ResNet trunk without its final `fc`: images `[N, 3, H, W]` → pooled features `[N, F]`.
///
/// Parameter names follow torchvision (`conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`,
/// `layer2.0.downsample.0.weight`, …), so a torchvision state dict maps one to one. Any input
/// size of at least 32×32 works (global average pooling).
#[derive(Clone, Debug)]
pub struct ResNet {
    config: ResNetConfig,
    conv1: Conv,
    bn1: BatchNorm2d,
    layers: Vec<Vec<Block>>,
    precision: PrecisionCell,
}

impl ResNet {
    pub(crate) fn new(b: &mut Builder, config: ResNetConfig) -> Result<Self> {
        config.validate()?;
        let w = config.width;
        let (conv1, bn1) = {
            let mut stem = b.group(Group::Stem);
            (
                Conv::new(&mut stem.sub("conv1"), 3, w, 7, 2)?,
                BatchNorm2d::new(&mut stem.sub("bn1"), w)?,
            )
        };
        let bottleneck = config.expansion() == 4;
        let mut cin = w;
        let mut layers = Vec::new();
        for (i, &n) in config.blocks().iter().enumerate() {
            let group = Group::TRUNK[i + 1];
            let planes = w << i;
            let mut lb = b.group(group);
            let mut lb = lb.sub(format!("layer{}", i + 1));
            let mut blocks = Vec::new();
            for j in 0..n {
                let stride = if i > 0 && j == 0 { 2 } else { 1 };
                blocks.push(Block::new(&mut lb.sub(j), cin, planes, stride, bottleneck)?);
                cin = planes * config.expansion();
            }
            layers.push(blocks);
        }
        Ok(Self {
            config,
            conv1,
            bn1,
            layers,
            precision: b.precision(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> ResNetConfig {
        self.config
    }

    /// Feature size of [`forward`](Self::forward)'s output.
    pub fn features(&self) -> usize {
        self.config.features()
    }

    /// The precision the convolutions run in (set through [`crate::VarStore::set_precision`]).
    pub fn precision(&self) -> Precision {
        self.precision.get()
    }

    /// `[N, 3, H, W]` → `[N, F]` (f32 features whatever the [`Precision`]).
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        if c != 3 || h < 32 || w < 32 {
            return Err(Error::Config(format!(
                "ResNet input must be [N, 3, H, W] with H, W ≥ 32, got {:?}",
                x.dims()
            )));
        }
        let dtype = self.precision().dtype();
        let x = if x.dtype() == DType::F32 && dtype != DType::F32 {
            x.to_dtype(dtype)?
        } else {
            x.clone()
        };
        let mut h = self.bn1.forward_relu(&self.conv1.forward(&x)?, mode)?;
        h = max_pool2d(&h, 3, 2, 1)?;
        for layer in &self.layers {
            for block in layer {
                h = block.forward(&h, mode)?;
            }
        }
        if h.dtype() == DType::BF16 || h.dtype() == DType::F16 {
            h = h.to_dtype(DType::F32)?;
        }
        global_avg_pool(&h)
    }
}
