//! The pretraining configuration ([`PretrainConfig`]), its presets and its checks.
//!
//! A configuration is a TOML file with the sections `[store]` (what the tile store must look
//! like), `[model]`, `[data]`, `[train]` and `[outputs]`; every key has a default (the paper's
//! value), so a preset only states what differs. The presets live in `data/presets/` as
//! `pretrain-{name}.toml` and are compiled into the crate ([`PRESETS`]).

use std::path::Path;

use histo_augment::{RandAugmentV2, RspPool, RspVersion};
use histo_datasets::{Orderings, RspValSplit};
use histo_models::{ResNetConfig, TripletConfig};
use histo_tensor::InputScale;
use histo_train::{LookaheadConfig, LookaheadMode, Schedule};
use histo_wsi::{Geometry, LevelSpec, Manifest, RspConfig as StoreParams};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The presets compiled into the crate: `(name, TOML text)`; `name` is the file name in
/// `data/presets/` without the `pretrain-` prefix and `.toml`.
pub const PRESETS: [(&str, &str); 4] = [
    (
        "paper-breastpathq",
        include_str!("../../../data/presets/pretrain-paper-breastpathq.toml"),
    ),
    (
        "paper-camelyon16",
        include_str!("../../../data/presets/pretrain-paper-camelyon16.toml"),
    ),
    (
        "paper-v2",
        include_str!("../../../data/presets/pretrain-paper-v2.toml"),
    ),
    (
        "synthetic",
        include_str!("../../../data/presets/pretrain-synthetic.toml"),
    ),
];

/// What the tile store must hold. Only `tile` is enforced (the network input size follows
/// it); the other keys document how the store should have been cut (`histo tile rsp`
/// options) and produce a warning when the store says otherwise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSpec {
    /// Tile width and height in pixels (`--tile`); a store with another size is an error.
    pub tile: usize,
    /// HR, LR1, LR2 as objective magnifications (`--magnifications`), if the preset expects
    /// magnifications.
    pub magnifications: Option<[f64; 3]>,
    /// HR, LR1, LR2 as pyramid level indices (`--levels`), if the preset expects levels.
    pub levels: Option<[usize; 3]>,
    /// Grid stride in LR2 pixels (`--stride`).
    pub stride: Option<usize>,
    /// Triplet geometry (`--geometry`).
    pub geometry: Option<Geometry>,
    /// Tissue test (`--tissue`: `v1`, `v2` or `otsu`), for the record.
    pub tissue: Option<String>,
}

impl Default for StoreSpec {
    fn default() -> Self {
        Self {
            tile: 256,
            magnifications: None,
            levels: Some([0, 1, 2]),
            stride: None,
            geometry: None,
            tissue: None,
        }
    }
}

impl StoreSpec {
    /// The `histo tile rsp` options that cut a store this spec accepts.
    pub fn tile_command(&self) -> String {
        let mut s = format!("histo tile rsp --tile {}", self.tile);
        if let Some(m) = self.magnifications {
            s += &format!(" --magnifications {},{},{}", m[0], m[1], m[2]);
        } else if let Some(l) = self.levels {
            s += &format!(" --levels {},{},{}", l[0], l[1], l[2]);
        }
        if let Some(st) = self.stride {
            s += &format!(" --stride {st}");
        }
        if let Some(g) = self.geometry {
            s += match g {
                Geometry::Corner => " --geometry corner",
                Geometry::Concentric => " --geometry concentric",
            };
        }
        if let Some(t) = &self.tissue {
            s += &format!(" --tissue {t}");
        }
        s
    }

