//! The networks of histo, in candle: ResNet-18/34/50 trunks with torchvision's parameter names
//! and initialisation, the RSP [`TripletNet`] with its pair head, the 6-way pretext
//! [`Classifier`], the fine-tune model, freezing by named layer [`Group`]s, atomic safetensors
//! [`Checkpoint`]s with JSON metadata, and import of the original PyTorch checkpoints
//! ([`pytorch`]).
//!
//! Every tensor lives in a [`VarStore`] in PyTorch `state_dict()` order, so a state dict of the
//! original code maps one to one, freezing by the original's parameter index is exact, and an
//! optimiser gets the trainable [`candle_core::Var`]s by name. Initial values are drawn on the
//! host from a seeded [`histo_tensor::SampleRng`] (candle's CPU generator cannot be seeded), so
//! the same seed gives the same network on every device. Every convolution goes through
//! [`ops::conv2d`], every BatchNorm is a [`BatchNorm2d`], and the stem max-pool and residual
//! joins are [`ops::max_pool2d`] and [`ops::add_relu`]: on the CPU these are histo-kernels'
//! custom ops (im2col/GEMM convolutions with GEMM backward passes, single-pass fused
//! BatchNorm+ReLU, a padded max-pool with PyTorch's backward, which candle lacks), about three
//! times cheaper to train than candle's own CPU ops; on CUDA they are candle's (cuDNN). We do
//! not use candle-nn's `VarMap`/`BatchNorm`: we need ordered names, buffers distinct from
//! parameters, layer groups and `num_batches_tracked`. [`VarStore::set_precision`] switches a
//! trunk to bf16 convolutions with f32 master weights ([`Precision`], mixed precision for GPUs).
//!
//! ```
//! use histo_models::{Checkpoint, CheckpointMeta, FinetuneModel, Group, Mode, TripletConfig};
//! use histo_tensor::{DType, Device, Tensor};
//!
//! let dev = Device::Cpu;
//! // a narrow ResNet-18 TripletNet (width 8) with a 3-class head
//! let mut m = FinetuneModel::new(TripletConfig::narrow(18, 8), 3, &dev, 42)?;
//! m.freeze(&Group::TRUNK, false); // train the pair head and classifier only
//! let x = Tensor::ones((2, 3, 32, 32), DType::F32, &dev)?;
//! let y = m.forward(&x, Mode::TRAIN)?;
//! assert_eq!(y.dims(), &[2, 3]);
//! assert_eq!(m.net.store().trainable().len(), 4); // fc.0 and fc.2, weight and bias
//!
//! let mut ck = Checkpoint::new(CheckpointMeta { model_kind: "finetune".into(), ..Default::default() });
//! for (part, store) in m.parts() {
//!     ck.add_part(part, store)?;
//! }
//! let path = std::env::temp_dir().join("histo-models-doc.safetensors");
//! ck.save(&path)?;
//! let back = Checkpoint::load(&path, &dev)?;
//! back.load_part("model", m.net.store(), &path)?;
//! # std::fs::remove_file(&path).ok();
//! # Ok::<(), histo_models::Error>(())
//! ```

mod batchnorm;
mod checkpoint;
mod error;
mod group;
pub mod init;
mod linear;
mod nets;
pub mod ops;
mod precision;
pub mod pytorch;
mod resnet;
mod store;

pub use batchnorm::{BatchNorm2d, Mode};
pub use checkpoint::{Checkpoint, CheckpointMeta, FORMAT_VERSION};
pub use error::{Error, Result};
pub use group::{Group, parse_freeze};
pub use linear::Linear;
pub use nets::{
    Classifier, FinetuneModel, PretextModel, ResNetClassifier, TripletConfig, TripletNet,
};
pub use precision::Precision;
pub use resnet::{ResNet, ResNetConfig};
pub use store::{Entry, Kind, VarStore};
