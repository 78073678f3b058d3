//! The plan: every `histo` command line of a reproduction run, grouped into stages with their
//! outputs and dependencies. All knowledge of the stage CLIs' flags lives in this file.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{Method, Scale, TaskName};

/// One command line.
#[derive(Clone, Debug)]
pub struct Cmd {
    /// The program, as run and shown (relative to the workspace root when inside it).
    pub program: PathBuf,
    /// Its arguments, as run and shown.
    pub args: Vec<String>,
    /// Where its stdout goes (shown as `> FILE`); otherwise into the stage log.
    pub stdout_to: Option<PathBuf>,
    /// The command takes `--resume` (appended when an interrupted stage is re-entered).
    pub resume_flag: bool,
    /// A file locked exclusively while the command runs (shared caches).
    pub lock: Option<PathBuf>,
}

impl Cmd {
    fn new(program: &Path) -> Self {
        Self {
            program: program.to_path_buf(),
            args: vec![],
            stdout_to: None,
            resume_flag: false,
            lock: None,
        }
    }

    fn arg(mut self, a: impl fmt::Display) -> Self {
        self.args.push(a.to_string());
        self
    }

    fn path(self, flag: &str, p: &Path) -> Self {
        self.arg(flag).arg(p.display())
    }

    fn opt(self, flag: &str, value: impl fmt::Display) -> Self {
        self.arg(flag).arg(value)
    }

    /// The shell form, exactly as it runs (`--resume` added when re-entering).
    pub fn display(&self, with_resume: bool) -> String {
        let mut parts = vec![quote(&self.program.display().to_string())];
        parts.extend(self.args.iter().map(|a| quote(a)));
        if with_resume && self.resume_flag {
            parts.push("--resume".into());
        }
        if let Some(out) = &self.stdout_to {
            parts.push(">".into());
            parts.push(quote(&out.display().to_string()));
        }
        parts.join(" ")
    }
}

/// Quotes a shell word when it needs it.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+%@".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a stage is, for the report.
#[derive(Clone, Debug, PartialEq)]
pub enum StageKind {
    /// Synthetic data generation (or verification of the cache).
    Synth,
    /// RSP tiling of the pretraining slides.
    Tile,
    /// RSP pretraining.
    Pretrain,
    /// Training, test-set prediction and evaluation of one method at one label fraction.
    Train {
        /// The task.
        task: TaskName,
        /// Label fraction in (0, 1].
        fraction: f64,
        /// Baseline, SSL or SSL_CR.
        method: Method,
    },
    /// Slide heat-maps, slide-level AUC and FROC of a Camelyon-style model.
    Slides {
        /// Label fraction in (0, 1].
        fraction: f64,
        /// Baseline, SSL or SSL_CR.
        method: Method,
    },
}

/// A named group of commands with the files they must leave behind.
#[derive(Clone, Debug)]
pub struct Stage {
    /// Unique id (`kather/labels-10/ssl`), also the log file name.
    pub id: String,
    /// Shown in the progress lines.
    pub label: String,
    /// What it is.
    pub kind: StageKind,
    /// The commands, run in order.
    pub cmds: Vec<Cmd>,
    /// Files that must exist after the commands (relative to the workspace root when inside).
    pub outputs: Vec<PathBuf>,
    /// Run folders whose presence means `--resume` can re-enter an interrupted stage.
    pub resumable: Vec<PathBuf>,
    /// Stage ids that must be done first.
    pub deps: Vec<String>,
}

impl Stage {
    /// The command lines (for `commands.sh`, the report and the resume check).
    pub fn command_lines(&self, with_resume: bool) -> Vec<String> {
        self.cmds.iter().map(|c| c.display(with_resume)).collect()
    }
}

