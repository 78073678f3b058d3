//! A streaming pyramidal TIFF writer: tiled JPEG (YCbCr, 4:4:4, shared `JPEGTables`), level by
//! level with 2× box downsampling, classic TIFF or BigTIFF, optional Aperio-style description.
//!
//! The caller supplies level-0 tiles in row-major order; the writer keeps one strip (one row of
//! tiles) per level, so memory is O(image width) whatever the height. JPEG tiles of a strip are
//! encoded in parallel (rayon) and written in order, so the output is byte-identical for
//! identical input. Tile data is spooled to a temporary file beside the output; at
//! [`PyramidWriter::finish`] the TIFF structure is written with the `tiff` crate's
//! `DirectoryEncoder` (which has no tile writer of its own) and the file is renamed into place,
//! so a crash never leaves a half-written pyramid under the final name.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use histo_tensor::Image;
use rayon::prelude::*;
use tiff::encoder::{DirectoryEncoder, Rational, TiffEncoder, TiffKind};
use tiff::tags::{Tag, Type};

use crate::{Error, Result};

/// Classic TIFF (32-bit offsets, < 4 GiB), BigTIFF, or whichever the data needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TiffFormat {
    /// Classic TIFF; fails at `finish` if the file would exceed 4 GiB.
    Classic,
    /// BigTIFF (64-bit offsets).
    Big,
    /// Classic when it fits, BigTIFF otherwise (decided at `finish`).
    #[default]
    Auto,
}

/// Options of the pyramid writer.
#[derive(Clone, Debug)]
pub struct PyramidOptions {
    /// Tile width and height in pixels (a multiple of 16; default 256).
    pub tile_size: u32,
    /// JPEG quality 1–100 (default 90).
    pub quality: u8,
    /// At most this many levels (default: no limit).
    pub max_levels: Option<usize>,
    /// Stop adding levels once a level's longer side is at most this (default: the tile size,
    /// i.e. down to a level that fits in one tile).
    pub min_size: Option<u64>,
    /// Classic TIFF, BigTIFF or automatic.
    pub format: TiffFormat,
    /// Microns per pixel at level 0 (written as resolution tags and, with `aperio`, as `MPP`).
    pub mpp: Option<f64>,
    /// Objective magnification (`AppMag` in the Aperio description).
    pub app_mag: Option<f64>,
    /// Write an Aperio-style `ImageDescription` on level 0 (OpenSlide then opens the file with
    /// its `aperio` driver and reports `openslide.mpp-x` and `openslide.objective-power`).
    pub aperio: bool,
    /// A free-text title appended to the description.
    pub title: Option<String>,
}

impl Default for PyramidOptions {
    fn default() -> Self {
        Self {
            tile_size: 256,
            quality: 90,
            max_levels: None,
            min_size: None,
            format: TiffFormat::Auto,
            mpp: None,
            app_mag: None,
            aperio: false,
            title: None,
        }
    }
}

/// The sizes of the levels a pyramid of `width`×`height` gets with `opts`.
pub fn pyramid_levels(width: u64, height: u64, opts: &PyramidOptions) -> Vec<(u64, u64)> {
    let min = opts.min_size.unwrap_or(u64::from(opts.tile_size)).max(1);
    let max_levels = opts.max_levels.unwrap_or(usize::MAX).max(1);
    let mut v = vec![(width, height)];
    while v.len() < max_levels {
        let (w, h) = *v.last().unwrap_or(&(width, height));
        if w.max(h) <= min || w < 2 || h < 2 {
            break;
        }
        v.push((w / 2, h / 2));
    }
    v
}

/// One level being built: the current strip (a row of tiles) and where the tiles went.
struct Level {
    width: u64,
    height: u64,
    across: u64,
    down: u64,
    /// `tile` rows × `across * tile` pixels, RGB.
    strip: Vec<u8>,
    strip_index: u64,
    rows_filled: usize,
    /// (spool offset, length) of every tile, row-major.
    tiles: Vec<(u64, u64)>,
}

