//! Stage 2, supervised fine-tuning with a fraction of the labels ("SSL", spec §3).

use std::collections::BTreeMap;
use std::time::Instant;

use candle_core::Device;
use histo_models::{CheckpointMeta, FinetuneModel, Mode, VarStore, parse_freeze};
use histo_tensor::InputScale;
use histo_train::{Optimizer, ParamGroup, StepLoss, StepUnit, Task, TrainConfig, Trainer};

use crate::config::FinetuneConfig;
use crate::data::DataSpec;
use crate::eval::Validator;
use crate::model::{Init, RunInfo, finetune_model, forward, trunk_frozen};
use crate::pipeline::{Labelled, Stream, StreamConfig, labelled_loader, labelled_tensors};
use crate::run::{
    RunOptions, RunSummary, SummaryParts, init_folder, open_folder, prepare_data, to_train,
    write_summary,
};
use crate::task::{TaskKind, supervised_loss};
use crate::{Error, Result};

/// A fine-tuning job.
#[derive(Clone, Debug)]
pub struct Finetune {
    /// The settings (a preset plus overrides).
    pub config: FinetuneConfig,
    /// The task.
    pub task: TaskKind,
    /// The labelled dataset.
    pub data: DataSpec,
    /// Where the network starts from.
    pub init: Init,
    /// Class count of a multiclass task when the dataset does not tell (class folders do).
    pub classes: Option<usize>,
}

struct FinetuneTask {
    model: FinetuneModel,
    task: TaskKind,
    scale: InputScale,
    device: Device,
    detach_trunk: bool,
    val: Validator,
}

impl Task for FinetuneTask {
    type Batch = Vec<Labelled>;

    fn parts(&self) -> Vec<(&str, &VarStore)> {
        self.model.parts()
    }

    fn train_step(&mut self, batch: Vec<Labelled>) -> histo_train::Result<StepLoss> {
        let (x, y) = labelled_tensors(&batch, self.scale, &self.device).map_err(to_train)?;
        let out = forward(&self.model, &x, Mode::TRAIN, self.detach_trunk).map_err(to_train)?;
        let loss = supervised_loss(self.task, &out, &y).map_err(to_train)?;
        Ok(StepLoss {
            loss,
            samples: x.dim(0)?,
            extra: BTreeMap::new(),
        })
    }

    fn validate(&mut self, _epoch: u64) -> histo_train::Result<BTreeMap<String, f64>> {
        self.val.run(&self.model, &self.device).map_err(to_train)
    }
}

/// The optimiser over the trainable parameters of a model.
pub(crate) fn optimizer(
    model: &FinetuneModel,
    train: &crate::config::TrainSection,
) -> Result<Optimizer> {
    let mut params = model.net.store().trainable();
    params.extend(model.classifier.store().trainable());
    if params.is_empty() {
        return Err(Error::Config(format!(
            "freeze = `{}` leaves nothing to train",
            train.freeze
        )));
    }
    Ok(Optimizer::new(
        train.optimizer.clone(),
        train.lr,
        vec![ParamGroup::new(params)],
    )?)
}

/// The epoch-loop settings of a stage.
pub(crate) fn train_config(
    train: &crate::config::TrainSection,
    task: TaskKind,
    opts: &RunOptions,
) -> TrainConfig {
    let (metric, better) = task.selection();
    TrainConfig {
        epochs: train.epochs,
        lr: train.lr,
        schedule: train.schedule.clone(),
        schedule_unit: StepUnit::Epoch,
        lookahead: None,
        checkpoint_every: train.checkpoint_every,
        best_metric: Some(metric.to_string()),
        better,
        resume: opts.resume,
        progress: opts.progress,
        curves: true,
    }
}

/// Runs stage 2 into `opts.out`: `best.safetensors` (by validation accuracy, or loss for
/// regression), `last.safetensors`, logs, curves, `split.json`, `config.toml`, `run.json` and
/// `summary.json`.
pub fn finetune(job: &Finetune, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let mut cfg = job.config.clone();
    cfg.split.seed = opts.seed;
    cfg.validate()?;
    open_folder(opts)?;
    let data = prepare_data(&job.data, job.task, &mut cfg.split, &opts.out, job.classes)?;
    let (mut model, init_info) =
        finetune_model(&job.init, &cfg.model, data.classes, &opts.device, opts.seed)?;
    if let Some(s) = init_info.scale
        && s != cfg.input.scale
    {
        tracing::warn!(
            "{} was trained with input scale {s:?}; using it instead of the preset's {:?}",
            init_info.from,
            cfg.input.scale
        );
        cfg.input.scale = s;
    }
    model.original_bn_updates = cfg.train.original_bn_updates;
    let groups = parse_freeze(&cfg.train.freeze)?;
    model.freeze(&groups, cfg.train.bn_eval_frozen);
    let info = RunInfo {
        stage: "finetune".into(),
        task: job.task,
        classes: data.classes,
        class_names: data.class_names.clone(),
        input: cfg.input,
        data: job.data.to_string(),
        init: job.init.to_string(),
        seed: opts.seed,
    };
    init_folder(opts, &info, &cfg.to_toml()?)?;
    tracing::info!(
        "fine-tuning {} ({} classes) on {}: {} labelled of {} training samples, {} validation, \
         init {}{}",
        job.task,
        data.classes,
        job.data,
        data.plan.labelled.len(),
        data.plan.train.len(),
        data.val.len(),
        init_info.from,
        init_info
            .kind
            .as_deref()
            .map(|k| format!(" ({k})"))
            .unwrap_or_default()
    );

    let size = cfg.input.size;
    let stream = Stream::new(
        &data.train,
        &data.plan.labelled,
        StreamConfig {
            batch_size: cfg.train.batch_size,
            drop_last: cfg.train.class_balanced,
            class_balanced: cfg.train.class_balanced && job.task.is_classification(),
            workers: cfg.train.workers,
            seed: opts.seed,
        },
        |pool, lc| labelled_loader(pool, size, lc),
    )?;
    if stream.steps() == 0 {
        return Err(Error::Config(format!(
            "the labelled subset ({} samples) gives no batch of {}",
            data.plan.labelled.len(),
            cfg.train.batch_size
        )));
    }
    let val = Validator::new(
        data.val_data.clone(),
        data.val.clone(),
        job.task,
        size,
        cfg.input.scale,
        cfg.train.eval_batch_size,
    )?;
    let mut opt = optimizer(&model, &cfg.train)?;
    let meta = CheckpointMeta {
        model_kind: "finetune".into(),
        triplet: Some(model.net.config()),
        classes: Some(data.classes),
        stage: Some("finetune".into()),
        config: serde_json::json!({ "run": info, "config": cfg }),
        ..Default::default()
    };
    let trainer = Trainer::new(train_config(&cfg.train, job.task, opts), &opts.out, meta)?;
    let mut task = FinetuneTask {
        detach_trunk: trunk_frozen(&model),
        model,
        task: job.task,
        scale: cfg.input.scale,
        device: opts.device.clone(),
        val,
    };
    let cap = match cfg.train.steps_per_epoch {
        0 => usize::MAX,
        n => n,
    };
    let summary = trainer.fit(&mut task, &mut opt, |e| stream.epoch(e).take(cap))?;
    write_summary(
        opts,
        SummaryParts {
            stage: "finetune",
            info: &info,
            history: &summary.history,
            wall_s: started.elapsed().as_secs_f64(),
            counts: (
                data.plan.labelled.len(),
                data.plan.train.len(),
                data.val.len(),
            ),
        },
    )
}