/// Where the data comes from.
#[derive(Clone, Debug)]
pub enum Data {
    /// histo-synth's datasets (generated into the cache folder when missing).
    Synth {
        /// The cache folder (`cache/synth-small`).
        dir: PathBuf,
        /// The lock file guarding it.
        lock: PathBuf,
    },
    /// One real dataset in its native layout, with the paper's hyper-parameters.
    Real {
        /// The dataset (one task).
        dataset: TaskName,
        /// Its root.
        dir: PathBuf,
        /// Whole-slide images for RSP pretraining (when no checkpoint is given).
        pretrain_slides: Option<PathBuf>,
        /// An RSP checkpoint to start from instead of pretraining.
        rsp_checkpoint: Option<PathBuf>,
    },
}

/// Everything the plan depends on, resolved.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `histo` binary.
    pub histo: PathBuf,
    /// The size preset.
    pub scale: Scale,
    /// `--seed`.
    pub seed: u64,
    /// `--device`.
    pub device: String,
    /// Label fractions.
    pub fractions: Vec<f64>,
    /// Tasks, in report order.
    pub tasks: Vec<TaskName>,
    /// The data.
    pub data: Data,
    /// The run folder.
    pub run: PathBuf,
}

/// `10` for 0.1 (whole percent when exact, else two decimals).
pub fn percent(f: f64) -> String {
    let p = f * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as i64)
    } else {
        format!("{p:.2}")
    }
}

/// Per-scale sizes of the synthetic pipeline. The `synthetic` presets of the stages are sized
/// for `small` on 2 CPU cores; `tiny` only checks that everything runs: one or two epochs, and
/// batches small enough for its few dozen patches.
struct Budget {
    /// RSP tile size and LR2 stride (the `pretrain-synthetic` preset's store).
    tile: u32,
    stride: u32,
    pretrain_epochs: Option<u32>,
    finetune_epochs: Option<u32>,
    finetune_batch: Option<u32>,
    consistency_epochs: Option<u32>,
    consistency_batch: Option<u32>,
    mu: Option<u32>,
}

fn budget(scale: Scale) -> Budget {
    match scale {
        Scale::Tiny => Budget {
            tile: 64,
            stride: 32,
            pretrain_epochs: Some(2),
            finetune_epochs: Some(1),
            finetune_batch: Some(4),
            consistency_epochs: Some(1),
            consistency_batch: Some(2),
            mu: Some(2),
        },
        Scale::Small | Scale::Full => Budget {
            tile: 64,
            stride: 32,
            pretrain_epochs: None,
            finetune_epochs: None,
            finetune_batch: None,
            consistency_epochs: None,
            consistency_batch: None,
            mu: None,
        },
    }
}

/// `histo synth --set` overrides per scale: histo-synth's `tiny` Camelyon16 folders hold 8
/// training patches, too few for a 10 % labelled subset; the reproduction's tiny data has 32.
pub fn synth_overrides(scale: Scale) -> &'static [&'static str] {
    match scale {
        Scale::Tiny => &[
            "camelyon16.tumor_patches_per_slide=16",
            "camelyon16.normal_patches_per_slide=16",
        ],
        Scale::Small | Scale::Full => &[],
    }
}

impl Config {
    fn histo(&self) -> Cmd {
        Cmd::new(&self.histo).opt("--seed", self.seed)
    }

    fn histo_dev(&self) -> Cmd {
        self.histo().opt("--device", &self.device)
    }

    fn synthetic(&self) -> bool {
        matches!(self.data, Data::Synth { .. })
    }

    /// Preset names of the stage CLIs: `synthetic` on generated data, the paper's on real data
    /// (`pretrain` with `task` None: the paper pretrains on Camelyon16 slides for Kather too).
    fn preset(&self, task: Option<TaskName>) -> String {
        match (&self.data, task) {
            (Data::Synth { .. }, _) => "synthetic".into(),
            (Data::Real { dataset, .. }, None) => match dataset {
                TaskName::Kather | TaskName::Camelyon16 => "paper-camelyon16".into(),
                TaskName::Breastpathq => "paper-breastpathq".into(),
            },
            (Data::Real { .. }, Some(t)) => format!("paper-{}", t.as_str()),
        }
    }