    /// Checks a store's manifest against the spec: a tile-size mismatch is an error, other
    /// differences are returned as warnings.
    pub fn check(&self, manifest: &Manifest, dir: &Path) -> Result<Vec<String>> {
        if manifest.tile_size != self.tile {
            return Err(Error::Store {
                path: dir.to_path_buf(),
                reason: format!(
                    "its tiles are {0}×{0} pixels but the configuration expects {1}×{1}; cut a \
                     store for it with `{2}` or choose a preset made for {0}-pixel tiles",
                    manifest.tile_size,
                    self.tile,
                    self.tile_command()
                ),
            });
        }
        let mut warnings = Vec::new();
        let Ok(params) = serde_json::from_value::<StoreParams>(manifest.params.clone()) else {
            warnings.push(
                "the store's sampling parameters are not readable; its levels, stride and \
                 geometry were not checked"
                    .to_string(),
            );
            return Ok(warnings);
        };
        let describe = |l: &[LevelSpec; 3]| {
            l.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let expected: Option<[LevelSpec; 3]> = match (self.magnifications, self.levels) {
            (Some(m), _) => Some(m.map(LevelSpec::Magnification)),
            (None, Some(l)) => Some(l.map(LevelSpec::Index)),
            (None, None) => None,
        };
        if let Some(e) = expected
            && e != params.levels
        {
            warnings.push(format!(
                "the store was cut at {} but the configuration expects {}",
                describe(&params.levels),
                describe(&e)
            ));
        }
        if let Some(s) = self.stride
            && s != params.stride
        {
            warnings.push(format!(
                "the store's grid stride is {} but the configuration expects {s}",
                params.stride
            ));
        }
        if let Some(g) = self.geometry
            && g != params.geometry
        {
            warnings.push(format!(
                "the store's triplets are {:?} but the configuration expects {g:?} triplets",
                params.geometry
            ));
        }
        Ok(warnings)
    }
}

/// The network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// ResNet depth: 18 (the original; 34 and 50 also build, but the original's classifier
    /// only fits 18/34, B31).
    pub depth: usize,
    /// Trunk width (64 = torchvision's ResNet-18; narrower for CPU presets).
    pub width: usize,
    /// Hidden width of the pair head (512 in the original; default scales with `width`).
    pub head_hidden: Option<usize>,
    /// Output width of the pair head (256 in the original; default scales with `width`).
    pub head_out: Option<usize>,
    /// How u8 pixels become inputs: `raw255` (the original, B3), `unit`, or `{ mean_std = … }`.
    pub input_scale: InputScale,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            depth: 18,
            width: 64,
            head_hidden: None,
            head_out: None,
            input_scale: InputScale::Raw255,
        }
    }
}

impl ModelConfig {
    /// The TripletNet shape.
    pub fn triplet(&self) -> TripletConfig {
        let narrow = TripletConfig::narrow(self.depth, self.width);
        TripletConfig {
            trunk: ResNetConfig {
                depth: self.depth,
                width: self.width,
            },
            head_hidden: self.head_hidden.unwrap_or(narrow.head_hidden),
            head_out: self.head_out.unwrap_or(narrow.head_out),
        }
    }
}

/// Which augmentation the training triplets get.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Augment {
    /// The paper's pool of 8 ops (spec §2.4), op order shared by the triplet.
    #[default]
    V1,
    /// Pretraining_v2: RandAugment(n, m) on each tile separately (spec §2.6).
    V2,
    /// No augmentation.
    None,
}

/// Samples, split and augmentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// `all`: the six orders of every training triplet each epoch (the original); `one_random`:
    /// one order per triplet per epoch (a sixth of the work per epoch).
    pub orderings: Orderings,
    /// `by_slide` (default: no tissue in both sets), `by_triplet`, or `original_permutations`
    /// (the original's split over the 6·N samples, B6).
    pub val_split: RspValSplit,
    /// Fraction of slides (or triplets, or samples) held out for validation.
    pub val_fraction: f64,
    /// At most this many validation triplets (a seeded subset; each gives its six orders);
    /// 0 = all.
    pub val_max_triplets: usize,
    /// Training augmentation.
    pub augment: Augment,
    /// RandAugment `n` of the v2 augmentation.
    pub randaugment_n: usize,
    /// RandAugment `m` of the v2 augmentation.
    pub randaugment_m: f64,
    /// Augment validation triplets too (the original validates on augmented samples); off by
    /// default, so the validation numbers do not vary from epoch to epoch.
    pub val_augment: bool,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            orderings: Orderings::All,
            val_split: RspValSplit::BySlide,
            val_fraction: 0.2,
            val_max_triplets: 0,
            augment: Augment::V1,
            randaugment_n: 2,
            randaugment_m: 3.0,
            val_augment: false,
        }
    }
}

