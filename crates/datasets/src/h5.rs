//! The original authors' preprocessed BreastPathQ `.h5` files (spec §5.4), read with the
//! pure-Rust `hdf5-reader` (no libhdf5 needed; contiguous and gzip-chunked layouts).

use std::path::{Path, PathBuf};

use hdf5_reader::{Datatype, Hdf5File, SliceInfo, SliceInfoElem};
use histo_tensor::{Image, Target};

use crate::breastpathq::RaterTarget;
use crate::dataset::{Dataset, Problem, Sample, check_index};
use crate::fsutil::{has_extension, list_dir};
use crate::{Error, Result};

/// One `.h5` file: dataset `x` float32/float64 `(N, 3, H, W)` in [0, 1] and `y` float `(N,)`
/// (or `(N, 1)`) cellularity in [0, 1]. Images are read one at a time (a hyperslab of `x`).
pub struct H5Patches {
    path: PathBuf,
    x: hdf5_reader::Dataset,
    float64: bool,
    n: usize,
    height: usize,
    width: usize,
    y: Vec<f32>,
}

impl std::fmt::Debug for H5Patches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H5Patches")
            .field("path", &self.path)
            .field("n", &self.n)
            .field("height", &self.height)
            .field("width", &self.width)
            .field("float64", &self.float64)
            .finish()
    }
}

fn h5err(path: &Path, e: hdf5_reader::error::Error) -> Error {
    Error::format(path, format!("HDF5: {e}"))
}

impl H5Patches {
    /// Opens `path` and checks the keys, shapes and element types; reads `y`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::missing(path, ".h5 file"));
        }
        let file = Hdf5File::open(path).map_err(|e| h5err(path, e))?;
        let root = file.root_group().map_err(|e| h5err(path, e))?;
        let (_, names) = root.member_names().map_err(|e| h5err(path, e))?;
        for key in ["x", "y"] {
            if !names.iter().any(|n| n == key) {
                return Err(Error::format(
                    path,
                    format!(
                        "no dataset `{key}` (expected `x` (N,3,H,W) and `y` (N,); found [{}])",
                        names.join(", ")
                    ),
                ));
            }
        }
        let x = file.dataset("x").map_err(|e| h5err(path, e))?;
        let y = file.dataset("y").map_err(|e| h5err(path, e))?;
        let shape: Vec<usize> = x.shape().iter().map(|&d| d as usize).collect();
        if shape.len() != 4 || shape[1] != 3 {
            return Err(Error::format(
                path,
                format!("`x` has shape {shape:?}, expected (N, 3, H, W)"),
            ));
        }
        let float64 = match x.dtype() {
            Datatype::FloatingPoint { size: 4, .. } => false,
            Datatype::FloatingPoint { size: 8, .. } => true,
            other => {
                return Err(Error::format(
                    path,
                    format!("`x` has element type {other:?}, expected float32 or float64"),
                ));
            }
        };
        let yshape: Vec<usize> = y.shape().iter().map(|&d| d as usize).collect();
        if !(yshape.len() == 1 || (yshape.len() == 2 && yshape[1] == 1)) || yshape[0] != shape[0] {
            return Err(Error::format(
                path,
                format!(
                    "`y` has shape {yshape:?}, expected ({},) to match `x` {shape:?}",
                    shape[0]
                ),
            ));
        }
        let y: Vec<f32> = match y.dtype() {
            Datatype::FloatingPoint { size: 4, .. } => y
                .read_array::<f32>()
                .map_err(|e| h5err(path, e))?
                .into_iter()
                .collect(),
            Datatype::FloatingPoint { size: 8, .. } => y
                .read_array::<f64>()
                .map_err(|e| h5err(path, e))?
                .into_iter()
                .map(|v| v as f32)
                .collect(),
            other => {
                return Err(Error::format(
                    path,
                    format!("`y` has element type {other:?}, expected float32 or float64"),
                ));
            }
        };
        if let Some((i, v)) = y
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || !(0.0..=1.0).contains(*v))
        {
            return Err(Error::format(
                path,
                format!("`y[{i}]` = {v} is not a score in [0, 1]"),
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            x,
            float64,
            n: shape[0],
            height: shape[2],
            width: shape[3],
            y,
        })
    }

    /// Number of patches.
    pub fn len(&self) -> usize {
        self.n
    }

    /// `true` when the file holds no patch.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `(width, height)` of the patches.
    pub fn image_size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// The scores `y`.
    pub fn scores(&self) -> &[f32] {
        &self.y
    }

    /// Patch `index` as u8 RGB: `x · 255` truncated toward zero, as the original's
    /// `(x * 255).astype(np.uint8)` (values outside [0, 1] are clamped instead of wrapping).
    pub fn image(&self, index: usize) -> Result<Image> {
        check_index(index, self.n)?;
        let all = SliceInfoElem::Slice {
            start: 0,
            end: u64::MAX,
            step: 1,
        };
        let sel = SliceInfo {
            selections: vec![
                SliceInfoElem::Index(index as u64),
                all.clone(),
                all.clone(),
                all,
            ],
        };
        let plane = self.height * self.width;
        let to_u8 = |v: f64| (v * 255.0).clamp(0.0, 255.0) as u8;
        let chw: Vec<u8> = if self.float64 {
            let a = self
                .x
                .read_slice::<f64>(&sel)
                .map_err(|e| h5err(&self.path, e))?;
            a.iter().map(|&v| to_u8(v)).collect()
        } else {
            let a = self
                .x
                .read_slice::<f32>(&sel)
                .map_err(|e| h5err(&self.path, e))?;
            // Multiply in f32, as NumPy does for a float32 array times 255.
            a.iter()
                .map(|&v| (v * 255.0).clamp(0.0, 255.0) as u8)
                .collect()
        };
        if chw.len() != 3 * plane {
            return Err(Error::format(
                &self.path,
                format!(
                    "`x[{index}]` returned {} values, expected {}",
                    chw.len(),
                    3 * plane
                ),
            ));
        }
        let mut hwc = vec![0u8; 3 * plane];
        for c in 0..3 {
            for (p, &v) in chw[c * plane..(c + 1) * plane].iter().enumerate() {
                hwc[p * 3 + c] = v;
            }
        }
        Ok(Image::from_raw(self.width, self.height, hwc)?)
    }
}