    /// The dataset root of a task.
    fn task_root(&self, task: TaskName) -> PathBuf {
        match &self.data {
            Data::Synth { dir, .. } => dir.join(task.as_str()),
            Data::Real { dir, .. } => dir.clone(),
        }
    }

    /// `--data` / `--dataset` of a task: `KIND:ROOT` (train, validation and test parts inside).
    fn data_spec(&self, task: TaskName) -> String {
        format!("{}:{}", task.as_str(), self.task_root(task).display())
    }

    fn rsp_dir(&self) -> PathBuf {
        self.run.join("rsp")
    }

    /// The RSP checkpoint the SSL runs start from.
    pub fn rsp_checkpoint(&self) -> PathBuf {
        match &self.data {
            Data::Real {
                rsp_checkpoint: Some(p),
                ..
            } => p.clone(),
            _ => self.rsp_dir().join("pretrain/best.safetensors"),
        }
    }

    /// `RUN/<task>/labels-<pct>/<method>`.
    pub fn method_dir(&self, task: TaskName, fraction: f64, method: Method) -> PathBuf {
        self.run
            .join(task.as_str())
            .join(format!("labels-{}", percent(fraction)))
            .join(method.as_str())
    }

    /// The training run folder of a method.
    pub fn train_dir(&self, task: TaskName, fraction: f64, method: Method) -> PathBuf {
        self.method_dir(task, fraction, method).join("train")
    }

    /// The test-set folder of a method (predictions, metrics, plots).
    pub fn test_dir(&self, task: TaskName, fraction: f64, method: Method) -> PathBuf {
        self.method_dir(task, fraction, method).join("test")
    }

    /// The slide folder of a Camelyon-style method (heat-maps, slide metrics).
    pub fn slides_dir(&self, fraction: f64, method: Method) -> PathBuf {
        self.method_dir(TaskName::Camelyon16, fraction, method)
            .join("slides")
    }

    /// The stage that makes the data available (synthetic only).
    pub fn data_stage(&self) -> Option<Stage> {
        let Data::Synth { dir, lock } = &self.data else {
            return None;
        };
        let mut cmd = self
            .histo()
            .arg("synth")
            .opt("--scale", self.scale.as_str())
            .path("--out", dir)
            .arg("--preview")
            .arg("--json");
        for kv in synth_overrides(self.scale) {
            cmd = cmd.opt("--set", kv);
        }
        cmd.stdout_to = Some(self.run.join("data/synth-report.json"));
        cmd.lock = Some(lock.clone());
        Some(Stage {
            id: "synth".into(),
            label: format!(
                "synthetic data ({} scale) in {}",
                self.scale.as_str(),
                dir.display()
            ),
            kind: StageKind::Synth,
            cmds: vec![cmd],
            outputs: vec![
                dir.join("synth.json"),
                self.run.join("data/synth-report.json"),
            ],
            resumable: vec![],
            deps: vec![],
        })
    }

