//! The stage configurations ([`FinetuneConfig`], [`ConsistencyConfig`]) and their TOML presets
//! (`data/presets/finetune-*.toml`, `data/presets/consistency-*.toml`, compiled in).

use std::path::Path;

use histo_augment::RandAugment;
use histo_datasets::{Sampling, SplitConfig};
use histo_models::{TripletConfig, parse_freeze};
use histo_tensor::InputScale;
use histo_train::{OptimizerConfig, Schedule};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Shape of a freshly initialised network (`--init random`); a checkpoint's own shape wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// ResNet depth (18, 34 or 50).
    pub depth: usize,
    /// Trunk width (64 = torchvision's ResNet; the pair head scales with it).
    pub width: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            depth: 18,
            width: 64,
        }
    }
}

impl ModelConfig {
    /// The TripletNet shape: `TripletConfig::narrow(depth, width)` (the original's shape at 64).
    pub fn triplet(&self) -> TripletConfig {
        TripletConfig::narrow(self.depth, self.width)
    }
}

/// How patches become network inputs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputConfig {
    /// Side of the square network input: every patch is resized to it (bicubic) before
    /// augmentation (256 in the original).
    pub size: usize,
    /// Pixel scaling (`raw255`, the original's unnormalised 0–255, by default).
    pub scale: InputScale,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            size: 256,
            scale: InputScale::Raw255,
        }
    }
}

/// The optimisation settings shared by both stages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSection {
    /// Epochs in total.
    pub epochs: u64,
    /// Labelled samples per step (each gives 3 views, so 3× as many images).
    pub batch_size: usize,
    /// Base learning rate.
    pub lr: f64,
    /// The optimiser (Adam with coupled L2 or SGD-Nesterov in the original, B41).
    pub optimizer: OptimizerConfig,
    /// Learning-rate schedule, stepped once per epoch (MultiStep [30, 60] × 0.1 in the
    /// original).
    pub schedule: Schedule,
    /// Frozen layer groups: `none`, `trunk`, a list such as `stem,layer1`, or one of the
    /// original `--modules` numbers (0, 3, 15, 30, 45, 60, 64).
    pub freeze: String,
    /// Run the BatchNorm layers of frozen groups in eval mode. Off by default: the original
    /// keeps them in training mode, updating their running statistics (B2).
    pub bn_eval_frozen: bool,
    /// Reproduce the original's three BatchNorm running-statistic updates per training
    /// forward (B1). Off by default.
    pub original_bn_updates: bool,
    /// Draw each labelled batch as equal shares of every class (the original Camelyon16
    /// scripts take 16 tumour + 16 normal samples per step); the epoch then ends with the
    /// smallest class.
    pub class_balanced: bool,
    /// At most this many steps per epoch (0: the whole labelled set, or for consistency
    /// training the shorter of the labelled and unlabelled streams). Each epoch reshuffles, so
    /// a capped epoch sees a different part of the data each time; CPU presets use it to keep
    /// the cost of an epoch independent of the label fraction.
    pub steps_per_epoch: usize,
    /// Loader threads building batches ahead of the model.
    pub workers: usize,
    /// Images per forward pass in validation and prediction.
    pub eval_batch_size: usize,
    /// Also keep `epoch_NNNN.safetensors` every this many epochs (0: only `last` and `best`).
    pub checkpoint_every: u64,
}

impl Default for TrainSection {
    fn default() -> Self {
        Self {
            epochs: 90,
            batch_size: 4,
            lr: 1e-4,
            optimizer: OptimizerConfig::adam_l2(),
            schedule: Schedule::original_multistep(),
            freeze: "none".into(),
            bn_eval_frozen: false,
            original_bn_updates: false,
            class_balanced: false,
            steps_per_epoch: 0,
            workers: 2,
            eval_batch_size: 64,
            checkpoint_every: 10,
        }
    }
}

/// How the teacher follows the student in consistency training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TeacherUpdate {
    /// The original: after every epoch the student's weights are copied into the teacher.
    #[default]
    Copy,
    /// Mean teacher: after every step `teacher ← decay·teacher + (1 − decay)·student` (float
    /// tensors; BatchNorm step counters are copied).
    Ema {
        /// Weight of the old teacher (e.g. 0.99).
        decay: f64,
    },
}

