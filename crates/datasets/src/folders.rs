//! Class-folder datasets: Kather (NCT-CRC-HE-100K / CRC-VAL-HE-7K) and any `root/<class>/*.png`.

use std::path::{Path, PathBuf};

use histo_tensor::{Image, Target};

use crate::dataset::{Dataset, Problem, Sample, check_index};
use crate::fsutil::{is_image_file, list_dir};
use crate::{Error, Result};

/// Kather's nine tissue classes in the original's label order (ADI = 0 … TUM = 8, spec §5.2).
pub const KATHER_CLASSES: [&str; 9] = [
    "ADI", "BACK", "DEB", "LYM", "MUC", "MUS", "NORM", "STR", "TUM",
];

/// Patches stored as `root/<class>/<file>.{tif,png,jpg}`, labelled by folder.
///
/// Files are enumerated in sorted order (class order, then file name), so indices, splits and
/// labelled subsets are the same on every file system (the original used `glob` order, B33).
/// Folders that are not a known class, files that are not images and nested folders are
/// skipped and reported in [`Dataset::problems`]; a missing or empty class is reported too.
#[derive(Debug)]
pub struct ClassFolders {
    root: PathBuf,
    classes: Vec<String>,
    /// (id = `class/file name` (lossy UTF-8), file path relative to root, class id)
    items: Vec<(String, PathBuf, u32)>,
    problems: Vec<Problem>,
}

impl ClassFolders {
    /// The Kather layout: class folders `ADI BACK DEB LYM MUC MUS NORM STR TUM` (labels 0–8).
    ///
    /// `root` is the folder that holds the class folders (e.g. `NCT-CRC-HE-100K/` or
    /// `kather/train/`).
    pub fn kather(root: impl AsRef<Path>) -> Result<Self> {
        Self::open(root, &KATHER_CLASSES)
    }

    /// A fixed list of class folders; class id = position in `classes`.
    pub fn open(root: impl AsRef<Path>, classes: &[&str]) -> Result<Self> {
        let classes: Vec<String> = classes.iter().map(|s| s.to_string()).collect();
        Self::scan(root.as_ref(), Some(classes))
    }

    /// Every sub-folder of `root` is a class; class ids follow the sorted folder names.
    pub fn discover(root: impl AsRef<Path>) -> Result<Self> {
        Self::scan(root.as_ref(), None)
    }

    fn scan(root: &Path, classes: Option<Vec<String>>) -> Result<Self> {
        let entries = list_dir(root)?;
        let mut problems = Vec::new();
        let dirs: Vec<&str> = entries
            .iter()
            .filter(|e| e.is_dir)
            .map(|e| e.name.as_str())
            .collect();
        let classes = match classes {
            Some(c) => c,
            None => dirs.iter().map(|s| s.to_string()).collect(),
        };
        if classes.is_empty() {
            return Err(Error::format(root, "no class folders found"));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &classes {
            if !seen.insert(c.as_str()) {
                return Err(Error::Invalid(format!("class name {c:?} is listed twice")));
            }
        }
        if !dirs.iter().any(|d| classes.iter().any(|c| c == d)) {
            let hint = if dirs.contains(&"train") || dirs.contains(&"test") {
                " (it holds train/ or test/: point at one of those)"
            } else {
                ""
            };
            return Err(Error::format(
                root,
                format!(
                    "none of the class folders {} is here{hint}; found folders: [{}]",
                    classes.join(" "),
                    dirs.join(", ")
                ),
            ));
        }
        for e in &entries {
            if e.is_dir && !classes.contains(&e.name) {
                problems.push(Problem::new(&e.path, "unknown class folder, skipped"));
            } else if !e.is_dir {
                problems.push(Problem::new(
                    &e.path,
                    "file outside the class folders, skipped",
                ));
            }
        }
        let mut items = Vec::new();
        for (label, class) in classes.iter().enumerate() {
            let dir = root.join(class);
            if !dir.is_dir() {
                problems.push(Problem::new(
                    &dir,
                    "class folder missing: class has no sample",
                ));
                continue;
            }
            let before = items.len();
            let mut skipped = Vec::new();
            for e in list_dir(&dir)? {
                if e.is_dir {
                    problems.push(Problem::new(&e.path, "nested folder, skipped"));
                } else if is_image_file(&e.path) {
                    let rel = match e.path.file_name() {
                        Some(f) => Path::new(class).join(f),
                        None => Path::new(class).join(&e.name),
                    };
                    items.push((format!("{class}/{}", e.name), rel, label as u32));
                } else {
                    skipped.push(e.name);
                }
            }
            if !skipped.is_empty() {
                problems.push(Problem::new(
                    &dir,
                    format!(
                        "{} file(s) that are not .tif/.png/.jpg skipped (e.g. {})",
                        skipped.len(),
                        skipped[0]
                    ),
                ));
            }
            if items.len() == before {
                problems.push(Problem::new(&dir, "empty class folder"));
            }
        }
        if items.is_empty() {
            return Err(Error::format(root, "the class folders hold no image"));
        }
        for p in &problems {
            tracing::warn!("{p}");
        }
        Ok(Self {
            root: root.to_path_buf(),
            classes,
            items,
            problems,
        })
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of sample `index`.
    pub fn path(&self, index: usize) -> Result<PathBuf> {
        check_index(index, self.items.len())?;
        Ok(self.root.join(&self.items[index].1))
    }

    /// Number of samples per class, in class order.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &(_, _, c) in &self.items {
            counts[c as usize] += 1;
        }
        counts
    }
}

impl Dataset for ClassFolders {
    fn len(&self) -> usize {
        self.items.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let path = self.path(index)?;
        let (id, _, class) = &self.items[index];
        Ok(Sample {
            image: Image::open(&path)?,
            target: Target::Class(*class),
            id: id.clone(),
        })
    }

    fn target(&self, index: usize) -> Result<Target> {
        check_index(index, self.items.len())?;
        Ok(Target::Class(self.items[index].2))
    }

    fn id(&self, index: usize) -> Result<String> {
        check_index(index, self.items.len())?;
        Ok(self.items[index].0.clone())
    }

    fn class_names(&self) -> &[String] {
        &self.classes
    }

    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}
