//! Training options shared by `histo finetune` and `histo consistency`: each overrides the
//! preset's value when given.

use anyhow::{Context as _, Result};
use clap::Args as ClapArgs;
use histo_datasets::SplitConfig;
use histo_ssl_cr::TrainSection;

/// Preset overrides common to stages 2 and 3.
#[derive(ClapArgs, Debug)]
pub struct TrainOverrides {
    /// Fraction of the training labels used, in (0, 1] (the paper: 0.1, 0.25, 0.5, 1; for
    /// consistency training, the same as the fine-tune run's).
    #[arg(long, value_name = "F")]
    pub labels: Option<f64>,
    /// Settings: a built-in preset (paper-breastpathq, paper-camelyon16, paper-kather,
    /// synthetic) or a TOML file. Default: the paper preset of the dataset kind.
    #[arg(long, value_name = "NAME|FILE.toml")]
    pub preset: Option<String>,
    /// Epochs in total (a resumed run continues up to this).
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Labelled samples per step (3 views each; consistency training adds μ times as many
    /// unlabelled pairs).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Frozen layer groups: none, trunk, e.g. stem,layer1, or an original --modules number
    /// (consistency training: of the student; the presets freeze its trunk, as the original's
    /// modules_student 60).
    #[arg(long, value_name = "GROUPS")]
    pub freeze: Option<String>,
    /// Labelled-subset draw: without-replacement (default) or original (with replacement, B11).
    #[arg(long, value_name = "HOW")]
    pub sampling: Option<String>,
    /// Draw the validation split and the labelled subset per class.
    #[arg(long)]
    pub stratified: bool,
    /// Loader threads.
    #[arg(long)]
    pub workers: Option<usize>,
}

impl TrainOverrides {
    /// The preset to start from: `--preset`, else `default`.
    pub fn preset_or(&self, default: &str) -> String {
        self.preset.clone().unwrap_or_else(|| default.to_string())
    }

    /// Writes the given options over a preset's training and split sections.
    pub fn apply(&self, train: &mut TrainSection, split: &mut SplitConfig) -> Result<()> {
        if let Some(f) = self.labels {
            histo_ssl_cr::check_label_fraction(f).context("--labels")?;
            split.label_fraction = f;
        }
        if let Some(e) = self.epochs {
            train.epochs = e;
        }
        if let Some(b) = self.batch_size {
            train.batch_size = b;
        }
        if let Some(lr) = self.lr {
            train.lr = lr;
        }
        if let Some(f) = &self.freeze {
            train.freeze = f.clone();
        }
        if let Some(s) = &self.sampling {
            split.sampling = histo_ssl_cr::config::sampling_from_str(s)?;
        }
        if self.stratified {
            split.stratified = true;
        }
        if let Some(w) = self.workers {
            train.workers = w;
        }
        Ok(())
    }
}