/// The settings proper to consistency training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrSection {
    /// Unlabelled samples per labelled sample in a step (μ = 7).
    pub mu: usize,
    /// Weight of the consistency loss (λ_u = 1).
    pub lambda_u: f64,
    /// Confidence threshold on the teacher's softmax below which an unlabelled sample does not
    /// count (0 = every sample, as the original, B29; FixMatch uses 0.95). Classification only.
    pub threshold: f64,
    /// Teacher update.
    pub teacher: TeacherUpdate,
    /// Draw each unlabelled batch as equal shares of every class, as the original Camelyon16
    /// script does with its tumour and normal folders (B23: this uses the labels of the
    /// "unlabelled" data). Off by default.
    pub per_class_unlabelled: bool,
    /// The RandAugment of the strong view (n 7, m 10).
    pub randaugment: RandAugment,
}

impl Default for CrSection {
    fn default() -> Self {
        Self {
            mu: 7,
            lambda_u: 1.0,
            threshold: 0.0,
            teacher: TeacherUpdate::Copy,
            per_class_unlabelled: false,
            randaugment: RandAugment::default(),
        }
    }
}

/// Stage 2 (supervised fine-tuning, "SSL").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// What the preset is for, in one line.
    pub description: String,
    /// Network shape for `--init random`.
    pub model: ModelConfig,
    /// Inputs.
    pub input: InputConfig,
    /// Optimisation.
    pub train: TrainSection,
    /// Validation split and label fraction (its `seed` is replaced by the run's seed).
    pub split: SplitConfig,
}

/// Stage 3 (teacher–student consistency training, "SSL_CR").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsistencyConfig {
    /// What the preset is for, in one line.
    pub description: String,
    /// Inputs.
    pub input: InputConfig,
    /// Optimisation of the student (`freeze = "trunk"`: the original's `modules_student 60`).
    pub train: TrainSection,
    /// Validation split and label fraction; the same as the fine-tune run's, so the labelled
    /// subset is the same.
    pub split: SplitConfig,
    /// Consistency settings.
    pub consistency: CrSection,
}

impl Default for ConsistencyConfig {
    fn default() -> Self {
        Self {
            description: String::new(),
            input: InputConfig::default(),
            train: TrainSection {
                freeze: "trunk".into(),
                ..TrainSection::default()
            },
            split: SplitConfig::default(),
            consistency: CrSection::default(),
        }
    }
}

/// The presets compiled into the crate: `(stage, name, TOML)`.
pub const PRESETS: [(&str, &str, &str); 8] = [
    (
        "finetune",
        "paper-breastpathq",
        include_str!("../../../data/presets/finetune-paper-breastpathq.toml"),
    ),
    (
        "finetune",
        "paper-camelyon16",
        include_str!("../../../data/presets/finetune-paper-camelyon16.toml"),
    ),
    (
        "finetune",
        "paper-kather",
        include_str!("../../../data/presets/finetune-paper-kather.toml"),
    ),
    (
        "finetune",
        "synthetic",
        include_str!("../../../data/presets/finetune-synthetic.toml"),
    ),
    (
        "consistency",
        "paper-breastpathq",
        include_str!("../../../data/presets/consistency-paper-breastpathq.toml"),
    ),
    (
        "consistency",
        "paper-camelyon16",
        include_str!("../../../data/presets/consistency-paper-camelyon16.toml"),
    ),
    (
        "consistency",
        "paper-kather",
        include_str!("../../../data/presets/consistency-paper-kather.toml"),
    ),
    (
        "consistency",
        "synthetic",
        include_str!("../../../data/presets/consistency-synthetic.toml"),
    ),
];

/// The names of the presets of `stage` (`finetune` or `consistency`).
pub fn preset_names(stage: &str) -> Vec<&'static str> {
    PRESETS
        .iter()
        .filter(|(s, _, _)| *s == stage)
        .map(|(_, n, _)| *n)
        .collect()
}

fn parse_toml<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| Error::Config(format!("{what}: {e}")))
}

