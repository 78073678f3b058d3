//! Stage 3, teacher–student consistency training ("SSL_CR", spec §4).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use histo_datasets::{SPLIT_FILE, SplitPlan};
use histo_models::{CheckpointMeta, FinetuneModel, Mode, VarStore, parse_freeze};
use histo_tensor::{Image, InputScale, Target};
use histo_train::{Task, Trainer, paired};

use crate::config::{ConsistencyConfig, CrSection, TeacherUpdate};
use crate::data::DataSpec;
use crate::eval::Validator;
use crate::finetune::{optimizer, train_config};
use crate::model::{RunInfo, check_device, ema_update, forward, load_finetuned, trunk_frozen};
use crate::pipeline::{
    Labelled, Stream, StreamConfig, Unlabelled, images_tensor, labelled_loader, labelled_tensors,
    unlabelled_loader,
};
use crate::run::{
    RunOptions, RunSummary, SummaryParts, init_folder, open_folder, prepare_data, to_train,
    write_summary,
};
use crate::task::{TaskKind, argmax, cross_entropy_each, mse, softmax, supervised_loss};
use crate::{Error, Result};

/// A consistency-training job.
#[derive(Clone, Debug)]
pub struct Consistency {
    /// The settings.
    pub config: ConsistencyConfig,
    /// The task (must match the fine-tuned checkpoint's).
    pub task: TaskKind,
    /// The dataset (the same as the fine-tune run's).
    pub data: DataSpec,
    /// The stage-2 checkpoint teacher and student start from.
    pub init: PathBuf,
}

/// Teacher and student with the consistency loss (see [`Consistency`]).
struct CrTask {
    student: FinetuneModel,
    teacher: FinetuneModel,
    cr: CrSection,
    task: TaskKind,
    scale: InputScale,
    device: Device,
    detach_trunk: bool,
    ema_pending: bool,
    val: Validator,
}

/// `(loss_u, mask rate, pseudo-label accuracy)` of an unlabelled batch.
fn consistency_loss(
    task: TaskKind,
    threshold: f64,
    teacher_out: &Tensor,
    student_out: &Tensor,
    hidden: &[Target],
) -> Result<(Tensor, f64, Option<f64>)> {
    if task == TaskKind::Regression {
        return Ok((mse(student_out, teacher_out)?, 1.0, None));
    }
    let dev = teacher_out.device();
    let probs = softmax(teacher_out)?
        .to_device(&Device::Cpu)?
        .to_vec2::<f32>()?;
    let n = probs.len();
    let mut pseudo = Vec::with_capacity(n);
    let mut mask = Vec::with_capacity(n);
    for row in &probs {
        let k = argmax(row);
        pseudo.push(k as u32);
        mask.push(if row[k] as f64 >= threshold {
            1f32
        } else {
            0.0
        });
    }
    let each = cross_entropy_each(student_out, &Tensor::from_slice(&pseudo, n, dev)?)?;
    // FixMatch's normalisation: masked-out samples count as zeros in the mean (threshold 0 =
    // every sample, the original's plain mean, B29)
    let mask_t = Tensor::from_slice(&mask, n, dev)?;
    let loss = ((each * &mask_t)?.sum_all()? / n.max(1) as f64)?;
    let rate = mask.iter().map(|&m| m as f64).sum::<f64>() / n.max(1) as f64;
    let correct = pseudo
        .iter()
        .zip(hidden)
        .filter(|(p, t)| t.class() == Some(**p))
        .count();
    Ok((loss, rate, Some(correct as f64 / n.max(1) as f64)))
}

