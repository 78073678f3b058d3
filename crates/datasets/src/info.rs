//! A summary of a dataset on disk (`histo dataset info`): counts per class and split, image
//! sizes, score ranges and the problems found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use histo_tensor::Target;
use rayon::prelude::*;
use serde::Serialize;

use histo_wsi::store::SlideStatus;

use crate::annotations::{annotation_file, is_normal_slide, read_annotations};
use crate::breastpathq::{BreastPathQ, release_split};
use crate::camelyon::{
    CAMELYON_PATCH_FOLDERS, CamelyonLabels, CamelyonOptions, CamelyonPatches, annotation_dir,
};
use crate::csv;
use crate::dataset::{Dataset, Problem};
use crate::folders::ClassFolders;
use crate::fsutil::{has_extension, image_dimensions, list_dir, read_text};
use crate::h5::{BreastPathQH5, BreastPathQH5Test, h5_files};
use crate::rsp::TripletSource;
use crate::tile_store::StoreTriplets;
use crate::{Error, Result};

/// The dataset layouts `histo dataset info` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Kather class folders (a root with the class folders, or with `train/` and `test/`).
    Kather,
    /// BreastPathQ release (`train/` + `train_labels.csv`, ...) and/or the original's `.h5`.
    Breastpathq,
    /// Camelyon16: `PATCHES_*` folders (labels from `jsons/` or `annotations/` when present),
    /// slides and the test reference.
    Camelyon16,
    /// An RSP tile store written by `histo tile rsp`.
    TileStore,
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "kather" => Ok(Kind::Kather),
            "breastpathq" | "bpq" => Ok(Kind::Breastpathq),
            "camelyon16" | "camelyon" => Ok(Kind::Camelyon16),
            "tile-store" | "tile_store" | "store" => Ok(Kind::TileStore),
            _ => Err(Error::Invalid(format!(
                "unknown dataset kind {s:?} (kather, breastpathq, camelyon16, tile-store)"
            ))),
        }
    }
}

/// Number of images of one size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SizeCount {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// How many images have this size.
    pub count: usize,
}

/// Range of regression scores.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoreRange {
    /// Smallest score.
    pub min: f32,
    /// Largest score.
    pub max: f32,
    /// Mean score.
    pub mean: f32,
}

/// One split (or part) of a dataset.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PartReport {
    /// Name (`train`, `test`, `PATCHES_TUMOR_TRAIN`, ...).
    pub name: String,
    /// Where it was read from.
    pub source: PathBuf,
    /// Number of samples.
    pub samples: usize,
    /// Samples per class, in label order (empty for regression).
    pub classes: Vec<(String, usize)>,
    /// Image sizes found (from file headers; no pixel is decoded).
    pub image_sizes: Vec<SizeCount>,
    /// Score range (regression only).
    pub scores: Option<ScoreRange>,
    /// Images whose header could not be read.
    pub unreadable: usize,
}

/// The report of [`inspect`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DatasetReport {
    /// The layout.
    pub kind: Kind,
    /// The folder inspected.
    pub root: PathBuf,
    /// Its parts.
    pub parts: Vec<PartReport>,
    /// Other facts (slides found, test reference counts, tile-store slides, ...).
    pub notes: Vec<String>,
    /// Everything skipped or odd (unknown folders, unreadable files, missing annotations, ...).
    pub problems: Vec<Problem>,
}

/// Inspects the dataset of `kind` under `root`.
pub fn inspect(kind: Kind, root: impl AsRef<Path>) -> Result<DatasetReport> {
    let root = root.as_ref();
    if !root.is_dir() {
        return Err(Error::missing(root, "dataset folder"));
    }
    let mut report = DatasetReport {
        kind,
        root: root.to_path_buf(),
        parts: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
    };
    match kind {
        Kind::Kather => kather(root, &mut report)?,
        Kind::Breastpathq => breastpathq(root, &mut report)?,
        Kind::Camelyon16 => camelyon16(root, &mut report)?,
        Kind::TileStore => tile_store(root, &mut report)?,
    }
    Ok(report)
}

fn kather(root: &Path, report: &mut DatasetReport) -> Result<()> {
    let nested: Vec<&str> = ["train", "test"]
        .into_iter()
        .filter(|s| root.join(s).is_dir())
        .collect();
    let parts: Vec<(String, PathBuf)> = if nested.is_empty() {
        vec![(".".into(), root.to_path_buf())]
    } else {
        nested
            .iter()
            .map(|s| (s.to_string(), root.join(s)))
            .collect()
    };
    for (name, dir) in parts {
        let ds = ClassFolders::kather(&dir)?;
        let paths = (0..ds.len())
            .map(|i| ds.path(i))
            .collect::<Result<Vec<_>>>()?;
        add_part(report, &name, &dir, &ds, Sizes::Files(&paths))?;
    }
    Ok(())
}