/// Loads a preset of `stage`: a built-in name (`synthetic`, `paper-kather`, … with or without
/// the `{stage}-` prefix) or the path of a TOML file.
fn load_preset<T: DeserializeOwned>(stage: &str, name: &str) -> Result<T> {
    let short = name
        .strip_prefix(&format!("{stage}-"))
        .unwrap_or(name)
        .trim_end_matches(".toml");
    if let Some((_, _, text)) = PRESETS.iter().find(|(s, n, _)| *s == stage && *n == short) {
        return parse_toml(text, &format!("built-in preset {stage}-{short}"));
    }
    let path = Path::new(name);
    if path.extension().is_some_and(|e| e == "toml") || path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        return parse_toml(&text, &path.display().to_string());
    }
    Err(Error::Config(format!(
        "unknown {stage} preset `{name}`: use one of {} or the path of a TOML file",
        preset_names(stage).join(", ")
    )))
}

/// Checks the settings shared by both stages.
fn validate_common(input: &InputConfig, train: &TrainSection, split: &SplitConfig) -> Result<()> {
    let bad = |m: String| Err(Error::Config(m));
    if !(32..=4096).contains(&input.size) {
        return bad(format!(
            "input size {} is outside 32..=4096 pixels (a ResNet needs at least 32)",
            input.size
        ));
    }
    input.scale.affine()?;
    if train.epochs == 0 {
        return bad("epochs must be at least 1".into());
    }
    if train.batch_size == 0 || train.eval_batch_size == 0 || train.workers == 0 {
        return bad(format!(
            "batch_size ({}), eval_batch_size ({}) and workers ({}) must be at least 1",
            train.batch_size, train.eval_batch_size, train.workers
        ));
    }
    if !(train.lr.is_finite() && train.lr >= 0.0) {
        return bad(format!("learning rate must be ≥ 0, got {}", train.lr));
    }
    train.schedule.validate()?;
    parse_freeze(&train.freeze)?;
    check_label_fraction(split.label_fraction)?;
    if !(0.0..1.0).contains(&split.val_fraction) {
        return bad(format!(
            "validation fraction {} is not in [0, 1)",
            split.val_fraction
        ));
    }
    Ok(())
}

/// A label fraction must lie in (0, 1].
pub fn check_label_fraction(f: f64) -> Result<()> {
    if f.is_finite() && f > 0.0 && f <= 1.0 {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "label fraction {f} is not in (0, 1]: give e.g. 0.1 for 10 % of the training labels"
        )))
    }
}

impl FinetuneConfig {
    /// A preset by name or TOML path (see [`preset_names`]).
    pub fn preset(name: &str) -> Result<Self> {
        load_preset("finetune", name)
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        self.model.triplet();
        histo_models::ResNetConfig {
            depth: self.model.depth,
            width: self.model.width,
        }
        .validate()?;
        validate_common(&self.input, &self.train, &self.split)
    }

    /// The configuration as TOML (what `config.toml` of a run holds; loadable as a preset).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(format!("cannot write the config: {e}")))
    }
}

impl ConsistencyConfig {
    /// A preset by name or TOML path (see [`preset_names`]).
    pub fn preset(name: &str) -> Result<Self> {
        load_preset("consistency", name)
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        validate_common(&self.input, &self.train, &self.split)?;
        let c = &self.consistency;
        if c.mu == 0 {
            return Err(Error::Config("mu must be at least 1".into()));
        }
        if !(c.lambda_u.is_finite() && c.lambda_u >= 0.0) {
            return Err(Error::Config(format!(
                "lambda_u must be ≥ 0, got {}",
                c.lambda_u
            )));
        }
        if !(0.0..=1.0).contains(&c.threshold) {
            return Err(Error::Config(format!(
                "the confidence threshold must be in [0, 1], got {}",
                c.threshold
            )));
        }
        if let TeacherUpdate::Ema { decay } = c.teacher
            && !(0.0..1.0).contains(&decay)
        {
            return Err(Error::Config(format!(
                "the EMA decay must be in [0, 1), got {decay}"
            )));
        }
        Ok(())
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::Config(format!("cannot write the config: {e}")))
    }
}

