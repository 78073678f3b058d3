//! What both training stages share: the run folder (resume checks, `config.toml`, `run.json`,
//! `split.json`), the data preparation (split, label fraction, class checks) and
//! `summary.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Device;
use histo_datasets::{Dataset, SPLIT_FILE, SplitConfig, SplitPlan};
use histo_tensor::Target;
use histo_train::{Better, EpochRecord};
use serde::{Deserialize, Serialize};

use crate::data::DataSpec;
use crate::model::RunInfo;
use crate::task::TaskKind;
use crate::{Error, Result};

/// Where and how a training run runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The run folder (created).
    pub out: PathBuf,
    /// The compute device.
    pub device: Device,
    /// The seed of everything (split, initialisation, shuffling, augmentation).
    pub seed: u64,
    /// Continue the run in `out` from its `last.safetensors`. Without it, a folder that already
    /// holds a run is an error.
    pub resume: bool,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
}

/// The machine-readable outcome of a run (`RUN/summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `finetune` or `consistency`.
    pub stage: String,
    /// The task.
    pub task: TaskKind,
    /// Network outputs.
    pub classes: usize,
    /// The validation metric that selected `best.safetensors` (`val_acc` or `val_loss`).
    pub metric: String,
    /// Its best value.
    pub best_value: Option<f64>,
    /// The (1-based) epoch of the best value.
    pub best_epoch: Option<u64>,
    /// Every figure of the last epoch (validation metrics and averaged training scalars).
    pub last_metrics: BTreeMap<String, f64>,
    /// Training loss of the last epoch.
    pub last_train_loss: Option<f64>,
    /// Epochs completed.
    pub epochs: u64,
    /// Wall time of this invocation, in seconds (from data opening to the summary).
    pub wall_s: f64,
    /// Training time summed over all epochs (resumed ones included), in seconds.
    pub train_s: f64,
    /// Training throughput of the last epoch (images per second).
    pub images_per_s: f64,
    /// Labelled training samples (with repeats when drawn with replacement).
    pub labelled: usize,
    /// Training samples (the unlabelled pool).
    pub train: usize,
    /// Validation samples.
    pub val: usize,
    /// What the network was initialised from.
    pub init: String,
    /// The dataset.
    pub data: String,
    /// The device.
    pub device: String,
    /// `best.safetensors`, when one was written.
    pub best: Option<PathBuf>,
    /// `last.safetensors`.
    pub last: PathBuf,
}

/// File name of the summary.
pub const SUMMARY_FILE: &str = "summary.json";

impl RunSummary {
    /// Reads `RUN/summary.json`.
    pub fn load(run: &Path) -> Result<Self> {
        let p = run.join(SUMMARY_FILE);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| Error::input(&p, e.to_string()))
    }
}

/// The data of a run, split and checked.
pub struct Prepared {
    /// The training dataset.
    pub train: Arc<dyn Dataset>,
    /// The dataset validation indices refer to (`train`, or a separate set).
    pub val_data: Arc<dyn Dataset>,
    /// Validation indices.
    pub val: Vec<usize>,
    /// The split (labelled subset, unlabelled pool).
    pub plan: SplitPlan,
    /// Network outputs.
    pub classes: usize,
    /// Class names (empty for regression).
    pub class_names: Vec<String>,
}