    /// Every stage after the data, in order.
    pub fn stages(&self) -> Vec<Stage> {
        let b = budget(self.scale);
        let mut out = Vec::new();
        let data_dep: Vec<String> = if self.synthetic() {
            vec!["synth".into()]
        } else {
            vec![]
        };
        let pretrain_given = matches!(
            self.data,
            Data::Real {
                rsp_checkpoint: Some(_),
                ..
            }
        );
        let rsp_dep: Vec<String> = if pretrain_given {
            vec![]
        } else {
            let slides = match &self.data {
                Data::Synth { dir, .. } => dir.join("pretrain"),
                Data::Real {
                    pretrain_slides, ..
                } => pretrain_slides.clone().unwrap_or_default(),
            };
            let store = self.rsp_dir().join("store");
            let mut tile = self
                .histo()
                .arg("tile")
                .arg("rsp")
                .path("--slides", &slides)
                .path("--out", &store);
            // The store each pretraining preset expects (its `[store]` section).
            tile = match &self.data {
                // Synthetic slides: the v2 tissue test and magnifications, as measured in
                // wave 1 (the v1 Lab a* test accepts few candidates on them).
                Data::Synth { .. } => tile
                    .opt("--tile", b.tile)
                    .opt("--stride", b.stride)
                    .opt("--magnifications", "20,10,5")
                    .opt("--tissue", "v2"),
                // The paper's settings: corner-aligned triplets at levels 0/1/2, the v1 tissue
                // and slide rules; stride 128 (BreastPathQ) or 512 (Camelyon16) on level 2.
                Data::Real { dataset, .. } => tile
                    .opt("--tile", 256)
                    .opt("--levels", "0,1,2")
                    .opt(
                        "--stride",
                        if *dataset == TaskName::Breastpathq {
                            128
                        } else {
                            512
                        },
                    )
                    .opt("--geometry", "corner")
                    .opt("--tissue", "v1")
                    .opt("--acceptance", "v1"),
            };
            tile = tile.arg("--json");
            tile.stdout_to = Some(self.rsp_dir().join("tile-summary.json"));
            out.push(Stage {
                id: "tile".into(),
                label: "RSP tiling of the pretraining slides".into(),
                kind: StageKind::Tile,
                cmds: vec![tile],
                outputs: vec![store.join("manifest.json")],
                resumable: vec![],
                deps: data_dep.clone(),
            });
            let run = self.rsp_dir().join("pretrain");
            let mut pre = self
                .histo_dev()
                .arg("pretrain")
                .path("--store", &store)
                .path("--out", &run)
                .opt("--preset", self.preset(None));
            if let Some(e) = b.pretrain_epochs {
                pre = pre.opt("--epochs", e);
            }
            pre.resume_flag = true;
            out.push(Stage {
                id: "pretrain".into(),
                label: "RSP pretraining".into(),
                kind: StageKind::Pretrain,
                cmds: vec![pre],
                outputs: vec![run.join("best.safetensors"), run.join("summary.json")],
                resumable: vec![run],
                deps: vec!["tile".into()],
            });
            vec!["pretrain".into()]
        };

        for &task in &self.tasks {
            let data = self.data_spec(task);
            for &fraction in &self.fractions {
                for method in Method::ALL {
                    let train = self.train_dir(task, fraction, method);
                    let test = self.test_dir(task, fraction, method);
                    let ckpt = train.join("best.safetensors");
                    let (sub, init, deps) = match method {
                        Method::Baseline => ("finetune", "random".to_string(), data_dep.clone()),
                        Method::Ssl => (
                            "finetune",
                            self.rsp_checkpoint().display().to_string(),
                            [data_dep.clone(), rsp_dep.clone()].concat(),
                        ),
                        Method::SslCr => (
                            "consistency",
                            self.train_dir(task, fraction, Method::Ssl)
                                .join("best.safetensors")
                                .display()
                                .to_string(),
                            vec![stage_id(task, fraction, Method::Ssl)],
                        ),
                    };
                    let (epochs, batch, mu) = if method == Method::SslCr {
                        (b.consistency_epochs, b.consistency_batch, b.mu)
                    } else {
                        (b.finetune_epochs, b.finetune_batch, None)
                    };
                    let preset = self.preset(Some(task));
                    let mut tr = self
                        .histo_dev()
                        .arg(sub)
                        .opt("--task", task.kind())
                        .opt("--data", &data)
                        .opt("--init", init)
                        .opt("--labels", fraction)
                        .path("--out", &train)
                        .opt("--preset", preset);
                    for (flag, v) in [("--epochs", epochs), ("--batch-size", batch), ("--mu", mu)] {
                        if let Some(v) = v {
                            tr = tr.opt(flag, v);
                        }
                    }
                    tr.resume_flag = true;
                    let preds = test.join("predictions.csv");
                    let predict = self
                        .histo_dev()
                        .arg("predict")
                        .path("--checkpoint", &ckpt)
                        .opt("--dataset", &data)
                        .opt("--split", "test")
                        .path("--out", &preds);
                    let evaluate = self
                        .histo()
                        .arg("evaluate")
                        .opt("--task", task.kind())
                        .path("--predictions", &preds)
                        .path("--json", &test.join("metrics.json"))
                        .path("--plots", &test.join("plots"));
                    let mut cmds = vec![tr];
                    let mut outputs = vec![ckpt.clone(), train.join("summary.json")];
                    // The Camelyon-style patch folders hold train and validation patches only:
                    // its held-out test is the test slides (the slide stage below).
                    if task != TaskName::Camelyon16 {
                        cmds.extend([predict, evaluate]);
                        outputs.extend([preds, test.join("metrics.json")]);
                    }
                    let id = stage_id(task, fraction, method);
                    out.push(Stage {
                        id: id.clone(),
                        label: format!(
                            "{}, {} % labels, {}",
                            task.title(),
                            percent(fraction),
                            method.title()
                        ),
                        kind: StageKind::Train {
                            task,
                            fraction,
                            method,
                        },
                        cmds,
                        outputs,
                        resumable: vec![train.clone()],
                        deps,
                    });
                    if task == TaskName::Camelyon16 {
                        out.push(self.slides_stage(fraction, method, &ckpt, id));
                    }
                }
            }
        }
        out
    }

