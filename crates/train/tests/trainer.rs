//! The epoch loop end to end on a tiny fine-tune model: logs, checkpoints, exact
//! kill-and-resume, NaN detection, and bit-identical runs across loader workers and
//! `RAYON_NUM_THREADS=1/2`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use histo_models::{CheckpointMeta, FinetuneModel, Mode, TripletConfig, VarStore};
use histo_tensor::{Image, ImageBatch, InputScale, SampleRng};
use histo_train::{
    Better, Loader, LoaderConfig, LookaheadConfig, LookaheadMode, Optimizer, OptimizerConfig,
    ParamGroup, Schedule, StepLoss, Task, TrainConfig, Trainer,
};
use rand::Rng;

type Sample = (Image, u32);
type Batch = (Tensor, Tensor);

/// 16 random 32×32 images, label = whether the red channel dominates.
fn dataset() -> Vec<Sample> {
    (0..16u64)
        .map(|i| {
            let mut rng = SampleRng::stream("data", 7, 0, i);
            let mut img = Image::new(32, 32);
            let bias: u8 = if i % 2 == 0 { 80 } else { 0 };
            for y in 0..32 {
                for x in 0..32 {
                    let r = rng.random_range(0..170u8) + bias;
                    img.put_pixel(
                        x,
                        y,
                        [r, rng.random_range(0..200), rng.random_range(0..200)],
                    );
                }
            }
            (img, (i % 2) as u32)
        })
        .collect()
}

fn loader(workers: usize) -> Loader<Vec<Sample>, Sample, Batch> {
    Loader::new(
        Arc::new(dataset()),
        // a random horizontal flip per sample, from the sample's own stream
        Arc::new(|(img, y): Sample, rng: &mut SampleRng, _| {
            if rng.random_bool(0.5) {
                let (w, h) = (img.width(), img.height());
                let mut out = Image::new(w, h);
                for yy in 0..h {
                    for xx in 0..w {
                        out.put_pixel(w - 1 - xx, yy, img.pixel(xx, yy));
                    }
                }
                Ok((out, y))
            } else {
                Ok((img, y))
            }
        }),
        Arc::new(|items: Vec<Sample>| {
            let imgs: Vec<Image> = items.iter().map(|s| s.0.clone()).collect();
            let ys: Vec<u32> = items.iter().map(|s| s.1).collect();
            let x = ImageBatch::from_images(&imgs)
                .and_then(|b| b.to_tensor(&Device::Cpu, InputScale::Unit))
                .map_err(|e| e.to_string())?;
            let y = Tensor::new(ys, &Device::Cpu).map_err(|e| e.to_string())?;
            Ok((x, y))
        }),
        LoaderConfig {
            batch_size: 6,
            shuffle: true,
            drop_last: false,
            workers,
            prefetch: 2,
            seed: 11,
        },
    )
    .unwrap()
}

struct Tiny {
    model: FinetuneModel,
    val: Batch,
    /// make the loss NaN from this 0-based epoch on
    poison_from: Option<u64>,
    epoch: u64,
}

impl Tiny {
    fn new(seed: u64) -> Self {
        let model =
            FinetuneModel::new(TripletConfig::narrow(18, 4), 2, &Device::Cpu, seed).unwrap();
        let l = loader(1);
        let val = l.epoch(99).next().unwrap().unwrap();
        Self {
            model,
            val,
            poison_from: None,
            epoch: 0,
        }
    }

    fn weights(&self) -> Vec<f32> {
        let mut all = Vec::new();
        for (_, store) in self.parts() {
            for e in store.entries() {
                let t = e.var.as_tensor().to_dtype(DType::F32).unwrap();
                all.extend(t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
            }
        }
        all
    }
}

impl Task for Tiny {
    type Batch = Batch;

    fn parts(&self) -> Vec<(&str, &VarStore)> {
        self.model.parts()
    }

    fn train_step(&mut self, (x, y): Batch) -> histo_train::Result<StepLoss> {
        let logits = self.model.forward(&x, Mode::TRAIN)?;
        let mut loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        if self.poison_from.is_some_and(|p| self.epoch >= p) {
            loss = (loss * f64::NAN)?;
        }
        Ok(StepLoss {
            loss,
            samples: x.dim(0)?,
            extra: BTreeMap::new(),
        })
    }

