//! The benchmark datasets of histo, read in the layouts users download them in, as lazily
//! decoded samples; plus seeded splits and label fractions.
//!
//! - [`Dataset`]: `len`, `get(i) -> Sample { image, target, id }`, `target(i)` without
//!   decoding; `Send + Sync` and object-safe. [`Cached`] adds a bounded LRU of decoded samples,
//!   [`Subset`] and [`Concat`] combine datasets.
//! - [`ClassFolders`]: Kather NCT-CRC-HE-100K / CRC-VAL-HE-7K (`ADI` … `TUM`, labels 0–8) or
//!   any `root/<class>/*.png` folder, enumerated in sorted order (the original used file-system
//!   order, B33).
//! - [`BreastPathQ`]: the challenge release (patch images + `slide,rid,y` or
//!   `slide,rid,pathologist1,pathologist2` CSV); [`BreastPathQH5`] / [`BreastPathQH5Test`]: the
//!   original authors' `.h5` files, read with the pure-Rust `hdf5-reader` (no libhdf5), rater
//!   files paired by sorted name (B13).
//! - [`CamelyonPatches`]: `PATCHES_*` folders (`list.txt` + `{i}.png`), PNG index = line of the
//!   unfiltered list (fixes B20), labels from the folder name or, as the original, from the
//!   slide's annotation polygons (histo-wsi's JSON / ASAP XML reader); the original's slide
//!   filter as an option.
//! - [`StoreTriplets`] + [`RspSplit`]: the RSP tile store written by histo-wsi as triplet
//!   samples in the 6 orders of spec §2.1 (all six per triplet, or one per triplet per epoch),
//!   validation held out by slide (default), by triplet, or over permutations as the original
//!   (B6). [`TripletSource`] lets other triplet stores plug in.
//! - [`SplitPlan`]: a seeded train/validation split and a labelled subset drawn without
//!   replacement (or with it, as the original, B11), optionally stratified, saved as JSON in the
//!   run folder.
//! - [`info::inspect`]: the summary behind `histo dataset info`.
//!
//! Bad input gives an [`Error`] naming the file (and line) or, for items a user would rather
//! skip (an unknown folder, a row whose image is missing), a [`Problem`] listed by
//! [`Dataset::problems`] — never a panic. The label CSVs are parsed by a 60-line reader of our
//! own (they are tiny; a CSV crate would be one more dependency for no gain).
//!
//! ```
//! use histo_datasets::{ClassFolders, Dataset, SplitConfig, SplitPlan, SPLIT_FILE};
//! use histo_tensor::{Image, Target};
//!
//! let root = tempfile::tempdir()?;
//! for (class, n) in [("ADI", 6), ("TUM", 4)] {
//!     std::fs::create_dir_all(root.path().join(class))?;
//!     for k in 0..n {
//!         Image::filled(8, 8, [k, 0, 0]).save(root.path().join(format!("{class}/{k}.png")))?;
//!     }
//! }
//! let ds = ClassFolders::kather(root.path())?; // missing classes are reported, not fatal
//! assert_eq!(ds.len(), 10);
//! assert_eq!(ds.get(9)?.target, Target::Class(8)); // TUM
//!
//! let config = SplitConfig { label_fraction: 0.5, ..SplitConfig::default() };
//! let plan = SplitPlan::new(&ds, &config)?;
//! assert_eq!((plan.val.len(), plan.train.len(), plan.labelled.len()), (2, 8, 4));
//! plan.save(root.path().join(SPLIT_FILE))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod annotations;
mod breastpathq;
mod camelyon;
mod concat;
mod csv;
mod dataset;
mod error;
mod folders;
mod fsutil;
mod h5;
pub mod info;
mod rsp;
mod split;
mod tile_store;

pub use breastpathq::{BreastPathQ, RaterTarget, Scores, release_split};
pub use camelyon::{
    CAMELYON_CLASSES, CAMELYON_PATCH_FOLDERS, CamelyonLabels, CamelyonOptions, CamelyonPatches,
    PatchCoord, annotation_dir, original_slide_filter,
};
pub use concat::Concat;
pub use dataset::{CacheStats, Cached, Dataset, Problem, Sample, Subset, targets};
pub use error::{Error, Result};
pub use folders::{ClassFolders, KATHER_CLASSES};
pub use fsutil::{IMAGE_EXTENSIONS, image_dimensions, is_image_file};
pub use h5::{BreastPathQH5, BreastPathQH5Test, H5Patches};
pub use rsp::{
    ORDERINGS, Orderings, RspConfig, RspSplit, RspTriplets, RspValSplit, TripletSample,
    TripletSource,
};
pub use split::{SPLIT_FILE, Sampling, SplitConfig, SplitPlan, fingerprint};
pub use tile_store::StoreTriplets;
