//! BreastPathQ (SPIE-AAPM-NCI challenge release): patch images plus a CSV of cellularity scores.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use histo_tensor::{Image, Target};

use crate::csv;
use crate::dataset::{Dataset, Problem, Sample, check_index};
use crate::fsutil::{is_image_file, list_dir, read_text};
use crate::{Error, Result};

/// Which score a two-rater table (`pathologist1,pathologist2`) gives as the sample's target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RaterTarget {
    /// The mean of the two raters (default).
    #[default]
    Mean,
    /// Pathologist 1 only.
    First,
    /// Pathologist 2 only.
    Second,
}

/// The score(s) of one patch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scores {
    /// One reference score (`y`, the training and validation tables).
    One(f32),
    /// Two raters' scores (`pathologist1`, `pathologist2`, the test table).
    Two(f32, f32),
}

#[derive(Debug)]
struct Item {
    file: PathBuf,
    id: String,
    scores: Scores,
}

/// BreastPathQ patches `{slide}_{rid}.tif` in an image folder, labelled by a CSV.
///
/// The CSV header must name the columns `slide`, `rid` and either `y` (one reference score)
/// or `pathologist1` and `pathologist2` (two raters, the test set); other columns are ignored
/// and the order is free. Scores must be finite numbers in [0, 1]; a row that breaks this is an
/// error naming the file and line. A row whose image is missing, and images without a row, are
/// reported in [`Dataset::problems`] and left out. Samples follow the CSV row order.
#[derive(Debug)]
pub struct BreastPathQ {
    images: PathBuf,
    labels: PathBuf,
    items: Vec<Item>,
    two_raters: bool,
    rater_target: RaterTarget,
    problems: Vec<Problem>,
}

/// A split of the official release layout: `(image folder, labels CSV)` relative to the root.
pub fn release_split(split: &str) -> Option<(&'static str, &'static str)> {
    match split {
        "train" => Some(("train", "train_labels.csv")),
        "validation" | "val" => Some(("validation", "val_labels.csv")),
        "test" => Some(("test", "test_labels.csv")),
        _ => None,
    }
}

impl BreastPathQ {
    /// Reads `labels_csv` and matches its rows with the images in `images_dir`.
    pub fn open(images_dir: impl AsRef<Path>, labels_csv: impl AsRef<Path>) -> Result<Self> {
        let (images, labels) = (images_dir.as_ref(), labels_csv.as_ref());
        let text = read_text(labels, "labels CSV")?;
        let rows = csv::parse(&text);
        let header = rows
            .first()
            .ok_or_else(|| Error::format(labels, "empty labels CSV (no header)"))?;
        let col = |name: &str| {
            header
                .fields
                .iter()
                .position(|f| f.eq_ignore_ascii_case(name))
        };
        let no_column = |name: &str| {
            Error::format(
                labels,
                format!(
                    "header has no `{name}` column (expected `slide,rid,y` or \
                     `slide,rid,pathologist1,pathologist2`; found `{}`)",
                    header.fields.join(",")
                ),
            )
        };
        let need = |name: &str| col(name).ok_or_else(|| no_column(name));
        let (slide_c, rid_c) = (need("slide")?, need("rid")?);
        let score_cols = match (col("y"), col("pathologist1"), col("pathologist2")) {
            (Some(y), _, _) => vec![y],
            (None, Some(a), Some(b)) => vec![a, b],
            (None, Some(_), None) => return Err(no_column("pathologist2")),
            _ => return Err(no_column("y")),
        };

        // One listing of the image folder, keyed by file stem.
        let mut files: HashMap<String, PathBuf> = HashMap::new();
        for e in list_dir(images)? {
            if !e.is_dir && is_image_file(&e.path) {
                let stem = Path::new(&e.name)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let name = e.path.file_name().map(PathBuf::from).unwrap_or_default();
                files.entry(stem).or_insert(name);
            }
        }

        let mut problems = Vec::new();
        let mut items = Vec::with_capacity(rows.len().saturating_sub(1));
        let mut used = std::collections::HashSet::new();
        let ncols = header.fields.len();
        for row in &rows[1..] {
            if row.fields.len() < ncols {
                return Err(Error::format(
                    labels,
                    format!(
                        "line {}: {} field(s), the header has {ncols}",
                        row.line,
                        row.fields.len()
                    ),
                ));
            }
            let (slide, rid) = (&row.fields[slide_c], &row.fields[rid_c]);
            if slide.is_empty() || rid.is_empty() {
                return Err(Error::format(
                    labels,
                    format!("line {}: empty slide or rid", row.line),
                ));
            }
            let mut s = [0f32; 2];
            for (k, &c) in score_cols.iter().enumerate() {
                s[k] = parse_score(&row.fields[c]).map_err(|msg| {
                    Error::format(
                        labels,
                        format!("line {}: column `{}`: {msg}", row.line, header.fields[c]),
                    )
                })?;
            }
            let scores = if score_cols.len() == 1 {
                Scores::One(s[0])
            } else {
                Scores::Two(s[0], s[1])
            };
            let id = format!("{slide}_{rid}");
            if !used.insert(id.clone()) {
                problems.push(Problem::new(
                    labels,
                    format!("line {}: duplicate row for {id}, skipped", row.line),
                ));
                continue;
            }
            match files.get(&id) {
                Some(file) => items.push(Item {
                    file: file.clone(),
                    id,
                    scores,
                }),
                None => problems.push(Problem::new(
                    images.join(format!("{id}.tif")),
                    format!("image of line {} not found, row skipped", row.line),
                )),
            }
        }
        let unlabelled = files.keys().filter(|k| !used.contains(*k)).count();
        if unlabelled > 0 {
            problems.push(Problem::new(
                images,
                format!("{unlabelled} image(s) have no row in {}", labels.display()),
            ));
        }
        if items.is_empty() {
            return Err(Error::format(
                labels,
                format!("no row matches an image in {}", images.display()),
            ));
        }
        for p in &problems {
            tracing::warn!("{p}");
        }
        Ok(Self {
            images: images.to_path_buf(),
            labels: labels.to_path_buf(),
            items,
            two_raters: score_cols.len() == 2,
            rater_target: RaterTarget::default(),
            problems,
        })
    }