/// Opens the data, fixes the split (reusing `RUN/split.json` when resuming) and checks that the
/// targets fit the task. `split.val_fraction` is set to 0 when the layout has its own
/// validation set.
pub fn prepare_data(
    spec: &DataSpec,
    task: TaskKind,
    split: &mut SplitConfig,
    out: &Path,
    classes: Option<usize>,
) -> Result<Prepared> {
    let data = spec.training()?;
    if data.val.is_some() && split.val_fraction != 0.0 {
        tracing::info!(
            "{spec} has its own validation set: no hold-out (validation fraction {} → 0)",
            split.val_fraction
        );
        split.val_fraction = 0.0;
    }
    let names = data.train.class_names().to_vec();
    let classes = match task {
        TaskKind::Regression => 1,
        TaskKind::Binary => 2,
        TaskKind::Multiclass => match classes {
            Some(c) => c,
            None if names.len() >= 2 => names.len(),
            None => {
                return Err(Error::Config(format!(
                    "{spec}: cannot tell the class count of a multiclass task (the dataset names \
                     {} classes); pass --classes",
                    names.len()
                )));
            }
        },
    };
    task.check_outputs(classes)?;
    if task.is_classification() && !names.is_empty() && names.len() != classes {
        return Err(Error::Config(format!(
            "{spec} has {} classes ({}) but the task has {classes}",
            names.len(),
            names.join(", ")
        )));
    }
    for i in 0..data.train.len() {
        let t = data.train.target(i)?;
        task.check_target(t, classes).map_err(|m| {
            Error::Config(format!(
                "{spec}: sample {}: {m}",
                data.train.id(i).unwrap_or_else(|_| i.to_string())
            ))
        })?;
    }
    let plan = SplitPlan::load_or_create(out.join(SPLIT_FILE), data.train.as_ref(), split)?;
    if task.is_classification() {
        warn_missing_classes(data.train.as_ref(), &plan.labelled, classes, &names)?;
    }
    let (val_data, val) = match data.val {
        Some(v) => {
            for i in 0..v.len() {
                task.check_target(v.target(i)?, classes).map_err(|m| {
                    Error::Config(format!(
                        "{spec} (validation): sample {}: {m}",
                        v.id(i).unwrap_or_default()
                    ))
                })?;
            }
            let n = v.len();
            (v, (0..n).collect())
        }
        None => (data.train.clone(), plan.val.clone()),
    };
    let class_names = if task.is_classification() {
        if names.len() == classes {
            names
        } else {
            (0..classes).map(|c| format!("class_{c}")).collect()
        }
    } else {
        Vec::new()
    };
    Ok(Prepared {
        train: data.train,
        val_data,
        val,
        plan,
        classes,
        class_names,
    })
}

/// Warns about classes without any labelled sample (they can still be predicted, but the
/// network never sees a label for them).
fn warn_missing_classes(
    ds: &dyn Dataset,
    labelled: &[usize],
    classes: usize,
    names: &[String],
) -> Result<Vec<usize>> {
    let mut counts = vec![0usize; classes];
    for &i in labelled {
        if let Target::Class(c) = ds.target(i)? {
            counts[c as usize] += 1;
        }
    }
    let missing: Vec<usize> = (0..classes).filter(|&c| counts[c] == 0).collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing
            .iter()
            .map(|&c| names.get(c).cloned().unwrap_or_else(|| c.to_string()))
            .collect();
        tracing::warn!(
            "no labelled sample of class{} {} in the labelled subset ({} samples): the network \
             will never be told about {}; raise the label fraction or use a stratified split \
             (`[split] stratified = true`)",
            if missing.len() > 1 { "es" } else { "" },
            shown.join(", "),
            labelled.len(),
            if missing.len() > 1 { "them" } else { "it" }
        );
    }
    Ok(missing)
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Creates the run folder, refusing one that already holds a run unless resuming.
pub fn open_folder(opts: &RunOptions) -> Result<()> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    if out.join(histo_train::LAST).exists() && !opts.resume {
        return Err(Error::input(
            out,
            "already holds a run (last.safetensors): pass --resume to continue it, or choose \
             another --out",
        ));
    }
    Ok(())
}