/// The `.h5` files of a folder, sorted by name (the original's `sorted(glob(dir + '*.h5'))`).
pub fn h5_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let files: Vec<PathBuf> = list_dir(dir)?
        .into_iter()
        .filter(|e| !e.is_dir && has_extension(&e.path, &["h5", "hdf5"]))
        .map(|e| e.path)
        .collect();
    if files.is_empty() {
        return Err(Error::missing(dir, "any .h5 file in the folder"));
    }
    Ok(files)
}

/// BreastPathQ patches from one or more `.h5` files, concatenated in file order; targets are
/// the `y` scores.
#[derive(Debug)]
pub struct BreastPathQH5 {
    files: Vec<H5Patches>,
    /// `starts[k]` = global index of file k's first patch; one extra entry = total.
    starts: Vec<usize>,
}

impl BreastPathQH5 {
    /// The files in the given order.
    pub fn open_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self> {
        let files = paths
            .iter()
            .map(H5Patches::open)
            .collect::<Result<Vec<_>>>()?;
        let mut starts = vec![0];
        for f in &files {
            starts.push(starts.last().copied().unwrap_or(0) + f.len());
        }
        Ok(Self { files, starts })
    }

    /// Every `.h5` file of `dir`, sorted by name.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_files(&h5_files(dir.as_ref())?)
    }

    /// The files, in order.
    pub fn files(&self) -> &[H5Patches] {
        &self.files
    }

    /// `(file, row)` of global index `index`.
    pub fn locate(&self, index: usize) -> Result<(usize, usize)> {
        check_index(index, self.len())?;
        let k = self.starts.partition_point(|&s| s <= index) - 1;
        Ok((k, index - self.starts[k]))
    }

    fn id_of(&self, k: usize, row: usize) -> String {
        let name = self.files[k]
            .path()
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name}#{row}")
    }
}

impl Dataset for BreastPathQH5 {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let (k, row) = self.locate(index)?;
        Ok(Sample {
            image: self.files[k].image(row)?,
            target: Target::Score(self.files[k].y[row]),
            id: self.id_of(k, row),
        })
    }

    fn target(&self, index: usize) -> Result<Target> {
        let (k, row) = self.locate(index)?;
        Ok(Target::Score(self.files[k].y[row]))
    }

    fn id(&self, index: usize) -> Result<String> {
        let (k, row) = self.locate(index)?;
        Ok(self.id_of(k, row))
    }
}

