//! [`Slide`]: one whole-slide image, read through the pure-Rust TIFF backend or OpenSlide, with
//! native and virtual pyramid levels.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

use crate::resample;
use crate::{Error, Result};

/// Largest region (in pixels) one read may return (about 800 MB of RGB).
pub const MAX_REGION_PIXELS: u64 = 1 << 28;

/// Relative tolerance within which a requested downsample matches a native level (Aperio
/// levels have downsamples such as 4.000345 for a nominal 4).
pub const LEVEL_MATCH_TOLERANCE: f64 = 0.02;

/// Size and downsample (relative to level 0) of one pyramid level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelInfo {
    /// Width in pixels of this level.
    pub width: u64,
    /// Height in pixels of this level.
    pub height: u64,
    /// Level-0 pixels per pixel of this level.
    pub downsample: f64,
}

/// What a reader backend provides; [`Slide`] adds virtual levels and checks requests.
pub(crate) trait Backend: Send + Sync {
    /// `"rust"` or `"openslide"`.
    fn name(&self) -> &'static str;
    /// The file.
    fn path(&self) -> &Path;
    /// Vendor name in OpenSlide's terms (`aperio`, `generic-tiff`, `mirax`, ...).
    fn vendor(&self) -> &str;
    /// Native levels, finest first.
    fn levels(&self) -> &[LevelInfo];
    /// Slide properties (OpenSlide names: `openslide.mpp-x`, `aperio.AppMag`, `tiff.*`, ...).
    fn properties(&self) -> &BTreeMap<String, String>;
    /// Reads `w`×`h` pixels of native `level` with top-left at level pixel (`px`, `py`) into
    /// `out` (RGB); pixels outside the level are black.
    fn read_level(
        &self,
        level: usize,
        px: i64,
        py: i64,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()>;
    /// OpenSlide's `read_region`: top-left in level-0 pixels. The default snaps to the nearest
    /// pixel of the level (OpenSlide resamples sub-pixel offsets bilinearly; both agree whenever
    /// the coordinate is a multiple of the downsample).
    fn read_region0(
        &self,
        x0: i64,
        y0: i64,
        level: usize,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let ds = self.levels()[level].downsample;
        let px = (x0 as f64 / ds).round() as i64;
        let py = (y0 as f64 / ds).round() as i64;
        self.read_level(level, px, py, w, h, out)
    }
    /// Decoded-tile cache (hits, misses), where the backend has one.
    fn cache_stats(&self) -> Option<(u64, u64)> {
        None
    }
}

/// Which reader opens the slide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The pure-Rust tiled TIFF / SVS reader (no system library).
    #[default]
    Rust,
    /// OpenSlide (every vendor format; needs the `openslide` cargo feature).
    OpenSlide,
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rust" => Ok(Self::Rust),
            "openslide" => Ok(Self::OpenSlide),
            _ => Err(Error::Invalid(format!(
                "unknown slide backend `{s}` (expected `rust` or `openslide`)"
            ))),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Rust => "rust",
            Self::OpenSlide => "openslide",
        })
    }
}

/// Options for [`Slide::open_with`].
#[derive(Clone, Debug)]
pub struct SlideOptions {
    /// The reader.
    pub backend: BackendKind,
    /// Bound of the decoded-tile cache in bytes (pure-Rust backend).
    pub cache_bytes: usize,
}

impl Default for SlideOptions {
    fn default() -> Self {
        Self {
            backend: BackendKind::Rust,
            cache_bytes: 256 << 20,
        }
    }
}

/// How to choose a resolution: a native level, a downsample, a magnification or a pixel size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "by", content = "value")]
pub enum LevelSpec {
    /// A native pyramid level index (as the original code does).
    Index(usize),
    /// Level-0 pixels per output pixel (≥ 1).
    Downsample(f64),
    /// Objective magnification, e.g. 20 for 20×; needs `openslide.objective-power` or an mpp.
    Magnification(f64),
    /// Microns per pixel; needs the slide's mpp.
    Mpp(f64),
}