    fn validate(&mut self, epoch: u64) -> histo_train::Result<BTreeMap<String, f64>> {
        let logits = self.model.forward(&self.val.0, Mode::EVAL)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &self.val.1)?;
        let acc = logits
            .argmax(1)?
            .eq(&self.val.1)?
            .to_dtype(DType::F64)?
            .mean_all()?
            .to_scalar::<f64>()?;
        self.epoch = epoch + 1;
        Ok(BTreeMap::from([
            ("val_loss".to_string(), loss.to_scalar::<f32>()? as f64),
            ("val_acc".to_string(), acc),
        ]))
    }
}

fn config(epochs: u64, lookahead: LookaheadMode) -> TrainConfig {
    TrainConfig {
        epochs,
        lr: 0.05,
        schedule: Schedule::MultiStep {
            milestones: vec![3],
            gamma: 0.1,
        },
        lookahead: Some(LookaheadConfig {
            k: 2,
            alpha: 0.5,
            mode: lookahead,
        }),
        checkpoint_every: 2,
        best_metric: Some("val_acc".into()),
        better: Better::Higher,
        resume: true,
        progress: false,
        curves: true,
        ..Default::default()
    }
}

fn optimizer(task: &Tiny, config: OptimizerConfig) -> Optimizer {
    let mut params = task.model.net.store().trainable();
    params.extend(task.model.classifier.store().trainable());
    Optimizer::new(config, 0.05, vec![ParamGroup::new(params)]).unwrap()
}

fn train(
    dir: &Path,
    epochs: u64,
    seed: u64,
    la: LookaheadMode,
    opt: OptimizerConfig,
) -> (Tiny, Vec<f64>) {
    let mut task = Tiny::new(seed);
    let mut o = optimizer(&task, opt);
    let trainer = Trainer::new(config(epochs, la), dir, CheckpointMeta::default()).unwrap();
    let l = loader(2);
    let s = trainer.fit(&mut task, &mut o, |e| l.epoch(e)).unwrap();
    (task, s.history.iter().map(|r| r.train_loss).collect())
}

#[test]
fn kill_and_resume_gives_identical_weights() {
    for (la, opt) in [
        (LookaheadMode::Original, OptimizerConfig::sgd_nesterov()),
        (LookaheadMode::PerStep, OptimizerConfig::adam_l2()),
    ] {
        let a = tempfile::tempdir().unwrap();
        let (full, losses) = train(a.path(), 4, 1, la, opt.clone());
        assert_eq!(losses.len(), 4);
        let b = tempfile::tempdir().unwrap();
        let (_, first) = train(b.path(), 2, 1, la, opt.clone());
        assert_eq!(first, losses[..2]);
        // a fresh process would build the model with any seed: resume overwrites everything
        let (resumed, all) = train(b.path(), 4, 999, la, opt.clone());
        assert_eq!(all, losses, "{la:?}");
        assert_eq!(resumed.weights(), full.weights(), "{la:?}");
    }
}

