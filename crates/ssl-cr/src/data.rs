//! How a run names its dataset ([`DataSpec`], the `--data` / `--dataset` argument) and opens
//! its training, validation and test parts through histo-datasets.
//!
//! | spec | layout | train | validation | test |
//! |---|---|---|---|---|
//! | `kather:ROOT` | `ROOT/{train,test}/{ADI,…,TUM}/*` or `ROOT/{ADI,…}` | `train/` (or ROOT) | 20 % of train held out (as the original) | `test/` (or ROOT) |
//! | `folders:ROOT` | as Kather, any class folders (sorted names = class ids) | same | same | same |
//! | `breastpathq:ROOT` | challenge release: `train/` + `train_labels.csv`, `validation/` + `val_labels.csv`, `test/` + `test_labels.csv` | `train` | 20 % of train held out | `test` (two raters) |
//! | `breastpathq:IMAGES,LABELS.csv` | one image folder + its CSV | it | 20 % held out | it |
//! | `breastpathq-h5:DIR` | the original's `.h5` files (`x`, `y`) | `DIR/*.h5` | 20 % held out | `DIR/TestSetSherine` + `DIR/TestSetSharon` when present, else `DIR/*.h5` |
//! | `camelyon16:ROOT` | `PATCHES_{TUMOR,NORMAL}_{TRAIN,VALID}/` (`list.txt` + `{i}.png`) | `*_TRAIN` | `*_VALID` (as the original) | `*_VALID` |
//! | `camelyon16:FOLDER` | one `PATCHES_*` folder | it | — | it |
//!
//! Camelyon16 labels come from the folder names (`TUMOR` = 1, `NORMAL` = 0).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use histo_datasets::{
    BreastPathQ, BreastPathQH5, BreastPathQH5Test, CamelyonOptions, CamelyonPatches, ClassFolders,
    Concat, Dataset, Scores,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The dataset layouts a run can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    /// Kather NCT-CRC-HE class folders (9 classes).
    Kather,
    /// Any class folders (`root/<class>/*.png|tif|jpg`), class ids by sorted folder name.
    Folders,
    /// BreastPathQ challenge release (images + labels CSV).
    Breastpathq,
    /// The original authors' BreastPathQ `.h5` files.
    BreastpathqH5,
    /// Camelyon16 patch folders.
    Camelyon16,
}

impl DataKind {
    /// The name users write before the colon.
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Kather => "kather",
            DataKind::Folders => "folders",
            DataKind::Breastpathq => "breastpathq",
            DataKind::BreastpathqH5 => "breastpathq-h5",
            DataKind::Camelyon16 => "camelyon16",
        }
    }

    /// The paper preset of this layout (`paper-kather`, …); class folders use Kather's.
    pub fn paper_preset(self) -> &'static str {
        match self {
            DataKind::Kather | DataKind::Folders => "paper-kather",
            DataKind::Breastpathq | DataKind::BreastpathqH5 => "paper-breastpathq",
            DataKind::Camelyon16 => "paper-camelyon16",
        }
    }
}

/// A dataset on disk: `KIND:PATH[,PATH]` (see the module documentation for the layouts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataSpec {
    /// The layout.
    pub kind: DataKind,
    /// The root folder, or explicit paths.
    pub paths: Vec<PathBuf>,
}

impl fmt::Display for DataSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paths: Vec<String> = self.paths.iter().map(|p| p.display().to_string()).collect();
        write!(f, "{}:{}", self.kind.name(), paths.join(","))
    }
}

impl FromStr for DataSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let usage = "expected KIND:PATH with KIND one of kather, folders, breastpathq, \
                     breastpathq-h5, camelyon16 (e.g. kather:/data/NCT-CRC-HE or \
                     breastpathq:/data/images,/data/labels.csv)";
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| Error::Config(format!("dataset `{s}`: {usage}")))?;
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "kather" => DataKind::Kather,
            "folders" | "class-folders" => DataKind::Folders,
            "breastpathq" | "bpq" => DataKind::Breastpathq,
            "breastpathq-h5" | "bpq-h5" => DataKind::BreastpathqH5,
            "camelyon16" | "camelyon" => DataKind::Camelyon16,
            other => {
                return Err(Error::Config(format!(
                    "dataset `{s}`: unknown kind `{other}`; {usage}"
                )));
            }
        };
        let paths: Vec<PathBuf> = rest
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        let max = if kind == DataKind::Breastpathq { 2 } else { 1 };
        if paths.is_empty() || paths.len() > max {
            return Err(Error::Config(format!(
                "dataset `{s}`: {} needs {} path{} after the colon",
                kind.name(),
                if max == 1 { "one" } else { "one or two" },
                if max == 1 { "" } else { "s" }
            )));
        }
        Ok(Self { kind, paths })
    }
}

/// Which part of a dataset to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training part.
    Train,
    /// The separate validation part, where the layout has one.
    Validation,
    /// The test part.
    Test,
}