fn breastpathq(root: &Path, report: &mut DatasetReport) -> Result<()> {
    for split in ["train", "validation", "test"] {
        let Some((dir, csv)) = release_split(split) else {
            continue;
        };
        if !root.join(csv).exists() {
            continue;
        }
        let ds = BreastPathQ::open(root.join(dir), root.join(csv))?;
        let paths = (0..ds.len())
            .map(|i| ds.path(i))
            .collect::<Result<Vec<_>>>()?;
        add_part(report, split, &root.join(csv), &ds, Sizes::Files(&paths))?;
    }
    // The original's preprocessed files: `*.h5` here or in `train/`, and the two raters'
    // test folders.
    for dir in [root.to_path_buf(), root.join("train")] {
        if dir.is_dir() && h5_files(&dir).is_ok() {
            let ds = BreastPathQH5::open_dir(&dir)?;
            let sizes = ds
                .files()
                .iter()
                .map(|f| (f.image_size(), f.len()))
                .collect();
            add_part(report, "h5", &dir, &ds, Sizes::Known(sizes))?;
        }
    }
    if root.join("TestSetSherine").is_dir() || root.join("TestSetSharon").is_dir() {
        let ds = BreastPathQH5Test::open_release(root)?;
        let a = BreastPathQH5::open_dir(root.join("TestSetSherine"))?;
        let sizes = a
            .files()
            .iter()
            .map(|f| (f.image_size(), f.len()))
            .collect();
        add_part(report, "h5-test", root, &ds, Sizes::Known(sizes))?;
    }
    if report.parts.is_empty() {
        return Err(Error::missing(
            root,
            "BreastPathQ data (train_labels.csv / val_labels.csv / test_labels.csv, *.h5, \
             TestSetSherine/)",
        ));
    }
    Ok(())
}

fn camelyon16(root: &Path, report: &mut DatasetReport) -> Result<()> {
    // The root itself may be one patch folder.
    let folders: Vec<(String, PathBuf, PathBuf)> = if root.join("list.txt").is_file() {
        let name = root
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let base = root.parent().unwrap_or(root).to_path_buf();
        vec![(name, root.to_path_buf(), base)]
    } else {
        CAMELYON_PATCH_FOLDERS
            .iter()
            .filter(|f| root.join(f).is_dir())
            .map(|f| (f.to_string(), root.join(f), root.to_path_buf()))
            .collect()
    };
    for (name, dir, base) in &folders {
        let labels = match annotation_dir(base, name) {
            Some(ann) => {
                report.notes.push(format!(
                    "{name}: labels from the annotations in {}",
                    ann.display()
                ));
                CamelyonLabels::Annotations(ann)
            }
            None => {
                report.notes.push(format!(
                    "{name}: labels from the folder name (no jsons/ or annotations/ folder)"
                ));
                CamelyonLabels::Folder
            }
        };
        let options = CamelyonOptions {
            labels,
            ..CamelyonOptions::default()
        };
        let ds = CamelyonPatches::open(dir, &options)?;
        let paths = (0..ds.len())
            .map(|i| ds.path(i))
            .collect::<Result<Vec<_>>>()?;
        add_part(report, name, dir, &ds, Sizes::Files(&paths))?;
    }
    // Slides, their annotations and the test reference.
    let mut slides_found = 0;
    for split in ["train", "test"] {
        let dir = root.join("slides").join(split);
        if !dir.is_dir() {
            continue;
        }
        let slides: Vec<String> = list_dir(&dir)?
            .into_iter()
            .filter(|e| !e.is_dir && has_extension(&e.path, &["tif", "tiff", "svs"]))
            .map(|e| e.name)
            .collect();
        slides_found += slides.len();
        report
            .notes
            .push(format!("slides/{split}: {} slide(s)", slides.len()));
        let ann = root.join("annotations");
        for s in &slides {
            let stem = Path::new(s)
                .file_stem()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            if is_normal_slide(&stem) {
                continue;
            }
            match annotation_file(&ann, &stem) {
                Some(p) => {
                    if let Err(e) = read_annotations(&p) {
                        report
                            .problems
                            .push(Problem::new(&p, format!("unreadable annotation: {e}")));
                    }
                }
                // Test slides without metastases have no annotation file either.
                None if split == "train" => report.problems.push(Problem::new(
                    ann.join(format!("{stem}.xml")),
                    "missing annotation of a tumour slide",
                )),
                None => {}
            }
        }
    }
    let reference = root.join("test_reference.csv");
    if reference.is_file() {
        let text = read_text(&reference, "test reference")?;
        let (mut tumour, mut normal, mut other) = (0, 0, 0);
        for row in csv::parse(&text).iter().skip(1) {
            match row.fields.get(1).map(|s| s.to_ascii_lowercase()) {
                Some(l) if l == "tumor" => tumour += 1,
                Some(l) if l == "normal" => normal += 1,
                _ => other += 1,
            }
        }
        report.notes.push(format!(
            "test_reference.csv: {tumour} Tumor, {normal} Normal"
        ));
        if other > 0 {
            report.problems.push(Problem::new(
                &reference,
                format!("{other} row(s) with a label other than Tumor/Normal"),
            ));
        }
    }
    if report.parts.is_empty() && slides_found == 0 {
        return Err(Error::missing(
            root,
            "Camelyon16 data (PATCHES_* folders with list.txt, or slides/)",
        ));
    }
    Ok(())
}