    fn slides_stage(&self, fraction: f64, method: Method, ckpt: &Path, dep: String) -> Stage {
        let dir = self.slides_dir(fraction, method);
        let root = self.task_root(TaskName::Camelyon16);
        let mut cmds = vec![
            self.histo_dev()
                .arg("predict-slide")
                .path("--checkpoint", ckpt)
                .path("--slide", &root.join("slides/test"))
                .path("--out", &dir.join("maps")),
        ];
        // Tile-level labels from the annotations, slide scores, FROC; then the patch-level and
        // slide-level ROC analyses by `histo evaluate` on the CSVs it wrote.
        cmds.push(
            self.histo()
                .arg("evaluate-slides")
                .path("--maps", &dir.join("maps"))
                .path("--reference", &root.join("test_reference.csv"))
                .path("--annotations", &root.join("annotations"))
                .path("--out", &dir.join("eval")),
        );
        for level in ["tiles", "slides"] {
            cmds.push(
                self.histo()
                    .arg("evaluate")
                    .opt("--task", "binary")
                    .path("--predictions", &dir.join(format!("eval/{level}.csv")))
                    .path("--json", &dir.join(format!("eval/{level}-metrics.json")))
                    .path("--plots", &dir.join(format!("eval/{level}-plots"))),
            );
        }
        Stage {
            id: format!("{}/slides", dep),
            label: format!(
                "{}, {} % labels, {}: test-slide heat-maps, slide AUC, FROC",
                TaskName::Camelyon16.title(),
                percent(fraction),
                method.title()
            ),
            kind: StageKind::Slides { fraction, method },
            cmds,
            outputs: vec![
                dir.join("eval/froc.json"),
                dir.join("eval/tiles-metrics.json"),
                dir.join("eval/slides-metrics.json"),
            ],
            resumable: vec![],
            deps: vec![dep],
        }
    }
}

/// `kather/labels-10/ssl_cr`.
pub fn stage_id(task: TaskName, fraction: f64, method: Method) -> String {
    format!(
        "{}/labels-{}/{}",
        task.as_str(),
        percent(fraction),
        method.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_percent() {
        assert_eq!(quote("a/b-c_1.0"), "a/b-c_1.0");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote(""), "''");
        assert_eq!(percent(0.1), "10");
        assert_eq!(percent(1.0), "100");
        assert_eq!(percent(0.125), "12.50");
    }
}