/// Writes a tiled JPEG pyramid from level-0 tiles supplied in row-major order.
///
/// ```
/// use histo_tensor::Image;
/// use histo_wsi::{PyramidOptions, PyramidWriter, Slide};
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("tiny.tif");
/// let opts = PyramidOptions { tile_size: 64, mpp: Some(0.5), ..Default::default() };
/// let mut w = PyramidWriter::create(&path, 100, 70, opts)?;
/// for _row in 0..2 {
///     for _col in 0..2 {
///         w.push_tile(&Image::filled(64, 64, [200, 100, 150]))?;
///     }
/// }
/// w.finish()?;
/// let slide = Slide::open(&path)?;
/// assert_eq!(slide.level_count(), 2);
/// assert_eq!(slide.dimensions(), (100, 70));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PyramidWriter {
    path: PathBuf,
    spool_path: PathBuf,
    spool: BufWriter<File>,
    spool_len: u64,
    opts: PyramidOptions,
    levels: Vec<Level>,
    next_tile: u64,
    tables: Option<Vec<u8>>,
    finished: bool,
}

impl PyramidWriter {
    /// Starts a pyramid of `width`×`height` level-0 pixels at `path`.
    pub fn create(
        path: impl AsRef<Path>,
        width: u64,
        height: u64,
        opts: PyramidOptions,
    ) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let t = opts.tile_size;
        if t < 16 || !t.is_multiple_of(16) || t > 4096 {
            return Err(Error::Invalid(format!(
                "tile size {t} must be a multiple of 16 between 16 and 4096"
            )));
        }
        if !(1..=100).contains(&opts.quality) {
            return Err(Error::Invalid(format!(
                "JPEG quality {} must be 1..=100",
                opts.quality
            )));
        }
        if width == 0 || height == 0 || width > (1 << 31) || height > (1 << 31) {
            return Err(Error::Invalid(format!("bad pyramid size {width}x{height}")));
        }
        let t64 = u64::from(t);
        let levels = pyramid_levels(width, height, &opts)
            .into_iter()
            .map(|(w, h)| {
                let across = w.div_ceil(t64);
                Level {
                    width: w,
                    height: h,
                    across,
                    down: h.div_ceil(t64),
                    strip: vec![0; (t64 * across * t64 * 3) as usize],
                    strip_index: 0,
                    rows_filled: 0,
                    tiles: Vec::new(),
                }
            })
            .collect();
        let spool_path = tmp_name(&path, "tiles");
        let spool = File::create(&spool_path).map_err(|e| Error::io(&spool_path, e))?;
        Ok(Self {
            path,
            spool_path,
            spool: BufWriter::with_capacity(1 << 20, spool),
            spool_len: 0,
            opts,
            levels,
            next_tile: 0,
            tables: None,
            finished: false,
        })
    }

    /// Sizes of the levels this pyramid will have.
    pub fn level_sizes(&self) -> Vec<(u64, u64)> {
        self.levels.iter().map(|l| (l.width, l.height)).collect()
    }

    /// Number of level-0 tiles (across, down) the caller must supply.
    pub fn tile_grid(&self) -> (u64, u64) {
        (self.levels[0].across, self.levels[0].down)
    }

    /// Supplies the next level-0 tile (row-major). A tile is `tile_size`² pixels, or the part
    /// of it inside the image at the right and bottom edges.
    pub fn push_tile(&mut self, tile: &Image) -> Result<()> {
        let t = self.opts.tile_size as usize;
        let (across, down) = self.tile_grid();
        if self.next_tile >= across * down {
            return Err(Error::Invalid(format!(
                "{}: all {} tiles were already supplied",
                self.path.display(),
                across * down
            )));
        }
        let (tx, ty) = (self.next_tile % across, self.next_tile / across);
        let l0 = &self.levels[0];
        let vw = (l0.width - tx * t as u64).min(t as u64) as usize;
        let vh = (l0.height - ty * t as u64).min(t as u64) as usize;
        let ok = (tile.width() == t && tile.height() == t)
            || (tile.width() == vw && tile.height() == vh);
        if !ok {
            return Err(Error::Invalid(format!(
                "tile ({tx}, {ty}) is {}x{}; expected {t}x{t} (or {vw}x{vh} at the edge)",
                tile.width(),
                tile.height()
            )));
        }
        let sw = across as usize * t;
        let strip = &mut self.levels[0].strip;
        let src = tile.as_slice();
        for y in 0..vh {
            let d = (y * sw + tx as usize * t) * 3;
            strip[d..d + vw * 3]
                .copy_from_slice(&src[y * tile.width() * 3..(y * tile.width() + vw) * 3]);
        }
        self.next_tile += 1;
        if tx + 1 == across {
            self.levels[0].rows_filled = vh;
            self.flush_strip(0)?;
        }
        Ok(())
    }

    /// Writes a whole (small) image as a pyramid.
    pub fn write_image(path: impl AsRef<Path>, img: &Image, opts: PyramidOptions) -> Result<()> {
        let t = opts.tile_size as usize;
        let mut w = Self::create(path, img.width() as u64, img.height() as u64, opts)?;
        let (across, down) = w.tile_grid();
        for ty in 0..down as usize {
            for tx in 0..across as usize {
                let (x0, y0) = (tx * t, ty * t);
                let (tw, th) = (t.min(img.width() - x0), t.min(img.height() - y0));
                let mut tile = Image::new(tw, th);
                for y in 0..th {
                    let s = ((y0 + y) * img.width() + x0) * 3;
                    tile.as_mut_slice()[y * tw * 3..(y + 1) * tw * 3]
                        .copy_from_slice(&img.as_slice()[s..s + tw * 3]);
                }
                w.push_tile(&tile)?;
            }
        }
        w.finish()
    }

    /// Encodes the current strip of level `k`, passes its 2× reduction to level `k + 1`.
    fn flush_strip(&mut self, k: usize) -> Result<()> {
        let t = self.opts.tile_size as usize;
        let (width, height, across, strip_index) = {
            let l = &self.levels[k];
            (
                l.width as usize,
                l.height as usize,
                l.across as usize,
                l.strip_index,
            )
        };
        let sw = across * t;
        let rows = self.levels[k].rows_filled;
        {
            // Pad beyond the image by replicating the edge (kinder to JPEG than black).
            let strip = &mut self.levels[k].strip;
            let vw = width - (across - 1) * t;
            if vw < t {
                for y in 0..rows {
                    let row = &mut strip[y * sw * 3..(y + 1) * sw * 3];
                    let last = (width - 1) * 3;
                    let px = [row[last], row[last + 1], row[last + 2]];
                    for x in width..sw {
                        row[x * 3..x * 3 + 3].copy_from_slice(&px);
                    }
                }
            }
            for y in rows..t {
                let (a, b) = strip.split_at_mut(y * sw * 3);
                b[..sw * 3].copy_from_slice(&a[(rows - 1) * sw * 3..rows * sw * 3]);
            }
        }
        // Encode the tiles of this strip in parallel, write them in order.
        let quality = self.opts.quality;
        let strip = &self.levels[k].strip;
        let encoded: Vec<std::result::Result<Vec<u8>, String>> = (0..across)
            .into_par_iter()
            .map(|tx| {
                let mut tile = vec![0u8; t * t * 3];
                for y in 0..t {
                    let s = (y * sw + tx * t) * 3;
                    tile[y * t * 3..(y + 1) * t * 3].copy_from_slice(&strip[s..s + t * 3]);
                }
                encode_jpeg(&tile, t as u32, quality)
            })
            .collect();
        for e in encoded {
            let jpeg = e.map_err(|m| Error::Invalid(format!("JPEG encoding failed: {m}")))?;
            let (tables, abbreviated) = split_tables(&jpeg)
                .map_err(|m| Error::Invalid(format!("unexpected JPEG encoder output: {m}")))?;
            match &self.tables {
                None => self.tables = Some(tables),
                Some(t0) if *t0 == tables => {}
                Some(_) => {
                    return Err(Error::Invalid(
                        "the JPEG encoder changed its tables between tiles".into(),
                    ));
                }
            }
            self.spool
                .write_all(&abbreviated)
                .map_err(|e| Error::io(&self.spool_path, e))?;
            self.levels[k]
                .tiles
                .push((self.spool_len, abbreviated.len() as u64));
            self.spool_len += abbreviated.len() as u64;
        }
        // Reduce 2x into the next level.
        if k + 1 < self.levels.len() {
            let (nw, nh) = (
                self.levels[k + 1].width as usize,
                self.levels[k + 1].height as usize,
            );
            let first = strip_index as usize * t / 2; // first next-level row of this strip
            let n_rows = (t / 2).min(nh.saturating_sub(first));
            let strip = &self.levels[k].strip;
            let mut reduced = vec![0u8; n_rows * nw * 3];
            reduced
                .par_chunks_mut(nw * 3)
                .enumerate()
                .for_each(|(j, out)| {
                    let r0 = &strip[2 * j * sw * 3..];
                    let r1 = &strip[(2 * j + 1) * sw * 3..];
                    for i in 0..nw {
                        for c in 0..3 {
                            let a = u16::from(r0[2 * i * 3 + c])
                                + u16::from(r0[(2 * i + 1) * 3 + c])
                                + u16::from(r1[2 * i * 3 + c])
                                + u16::from(r1[(2 * i + 1) * 3 + c]);
                            out[i * 3 + c] = ((a + 2) / 4) as u8;
                        }
                    }
                });
            self.push_rows(k + 1, &reduced, n_rows)?;
        }
        let l = &mut self.levels[k];
        l.strip_index += 1;
        l.rows_filled = 0;
        let _ = height;
        Ok(())
    }

    /// Appends `n` full-width rows to level `k`, flushing its strip when full.
    fn push_rows(&mut self, k: usize, rows: &[u8], n: usize) -> Result<()> {
        let t = self.opts.tile_size as usize;
        let w = self.levels[k].width as usize;
        let sw = self.levels[k].across as usize * t;
        let mut done = 0;
        while done < n {
            let l = &mut self.levels[k];
            let space = t - l.rows_filled;
            let take = space.min(n - done);
            for r in 0..take {
                let d = (l.rows_filled + r) * sw * 3;
                l.strip[d..d + w * 3]
                    .copy_from_slice(&rows[(done + r) * w * 3..(done + r + 1) * w * 3]);
            }
            l.rows_filled += take;
            done += take;
            let end_of_level = l.strip_index * t as u64 + l.rows_filled as u64 >= l.height;
            if l.rows_filled == t || end_of_level {
                self.flush_strip(k)?;
            }
        }
        Ok(())
    }

    /// Writes the TIFF directories and moves the file into place.
    pub fn finish(mut self) -> Result<()> {
        let (across, down) = self.tile_grid();
        if self.next_tile != across * down {
            return Err(Error::Invalid(format!(
                "{}: {} of {} level-0 tiles supplied",
                self.path.display(),
                self.next_tile,
                across * down
            )));
        }
        for (k, l) in self.levels.iter().enumerate() {
            if l.tiles.len() as u64 != l.across * l.down {
                return Err(Error::Invalid(format!(
                    "internal: level {k} has {} of {} tiles",
                    l.tiles.len(),
                    l.across * l.down
                )));
            }
        }
        self.spool
            .flush()
            .map_err(|e| Error::io(&self.spool_path, e))?;
        let big = match self.opts.format {
            TiffFormat::Big => true,
            TiffFormat::Classic => false,
            TiffFormat::Auto => self.spool_len > (u32::MAX as u64) - (64 << 20),
        };
        let out_tmp = tmp_name(&self.path, "part");
        let res = (|| -> Result<()> {
            let file = File::create(&out_tmp).map_err(|e| Error::io(&out_tmp, e))?;
            let mut w = BufWriter::with_capacity(1 << 20, file);
            let terr = |e: tiff::TiffError| Error::format(&self.path, format!("writing TIFF: {e}"));
            if big {
                let mut enc = TiffEncoder::new_big(&mut w).map_err(terr)?;
                self.write_dirs(&mut enc)?;
            } else {
                let mut enc = TiffEncoder::new(&mut w).map_err(terr)?;
                self.write_dirs(&mut enc)?;
            }
            w.flush().map_err(|e| Error::io(&out_tmp, e))?;
            let f = w
                .into_inner()
                .map_err(|e| Error::io(&out_tmp, e.into_error()))?;
            f.sync_all().map_err(|e| Error::io(&out_tmp, e))?;
            std::fs::rename(&out_tmp, &self.path).map_err(|e| Error::io(&self.path, e))
        })();
        let _ = std::fs::remove_file(&self.spool_path);
        if res.is_err() {
            let _ = std::fs::remove_file(&out_tmp);
        }
        self.finished = true;
        res
    }

    fn description(&self) -> String {
        let l0 = &self.levels[0];
        let (w, h, t) = (l0.width, l0.height, self.opts.tile_size);
        let mut d = if self.opts.aperio {
            let mut d = format!(
                "Aperio Image Library histo-wsi\r\n{w}x{h} [0,0 {w}x{h}] ({t}x{t}) JPEG/YCC Q={}",
                self.opts.quality
            );
            if let Some(m) = self.opts.app_mag {
                d.push_str(&format!("|AppMag = {m}"));
            }
            if let Some(m) = self.opts.mpp {
                d.push_str(&format!("|MPP = {m}"));
            }
            d
        } else {
            format!(
                "histo-wsi pyramid {w}x{h} ({t}x{t}) JPEG Q={}",
                self.opts.quality
            )
        };
        if let Some(title) = &self.opts.title {
            d.push_str(if self.opts.aperio { "|Title = " } else { " " });
            d.push_str(title);
        }
        d
    }

    fn write_dirs<W: Write + Seek, K: TiffKind>(
        &mut self,
        enc: &mut TiffEncoder<W, K>,
    ) -> Result<()> {
        let terr = |e: tiff::TiffError| Error::format(&self.path, format!("writing TIFF: {e}"));
        let mut spool = File::open(&self.spool_path).map_err(|e| Error::io(&self.spool_path, e))?;
        let tables = self.tables.clone().unwrap_or_default();
        let description = self.description();
        // All tile data goes through the level-0 directory encoder, then each level's tags.
        let mut offsets: Vec<Vec<u64>> =
            self.levels.iter().map(|l| vec![0; l.tiles.len()]).collect();
        {
            let mut dir = enc.image_directory().map_err(terr)?;
            let mut buf = Vec::new();
            // The spool interleaves levels (a level's strip is written when it fills up):
            // copy it sequentially, in spool order.
            let mut order: Vec<(u64, u64, usize, usize)> = Vec::new();
            for (k, l) in self.levels.iter().enumerate() {
                order.extend(l.tiles.iter().enumerate().map(|(i, &(o, n))| (o, n, k, i)));
            }
            order.sort_unstable();
            for (_, len, k, i) in order {
                buf.resize(len as usize, 0);
                spool
                    .read_exact(&mut buf)
                    .map_err(|e| Error::io(&self.spool_path, e))?;
                offsets[k][i] = dir.write_data(&buf[..]).map_err(terr)?;
            }
            self.level_tags::<W, K>(&mut dir, 0, &offsets[0], &tables, Some(&description))?;
            dir.finish().map_err(terr)?;
        }
        for (k, offs) in offsets.iter().enumerate().skip(1) {
            let mut dir = enc.image_directory().map_err(terr)?;
            self.level_tags::<W, K>(&mut dir, k, offs, &tables, None)?;
            dir.finish().map_err(terr)?;
        }
        Ok(())
    }

    fn level_tags<W: Write + Seek, K: TiffKind>(
        &self,
        dir: &mut DirectoryEncoder<'_, W, K>,
        k: usize,
        offsets: &[u64],
        tables: &[u8],
        description: Option<&str>,
    ) -> Result<()> {
        let terr = |e: tiff::TiffError| Error::format(&self.path, format!("writing TIFF: {e}"));
        let l = &self.levels[k];
        let t = self.opts.tile_size;
        dir.write_tag(Tag::NewSubfileType, if k == 0 { 0u32 } else { 1u32 })
            .map_err(terr)?;
        dir.write_tag(Tag::ImageWidth, l.width as u32)
            .map_err(terr)?;
        dir.write_tag(Tag::ImageLength, l.height as u32)
            .map_err(terr)?;
        dir.write_tag(Tag::BitsPerSample, &[8u16, 8, 8][..])
            .map_err(terr)?;
        dir.write_tag(Tag::Compression, 7u16).map_err(terr)?;
        dir.write_tag(Tag::PhotometricInterpretation, 6u16)
            .map_err(terr)?;
        if let Some(d) = description {
            dir.write_tag(Tag::ImageDescription, d).map_err(terr)?;
        }
        dir.write_tag(Tag::SamplesPerPixel, 3u16).map_err(terr)?;
        dir.write_tag(Tag::PlanarConfiguration, 1u16)
            .map_err(terr)?;
        if let Some(mpp) = self.opts.mpp.filter(|m| m.is_finite() && *m > 0.0) {
            // pixels per centimetre at this level
            let ds = self.levels[0].width as f64 / l.width as f64;
            let ppcm = 10_000.0 / (mpp * ds);
            let r = Rational {
                n: (ppcm * 1000.0).round() as u32,
                d: 1000,
            };
            dir.write_tag(Tag::XResolution, &r).map_err(terr)?;
            dir.write_tag(Tag::YResolution, &r).map_err(terr)?;
            dir.write_tag(Tag::ResolutionUnit, 3u16).map_err(terr)?;
        }
        dir.write_tag(Tag::TileWidth, t).map_err(terr)?;
        dir.write_tag(Tag::TileLength, t).map_err(terr)?;
        let counts: Vec<u64> = l.tiles.iter().map(|&(_, n)| n).collect();
        if K::is_big() {
            dir.write_tag(Tag::TileOffsets, offsets).map_err(terr)?;
            dir.write_tag(Tag::TileByteCounts, &counts[..])
                .map_err(terr)?;
        } else {
            let to32 = |v: &[u64]| -> Result<Vec<u32>> {
                v.iter()
                    .map(|&o| {
                        u32::try_from(o).map_err(|_| {
                            Error::Invalid(format!(
                                "{}: the pyramid exceeds 4 GiB; use BigTIFF",
                                self.path.display()
                            ))
                        })
                    })
                    .collect()
            };
            dir.write_tag(Tag::TileOffsets, &to32(offsets)?[..])
                .map_err(terr)?;
            dir.write_tag(Tag::TileByteCounts, &to32(&counts)?[..])
                .map_err(terr)?;
        }
        let entry = dir
            .write_entry_bytes(Type::UNDEFINED, tables)
            .map_err(terr)?;
        let mut extra = tiff::Directory::empty();
        extra.extend([(Tag::JPEGTables, entry)]);
        dir.extend_from(&extra);
        dir.write_tag(Tag::ChromaSubsampling, &[1u16, 1][..])
            .map_err(terr)?;
        Ok(())
    }
}