impl DataConfig {
    /// The augmentation pool, or `None` for no augmentation.
    pub fn pool(&self) -> Option<RspPool> {
        match self.augment {
            Augment::V1 => Some(RspPool::new(RspVersion::V1)),
            Augment::V2 => Some(RspPool {
                version: RspVersion::V2,
                v2: RandAugmentV2::new(self.randaugment_n, self.randaugment_m),
                ..RspPool::default()
            }),
            Augment::None => None,
        }
    }
}

/// Optimiser, schedule and loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// Epochs (250 in the paper).
    pub epochs: u64,
    /// Triplets per batch (64 in the paper; each is three trunk forwards).
    pub batch_size: usize,
    /// Learning rate (0.01).
    pub lr: f64,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// Nesterov momentum (on).
    pub nesterov: bool,
    /// Coupled L2 weight decay (1e-4).
    pub weight_decay: f64,
    /// Learning-rate schedule (constant in the paper), stepped per epoch.
    pub schedule: Schedule,
    /// Lookahead(k, α) around SGD; `mode = "per_step"` (default, the published algorithm) or
    /// `"original"` (stepped once per epoch as the scripts do, B4). Absent: no Lookahead.
    pub lookahead: Option<LookaheadConfig>,
    /// Also keep `epoch_NNNN.safetensors` every this many epochs (0: never).
    pub checkpoint_every: u64,
    /// `best.safetensors` only from this epoch on (1-based; the Camelyon16 and v2 scripts
    /// require epoch > 80); before it the best is not tracked.
    pub best_from_epoch: u64,
    /// Loader threads preparing batches (reading and augmenting tiles).
    pub workers: usize,
    /// Batches each loader thread may hold ready.
    pub prefetch: usize,
    /// Validation batch size (triplets).
    pub val_batch_size: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 250,
            batch_size: 64,
            lr: 0.01,
            momentum: 0.9,
            nesterov: true,
            weight_decay: 1e-4,
            schedule: Schedule::Constant,
            lookahead: Some(LookaheadConfig {
                k: 5,
                alpha: 0.5,
                mode: LookaheadMode::PerStep,
            }),
            checkpoint_every: 10,
            best_from_epoch: 1,
            workers: 2,
            prefetch: 2,
            val_batch_size: 128,
        }
    }
}

/// What is written besides the checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutputConfig {
    /// Validation samples in the embedding plot (a seeded subset; 0: no plot).
    pub embedding_points: usize,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            embedding_points: 1800,
        }
    }
}

/// The whole configuration of a pretraining run, as written to `RUN/config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// Preset name (or file) it came from.
    pub preset: String,
    /// One line on what the preset is for.
    pub description: String,
    /// Seed of everything random (initialisation, split, order, augmentation).
    pub seed: u64,
    /// The tile store it expects.
    pub store: StoreSpec,
    /// The network.
    pub model: ModelConfig,
    /// Samples, split and augmentation.
    pub data: DataConfig,
    /// Optimiser and loop.
    pub train: TrainSettings,
    /// Plots.
    pub outputs: OutputConfig,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        Self {
            preset: String::new(),
            description: String::new(),
            seed: 42,
            store: StoreSpec::default(),
            model: ModelConfig::default(),
            data: DataConfig::default(),
            train: TrainSettings::default(),
            outputs: OutputConfig::default(),
        }
    }
}