/// Checks on resume that the run in the folder is the same (task, data, initialisation,
/// configuration apart from the epoch count), then writes `config.toml` (loadable as a preset)
/// and `run.json`.
pub fn init_folder(opts: &RunOptions, info: &RunInfo, config_toml: &str) -> Result<()> {
    open_folder(opts)?;
    let out = &opts.out;
    let run_json = out.join("run.json");
    if opts.resume && run_json.exists() {
        let text = std::fs::read_to_string(&run_json).map_err(|e| Error::io(&run_json, e))?;
        let old: RunInfo =
            serde_json::from_str(&text).map_err(|e| Error::input(&run_json, e.to_string()))?;
        if &old != info {
            return Err(Error::input(
                out,
                format!(
                    "--resume: this folder holds another run ({} {} on {} from {}, seed {}); \
                     the request is {} {} on {} from {}, seed {}",
                    old.stage,
                    old.task,
                    old.data,
                    old.init,
                    old.seed,
                    info.stage,
                    info.task,
                    info.data,
                    info.init,
                    info.seed
                ),
            ));
        }
        let cfg_path = out.join("config.toml");
        if let Ok(old_cfg) = std::fs::read_to_string(&cfg_path)
            && strip_epochs(&old_cfg) != strip_epochs(config_toml)
        {
            return Err(Error::input(
                &cfg_path,
                "--resume: the configuration differs from the run's (only the epoch count may \
                 change when resuming); remove --resume to start a new run in another folder",
            ));
        }
    }
    write_text(&out.join("config.toml"), config_toml)?;
    let json = serde_json::to_string_pretty(info).map_err(|e| Error::Config(e.to_string()))?;
    write_text(&run_json, &json)
}

fn strip_epochs(toml_text: &str) -> String {
    toml_text
        .lines()
        .filter(|l| !l.trim_start().starts_with("epochs ="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The best value of `metric` in `history` and its epoch (first epoch reaching it).
pub fn best_of(history: &[EpochRecord], metric: &str, better: Better) -> Option<(u64, f64)> {
    let mut best: Option<(u64, f64)> = None;
    for r in history {
        if let Some(&v) = r.metrics.get(metric).filter(|v| v.is_finite()) {
            let improves = match (best, better) {
                (None, _) => true,
                (Some((_, b)), Better::Lower) => v < b,
                (Some((_, b)), Better::Higher) => v > b,
            };
            if improves {
                best = Some((r.epoch, v));
            }
        }
    }
    best
}

/// Fields of the summary a stage fills in.
pub struct SummaryParts<'a> {
    /// `finetune` or `consistency`.
    pub stage: &'a str,
    /// The run information.
    pub info: &'a RunInfo,
    /// The epochs.
    pub history: &'a [EpochRecord],
    /// Wall time of this invocation.
    pub wall_s: f64,
    /// Labelled, training and validation sample counts.
    pub counts: (usize, usize, usize),
}

/// Builds and writes `RUN/summary.json`.
pub fn write_summary(opts: &RunOptions, p: SummaryParts) -> Result<RunSummary> {
    let (metric, better) = p.info.task.selection();
    let best = best_of(p.history, metric, better);
    let last = p.history.last();
    let best_path = opts.out.join(histo_train::BEST);
    let s = RunSummary {
        stage: p.stage.to_string(),
        task: p.info.task,
        classes: p.info.classes,
        metric: metric.to_string(),
        best_value: best.map(|b| b.1),
        best_epoch: best.map(|b| b.0),
        last_metrics: last.map(|r| r.metrics.clone()).unwrap_or_default(),
        last_train_loss: last.map(|r| r.train_loss),
        epochs: last.map(|r| r.epoch).unwrap_or(0),
        wall_s: p.wall_s,
        train_s: p.history.iter().map(|r| r.train_seconds).sum(),
        images_per_s: last.map(|r| r.samples_per_s).unwrap_or(0.0),
        labelled: p.counts.0,
        train: p.counts.1,
        val: p.counts.2,
        init: p.info.init.clone(),
        data: p.info.data.clone(),
        device: format!("{:?}", opts.device),
        best: best_path.exists().then_some(best_path),
        last: opts.out.join(histo_train::LAST),
    };
    let json = serde_json::to_string_pretty(&s).map_err(|e| Error::Config(e.to_string()))?;
    write_text(&opts.out.join(SUMMARY_FILE), &json)?;
    Ok(s)
}

/// A crate error as a training-engine error (for the [`histo_train::Task`] callbacks).
pub(crate) fn to_train(e: Error) -> histo_train::Error {
    match e {
        Error::Train(t) => t,
        Error::Model(m) => histo_train::Error::Model(m),
        Error::Candle(c) => histo_train::Error::Candle(c),
        other => histo_train::Error::Task(other.to_string()),
    }
}
