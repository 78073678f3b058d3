//! Whole-slide images for histo: read pyramidal slides, find tissue, cut the multi-resolution
//! triplets of RSP pretraining, stream them to a tile store, write pyramids, read and write
//! Camelyon16 annotations.
//!
//! - [`Slide`] opens tiled pyramidal TIFF / BigTIFF (generic and Aperio SVS; JPEG with or
//!   without shared tables, YCbCr or RGB, LZW, Deflate, uncompressed) with a pure-Rust reader,
//!   or any OpenSlide format with the `openslide` cargo feature; `read_region` has OpenSlide's
//!   semantics; decoded tiles are kept in a bounded LRU cache; reads are thread-safe; missing
//!   resolutions are served as virtual levels (area averaging of the nearest finer level), so
//!   [`LevelSpec::Magnification`] 20×/10×/5× works on any scan.
//! - [`TissueDetector`] makes the original's tissue decisions (v1 Lab a*, v2 saturation, or
//!   Otsu) once per slide and answers each candidate tile in O(1).
//! - [`plan_slide`] / [`tile_rsp`] implement the RSP triplet sampler (spec §1.5–1.7, corner or
//!   concentric geometry) and write a [`TileStore`] (safetensors shards + `manifest.json`,
//!   read memory-mapped); each triplet is written into its shard file as soon as it is read
//!   ([`store::ShardWriter`]), so no shard is held in memory; [`grid_tiles`] lists the tissue
//!   tiles of a slide for heat-maps.
//! - [`PyramidWriter`] streams level-0 tiles into a tiled JPEG pyramid in O(width) memory.
//! - [`Annotations`] reads and writes ASAP XML and the original's JSON polygons.
//!
//! Why our own code: no Rust crate reads whole-slide TIFFs (the `tiff` crate parses the
//! directories but decodes neither JPEG tiles with shared tables in the right colour space nor
//! regions across tiles), none writes tiled pyramids, and the tissue test and sampler are this
//! method's. JPEG decoding is zune-jpeg's, TIFF structure the `tiff` crate's, shards
//! `safetensors`'.
//!
//! ```
//! use histo_tensor::Image;
//! use histo_wsi::{LevelSpec, PyramidOptions, PyramidWriter, RspConfig, Slide, TissueMethod, plan_slide};
//!
//! // A small pyramid: pink "tissue" on the left, white background on the right.
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("slide.tif");
//! let mut img = Image::filled(1024, 1024, [244, 244, 246]);
//! for y in 0..1024 {
//!     for x in 0..600 {
//!         img.put_pixel(x, y, [236, 150, 196]);
//!     }
//! }
//! PyramidWriter::write_image(&path, &img, PyramidOptions { tile_size: 64, ..Default::default() })?;
//!
//! let slide = Slide::open(&path)?;
//! assert_eq!(slide.level_count(), 5);
//! let region = slide.read_region(100, 100, 1, 32, 32)?; // level-0 coordinates, level 1
//! assert_eq!(region.width(), 32);
//!
//! let cfg = RspConfig { tile: 64, stride: 32, tissue: TissueMethod::v1(), ..Default::default() };
//! let plan = plan_slide(&slide, &cfg)?;
//! assert_eq!(plan.candidates, 25);
//! assert_eq!(plan.triplets.len(), 10); // the two fully pink columns of the grid, 5 rows
//! let lr2 = slide.resolve(LevelSpec::Index(2))?;
//! assert_eq!(lr2.downsample, 4.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod annotations;
mod cache;
mod codec;
pub mod color;
mod error;
pub mod grid;
#[cfg(feature = "openslide")]
mod openslide_backend;
mod pyramid;
mod resample;
pub mod rsp;
pub mod sampler;
mod slide;
pub mod store;
mod tiffslide;
pub mod tissue;

pub use annotations::{Annotations, Polygon};
pub use error::{Error, Result};
pub use grid::{GridConfig, GridPlan, GridTile, grid_tiles};
pub use pyramid::{PyramidOptions, PyramidWriter, TiffFormat, pyramid_levels};
pub use rsp::{Progress, RspRun, RunSummary, collect_slides, tile_rsp};
pub use sampler::{Acceptance, Geometry, RspConfig, SlidePlan, TripletCoords, plan_slide};
pub use slide::{
    BackendKind, LevelInfo, LevelSpec, MAX_REGION_PIXELS, ReadLevel, Slide, SlideOptions,
};
pub use store::{Manifest, SlideEntry, SlideStatus, TileStore, Triplet};
pub use tissue::{TissueDetector, TissueMethod, TissueStats};