    /// One split of the official layout under `root`: `train` (`train/` + `train_labels.csv`),
    /// `validation` (`validation/` + `val_labels.csv`) or `test` (`test/` + `test_labels.csv`).
    pub fn open_release(root: impl AsRef<Path>, split: &str) -> Result<Self> {
        let (dir, csv) = release_split(split).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown BreastPathQ split {split:?} (train, validation or test)"
            ))
        })?;
        let root = root.as_ref();
        Self::open(root.join(dir), root.join(csv))
    }

    /// Which rater's score a two-rater table gives as target (ignored for one-score tables).
    pub fn with_rater_target(mut self, rater_target: RaterTarget) -> Self {
        self.rater_target = rater_target;
        self
    }

    /// `true` for a two-rater table.
    pub fn has_two_raters(&self) -> bool {
        self.two_raters
    }

    /// The score(s) of sample `index`.
    pub fn scores(&self, index: usize) -> Result<Scores> {
        check_index(index, self.items.len())?;
        Ok(self.items[index].scores)
    }

    /// The image file of sample `index`.
    pub fn path(&self, index: usize) -> Result<PathBuf> {
        check_index(index, self.items.len())?;
        Ok(self.images.join(&self.items[index].file))
    }

    /// The image folder.
    pub fn images_dir(&self) -> &Path {
        &self.images
    }

    /// The labels CSV.
    pub fn labels_csv(&self) -> &Path {
        &self.labels
    }

    fn score(&self, s: Scores) -> f32 {
        match (s, self.rater_target) {
            (Scores::One(y), _) => y,
            (Scores::Two(a, b), RaterTarget::Mean) => 0.5 * (a + b),
            (Scores::Two(a, _), RaterTarget::First) => a,
            (Scores::Two(_, b), RaterTarget::Second) => b,
        }
    }
}

/// Parses a cellularity score: a finite number in [0, 1].
pub(crate) fn parse_score(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !v.is_finite() || !(0.0..=1.0).contains(&v) {
        return Err(format!("score {s} is outside [0, 1]"));
    }
    Ok(v)
}

impl Dataset for BreastPathQ {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let path = self.path(index)?;
        let item = &self.items[index];
        Ok(Sample {
            image: Image::open(&path)?,
            target: Target::Score(self.score(item.scores)),
            id: item.id.clone(),
        })
    }

    fn target(&self, index: usize) -> Result<Target> {
        check_index(index, self.items.len())?;
        Ok(Target::Score(self.score(self.items[index].scores)))
    }

    fn id(&self, index: usize) -> Result<String> {
        check_index(index, self.items.len())?;
        Ok(self.items[index].id.clone())
    }

    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}