impl CrTask {
    fn step(&mut self, lab: Vec<Labelled>, unl: Vec<Unlabelled>) -> Result<histo_train::StepLoss> {
        if let (TeacherUpdate::Ema { decay }, true) = (self.cr.teacher, self.ema_pending) {
            self.ema(decay)?;
        }
        let (x, y) = labelled_tensors(&lab, self.scale, &self.device)?;
        let weak: Vec<Image> = unl.iter().map(|u| u.0.clone()).collect();
        let strong: Vec<Image> = unl.iter().map(|u| u.1.clone()).collect();
        let hidden: Vec<Target> = unl.iter().map(|u| u.2).collect();
        let u_w = images_tensor(&weak, self.scale, &self.device)?;
        let u_s = images_tensor(&strong, self.scale, &self.device)?;
        let teacher_out = forward(&self.teacher, &u_w, Mode::EVAL, true)?.detach();
        let nx = x.dim(0)?;
        let both = Tensor::cat(&[&x, &u_s], 0)?;
        let out = forward(&self.student, &both, Mode::TRAIN, self.detach_trunk)?;
        let out_x = out.narrow(0, 0, nx)?;
        let out_s = out.narrow(0, nx, out.dim(0)? - nx)?;
        let loss_x = supervised_loss(self.task, &out_x, &y)?;
        let (loss_u, mask_rate, pseudo_acc) =
            consistency_loss(self.task, self.cr.threshold, &teacher_out, &out_s, &hidden)?;
        let loss = (&loss_x + (&loss_u * self.cr.lambda_u)?)?;
        let mut extra = BTreeMap::new();
        extra.insert("loss_x".into(), scalar(&loss_x)?);
        extra.insert("loss_u".into(), scalar(&loss_u)?);
        if self.task.is_classification() {
            extra.insert("mask_rate".into(), mask_rate);
        }
        if let Some(a) = pseudo_acc {
            extra.insert("pseudo_acc".into(), a);
        }
        self.ema_pending = true;
        Ok(histo_train::StepLoss {
            loss,
            samples: nx + u_s.dim(0)?,
            extra,
        })
    }

