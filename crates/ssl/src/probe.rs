//! Linear-probe evaluation of a pretrained trunk: frozen trunk features of a labelled patch
//! dataset, a multinomial logistic regression on them, accuracy on held-out patches; and the
//! same with a randomly initialised trunk of the same shape, the baseline a self-supervised
//! representation has to beat.
//!
//! Features are the trunk's global-average-pooled activations in evaluation mode (BatchNorm
//! running statistics), standardised with the training set's mean and deviation. The
//! regression minimises mean cross-entropy + `l2/2·‖W‖²` (bias not penalised) by full-batch
//! Adam with a cosine-decayed rate; the problem is strictly convex, and the tests check that the
//! gradient vanishes at the solution.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor, Var};
use histo_augment::{Size, ops};
use histo_datasets::{ClassFolders, Dataset, SplitConfig, SplitPlan};
use histo_metrics::{Average, ConfusionMatrix};
use histo_models::{Checkpoint, Mode, TripletConfig, TripletNet};
use histo_tensor::{Image, ImageBatch, InputScale, Target};
use histo_train::{Grads, Optimizer, OptimizerConfig, ParamGroup, Schedule};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Settings of [`probe`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// Resize patches to this square size before the trunk; `None` (default): the patches'
    /// own size, which keeps their magnification (the trunk is fully convolutional; patches at
    /// the pretraining HR magnification, e.g. 20× Kather patches for a 20×/10×/5× store, match
    /// what the trunk saw, whatever the tile size).
    pub size: Option<usize>,
    /// Held-out fraction when the dataset has no `test/` folder (stratified, seeded).
    pub test_fraction: f64,
    /// At most this many training patches per class (0: all).
    pub max_train_per_class: usize,
    /// L2 penalty of the regression weights.
    pub l2: f64,
    /// Full-batch optimisation steps.
    pub steps: usize,
    /// Initial learning rate (Adam), decayed to 0 along a cosine.
    pub lr: f64,
    /// Also probe a randomly initialised trunk of the same shape.
    pub random_baseline: bool,
    /// Patches per forward pass.
    pub batch_size: usize,
    /// Seed of the split, the subsampling and the random trunk.
    pub seed: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            size: None,
            test_fraction: 0.2,
            max_train_per_class: 0,
            l2: 1e-3,
            steps: 600,
            lr: 0.05,
            random_baseline: true,
            batch_size: 64,
            seed: 42,
        }
    }
}

/// The scores of one trunk.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeScore {
    /// Test accuracy.
    pub accuracy: f64,
    /// Test balanced accuracy (mean per-class recall).
    pub balanced_accuracy: f64,
    /// Test macro F1.
    pub macro_f1: f64,
    /// Training accuracy of the regression.
    pub train_accuracy: f64,
    /// Test confusion matrix (rows: true class).
    pub confusion: Vec<Vec<u64>>,
}

/// What [`probe`] measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The checkpoint probed.
    pub checkpoint: String,
    /// The dataset.
    pub dataset: String,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Training patches.
    pub train: usize,
    /// Test patches.
    pub test: usize,
    /// Input size fed to the trunk.
    pub size: usize,
    /// Width of the features.
    pub features: usize,
    /// The pretrained trunk.
    pub pretrained: ProbeScore,
    /// A random trunk of the same shape (if asked for).
    pub random: Option<ProbeScore>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A labelled patch set: train and test.
struct Patches {
    train: Vec<(Image, u32)>,
    test: Vec<(Image, u32)>,
    classes: Vec<String>,
}

fn load_all(ds: &ClassFolders, idx: &[usize], root: &Path) -> Result<Vec<(Image, u32)>> {
    idx.par_iter()
        .map(|&i| {
            let s = ds.get(i).map_err(|e| Error::Dataset {
                path: root.to_path_buf(),
                reason: e.to_string(),
            })?;
            match s.target {
                Target::Class(c) => Ok((s.image, c)),
                Target::Score(_) => Err(Error::Dataset {
                    path: root.to_path_buf(),
                    reason: "has regression targets; the probe needs classes".into(),
                }),
            }
        })
        .collect()
}