fn tile_store(root: &Path, report: &mut DatasetReport) -> Result<()> {
    let src = StoreTriplets::open(root)?;
    let m = src.store().manifest();
    let t = src.tile_size() as u32;
    let mut complete = 0;
    for s in &m.slides {
        match s.status {
            SlideStatus::Complete => {
                complete += 1;
                report.notes.push(format!(
                    "slide {} {}: {} triplets from {} candidates",
                    s.index, s.path, s.accepted, s.candidates
                ));
            }
            SlideStatus::Pending => report.problems.push(Problem::new(
                &s.path,
                "pending (an interrupted run: re-run `histo tile rsp` to complete it)",
            )),
            SlideStatus::Skipped | SlideStatus::Failed => {
                let what = if s.status == SlideStatus::Skipped {
                    "skipped"
                } else {
                    "failed"
                };
                report.problems.push(Problem::new(
                    &s.path,
                    format!(
                        "{what}: {}",
                        s.reason.as_deref().unwrap_or("no reason recorded")
                    ),
                ));
            }
        }
    }
    report.notes.push(format!(
        "{complete} of {} slide(s) complete; parameters {}",
        m.slides.len(),
        m.params
    ));
    report.parts.push(PartReport {
        name: "triplets".into(),
        source: root.to_path_buf(),
        samples: src.len(),
        classes: Vec::new(),
        image_sizes: vec![SizeCount {
            width: t,
            height: t,
            count: 3 * src.len(),
        }],
        scores: None,
        unreadable: 0,
    });
    Ok(())
}

/// How to find image sizes: read file headers, or known per-file sizes.
enum Sizes<'a> {
    Files(&'a [PathBuf]),
    Known(Vec<((usize, usize), usize)>),
}

fn add_part<D: Dataset + ?Sized>(
    report: &mut DatasetReport,
    name: &str,
    source: &Path,
    ds: &D,
    sizes: Sizes<'_>,
) -> Result<()> {
    let mut hist: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut unreadable = 0;
    match sizes {
        Sizes::Files(paths) => {
            let dims: Vec<_> = paths.par_iter().map(|p| image_dimensions(p)).collect();
            for (p, d) in paths.iter().zip(dims) {
                match d {
                    Ok(wh) => *hist.entry(wh).or_default() += 1,
                    Err(e) => {
                        unreadable += 1;
                        report
                            .problems
                            .push(Problem::new(p, format!("unreadable image: {e}")));
                    }
                }
            }
        }
        Sizes::Known(v) => {
            for ((w, h), n) in v {
                *hist.entry((w as u32, h as u32)).or_default() += n;
            }
        }
    }
    let mut classes: Vec<(String, usize)> =
        ds.class_names().iter().map(|c| (c.clone(), 0)).collect();
    let (mut min, mut max, mut sum, mut n_scores) = (f32::INFINITY, f32::NEG_INFINITY, 0.0, 0);
    for i in 0..ds.len() {
        match ds.target(i)? {
            Target::Class(c) => {
                if let Some(e) = classes.get_mut(c as usize) {
                    e.1 += 1;
                }
            }
            Target::Score(s) => {
                min = min.min(s);
                max = max.max(s);
                sum += s as f64;
                n_scores += 1;
            }
        }
    }
    report.problems.extend(ds.problems().iter().cloned());
    report.parts.push(PartReport {
        name: name.to_owned(),
        source: source.to_path_buf(),
        samples: ds.len(),
        classes,
        image_sizes: hist
            .into_iter()
            .map(|((width, height), count)| SizeCount {
                width,
                height,
                count,
            })
            .collect(),
        scores: (n_scores > 0).then(|| ScoreRange {
            min,
            max,
            mean: (sum / n_scores as f64) as f32,
        }),
        unreadable,
    });
    Ok(())
}

impl std::fmt::Display for DatasetReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        writeln!(f, "{kind} dataset at {}", self.root.display())?;
        for p in &self.parts {
            writeln!(
                f,
                "  {}: {} samples ({})",
                p.name,
                p.samples,
                p.source.display()
            )?;
            if !p.classes.is_empty() {
                let c: Vec<String> = p.classes.iter().map(|(n, k)| format!("{n} {k}")).collect();
                writeln!(f, "    classes: {}", c.join(", "))?;
            }
            if let Some(s) = &p.scores {
                writeln!(
                    f,
                    "    scores: min {:.3}, max {:.3}, mean {:.3}",
                    s.min, s.max, s.mean
                )?;
            }
            let sizes: Vec<String> = p
                .image_sizes
                .iter()
                .map(|s| format!("{}x{} ({})", s.width, s.height, s.count))
                .collect();
            writeln!(f, "    image sizes: {}", sizes.join(", "))?;
            if p.unreadable > 0 {
                writeln!(f, "    unreadable images: {}", p.unreadable)?;
            }
        }
        for n in &self.notes {
            writeln!(f, "  {n}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "no problems found")?;
        } else {
            writeln!(f, "problems ({}):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  {p}")?;
            }
        }
        Ok(())
    }
}
