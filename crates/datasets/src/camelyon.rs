//! Camelyon16 patch folders as the original expects them (spec §5.4): `PATCHES_*/list.txt`
//! (`pid,x_center,y_center` per line, level-0 centres) and `{i}.png`, `i` = 0-based line number.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use histo_tensor::{Image, Target};

use crate::dataset::{Dataset, Problem, Sample, check_index};
use crate::fsutil::{list_dir, read_text};
use crate::{Error, Result};

/// Class names of the Camelyon16 patch task: 0 = normal, 1 = tumour.
pub const CAMELYON_CLASSES: [&str; 2] = ["normal", "tumor"];

/// The four patch folders of the original, `(folder name, training split?)`.
pub const CAMELYON_PATCH_FOLDERS: [&str; 4] = [
    "PATCHES_TUMOR_TRAIN",
    "PATCHES_NORMAL_TRAIN",
    "PATCHES_TUMOR_VALID",
    "PATCHES_NORMAL_VALID",
];

/// Where the labels of Camelyon16 patches come from.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum CamelyonLabels {
    /// From the folder name: `*TUMOR*` → 1, `*NORMAL*` → 0 (default).
    #[default]
    Folder,
    /// As the original: 1 iff the patch centre lies inside a positive (tumour) polygon of the
    /// slide's annotation, read from `{dir}/{pid}.json` (the original's JSON) or
    /// `{dir}/{pid}.xml` (ASAP XML). A `Normal_*` slide without a file has no tumour; patches
    /// of other slides without a file are reported and skipped.
    Annotations(PathBuf),
}

/// How to read a patch folder.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CamelyonOptions {
    /// Label source.
    pub labels: CamelyonLabels,
    /// The original's slide-number filter: keep only `Tumor_NNN` with NNN > 25 and
    /// `Normal_NNN` with NNN > 35 (the lower-numbered slides were used for RSP pretraining);
    /// other slides' lines are dropped. Off by default.
    pub original_slide_filter: bool,
}

/// One line of `list.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchCoord {
    /// 0-based line number in the unfiltered `list.txt` = the PNG's file number.
    pub line: usize,
    /// Slide id (`Tumor_001`, `Normal_042`, ...).
    pub pid: String,
    /// Level-0 centre, x.
    pub x: i64,
    /// Level-0 centre, y.
    pub y: i64,
}

/// Whether `pid` passes the original's filter (Tumor > 25, Normal > 35, nothing else).
pub fn original_slide_filter(pid: &str) -> bool {
    let num = |prefix: &str| {
        pid.get(..prefix.len())
            .filter(|p| p.eq_ignore_ascii_case(prefix))
            .and_then(|_| {
                pid[prefix.len()..]
                    .trim_end_matches(".tif")
                    .parse::<u32>()
                    .ok()
            })
    };
    match (num("Tumor_"), num("Normal_")) {
        (Some(n), _) => n > 25,
        (_, Some(n)) => n > 35,
        _ => false,
    }
}

/// The annotation folder the layout keeps for a patch folder's split under `root`, if any:
/// `jsons/train/` or `jsons/valid/` (the original's JSON), else `annotations/` (ASAP XML).
pub fn annotation_dir(root: &Path, patch_folder: &str) -> Option<PathBuf> {
    let split = if patch_folder.to_ascii_uppercase().ends_with("VALID") {
        "valid"
    } else {
        "train"
    };
    [root.join("jsons").join(split), root.join("annotations")]
        .into_iter()
        .find(|d| d.is_dir())
}

/// A label lookup for patch centres (implemented over histo-wsi annotations).
pub(crate) trait CentreLabeller {
    /// `Ok(Some(label))`, `Ok(None)` when the slide has no annotation to decide with.
    fn label(&mut self, pid: &str, x: i64, y: i64) -> Result<Option<u32>>;
}

/// One `PATCHES_*` folder.
///
/// PNG `i` is the patch of line `i` of the **unfiltered** `list.txt`, as NCRF's `patch_gen.py`
/// writes them; the original indexed the filtered list instead, which shifts every label when
/// the list holds filtered-out lines (B20). Here each coordinate keeps its line number and is
/// filtered afterwards. Malformed lines and lines whose PNG is missing are reported in
/// [`Dataset::problems`] and skipped.
pub struct CamelyonPatches {
    folder: PathBuf,
    name: String,
    items: Vec<(PatchCoord, u32)>,
    classes: Vec<String>,
    problems: Vec<Problem>,
}