    fn ema(&mut self, decay: f64) -> Result<()> {
        ema_update(self.teacher.net.store(), self.student.net.store(), decay)?;
        ema_update(
            self.teacher.classifier.store(),
            self.student.classifier.store(),
            decay,
        )?;
        self.ema_pending = false;
        Ok(())
    }
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl Task for CrTask {
    type Batch = (Vec<Labelled>, Vec<Unlabelled>);

    fn parts(&self) -> Vec<(&str, &VarStore)> {
        vec![
            ("model", self.student.net.store()),
            ("classifier", self.student.classifier.store()),
            ("model_teacher", self.teacher.net.store()),
            ("classifier_teacher", self.teacher.classifier.store()),
        ]
    }

    fn train_step(&mut self, batch: Self::Batch) -> histo_train::Result<histo_train::StepLoss> {
        self.step(batch.0, batch.1).map_err(to_train)
    }

    fn validate(&mut self, _epoch: u64) -> histo_train::Result<BTreeMap<String, f64>> {
        self.val.run(&self.student, &self.device).map_err(to_train)
    }

    /// "The student becomes the teacher" (spec §4.6), or the last EMA step of the epoch.
    fn end_epoch(&mut self, _epoch: u64) -> histo_train::Result<()> {
        match self.cr.teacher {
            TeacherUpdate::Copy => {
                self.teacher
                    .net
                    .store()
                    .copy_from(self.student.net.store())?;
                self.teacher
                    .classifier
                    .store()
                    .copy_from(self.student.classifier.store())?;
            }
            TeacherUpdate::Ema { decay } => {
                if self.ema_pending {
                    self.ema(decay).map_err(to_train)?;
                }
            }
        }
        Ok(())
    }
}

/// Runs stage 3 into `opts.out`. The checkpoints hold the student as `model` + `classifier`
/// (what prediction loads) and the teacher as `model_teacher` + `classifier_teacher`.
pub fn consistency(job: &Consistency, opts: &RunOptions) -> Result<RunSummary> {
    let started = Instant::now();
    let mut cfg = job.config.clone();
    cfg.split.seed = opts.seed;
    cfg.validate()?;
    open_folder(opts)?;
    let init = load_finetuned(&job.init, &opts.device)?;
    let classes = init.model.classifier.outputs();
    job.task.check_outputs(classes).map_err(|e| {
        Error::input(
            &job.init,
            format!("has {classes} output(s), which does not fit the task: {e}"),
        )
    })?;
    if let Some(i) = &init.info {
        if i.task != job.task {
            return Err(Error::input(
                &job.init,
                format!("was fine-tuned for a {} task, not {}", i.task, job.task),
            ));
        }
        if i.input.scale != cfg.input.scale {
            tracing::warn!(
                "{} was trained with input scale {:?}; using it instead of the preset's {:?}",
                job.init.display(),
                i.input.scale,
                cfg.input.scale
            );
            cfg.input.scale = i.input.scale;
        }
    }
    // the dataset's own class count first, so that a mismatch names the checkpoint
    let data = prepare_data(&job.data, job.task, &mut cfg.split, &opts.out, None)?;
    if data.classes != classes {
        return Err(Error::input(
            &job.init,
            format!(
                "has {classes} outputs but the dataset {} has {} classes",
                job.data, data.classes
            ),
        ));
    }
    check_same_labelled(&job.init, &data.plan);

    let mut student = init.model;
    let teacher = load_finetuned(&job.init, &opts.device)?.model;
    student.original_bn_updates = cfg.train.original_bn_updates;
    let groups = parse_freeze(&cfg.train.freeze)?;
    student.freeze(&groups, cfg.train.bn_eval_frozen);
    for (m, what) in [(&student, "student"), (&teacher, "teacher")] {
        check_device(m.net.store(), &opts.device, what)?;
        check_device(m.classifier.store(), &opts.device, what)?;
    }
    let info = RunInfo {
        stage: "consistency".into(),
        task: job.task,
        classes,
        class_names: data.class_names.clone(),
        input: cfg.input,
        data: job.data.to_string(),
        init: job.init.display().to_string(),
        seed: opts.seed,
    };
    init_folder(opts, &info, &cfg.to_toml()?)?;

    let size = cfg.input.size;
    let balanced = cfg.train.class_balanced && job.task.is_classification();
    let labelled = Stream::new(
        &data.train,
        &data.plan.labelled,
        StreamConfig {
            batch_size: cfg.train.batch_size,
            drop_last: balanced,
            class_balanced: balanced,
            workers: cfg.train.workers,
            seed: opts.seed,
        },
        |pool, lc| labelled_loader(pool, size, lc),
    )?;
    let ra = cfg.consistency.randaugment;
    let unlabelled = Stream::new(
        &data.train,
        &data.plan.unlabelled,
        StreamConfig {
            batch_size: cfg.consistency.mu * cfg.train.batch_size,
            drop_last: true,
            class_balanced: cfg.consistency.per_class_unlabelled && job.task.is_classification(),
            workers: cfg.train.workers,
            seed: opts.seed ^ 0x5eed_1abe_11ed_0000,
        },
        |pool, lc| unlabelled_loader(pool, size, ra, lc),
    )?;
    let steps = labelled.steps().min(unlabelled.steps());
    let cap = match cfg.train.steps_per_epoch {
        0 => usize::MAX,
        n => n,
    };
    if steps == 0 {
        return Err(Error::Config(format!(
            "no consistency step fits: {} labelled samples in batches of {} and {} unlabelled in \
             batches of {} (μ·B, drop-last)",
            data.plan.labelled.len(),
            cfg.train.batch_size,
            data.plan.unlabelled.len(),
            cfg.consistency.mu * cfg.train.batch_size
        )));
    }
    tracing::info!(
        "consistency training {} on {}: {} labelled, {} unlabelled, {} validation; {} steps \
         per epoch; teacher {:?}",
        job.task,
        job.data,
        data.plan.labelled.len(),
        data.plan.unlabelled.len(),
        data.val.len(),
        steps.min(cap),
        cfg.consistency.teacher
    );
    let val = Validator::new(
        data.val_data.clone(),
        data.val.clone(),
        job.task,
        size,
        cfg.input.scale,
        cfg.train.eval_batch_size,
    )?;
    let mut opt = optimizer(&student, &cfg.train)?;
    let meta = CheckpointMeta {
        model_kind: "finetune".into(),
        triplet: Some(student.net.config()),
        classes: Some(classes),
        stage: Some("consistency".into()),
        config: serde_json::json!({ "run": info, "config": cfg }),
        ..Default::default()
    };
    let trainer = Trainer::new(train_config(&cfg.train, job.task, opts), &opts.out, meta)?;
    let mut task = CrTask {
        detach_trunk: trunk_frozen(&student),
        student,
        teacher,
        cr: cfg.consistency.clone(),
        task: job.task,
        scale: cfg.input.scale,
        device: opts.device.clone(),
        ema_pending: false,
        val,
    };
    let summary = trainer.fit(&mut task, &mut opt, |e| {
        paired(labelled.epoch(e), unlabelled.epoch(e)).take(cap)
    })?;
    write_summary(
        opts,
        SummaryParts {
            stage: "consistency",
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

/// Warns when the fine-tune run's labelled subset (its `split.json`) differs from this run's:
/// the paper's consistency stage uses the very labels stage 2 was trained with.
fn check_same_labelled(init: &std::path::Path, plan: &SplitPlan) {
    let Some(dir) = init.parent() else { return };
    let Ok(theirs) = SplitPlan::load(dir.join(SPLIT_FILE)) else {
        return;
    };
    if theirs.labelled != plan.labelled {
        tracing::warn!(
            "the labelled subset differs from that of the fine-tune run {} ({} vs {} samples): \
             use the same seed and label fraction as stage 2",
            dir.display(),
            theirs.labelled.len(),
            plan.labelled.len()
        );
    }
}