impl FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "val" | "valid" | "validation" => Ok(Split::Validation),
            "test" => Ok(Split::Test),
            _ => Err(Error::Config(format!(
                "unknown split `{s}` (train, validation or test)"
            ))),
        }
    }
}

/// What a training run reads.
pub struct TrainData {
    /// The training samples (labelled subset and unlabelled pool are drawn from them).
    pub train: Arc<dyn Dataset>,
    /// A separate validation set (Camelyon16's `*_VALID` folders), or `None` to hold out a
    /// fraction of `train`.
    pub val: Option<Arc<dyn Dataset>>,
}

/// What prediction reads: the samples and, for regression, the raters' scores.
pub struct EvalData {
    /// The samples.
    pub dataset: Arc<dyn Dataset>,
    /// Per sample `(rater A, rater B)` scores for regression sets (`None` for B when there is
    /// one reference score).
    pub raters: Option<Vec<(f32, Option<f32>)>>,
}

fn report_problems(ds: &dyn Dataset, what: &str) {
    let problems = ds.problems();
    for p in problems.iter().take(10) {
        tracing::warn!("{what}: {p}");
    }
    if problems.len() > 10 {
        tracing::warn!("{what}: {} more problems not shown", problems.len() - 10);
    }
}

/// `root/sub` when it is a folder, else `root` (a user may point at the split folder itself).
fn pick(root: &Path, sub: &str) -> PathBuf {
    let p = root.join(sub);
    if p.is_dir() { p } else { root.to_path_buf() }
}

fn need_dir(p: &Path, what: &str) -> Result<()> {
    if p.is_dir() {
        Ok(())
    } else if p.exists() {
        Err(Error::input(p, format!("is not a folder ({what})")))
    } else {
        Err(Error::input(p, format!("no such folder ({what})")))
    }
}

fn is_patch_folder(p: &Path) -> bool {
    p.join("list.txt").is_file()
}

fn camelyon_pair(root: &Path, split: &str) -> Result<Arc<dyn Dataset>> {
    let (t, n) = CamelyonPatches::open_split(root, split, &CamelyonOptions::default())?;
    let concat = Concat::new(vec![Box::new(t), Box::new(n)])?;
    Ok(Arc::new(concat))
}

impl DataSpec {
    fn root(&self) -> &Path {
        &self.paths[0]
    }

    /// Opens the training part (and the separate validation part where the layout has one).
    pub fn training(&self) -> Result<TrainData> {
        let root = self.root();
        let (train, val): (Arc<dyn Dataset>, Option<Arc<dyn Dataset>>) = match self.kind {
            DataKind::Kather => {
                need_dir(root, "Kather root")?;
                (Arc::new(ClassFolders::kather(pick(root, "train"))?), None)
            }
            DataKind::Folders => {
                need_dir(root, "class-folder root")?;
                (Arc::new(ClassFolders::discover(pick(root, "train"))?), None)
            }
            DataKind::Breastpathq => (self.breastpathq(Split::Train)?, None),
            DataKind::BreastpathqH5 => {
                need_dir(root, "folder of .h5 files")?;
                (Arc::new(BreastPathQH5::open_dir(root)?), None)
            }
            DataKind::Camelyon16 => {
                need_dir(root, "Camelyon16 root")?;
                if is_patch_folder(root) {
                    (
                        Arc::new(CamelyonPatches::open(root, &CamelyonOptions::default())?),
                        None,
                    )
                } else {
                    (
                        camelyon_pair(root, "train")?,
                        Some(camelyon_pair(root, "valid")?),
                    )
                }
            }
        };
        report_problems(train.as_ref(), &format!("{self} (train)"));
        if let Some(v) = &val {
            report_problems(v.as_ref(), &format!("{self} (validation)"));
        }
        if train.is_empty() {
            return Err(Error::Config(format!("{self}: the training set is empty")));
        }
        Ok(TrainData { train, val })
    }

    fn breastpathq(&self, split: Split) -> Result<Arc<dyn Dataset>> {
        if self.paths.len() == 2 {
            return Ok(Arc::new(BreastPathQ::open(&self.paths[0], &self.paths[1])?));
        }
        let root = self.root();
        need_dir(root, "BreastPathQ root")?;
        let name = match split {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        };
        Ok(Arc::new(BreastPathQ::open_release(root, name)?))
    }