impl CamelyonPatches {
    /// Reads `folder/list.txt` and checks the PNGs.
    pub fn open(folder: impl AsRef<Path>, options: &CamelyonOptions) -> Result<Self> {
        let folder = folder.as_ref();
        let name = folder
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let folder_label = {
            let up = name.to_ascii_uppercase();
            match (up.contains("TUMOR"), up.contains("NORMAL")) {
                (true, false) => Some(1),
                (false, true) => Some(0),
                _ => None,
            }
        };
        let mut labeller: Option<Box<dyn CentreLabeller>> = match &options.labels {
            CamelyonLabels::Folder => {
                if folder_label.is_none() {
                    return Err(Error::Invalid(format!(
                        "{}: the folder name says neither TUMOR nor NORMAL; give an \
                         annotation folder to label its patches",
                        folder.display()
                    )));
                }
                None
            }
            CamelyonLabels::Annotations(dir) => Some(crate::annotations::labeller(dir)?),
        };

        let list = folder.join("list.txt");
        let text = read_text(&list, "list.txt")?;
        let pngs: HashSet<usize> = list_dir(folder)?
            .into_iter()
            .filter(|e| !e.is_dir)
            .filter_map(|e| e.name.strip_suffix(".png")?.parse().ok())
            .collect();
        let mut problems = Vec::new();
        let mut items = Vec::new();
        let (mut malformed, mut no_png, mut filtered, mut unannotated) = (0, 0, 0, Vec::new());
        for (line, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let f: Vec<&str> = raw.split(',').map(str::trim).collect();
            let parsed = (f.len() >= 3)
                .then(|| Some((f[0], f[1].parse::<f64>().ok()?, f[2].parse::<f64>().ok()?)))
                .flatten();
            let Some((pid, x, y)) = parsed.filter(|p| !p.0.is_empty()) else {
                if malformed == 0 {
                    problems.push(Problem::new(
                        &list,
                        format!("line {}: {raw:?} is not `pid,x,y`, skipped", line + 1),
                    ));
                }
                malformed += 1;
                continue;
            };
            if options.original_slide_filter && !original_slide_filter(pid) {
                filtered += 1;
                continue;
            }
            if !pngs.contains(&line) {
                if no_png == 0 {
                    problems.push(Problem::new(
                        folder.join(format!("{line}.png")),
                        format!("PNG of line {} missing, skipped", line + 1),
                    ));
                }
                no_png += 1;
                continue;
            }
            // NCRF writes integer centres; a fractional one (other tools) is rounded.
            let (x, y) = (x.round() as i64, y.round() as i64);
            let label = match labeller.as_mut() {
                None => folder_label.unwrap_or(0),
                Some(l) => match l.label(pid, x, y)? {
                    Some(v) => v,
                    None => {
                        if !unannotated.iter().any(|p: &String| p == pid) {
                            unannotated.push(pid.to_owned());
                        }
                        continue;
                    }
                },
            };
            items.push((
                PatchCoord {
                    line,
                    pid: pid.to_owned(),
                    x,
                    y,
                },
                label,
            ));
        }
        if malformed > 1 {
            problems.push(Problem::new(
                &list,
                format!("{malformed} malformed lines in all"),
            ));
        }
        if no_png > 1 {
            problems.push(Problem::new(
                folder,
                format!("{no_png} PNGs missing in all"),
            ));
        }
        if !unannotated.is_empty() {
            problems.push(Problem::new(
                folder,
                format!(
                    "no annotation for slide(s) {}: their patches skipped",
                    unannotated.join(", ")
                ),
            ));
        }
        if filtered > 0 {
            tracing::info!(
                "{}: {filtered} line(s) dropped by the original slide filter",
                list.display()
            );
        }
        if items.is_empty() {
            return Err(Error::format(&list, "no usable patch"));
        }
        for p in &problems {
            tracing::warn!("{p}");
        }
        Ok(Self {
            folder: folder.to_path_buf(),
            name,
            items,
            classes: CAMELYON_CLASSES.iter().map(|s| s.to_string()).collect(),
            problems,
        })
    }

    /// The tumour and normal folders of one split under a Camelyon16 root:
    /// `PATCHES_TUMOR_{TRAIN,VALID}` and `PATCHES_NORMAL_{TRAIN,VALID}` for `split` = `train`
    /// or `valid`. The original keeps them apart (its batches take as many of each); use
    /// [`crate::Concat`] for one dataset.
    pub fn open_split(
        root: impl AsRef<Path>,
        split: &str,
        options: &CamelyonOptions,
    ) -> Result<(Self, Self)> {
        let up = match split.to_ascii_lowercase().as_str() {
            "train" => "TRAIN",
            "valid" | "validation" | "val" => "VALID",
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown Camelyon16 split {split:?} (train or valid)"
                )));
            }
        };
        let root = root.as_ref();
        Ok((
            Self::open(root.join(format!("PATCHES_TUMOR_{up}")), options)?,
            Self::open(root.join(format!("PATCHES_NORMAL_{up}")), options)?,
        ))
    }

    /// The coordinates of sample `index`.
    pub fn coord(&self, index: usize) -> Result<&PatchCoord> {
        check_index(index, self.items.len())?;
        Ok(&self.items[index].0)
    }

    /// The PNG of sample `index`.
    pub fn path(&self, index: usize) -> Result<PathBuf> {
        Ok(self.folder.join(format!("{}.png", self.coord(index)?.line)))
    }

    /// The folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Number of samples per class (normal, tumour).
    pub fn class_counts(&self) -> [usize; 2] {
        let mut c = [0; 2];
        for &(_, l) in &self.items {
            c[l as usize] += 1;
        }
        c
    }
}

impl Dataset for CamelyonPatches {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let path = self.path(index)?;
        Ok(Sample {
            image: Image::open(&path)?,
            target: Target::Class(self.items[index].1),
            id: format!("{}/{}", self.name, self.items[index].0.line),
        })
    }

    fn target(&self, index: usize) -> Result<Target> {
        check_index(index, self.items.len())?;
        Ok(Target::Class(self.items[index].1))
    }

    fn id(&self, index: usize) -> Result<String> {
        Ok(format!("{}/{}", self.name, self.coord(index)?.line))
    }

    fn class_names(&self) -> &[String] {
        &self.classes
    }

    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}