/// The original's BreastPathQ test set: the same patches in two folders of `.h5` files, one
/// per rater (`TestSetSherine/` = pathologist A, `TestSetSharon/` = pathologist B).
///
/// Files are sorted by name in each folder and paired in that order (the original zipped them
/// in raw glob order and sorted afterwards, which mismatches pairs: B13). Pairs must have the
/// same patch count and size; pairs whose names differ are reported in
/// [`Dataset::problems`]. Images come from rater A's files, as in the original.
#[derive(Debug)]
pub struct BreastPathQH5Test {
    a: BreastPathQH5,
    b: BreastPathQH5,
    rater_target: RaterTarget,
    problems: Vec<Problem>,
}

impl BreastPathQH5Test {
    /// Pairs the `.h5` files of `dir_a` (rater A) and `dir_b` (rater B).
    pub fn open(dir_a: impl AsRef<Path>, dir_b: impl AsRef<Path>) -> Result<Self> {
        let (dir_a, dir_b) = (dir_a.as_ref(), dir_b.as_ref());
        let (fa, fb) = (h5_files(dir_a)?, h5_files(dir_b)?);
        if fa.len() != fb.len() {
            return Err(Error::format(
                dir_b,
                format!(
                    "{} .h5 file(s) here but {} in {}: the raters' files cannot be paired",
                    fb.len(),
                    fa.len(),
                    dir_a.display()
                ),
            ));
        }
        let (a, b) = (
            BreastPathQH5::open_files(&fa)?,
            BreastPathQH5::open_files(&fb)?,
        );
        let mut problems = Vec::new();
        for (x, y) in a.files.iter().zip(&b.files) {
            if x.len() != y.len() || x.image_size() != y.image_size() {
                return Err(Error::format(
                    y.path(),
                    format!(
                        "{} patches of {:?} but its pair {} has {} of {:?}",
                        y.len(),
                        y.image_size(),
                        x.path().display(),
                        x.len(),
                        x.image_size()
                    ),
                ));
            }
            if x.path().file_name() != y.path().file_name() {
                problems.push(Problem::new(
                    y.path(),
                    format!(
                        "paired with {} by sorted position, but the names differ",
                        x.path().display()
                    ),
                ));
            }
        }
        for p in &problems {
            tracing::warn!("{p}");
        }
        Ok(Self {
            a,
            b,
            rater_target: RaterTarget::default(),
            problems,
        })
    }

    /// The original's folders under `test_root`: `TestSetSherine/` (A) and `TestSetSharon/` (B).
    pub fn open_release(test_root: impl AsRef<Path>) -> Result<Self> {
        let r = test_root.as_ref();
        Self::open(r.join("TestSetSherine"), r.join("TestSetSharon"))
    }

    /// Which rater's score is the sample target (default: their mean).
    pub fn with_rater_target(mut self, rater_target: RaterTarget) -> Self {
        self.rater_target = rater_target;
        self
    }

    /// `(rater A, rater B)` scores of sample `index`.
    pub fn ratings(&self, index: usize) -> Result<(f32, f32)> {
        let (k, row) = self.a.locate(index)?;
        Ok((self.a.files[k].y[row], self.b.files[k].y[row]))
    }

    fn score(&self, index: usize) -> Result<f32> {
        let (a, b) = self.ratings(index)?;
        Ok(match self.rater_target {
            RaterTarget::Mean => 0.5 * (a + b),
            RaterTarget::First => a,
            RaterTarget::Second => b,
        })
    }
}

impl Dataset for BreastPathQH5Test {
    fn len(&self) -> usize {
        self.a.len()
    }

    fn get(&self, index: usize) -> Result<Sample> {
        let (k, row) = self.a.locate(index)?;
        Ok(Sample {
            image: self.a.files[k].image(row)?,
            target: Target::Score(self.score(index)?),
            id: self.a.id_of(k, row),
        })
    }

    fn target(&self, index: usize) -> Result<Target> {
        Ok(Target::Score(self.score(index)?))
    }

    fn id(&self, index: usize) -> Result<String> {
        self.a.id(index)
    }

    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}