impl std::fmt::Display for LevelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Index(i) => write!(f, "level {i}"),
            Self::Downsample(d) => write!(f, "downsample {d}"),
            Self::Magnification(m) => write!(f, "{m}x"),
            Self::Mpp(m) => write!(f, "{m} µm/px"),
        }
    }
}

/// A resolved resolution to read at: a native level, or a virtual one computed by area
/// averaging from the nearest finer native level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadLevel {
    /// Level-0 pixels per pixel.
    pub downsample: f64,
    /// Width in pixels.
    pub width: u64,
    /// Height in pixels.
    pub height: u64,
    /// The native level the pixels come from.
    pub source: usize,
    /// Source-level pixels per pixel (1 for a native level).
    pub ratio: f64,
}

impl ReadLevel {
    /// `true` when this is a native level (no resampling).
    pub fn is_native(&self) -> bool {
        self.ratio == 1.0
    }
}

/// An open whole-slide image. Reads are thread-safe (`Slide: Send + Sync`).
pub struct Slide {
    inner: Box<dyn Backend>,
}

impl std::fmt::Debug for Slide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slide")
            .field("path", &self.path())
            .field("backend", &self.backend())
            .field("vendor", &self.vendor())
            .field("levels", &self.levels())
            .finish()
    }
}

impl Slide {
    /// Opens a slide with the pure-Rust reader and default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &SlideOptions::default())
    }

    /// Opens a slide with the given backend and cache size.
    pub fn open_with(path: impl AsRef<Path>, opts: &SlideOptions) -> Result<Self> {
        let path = path.as_ref();
        let inner: Box<dyn Backend> = match opts.backend {
            BackendKind::Rust => {
                Box::new(crate::tiffslide::TiffSlide::open(path, opts.cache_bytes)?)
            }
            BackendKind::OpenSlide => open_openslide(path)?,
        };
        if inner.levels().is_empty() {
            return Err(Error::format(path, "the slide has no pyramid level"));
        }
        Ok(Self { inner })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// The backend that reads it: `"rust"` or `"openslide"`.
    pub fn backend(&self) -> &'static str {
        self.inner.name()
    }

    /// The vendor (`aperio`, `generic-tiff`, ... as OpenSlide names them).
    pub fn vendor(&self) -> &str {
        self.inner.vendor()
    }

    /// Number of native levels.
    pub fn level_count(&self) -> usize {
        self.inner.levels().len()
    }

    /// Native levels, finest (level 0) first.
    pub fn levels(&self) -> &[LevelInfo] {
        self.inner.levels()
    }

    /// One native level, or an error naming the slide and the number of levels.
    pub fn level(&self, level: usize) -> Result<&LevelInfo> {
        self.levels().get(level).ok_or_else(|| {
            Error::request(
                self.path(),
                format!(
                    "no level {level}: the slide has {} level(s)",
                    self.level_count()
                ),
            )
        })
    }

    /// Level-0 width and height.
    pub fn dimensions(&self) -> (u64, u64) {
        let l = &self.levels()[0];
        (l.width, l.height)
    }

    /// All properties, with OpenSlide's names.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        self.inner.properties()
    }

    fn float_property(&self, key: &str) -> Option<f64> {
        self.properties()
            .get(key)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
    }

    /// Microns per pixel at level 0 (x, y), when the file records it.
    pub fn mpp(&self) -> (Option<f64>, Option<f64>) {
        (
            self.float_property("openslide.mpp-x"),
            self.float_property("openslide.mpp-y"),
        )
    }

    /// Objective magnification of level 0 (`openslide.objective-power`), when recorded.
    pub fn objective_power(&self) -> Option<f64> {
        self.float_property("openslide.objective-power")
    }

    /// Decoded-tile cache (hits, misses) of the pure-Rust backend.
    pub fn cache_stats(&self) -> Option<(u64, u64)> {
        self.inner.cache_stats()
    }

    fn check_size(&self, w: usize, h: usize) -> Result<()> {
        if w == 0 || h == 0 {
            return Err(Error::request(
                self.path(),
                format!("zero-size region ({w}x{h})"),
            ));
        }
        if (w as u64).saturating_mul(h as u64) > MAX_REGION_PIXELS {
            return Err(Error::request(
                self.path(),
                format!("region {w}x{h} is larger than the limit of {MAX_REGION_PIXELS} pixels"),
            ));
        }
        Ok(())
    }

    fn check_coord(&self, x: i64, y: i64) -> Result<()> {
        const LIM: i64 = 1 << 40;
        if !(-LIM..LIM).contains(&x) || !(-LIM..LIM).contains(&y) {
            return Err(Error::request(
                self.path(),
                format!("region origin ({x}, {y}) is out of range"),
            ));
        }
        Ok(())
    }

    /// OpenSlide's `read_region`: `width`×`height` pixels of native `level`, top-left at
    /// (`x`, `y`) in level-0 pixels. Areas outside the slide are black.
    pub fn read_region(
        &self,
        x: i64,
        y: i64,
        level: usize,
        width: usize,
        height: usize,
    ) -> Result<Image> {
        self.level(level)?;
        self.check_size(width, height)?;
        self.check_coord(x, y)?;
        let mut out = vec![0u8; width * height * 3];
        self.inner
            .read_region0(x, y, level, width, height, &mut out)?;
        Ok(Image::from_raw(width, height, out)?)
    }

    /// Resolves a level specification to a native or virtual [`ReadLevel`].
    pub fn resolve(&self, spec: LevelSpec) -> Result<ReadLevel> {
        let ds = match spec {
            LevelSpec::Index(i) => {
                let l = self.level(i)?;
                return Ok(ReadLevel {
                    downsample: l.downsample,
                    width: l.width,
                    height: l.height,
                    source: i,
                    ratio: 1.0,
                });
            }
            LevelSpec::Downsample(d) => d,
            LevelSpec::Magnification(m) => {
                let base = self
                    .objective_power()
                    .or_else(|| self.mpp().0.map(|mpp| 10.0 / mpp));
                let Some(base) = base else {
                    return Err(Error::request(
                        self.path(),
                        format!(
                            "cannot read at {m}x: the slide records neither its objective power nor \
                             its microns per pixel (choose levels by index instead)"
                        ),
                    ));
                };
                if !(m.is_finite() && m > 0.0) {
                    return Err(Error::Invalid(format!(
                        "magnification {m} must be positive"
                    )));
                }
                base / m
            }
            LevelSpec::Mpp(target) => {
                let Some(mpp) = self.mpp().0 else {
                    return Err(Error::request(
                        self.path(),
                        format!(
                            "cannot read at {target} µm/px: the slide does not record its microns per pixel"
                        ),
                    ));
                };
                target / mpp
            }
        };
        if !ds.is_finite() || ds < 1.0 - LEVEL_MATCH_TOLERANCE {
            return Err(Error::request(
                self.path(),
                format!(
                    "{spec} asks for downsample {ds:.4}, finer than level 0 (this reader does not upsample)"
                ),
            ));
        }
        let levels = self.levels();
        if let Some((i, l)) = levels
            .iter()
            .enumerate()
            .find(|(_, l)| ((l.downsample - ds) / ds).abs() <= LEVEL_MATCH_TOLERANCE)
        {
            return Ok(ReadLevel {
                downsample: l.downsample,
                width: l.width,
                height: l.height,
                source: i,
                ratio: 1.0,
            });
        }
        // The nearest finer native level.
        let (src, l) = levels
            .iter()
            .enumerate()
            .rfind(|(_, l)| l.downsample <= ds)
            .unwrap_or((0, &levels[0]));
        let ratio = ds / l.downsample;
        Ok(ReadLevel {
            downsample: ds,
            width: (l.width as f64 / ratio).floor() as u64,
            height: (l.height as f64 / ratio).floor() as u64,
            source: src,
            ratio,
        })
    }

    /// Reads `w`×`h` pixels of `level` with top-left at (`px`, `py`) in that level's pixels
    /// into `out` (RGB, `w*h*3` bytes). Outside the slide is black.
    pub fn read_at_into(
        &self,
        level: &ReadLevel,
        px: i64,
        py: i64,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()> {
        self.check_size(w, h)?;
        self.check_coord(px, py)?;
        if out.len() != w * h * 3 {
            return Err(Error::Invalid(format!(
                "output buffer of {} bytes for a {w}x{h} region",
                out.len()
            )));
        }
        if level.is_native() {
            return self.inner.read_level(level.source, px, py, w, h, out);
        }
        let r = level.ratio;
        let (sx0, sx1) = resample::source_span(px, w, r);
        let (sy0, sy1) = resample::source_span(py, h, r);
        let (sw, sh) = ((sx1 - sx0) as usize, (sy1 - sy0) as usize);
        self.check_size(sw, sh)?;
        let mut src = vec![0u8; sw * sh * 3];
        self.inner
            .read_level(level.source, sx0, sy0, sw, sh, &mut src)?;
        resample::area_downsample(&src, sw, sx0, sy0, r, px, py, w, h, out);
        Ok(())
    }

    /// Reads `w`×`h` pixels of `level` with top-left at (`px`, `py`) in that level's pixels.
    pub fn read_at(
        &self,
        level: &ReadLevel,
        px: i64,
        py: i64,
        w: usize,
        h: usize,
    ) -> Result<Image> {
        let mut out = vec![0u8; w * h * 3];
        self.read_at_into(level, px, py, w, h, &mut out)?;
        Ok(Image::from_raw(w, h, out)?)
    }

    /// Calls `f(y0, band)` for horizontal bands of at most `rows` rows covering the whole of
    /// `level`, top to bottom (bounded memory for any level size).
    pub fn for_each_band(
        &self,
        level: &ReadLevel,
        rows: usize,
        mut f: impl FnMut(u64, &Image) -> Result<()>,
    ) -> Result<()> {
        let (w, h) = (level.width as usize, level.height as usize);
        if w == 0 || h == 0 {
            return Err(Error::request(self.path(), "the level is empty"));
        }
        let rows = rows.clamp(1, h);
        let mut y = 0;
        while y < h {
            let n = rows.min(h - y);
            let band = self.read_at(level, 0, y as i64, w, n)?;
            f(y as u64, &band)?;
            y += n;
        }
        Ok(())
    }

    /// The whole slide scaled so that its longer side is at most `max_size` pixels (area
    /// averaging from the nearest finer level, read in bands).
    pub fn thumbnail(&self, max_size: usize) -> Result<Image> {
        if max_size == 0 {
            return Err(Error::Invalid("thumbnail size must be positive".into()));
        }
        let (w0, h0) = self.dimensions();
        let ds = (w0.max(h0) as f64 / max_size as f64).max(1.0);
        let mut lvl = self.resolve(LevelSpec::Downsample(ds))?;
        // A native level matched within tolerance may be a few pixels larger than asked.
        if lvl.width.max(lvl.height) as usize > max_size && lvl.is_native() && ds > 1.0 {
            lvl = self.resolve(LevelSpec::Downsample(
                ds * (1.0 + 2.0 * LEVEL_MATCH_TOLERANCE),
            ))?;
        }
        let (w, h) = (lvl.width.max(1) as usize, lvl.height.max(1) as usize);
        let lvl = ReadLevel {
            width: w as u64,
            height: h as u64,
            ..lvl
        };
        let mut out = Image::new(w, h);
        let row_bytes = (w as f64 * lvl.ratio * lvl.ratio * 3.0).max(1.0);
        let rows = ((64 << 20) as f64 / row_bytes).max(1.0) as usize;
        self.for_each_band(&lvl, rows, |y0, band| {
            let s = y0 as usize * w * 3;
            out.as_mut_slice()[s..s + band.as_slice().len()].copy_from_slice(band.as_slice());
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(feature = "openslide")]
fn open_openslide(path: &Path) -> Result<Box<dyn Backend>> {
    Ok(Box::new(crate::openslide_backend::OpenSlideBackend::open(
        path,
    )?))
}

#[cfg(not(feature = "openslide"))]
fn open_openslide(path: &Path) -> Result<Box<dyn Backend>> {
    Err(Error::unsupported(
        path,
        "the OpenSlide backend is not compiled in (build with `--features openslide`)",
    ))
}
