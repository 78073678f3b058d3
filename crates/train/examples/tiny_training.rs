//! The whole engine on a toy problem: a narrow ResNet-18 TripletNet fine-tune model learns to
//! tell reddish from bluish 32×32 images. Shows how a stage wires a [`Dataset`], a per-sample
//! transform, a [`Loader`], a [`Task`] and the [`Trainer`].
//!
//! ```sh
//! cargo run -p histo-train --example tiny_training -- /tmp/tiny-run [EPOCHS]
//! ```
//! Writes `train_log.csv`, `train_log.jsonl`, `curve_*.png` and checkpoints into the folder;
//! run it again with more epochs and it resumes from `last.safetensors`.

use std::collections::BTreeMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use histo_models::{CheckpointMeta, FinetuneModel, Mode, TripletConfig, VarStore};
use histo_tensor::{Image, ImageBatch, InputScale, SampleRng};
use histo_train::{
    Better, Dataset, Loader, LoaderConfig, LookaheadConfig, Optimizer, OptimizerConfig, ParamGroup,
    Schedule, StepLoss, Task, TrainConfig, Trainer,
};
use rand::Rng;

/// 64 procedural images: even indices reddish (class 0), odd bluish (class 1).
struct Toy;

impl Dataset for Toy {
    type Sample = (Image, u32);

    fn len(&self) -> usize {
        64
    }

    fn get(&self, i: usize) -> Result<(Image, u32), String> {
        let mut rng = SampleRng::stream("toy", 0, 0, i as u64);
        let class = (i % 2) as u32;
        let mut img = Image::new(32, 32);
        for y in 0..32 {
            for x in 0..32 {
                let (a, b): (u8, u8) = (rng.random_range(60..200), rng.random_range(0..140));
                img.put_pixel(x, y, if class == 0 { [a, 80, b] } else { [b, 80, a] });
            }
        }
        Ok((img, class))
    }
}

fn to_batch(items: Vec<(Image, u32)>) -> Result<(Tensor, Tensor), String> {
    let (imgs, ys): (Vec<Image>, Vec<u32>) = items.into_iter().unzip();
    let x = ImageBatch::from_images(&imgs)
        .and_then(|b| b.to_tensor(&Device::Cpu, InputScale::Unit))
        .map_err(|e| e.to_string())?;
    Ok((x, Tensor::new(ys, &Device::Cpu).map_err(|e| e.to_string())?))
}

struct Classify {
    model: FinetuneModel,
    val: (Tensor, Tensor),
}

impl Task for Classify {
    type Batch = (Tensor, Tensor);

    fn parts(&self) -> Vec<(&str, &VarStore)> {
        self.model.parts()
    }

    fn train_step(&mut self, (x, y): (Tensor, Tensor)) -> histo_train::Result<StepLoss> {
        let logits = self.model.forward(&x, Mode::TRAIN)?;
        Ok(StepLoss {
            loss: candle_nn::loss::cross_entropy(&logits, &y)?,
            samples: x.dim(0)?,
            extra: BTreeMap::new(),
        })
    }

    fn validate(&mut self, _epoch: u64) -> histo_train::Result<BTreeMap<String, f64>> {
        let logits = self.model.forward(&self.val.0, Mode::EVAL)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &self.val.1)?.to_scalar::<f32>()?;
        let acc = logits
            .argmax(1)?
            .eq(&self.val.1)?
            .to_dtype(DType::F32)?
            .mean_all()?
            .to_scalar::<f32>()?;
        Ok(BTreeMap::from([
            ("val_loss".to_string(), loss as f64),
            ("val_acc".to_string(), acc as f64),
        ]))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: tiny_training OUT_DIR [EPOCHS]")?;
    let epochs: u64 = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(6);
    let loader = Loader::new(
        Arc::new(Toy),
        // augmentation: a random vertical flip, from the sample's own stream
        Arc::new(|(img, y): (Image, u32), rng: &mut SampleRng, _| {
            if !rng.random_bool(0.5) {
                return Ok((img, y));
            }
            let mut flipped = Image::new(img.width(), img.height());
            for yy in 0..img.height() {
                for xx in 0..img.width() {
                    flipped.put_pixel(xx, img.height() - 1 - yy, img.pixel(xx, yy));
                }
            }
            Ok((flipped, y))
        }),
        Arc::new(to_batch),
        LoaderConfig {
            batch_size: 16,
            ..Default::default()
        },
    )?;
    let val = to_batch(
        (0..16)
            .map(|i| Toy.get(1000 + i))
            .collect::<Result<_, _>>()?,
    )?;
    let model = FinetuneModel::new(TripletConfig::narrow(18, 8), 2, &Device::Cpu, 42)?;
    let mut params = model.net.store().trainable();
    params.extend(model.classifier.store().trainable());
    let mut opt = Optimizer::new(
        OptimizerConfig::adam_l2(),
        1e-3,
        vec![ParamGroup::new(params)],
    )?;
    let trainer = Trainer::new(
        TrainConfig {
            epochs,
            lr: 1e-3,
            schedule: Schedule::MultiStep {
                milestones: vec![4],
                gamma: 0.1,
            },
            lookahead: Some(LookaheadConfig::default()),
            checkpoint_every: 2,
            best_metric: Some("val_acc".into()),
            better: Better::Higher,
            ..Default::default()
        },
        &out,
        CheckpointMeta {
            model_kind: "finetune".into(),
            triplet: Some(model.net.config()),
            classes: Some(2),
            stage: Some("example".into()),
            ..Default::default()
        },
    )?;
    let mut task = Classify { model, val };
    let summary = trainer.fit(&mut task, &mut opt, |e| loader.epoch(e))?;
    for r in &summary.history {
        println!(
            "epoch {}: lr {:.0e} train loss {:.4} val loss {:.4} val acc {:.3} ({:.0} img/s)",
            r.epoch,
            r.lr,
            r.train_loss,
            r.metrics["val_loss"],
            r.metrics["val_acc"],
            r.samples_per_s
        );
    }
    println!("outputs in {out}");
    Ok(())
}