impl Drop for PyramidWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.spool_path);
        }
    }
}

trait IsBig {
    fn is_big() -> bool;
}
impl<K: TiffKind> IsBig for K {
    fn is_big() -> bool {
        std::mem::size_of::<K::OffsetType>() == 8
    }
}

fn tmp_name(path: &Path, what: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{what}-{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Encodes one RGB tile as a baseline JPEG (YCbCr 4:4:4, standard Huffman tables).
fn encode_jpeg(rgb: &[u8], t: u32, quality: u8) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    enc.encode(rgb, t, t, image::ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Splits a complete JPEG into the shared tables (`SOI DQT… DHT… EOI`) and the abbreviated
/// tile stream (`SOI SOF… SOS scan EOI`, without APP segments or tables).
pub(crate) fn split_tables(jpeg: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    if jpeg.len() < 4 || jpeg[..2] != [0xFF, 0xD8] {
        return Err("no SOI".into());
    }
    let mut tables = vec![0xFF, 0xD8];
    let mut tile = vec![0xFF, 0xD8];
    let mut i = 2;
    loop {
        if i + 4 > jpeg.len() || jpeg[i] != 0xFF {
            return Err(format!("bad marker at byte {i}"));
        }
        let m = jpeg[i + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        let seg = jpeg.get(i..i + 2 + len).ok_or("segment past the end")?;
        match m {
            0xDB | 0xC4 => tables.extend_from_slice(seg),
            0xE0..=0xEF => {} // APPn (JFIF): not needed, photometric says YCbCr
            0xDA => {
                tile.extend_from_slice(&jpeg[i..]);
                break;
            }
            _ => tile.extend_from_slice(seg),
        }
        i += 2 + len;
    }
    tables.extend_from_slice(&[0xFF, 0xD9]);
    Ok((tables, tile))
}