fn per_class_cap(ds: &ClassFolders, idx: Vec<usize>, cap: usize, seed: u64) -> Result<Vec<usize>> {
    if cap == 0 {
        return Ok(idx);
    }
    use rand::seq::SliceRandom;
    let mut by: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for i in idx {
        if let Target::Class(c) = ds.target(i)? {
            by.entry(c).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (c, mut v) in by {
        v.shuffle(&mut histo_tensor::SampleRng::stream(
            "probe-cap",
            seed,
            0,
            c as u64,
        ));
        v.truncate(cap);
        out.extend(v);
    }
    out.sort_unstable();
    Ok(out)
}

fn open_patches(root: &Path, config: &ProbeConfig) -> Result<Patches> {
    let bad = |reason: String| Error::Dataset {
        path: root.to_path_buf(),
        reason,
    };
    if !root.is_dir() {
        return Err(bad("is not a folder".into()));
    }
    let open = |p: &Path| -> Result<ClassFolders> {
        let ds = ClassFolders::discover(p).map_err(|e| bad(e.to_string()))?;
        for pr in ds.problems() {
            tracing::warn!("{pr}");
        }
        if ds.is_empty() {
            return Err(Error::Dataset {
                path: p.to_path_buf(),
                reason: "holds no image in class folders (expected CLASS/*.png|tif|jpg)".into(),
            });
        }
        Ok(ds)
    };
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    if train_dir.is_dir() && test_dir.is_dir() {
        let tr = open(&train_dir)?;
        let te = open(&test_dir)?;
        if tr.class_names() != te.class_names() {
            return Err(bad(format!(
                "train/ has classes {:?} but test/ has {:?}",
                tr.class_names(),
                te.class_names()
            )));
        }
        let tr_idx = per_class_cap(
            &tr,
            (0..tr.len()).collect(),
            config.max_train_per_class,
            config.seed,
        )?;
        let te_idx: Vec<usize> = (0..te.len()).collect();
        Ok(Patches {
            train: load_all(&tr, &tr_idx, &train_dir)?,
            test: load_all(&te, &te_idx, &test_dir)?,
            classes: tr.class_names().to_vec(),
        })
    } else {
        let ds = open(root)?;
        let plan = SplitPlan::new(
            &ds,
            &SplitConfig {
                seed: config.seed,
                val_fraction: config.test_fraction,
                label_fraction: 1.0,
                stratified: true,
                ..SplitConfig::default()
            },
        )
        .map_err(|e| bad(e.to_string()))?;
        if plan.val.is_empty() {
            return Err(bad(format!(
                "a test fraction of {} holds out no patch of {}",
                config.test_fraction,
                ds.len()
            )));
        }
        let tr_idx = per_class_cap(
            &ds,
            plan.train.clone(),
            config.max_train_per_class,
            config.seed,
        )?;
        Ok(Patches {
            train: load_all(&ds, &tr_idx, root)?,
            test: load_all(&ds, &plan.val, root)?,
            classes: ds.class_names().to_vec(),
        })
    }
}

/// Trunk features `[N, F]` (f32, row-major) of `patches`, resized to `size`.
pub fn trunk_features(
    net: &TripletNet,
    images: &[&Image],
    size: Option<usize>,
    scale: InputScale,
    batch_size: usize,
    device: &Device,
) -> Result<(Vec<f32>, usize)> {
    let mut out = Vec::new();
    let mut width = 0;
    for chunk in images.chunks(batch_size.max(1)) {
        let imgs: Vec<Image> = chunk
            .par_iter()
            .map(|img| match size {
                Some(s) if (img.width(), img.height()) != (s, s) => {
                    ops::resize(img, Size::new(s, s)).map_err(Error::from)
                }
                _ => Ok((*img).clone()),
            })
            .collect::<Result<_>>()?;
        let x = ImageBatch::from_images(&imgs)?.to_tensor(device, scale)?;
        let f = net.embed(&x, Mode::EVAL)?;
        width = f.dim(1)?;
        out.extend(f.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok((out, width))
}

/// A fitted multinomial logistic regression on standardised features.
#[derive(Clone, Debug)]
pub struct Logistic {
    /// Feature means subtracted.
    pub mean: Vec<f32>,
    /// Feature deviations divided by (1 where a feature is constant).
    pub std: Vec<f32>,
    /// Weights `[F, C]`.
    pub w: Tensor,
    /// Biases `[C]`.
    pub b: Tensor,
}

fn standardise(x: &[f32], n: usize, f: usize) -> (Vec<f32>, Vec<f32>) {
    let mut mean = vec![0f64; f];
    for row in x.chunks_exact(f) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut var = vec![0f64; f];
    for row in x.chunks_exact(f) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let std = var
        .iter()
        .map(|s| {
            let sd = (s / n.max(1) as f64).sqrt();
            if sd > 1e-12 { sd as f32 } else { 1.0 }
        })
        .collect();
    (mean.iter().map(|&m| m as f32).collect(), std)
}

impl Logistic {
    fn input(&self, x: &[f32], n: usize, device: &Device) -> Result<Tensor> {
        let f = self.mean.len();
        let z: Vec<f32> = x
            .chunks_exact(f)
            .flat_map(|row| {
                row.iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((v, m), s)| (v - m) / s)
            })
            .collect();
        Ok(Tensor::from_vec(z, (n, f), device)?)
    }

    /// The objective `mean CE + l2/2·‖W‖²` and its gradient norm at the current weights.
    pub fn objective(&self, x: &[f32], y: &[u32], l2: f64, device: &Device) -> Result<(f64, f64)> {
        let n = y.len();
        let xt = self.input(x, n, device)?;
        let w = Var::from_tensor(&self.w)?;
        let b = Var::from_tensor(&self.b)?;
        let yt = Tensor::new(y, device)?;
        let loss = loss(&xt, &yt, &w, &b, l2)?;
        let g = loss.backward()?;
        let mut norm2 = 0f64;
        for v in [&w, &b] {
            if let Some(gv) = g.get(v) {
                norm2 += gv
                    .sqr()?
                    .sum_all()?
                    .to_dtype(DType::F64)?
                    .to_scalar::<f64>()?;
            }
        }
        Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, norm2.sqrt()))
    }

    /// Fits the regression to `n` samples `x` (`[n, f]` row-major) with labels `y` in
    /// `0..classes`.
    pub fn fit(
        x: &[f32],
        y: &[u32],
        classes: usize,
        config: &ProbeConfig,
        device: &Device,
    ) -> Result<Self> {
        let n = y.len();
        if n == 0 || classes < 2 || !x.len().is_multiple_of(n) {
            return Err(Error::Config(format!(
                "a logistic regression needs samples and at least 2 classes ({n} samples, {classes} classes)"
            )));
        }
        let f = x.len() / n;
        let (mean, std) = standardise(x, n, f);
        let w = Var::zeros((f, classes), DType::F32, device)?;
        let b = Var::zeros(classes, DType::F32, device)?;
        let mut model = Self {
            mean,
            std,
            w: w.as_tensor().clone(),
            b: b.as_tensor().clone(),
        };
        let xt = model.input(x, n, device)?;
        let yt = Tensor::new(y, device)?;
        let mut opt = Optimizer::new(
            OptimizerConfig::Adam {
                betas: (0.9, 0.999),
                eps: 1e-8,
                weight_decay: 0.0,
            },
            config.lr,
            vec![ParamGroup::new(vec![
                ("w".into(), w.clone()),
                ("b".into(), b.clone()),
            ])],
        )?;
        let schedule = Schedule::Cosine {
            total: config.steps as u64,
            min_lr: 0.0,
        };
        for step in 0..config.steps {
            opt.set_lr(schedule.lr(config.lr, step as u64));
            let l = loss(&xt, &yt, &w, &b, config.l2)?;
            let grads = Grads::backward(&l, &opt.params())?;
            opt.step(&grads)?;
        }
        model.w = w.as_tensor().detach();
        model.b = b.as_tensor().detach();
        Ok(model)
    }

    /// Predicted classes of `n` samples.
    pub fn predict(&self, x: &[f32], n: usize, device: &Device) -> Result<Vec<u32>> {
        let xt = self.input(x, n, device)?;
        let logits = xt.matmul(&self.w)?.broadcast_add(&self.b)?;
        Ok(logits
            .argmax(D::Minus1)?
            .to_dtype(DType::U32)?
            .to_vec1::<u32>()?)
    }
}

fn loss(x: &Tensor, y: &Tensor, w: &Var, b: &Var, l2: f64) -> candle_core::Result<Tensor> {
    let logits = x.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
    let ce = candle_nn::loss::cross_entropy(&logits, y)?;
    ce + (w.as_tensor().sqr()?.sum_all()? * (0.5 * l2))?
}

fn score(
    train: (&[f32], &[u32]),
    test: (&[f32], &[u32]),
    classes: usize,
    config: &ProbeConfig,
    device: &Device,
) -> Result<ProbeScore> {
    let model = Logistic::fit(train.0, train.1, classes, config, device)?;
    let tr_pred = model.predict(train.0, train.1.len(), device)?;
    let te_pred = model.predict(test.0, test.1.len(), device)?;
    let to_usize = |v: &[u32]| v.iter().map(|&c| c as usize).collect::<Vec<_>>();
    let cm = ConfusionMatrix::new(&to_usize(test.1), &to_usize(&te_pred), classes)?;
    let train_acc = tr_pred.iter().zip(train.1).filter(|(a, b)| a == b).count() as f64
        / train.1.len().max(1) as f64;
    Ok(ProbeScore {
        accuracy: cm.accuracy(),
        balanced_accuracy: cm.balanced_accuracy(),
        macro_f1: cm.f1(Average::Macro),
        train_accuracy: train_acc,
        confusion: cm.rows(),
    })
}

/// The input scaling a checkpoint's trunk expects (its `config.model.input_scale`; the
/// original's 0–255 when the checkpoint does not say).
fn checkpoint_input_scale(ck: &Checkpoint) -> InputScale {
    ck.meta
        .config
        .get("model")
        .and_then(|m| m.get("input_scale"))
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or(InputScale::Raw255)
}

/// Probes the TripletNet trunk of `checkpoint` (part `model`) on the labelled patches under
/// `dataset` (`train/` and `test/` class folders, or class folders split by
/// `config.test_fraction`).
pub fn probe(
    checkpoint: &Path,
    dataset: &Path,
    config: &ProbeConfig,
    device: &Device,
) -> Result<ProbeReport> {
    let started = std::time::Instant::now();
    let ck = Checkpoint::load(checkpoint, device)?;
    let net = TripletNet::from_checkpoint(&ck, checkpoint, "model", device)?;
    let scale = checkpoint_input_scale(&ck);
    let patches = open_patches(dataset, config)?;
    let classes = patches.classes.len();
    if classes < 2 {
        return Err(Error::Dataset {
            path: dataset.to_path_buf(),
            reason: format!("needs at least 2 classes, found {classes}"),
        });
    }
    let size = config.size;
    let native = patches.train.first().map(|p| p.0.width()).unwrap_or(0);
    let tr_imgs: Vec<&Image> = patches.train.iter().map(|p| &p.0).collect();
    let te_imgs: Vec<&Image> = patches.test.iter().map(|p| &p.0).collect();
    let tr_y: Vec<u32> = patches.train.iter().map(|p| p.1).collect();
    let te_y: Vec<u32> = patches.test.iter().map(|p| p.1).collect();
    let run = |net: &TripletNet| -> Result<(ProbeScore, usize)> {
        let (ftr, width) = trunk_features(net, &tr_imgs, size, scale, config.batch_size, device)?;
        let (fte, _) = trunk_features(net, &te_imgs, size, scale, config.batch_size, device)?;
        Ok((
            score((&ftr, &tr_y), (&fte, &te_y), classes, config, device)?,
            width,
        ))
    };
    let (pretrained, features) = run(&net)?;
    let random = if config.random_baseline {
        let cfg: TripletConfig = net.config();
        let fresh = TripletNet::new(cfg, device, config.seed)?;
        Some(run(&fresh)?.0)
    } else {
        None
    };
    Ok(ProbeReport {
        checkpoint: checkpoint.display().to_string(),
        dataset: dataset.display().to_string(),
        classes: patches.classes,
        train: tr_y.len(),
        test: te_y.len(),
        size: size.unwrap_or(native),
        features,
        pretrained,
        random,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Writes `report` as JSON at `path`.
pub fn save_report(report: &ProbeReport, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| Error::output(path, e))?;
    crate::report::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated Gaussian blobs in 4-D: the regression separates them, and at its
    /// solution the gradient of the objective vanishes (first-order optimality of a strictly
    /// convex problem — an independent check of the optimiser).
    #[test]
    fn logistic_regression_reaches_the_optimum() {
        let dev = Device::Cpu;
        let mut rng = histo_tensor::SampleRng::new(1, 0, 0);
        use rand::Rng;
        let centres = [
            [2.0, 0.0, 0.0, 1.0],
            [0.0, 2.0, 0.0, -1.0],
            [0.0, 0.0, 2.0, 0.0],
        ];
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for (c, centre) in centres.iter().enumerate() {
            for _ in 0..40 {
                for v in centre {
                    x.push((v + rng.random_range(-0.8..0.8)) as f32);
                }
                y.push(c as u32);
            }
        }
        let config = ProbeConfig {
            steps: 1500,
            lr: 0.05,
            l2: 1e-2,
            ..ProbeConfig::default()
        };
        let m = Logistic::fit(&x, &y, 3, &config, &dev).unwrap();
        let pred = m.predict(&x, y.len(), &dev).unwrap();
        let acc = pred.iter().zip(&y).filter(|(a, b)| a == b).count() as f64 / y.len() as f64;
        assert!(acc > 0.97, "{acc}");
        let (obj, grad) = m.objective(&x, &y, config.l2, &dev).unwrap();
        assert!(obj.is_finite() && obj < 0.5, "{obj}");
        assert!(grad < 1e-3, "gradient norm at the solution {grad}");
    }

    #[test]
    fn bad_regression_input_is_an_error() {
        let c = ProbeConfig::default();
        assert!(Logistic::fit(&[], &[], 3, &c, &Device::Cpu).is_err());
        assert!(Logistic::fit(&[1.0, 2.0], &[0, 0], 1, &c, &Device::Cpu).is_err());
        assert!(Logistic::fit(&[1.0, 2.0, 3.0], &[0, 1], 2, &c, &Device::Cpu).is_err());
    }
}