impl PretrainConfig {
    /// Parses a configuration from TOML text (`source` names it in messages) and checks it.
    pub fn from_toml(text: &str, source: &Path) -> Result<Self> {
        let c: Self = toml::from_str(text).map_err(|e| Error::ConfigFile {
            path: source.to_path_buf(),
            reason: e.to_string(),
        })?;
        c.validate().map_err(|e| Error::ConfigFile {
            path: source.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(c)
    }

    /// A preset by name (`synthetic`, `paper-breastpathq`, ...) or a path to a TOML file.
    pub fn preset(name: &str) -> Result<Self> {
        let name_only = name.strip_prefix("pretrain-").unwrap_or(name);
        if let Some((n, text)) = PRESETS.iter().find(|(n, _)| *n == name_only) {
            let mut c = Self::from_toml(text, Path::new(&format!("pretrain-{n}.toml")))?;
            c.preset = n.to_string();
            return Ok(c);
        }
        let path = Path::new(name);
        if path.extension().is_some_and(|e| e == "toml") || path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
                path: path.to_path_buf(),
                reason: format!("cannot read: {e}"),
            })?;
            let mut c = Self::from_toml(&text, path)?;
            if c.preset.is_empty() {
                c.preset = path.display().to_string();
            }
            return Ok(c);
        }
        Err(Error::Config(format!(
            "unknown preset `{name}` (known: {}; or give a path to a .toml file)",
            PRESETS.map(|p| p.0).join(", ")
        )))
    }

    /// Reads `path` (e.g. a run's `config.toml`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::ConfigFile {
            path: path.to_path_buf(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_toml(&text, path)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Config(format!("cannot encode: {e}")))
    }

    /// Checks every value that the libraries below would reject later, naming the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if self.store.tile < 16 {
            return bad(format!(
                "store.tile must be at least 16 pixels, got {}",
                self.store.tile
            ));
        }
        if self
            .store
            .magnifications
            .is_some_and(|m| m.iter().any(|v| !(v.is_finite() && *v > 0.0)))
        {
            return bad("store.magnifications must be positive".into());
        }
        self.model
            .triplet()
            .trunk
            .validate()
            .map_err(|e| Error::Config(format!("model: {e}")))?;
        if self.model.head_hidden == Some(0) || self.model.head_out == Some(0) {
            return bad("model.head_hidden and model.head_out must be positive".into());
        }
        if !(0.0..1.0).contains(&self.data.val_fraction) {
            return bad(format!(
                "data.val_fraction must be in [0, 1), got {}",
                self.data.val_fraction
            ));
        }
        if self.data.augment == Augment::V2
            && !(self.data.randaugment_n <= 14 && (1.0..=33.0).contains(&self.data.randaugment_m))
        {
            return bad(format!(
                "data.randaugment_n must be at most 14 and data.randaugment_m in [1, 33], got \
                 {} and {}",
                self.data.randaugment_n, self.data.randaugment_m
            ));
        }
        let t = &self.train;
        if t.epochs == 0 {
            return bad("train.epochs must be at least 1".into());
        }
        if t.batch_size == 0 || t.val_batch_size == 0 {
            return bad("train.batch_size and train.val_batch_size must be at least 1".into());
        }
        if t.workers == 0 || t.prefetch == 0 {
            return bad("train.workers and train.prefetch must be at least 1".into());
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad(format!("train.lr must be > 0, got {}", t.lr));
        }
        if !(0.0..1.0).contains(&t.momentum) || (t.nesterov && t.momentum == 0.0) {
            return bad(format!(
                "train.momentum must be in [0, 1) (and > 0 with Nesterov), got {}",
                t.momentum
            ));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return bad(format!(
                "train.weight_decay must be ≥ 0, got {}",
                t.weight_decay
            ));
        }
        t.schedule
            .validate()
            .map_err(|e| Error::Config(format!("train.schedule: {e}")))?;
        if let Some(la) = t.lookahead
            && (la.k == 0 || !(0.0..=1.0).contains(&la.alpha))
        {
            return bad(format!(
                "train.lookahead needs k ≥ 1 and alpha in [0, 1], got k {} alpha {}",
                la.k, la.alpha
            ));
        }
        Ok(())
    }

    /// Sets the number of epochs; a cosine schedule that spanned the old count is stretched
    /// to the new one (so `--epochs` keeps the preset's shape).
    pub fn set_epochs(&mut self, epochs: u64) {
        if let Schedule::Cosine { total, .. } = &mut self.train.schedule
            && *total == self.train.epochs
        {
            *total = epochs;
        }
        self.train.epochs = epochs;
    }

    /// The optimiser configuration.
    pub fn optimizer(&self) -> histo_train::OptimizerConfig {
        histo_train::OptimizerConfig::Sgd {
            momentum: self.train.momentum,
            nesterov: self.train.nesterov,
            weight_decay: self.train.weight_decay,
        }
    }

    /// The split configuration of histo-datasets.
    pub fn split(&self) -> histo_datasets::RspConfig {
        histo_datasets::RspConfig {
            orderings: self.data.orderings,
            val_split: self.data.val_split,
            val_fraction: self.data.val_fraction,
            seed: self.seed,
        }
    }

    /// Whether two configurations train the same network (what `--resume` requires).
    pub fn same_network(&self, other: &Self) -> bool {
        self.model.triplet() == other.model.triplet()
            && self.model.input_scale == other.model.input_scale
            && self.store.tile == other.store.tile
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_and_validates() {
        for (name, _) in PRESETS {
            let c = PretrainConfig::preset(name).unwrap();
            assert_eq!(c.preset, name);
            // the resolved config round-trips through TOML
            let text = c.to_toml().unwrap();
            let back = PretrainConfig::from_toml(&text, Path::new("x.toml")).unwrap();
            assert_eq!(back, c, "{name}");
        }
    }

    #[test]
    fn paper_presets_follow_the_paper() {
        let c = PretrainConfig::preset("paper-breastpathq").unwrap();
        assert_eq!(c.train.epochs, 250);
        assert_eq!(c.train.batch_size, 64);
        assert_eq!(c.train.lr, 0.01);
        assert_eq!(c.store.tile, 256);
        assert_eq!(c.model.triplet(), TripletConfig::default());
        assert_eq!(c.model.input_scale, InputScale::Raw255);
        let la = c.train.lookahead.unwrap();
        assert_eq!((la.k, la.alpha, la.mode), (5, 0.5, LookaheadMode::PerStep));
        let cam = PretrainConfig::preset("paper-camelyon16").unwrap();
        assert_eq!(cam.train.best_from_epoch, 82); // the script's `epoch > 80`, 0-based
        let syn = PretrainConfig::preset("synthetic").unwrap();
        assert_eq!((syn.store.tile, syn.model.width), (64, 8));
        assert_eq!(syn.store.magnifications, Some([20.0, 10.0, 5.0]));
        let v2 = PretrainConfig::preset("paper-v2").unwrap();
        assert_eq!(v2.data.augment, Augment::V2);
        assert_eq!(v2.store.geometry, Some(Geometry::Concentric));
    }

    #[test]
    fn set_epochs_stretches_a_cosine_over_the_run() {
        let mut c = PretrainConfig::default();
        c.train.epochs = 5;
        c.train.schedule = Schedule::Cosine {
            total: 5,
            min_lr: 0.0,
        };
        c.set_epochs(8);
        assert_eq!(c.train.epochs, 8);
        assert!(matches!(
            c.train.schedule,
            Schedule::Cosine { total: 8, .. }
        ));
        c.train.schedule = Schedule::Constant;
        c.set_epochs(3);
        assert_eq!(
            (c.train.epochs, c.train.schedule.clone()),
            (3, Schedule::Constant)
        );
    }

    #[test]
    fn unknown_keys_presets_and_bad_values_are_clear_errors() {
        let e = PretrainConfig::from_toml("[train]\nepochz = 3\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("p.toml") && e.contains("epochz"), "{e}");
        let e = PretrainConfig::from_toml("[train]\nlr = -1.0\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.lr"), "{e}");
        let e = PretrainConfig::from_toml("[data]\nval_fraction = 1.5\n", Path::new("p.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("val_fraction"), "{e}");
        let e = PretrainConfig::preset("nope").unwrap_err().to_string();
        assert!(
            e.contains("unknown preset `nope`") && e.contains("synthetic"),
            "{e}"
        );
    }

    #[test]
    fn store_spec_checks_tile_size_and_warns_on_levels() {
        let spec = StoreSpec {
            tile: 64,
            magnifications: Some([20.0, 10.0, 5.0]),
            levels: None,
            stride: Some(32),
            geometry: Some(Geometry::Concentric),
            tissue: Some("v2".into()),
        };
        let params = StoreParams {
            tile: 64,
            stride: 32,
            levels: [
                LevelSpec::Index(0),
                LevelSpec::Index(1),
                LevelSpec::Index(2),
            ],
            ..StoreParams::default()
        };
        let m = Manifest::new(64, 10, serde_json::to_value(&params).unwrap());
        let w = spec.check(&m, Path::new("/s")).unwrap();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("level 0") && w[0].contains("20x"), "{w:?}");
        let m = Manifest::new(128, 10, serde_json::to_value(&params).unwrap());
        let e = spec.check(&m, Path::new("/s")).unwrap_err().to_string();
        assert!(
            e.contains("/s") && e.contains("128×128") && e.contains("--tile 64"),
            "{e}"
        );
    }
}