    /// Opens one part for prediction or evaluation.
    pub fn evaluation(&self, split: Split) -> Result<EvalData> {
        let root = self.root();
        let mut raters = None;
        let dataset: Arc<dyn Dataset> = match self.kind {
            DataKind::Kather | DataKind::Folders => {
                need_dir(root, "class-folder root")?;
                let sub = match split {
                    Split::Train => "train",
                    Split::Test => "test",
                    Split::Validation => {
                        return Err(Error::Config(format!(
                            "{self}: class folders have no separate validation set (the \
                             training runs hold 20 % of train out); use --split train or test"
                        )));
                    }
                };
                let dir = pick(root, sub);
                if self.kind == DataKind::Kather {
                    Arc::new(ClassFolders::kather(dir)?)
                } else {
                    Arc::new(ClassFolders::discover(dir)?)
                }
            }
            DataKind::Breastpathq => {
                let (ds, r) = if self.paths.len() == 2 {
                    let d = BreastPathQ::open(&self.paths[0], &self.paths[1])?;
                    let r = bpq_raters(&d)?;
                    (d, r)
                } else {
                    need_dir(root, "BreastPathQ root")?;
                    let name = match split {
                        Split::Train => "train",
                        Split::Validation => "validation",
                        Split::Test => "test",
                    };
                    let d = BreastPathQ::open_release(root, name)?;
                    let r = bpq_raters(&d)?;
                    (d, r)
                };
                raters = Some(r);
                Arc::new(ds)
            }
            DataKind::BreastpathqH5 => {
                need_dir(root, "folder of .h5 files")?;
                if split == Split::Test && root.join("TestSetSherine").is_dir() {
                    let t = BreastPathQH5Test::open_release(root)?;
                    raters = Some(
                        (0..t.len())
                            .map(|i| t.ratings(i).map(|(a, b)| (a, Some(b))))
                            .collect::<histo_datasets::Result<Vec<_>>>()?,
                    );
                    Arc::new(t)
                } else {
                    Arc::new(BreastPathQH5::open_dir(root)?)
                }
            }
            DataKind::Camelyon16 => {
                need_dir(root, "Camelyon16 root")?;
                if is_patch_folder(root) {
                    Arc::new(CamelyonPatches::open(root, &CamelyonOptions::default())?)
                } else {
                    match split {
                        Split::Train => camelyon_pair(root, "train")?,
                        Split::Validation | Split::Test => {
                            if split == Split::Test {
                                tracing::info!(
                                    "{self}: Camelyon16 has no test patch folders; predicting the \
                                     PATCHES_*_VALID folders (use predict-slide for test slides)"
                                );
                            }
                            camelyon_pair(root, "valid")?
                        }
                    }
                }
            }
        };
        report_problems(dataset.as_ref(), &self.to_string());
        if dataset.is_empty() {
            return Err(Error::Config(format!(
                "{self}: no samples in the {split:?} part"
            )));
        }
        if raters.is_none() && self.kind == DataKind::BreastpathqH5 {
            raters = Some(
                (0..dataset.len())
                    .map(|i| dataset.target(i).map(|t| (t.value(), None)))
                    .collect::<histo_datasets::Result<Vec<_>>>()?,
            );
        }
        Ok(EvalData { dataset, raters })
    }
}

fn bpq_raters(d: &BreastPathQ) -> Result<Vec<(f32, Option<f32>)>> {
    (0..d.len())
        .map(|i| {
            Ok(match d.scores(i)? {
                Scores::One(y) => (y, None),
                Scores::Two(a, b) => (a, Some(b)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let s: DataSpec = "kather:/data/kather".parse().unwrap();
        assert_eq!(s.kind, DataKind::Kather);
        assert_eq!(s.to_string(), "kather:/data/kather");
        let s: DataSpec = "breastpathq:/a/img, /a/labels.csv".parse().unwrap();
        assert_eq!(s.paths.len(), 2);
        assert_eq!(s.kind.paper_preset(), "paper-breastpathq");
        for bad in [
            "/data/kather",
            "imagenet:/x",
            "kather:",
            "kather:/a,/b",
            "breastpathq:/a,/b,/c",
        ] {
            assert!(bad.parse::<DataSpec>().is_err(), "{bad}");
        }
        assert_eq!("valid".parse::<Split>().unwrap(), Split::Validation);
        assert!("dev".parse::<Split>().is_err());
    }

    #[test]
    fn original_h5_files_give_training_data_and_two_rater_test_data() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/datasets");
        let train: DataSpec = format!("breastpathq-h5:{}", fx.join("train").display())
            .parse()
            .unwrap();
        let t = train.training().unwrap();
        assert!(t.val.is_none() && !t.train.is_empty());
        assert!(matches!(
            t.train.target(0).unwrap(),
            histo_tensor::Target::Score(_)
        ));
        let test: DataSpec = format!("breastpathq-h5:{}", fx.display()).parse().unwrap();
        let e = test.evaluation(Split::Test).unwrap();
        let raters = e.raters.unwrap();
        assert_eq!(raters.len(), e.dataset.len());
        assert!(raters.iter().all(|r| r.1.is_some()));
        // without the rater folders, one reference score per patch
        let e = train.evaluation(Split::Test).unwrap();
        assert!(e.raters.unwrap().iter().all(|r| r.1.is_none()));
    }

    #[test]
    fn missing_folders_are_named() {
        let s: DataSpec = "kather:/no/such/folder".parse().unwrap();
        let e = s.training().err().unwrap().to_string();
        assert!(
            e.contains("/no/such/folder") && e.contains("no such folder"),
            "{e}"
        );
        let s: DataSpec = "camelyon16:/no/such/cam".parse().unwrap();
        assert!(s.evaluation(Split::Test).is_err());
    }
}