/// The original's labelled-subset draw (with replacement, B11) or the default (without).
pub fn sampling_from_str(s: &str) -> Result<Sampling> {
    match s {
        "without-replacement" | "without_replacement" | "default" => {
            Ok(Sampling::WithoutReplacement)
        }
        "original" | "with-replacement" | "with_replacement" => Ok(Sampling::Original),
        _ => Err(Error::Config(format!(
            "unknown sampling `{s}` (without-replacement, or original = with replacement)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random-init baseline is only comparable with SSL if it has the pretrained network's
    /// shape: every fine-tuning preset's `[model]` equals the `[model]` of the pretraining
    /// preset it is meant to start from (the synthetic pair once differed, width 16 vs 8).
    #[test]
    fn finetune_presets_build_the_pretrained_network() {
        let pretrain = |text: &str| {
            let v: toml::Value = toml::from_str(text).unwrap();
            let m = &v["model"];
            (
                m["depth"].as_integer().unwrap(),
                m["width"].as_integer().unwrap(),
            )
        };
        for (finetune, pre) in [
            (
                "synthetic",
                include_str!("../../../data/presets/pretrain-synthetic.toml"),
            ),
            (
                "paper-breastpathq",
                include_str!("../../../data/presets/pretrain-paper-breastpathq.toml"),
            ),
            (
                "paper-camelyon16",
                include_str!("../../../data/presets/pretrain-paper-camelyon16.toml"),
            ),
            (
                "paper-kather",
                include_str!("../../../data/presets/pretrain-paper-v2.toml"),
            ),
        ] {
            let m = FinetuneConfig::preset(finetune).unwrap().model;
            assert_eq!(
                (m.depth as i64, m.width as i64),
                pretrain(pre),
                "finetune preset {finetune}"
            );
        }
    }

    #[test]
    fn every_preset_parses_and_validates() {
        for (stage, name, _) in PRESETS {
            match stage {
                "finetune" => {
                    let c = FinetuneConfig::preset(name).unwrap();
                    c.validate().unwrap();
                    // round trip through the run folder's config.toml
                    let back: FinetuneConfig = toml::from_str(&c.to_toml().unwrap()).unwrap();
                    assert_eq!(back, c, "{name}");
                }
                _ => {
                    let c = ConsistencyConfig::preset(name).unwrap();
                    c.validate().unwrap();
                    let back: ConsistencyConfig = toml::from_str(&c.to_toml().unwrap()).unwrap();
                    assert_eq!(back, c, "{name}");
                }
            }
        }
        assert!(preset_names("finetune").contains(&"synthetic"));
        assert!(FinetuneConfig::preset("finetune-paper-kather").is_ok());
    }

    #[test]
    fn paper_presets_follow_the_original() {
        let k = FinetuneConfig::preset("paper-kather").unwrap();
        assert_eq!(k.train.lr, 1e-5);
        assert_eq!(k.train.batch_size, 64);
        assert_eq!(k.train.epochs, 90);
        assert_eq!(k.train.schedule, Schedule::original_multistep());
        let c = FinetuneConfig::preset("paper-camelyon16").unwrap();
        assert_eq!(c.train.optimizer, OptimizerConfig::sgd_nesterov());
        assert_eq!(c.train.lr, 5e-4);
        let b = FinetuneConfig::preset("paper-breastpathq").unwrap();
        assert_eq!(b.train.optimizer, OptimizerConfig::adam_l2());
        assert_eq!((b.train.lr, b.train.batch_size), (1e-4, 4));
        let cr = ConsistencyConfig::preset("paper-kather").unwrap();
        assert_eq!((cr.consistency.mu, cr.train.batch_size), (7, 8));
        assert_eq!(cr.train.freeze, "trunk");
        assert_eq!(cr.consistency.threshold, 0.0);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = FinetuneConfig::preset("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown finetune preset") && e.contains("synthetic"),
            "{e}"
        );
        let mut c = FinetuneConfig::default();
        c.split.label_fraction = 0.0;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("label fraction 0")
        );
        c.split.label_fraction = 1.5;
        assert!(c.validate().is_err());
        let mut c = FinetuneConfig::default();
        c.train.freeze = "layer9".into();
        assert!(c.validate().unwrap_err().to_string().contains("layer9"));
        let e = toml::from_str::<FinetuneConfig>("[train]\nepochz = 3\n").unwrap_err();
        assert!(e.to_string().contains("epochz"), "{e}");
        let mut cr = ConsistencyConfig::default();
        cr.consistency.threshold = 2.0;
        assert!(cr.validate().is_err());
    }
}