#[test]
fn logs_checkpoints_and_curves_are_written() {
    let dir = tempfile::tempdir().unwrap();
    train(
        dir.path(),
        4,
        1,
        LookaheadMode::PerStep,
        OptimizerConfig::sgd_nesterov(),
    );
    let csv = std::fs::read_to_string(dir.path().join("train_log.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(
        lines[0].starts_with("epoch,lr,train_loss,val_acc,val_loss"),
        "{}",
        lines[0]
    );
    assert!(
        lines[4].starts_with("4,0.005"),
        "MultiStep at 3: {}",
        lines[4]
    );
    let jsonl = std::fs::read_to_string(dir.path().join("train_log.jsonl")).unwrap();
    assert_eq!(jsonl.lines().count(), 4);
    for f in [
        "last.safetensors",
        "best.safetensors",
        "epoch_0002.safetensors",
        "epoch_0004.safetensors",
        "curve_loss.png",
        "curve_metrics.png",
    ] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    let ck =
        histo_models::Checkpoint::load(dir.path().join("last.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(ck.meta.epoch, Some(4));
    assert!(ck.meta.metrics.contains_key("val_loss"));
    assert!(
        ck.tensors
            .keys()
            .any(|k| k.starts_with("optim.") && k.ends_with("momentum_buffer"))
    );
    assert!(ck.tensors.keys().any(|k| k.starts_with("lookahead.")));
}

#[test]
fn a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = Tiny::new(1);
    task.poison_from = Some(2);
    let mut o = optimizer(&task, OptimizerConfig::sgd_nesterov());
    let trainer = Trainer::new(
        config(4, LookaheadMode::PerStep),
        dir.path(),
        CheckpointMeta::default(),
    )
    .unwrap();
    let l = loader(2);
    let e = trainer
        .fit(&mut task, &mut o, |e| l.epoch(e))
        .unwrap_err()
        .to_string();
    assert!(e.contains("NaN") && e.contains("epoch 3, batch 0"), "{e}");
    assert!(
        e.contains("last.safetensors") && e.contains("(epoch 2)"),
        "{e}"
    );
    let ck =
        histo_models::Checkpoint::load(dir.path().join("last.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(ck.meta.epoch, Some(2));
    assert!(ck.tensors.values().all(|t| {
        t.dtype() != DType::F32
            || t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
    }));
}

#[test]
fn resuming_with_another_optimiser_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    train(
        dir.path(),
        1,
        1,
        LookaheadMode::PerStep,
        OptimizerConfig::sgd_nesterov(),
    );
    let mut task = Tiny::new(1);
    let mut o = optimizer(&task, OptimizerConfig::adam_l2());
    let trainer = Trainer::new(
        config(2, LookaheadMode::PerStep),
        dir.path(),
        CheckpointMeta::default(),
    )
    .unwrap();
    let l = loader(1);
    let e = trainer
        .fit(&mut task, &mut o, |e| l.epoch(e))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot resume") && e.contains("optimiser"),
        "{e}"
    );
}

const CHILD_ENV: &str = "HISTO_TRAIN_DETERMINISM_OUT";

/// Trains 2 epochs and writes the losses and a weight digest. Run directly, it checks the
/// run is finite; [`same_result_with_1_and_2_threads`] runs it in child processes.
#[test]
fn determinism_child() {
    let dir = tempfile::tempdir().unwrap();
    let (task, losses) = train(
        dir.path(),
        2,
        3,
        LookaheadMode::PerStep,
        OptimizerConfig::sgd_nesterov(),
    );
    assert!(losses.iter().all(|l| l.is_finite()));
    let w = task.weights();
    let bits: Vec<String> = losses
        .iter()
        .map(|l| format!("{:016x}", l.to_bits()))
        .chain(w.iter().map(|v| format!("{:08x}", v.to_bits())))
        .collect();
    if let Ok(out) = std::env::var(CHILD_ENV) {
        std::fs::write(out, bits.join("\n")).unwrap();
    }
}

#[test]
fn same_result_with_1_and_2_threads() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut outs = Vec::new();
    for threads in ["1", "2", "2"] {
        let out = dir.path().join(format!("out-{threads}-{}", outs.len()));
        let child = std::process::Command::new(&exe)
            .args(["--exact", "determinism_child", "--test-threads", "1"])
            .env("RAYON_NUM_THREADS", threads)
            .env(CHILD_ENV, &out)
            .output()
            .unwrap();
        assert!(
            child.status.success(),
            "{}{}",
            String::from_utf8_lossy(&child.stdout),
            String::from_utf8_lossy(&child.stderr)
        );
        outs.push(std::fs::read_to_string(&out).unwrap());
    }
    assert!(outs[0].lines().count() > 1000);
    assert_eq!(outs[1], outs[2], "two runs with 2 threads differ");
    assert_eq!(outs[0], outs[1], "1 thread and 2 threads differ");
}

#[test]
fn bf16_mixed_precision_trains_f32_master_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = Tiny::new(5);
    let before: Vec<Tensor> = task
        .model
        .net
        .store()
        .trainable()
        .iter()
        .map(|(_, v)| v.as_tensor().copy().unwrap())
        .collect();
    let mut o = optimizer(&task, OptimizerConfig::sgd_nesterov());
    let mut cfg = config(2, LookaheadMode::PerStep);
    cfg.lookahead = None;
    let trainer = Trainer::new(cfg, dir.path(), CheckpointMeta::default())
        .unwrap()
        .with_precision(histo_train::Precision::Bf16);
    let l = loader(2);
    let s = trainer.fit(&mut task, &mut o, |e| l.epoch(e)).unwrap();
    assert!(s.history.iter().all(|r| r.train_loss.is_finite()));
    for (_, store) in task.parts() {
        assert_eq!(store.precision(), histo_train::Precision::Bf16);
    }
    let after = task.model.net.store().trainable();
    let mut moved = 0;
    for (b, (name, v)) in before.iter().zip(&after) {
        assert_eq!(v.dtype(), DType::F32, "{name}: master weights stay f32");
        let d = (b - v.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        moved += usize::from(d > 0.0);
    }
    assert_eq!(moved, after.len(), "every trainable tensor was updated");
    // the checkpoint holds f32 weights
    let ck =
        histo_models::Checkpoint::load(dir.path().join("last.safetensors"), &Device::Cpu).unwrap();
    assert!(ck.tensors.values().all(|t| t.dtype() != DType::BF16));
}
