//! The pure-Rust backend: tiled pyramidal TIFF / BigTIFF, generic and Aperio SVS.
//!
//! The `tiff` crate parses the directory structure (byte order, classic or BigTIFF, tag values);
//! tiles are then read with positioned reads (`pread`, so many threads can read one file at
//! once) and decoded by [`crate::codec`].

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tiff::decoder::Decoder;
use tiff::decoder::ifd::Value;
use tiff::tags::{IfdPointer, Tag};

use crate::cache::TileCache;
use crate::codec::{self, Compression, TileFormat};
use crate::slide::{Backend, LevelInfo};
use crate::{Error, Result};

/// Largest tile (in pixels) this reader decodes; larger tiles are refused rather than risking
/// huge allocations on a damaged file.
const MAX_TILE_PIXELS: u64 = 4096 * 4096;

/// One pyramid level: a tiled TIFF directory.
struct TiffLevel {
    info: LevelInfo,
    tile_w: u64,
    tile_h: u64,
    tiles_across: u64,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    format: TileFormat,
}

/// A tiled pyramidal TIFF opened by the pure-Rust reader.
pub(crate) struct TiffSlide {
    path: PathBuf,
    file: File,
    levels: Vec<TiffLevel>,
    infos: Vec<LevelInfo>,
    vendor: String,
    properties: BTreeMap<String, String>,
    cache: TileCache,
}

/// The tags of one directory that matter here.
struct Dir {
    index: usize,
    width: u64,
    height: u64,
    tile: Option<(u64, u64)>,
    subfile: u32,
    compression: u16,
    photometric: Option<u16>,
    samples: u16,
    bits: Vec<u16>,
    planar: u16,
    predictor: u16,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    jpeg_tables: Option<Vec<u8>>,
    description: Option<String>,
    strings: Vec<(&'static str, String)>,
    resolution: Option<(f64, f64, u16)>,
}

fn rational(v: Value) -> Option<f64> {
    match v {
        Value::Rational(n, d) if d != 0 => Some(f64::from(n) / f64::from(d)),
        Value::Float(f) => Some(f64::from(f)),
        Value::Double(f) => Some(f),
        Value::List(mut l) if !l.is_empty() => rational(l.swap_remove(0)),
        _ => None,
    }
}

fn read_dir(
    dec: &mut Decoder<BufReader<File>>,
    ptr: IfdPointer,
    index: usize,
) -> std::result::Result<(Dir, Option<IfdPointer>), tiff::TiffError> {
    let dir = dec.read_directory(ptr)?;
    let next = dir.next();
    let mut t = dec.read_directory_tags(&dir);
    let u64_of = |v: Option<Value>| v.map(|v| v.into_u64()).transpose();
    let width = u64_of(t.find_tag(Tag::ImageWidth)?)?.unwrap_or(0);
    let height = u64_of(t.find_tag(Tag::ImageLength)?)?.unwrap_or(0);
    let tw = u64_of(t.find_tag(Tag::TileWidth)?)?;
    let th = u64_of(t.find_tag(Tag::TileLength)?)?;
    let tile = match (tw, th) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    let subfile = u64_of(t.find_tag(Tag::NewSubfileType)?)?.unwrap_or(0) as u32;
    let compression = u64_of(t.find_tag(Tag::Compression)?)?.unwrap_or(1) as u16;
    let photometric = u64_of(t.find_tag(Tag::PhotometricInterpretation)?)?.map(|v| v as u16);
    let samples = u64_of(t.find_tag(Tag::SamplesPerPixel)?)?.unwrap_or(1) as u16;
    let bits = match t.find_tag(Tag::BitsPerSample)? {
        Some(v) => v.into_u16_vec()?,
        None => vec![1],
    };
    let planar = u64_of(t.find_tag(Tag::PlanarConfiguration)?)?.unwrap_or(1) as u16;
    let predictor = u64_of(t.find_tag(Tag::Predictor)?)?.unwrap_or(1) as u16;
    let (offsets, counts) = if tile.is_some() {
        (
            t.find_tag(Tag::TileOffsets)?
                .map(|v| v.into_u64_vec())
                .transpose()?
                .unwrap_or_default(),
            t.find_tag(Tag::TileByteCounts)?
                .map(|v| v.into_u64_vec())
                .transpose()?
                .unwrap_or_default(),
        )
    } else {
        (Vec::new(), Vec::new())
    };
    let jpeg_tables = if compression == 7 {
        t.find_tag(Tag::JPEGTables)?
            .map(|v| v.into_u8_vec())
            .transpose()?
    } else {
        None
    };
    let ascii = |v: Option<Value>| -> Option<String> {
        v.and_then(|v| v.into_string().ok())
            .map(|s| s.trim_end_matches('\0').to_string())
    };
    let description = ascii(t.find_tag(Tag::ImageDescription)?);
    let mut strings = Vec::new();
    for (name, tag) in [
        ("Make", Tag::Make),
        ("Model", Tag::Model),
        ("Software", Tag::Software),
        ("DateTime", Tag::DateTime),
        ("Artist", Tag::Artist),
        ("HostComputer", Tag::HostComputer),
        ("Copyright", Tag::Copyright),
    ] {
        if let Some(s) = ascii(t.find_tag(tag)?) {
            strings.push((name, s));
        }
    }
    let xres = t.find_tag(Tag::XResolution)?.and_then(rational);
    let yres = t.find_tag(Tag::YResolution)?.and_then(rational);
    let unit = u64_of(t.find_tag(Tag::ResolutionUnit)?)?.unwrap_or(2) as u16;
    let resolution = match (xres, yres) {
        (Some(x), Some(y)) => Some((x, y, unit)),
        _ => None,
    };
    Ok((
        Dir {
            index,
            width,
            height,
            tile,
            subfile,
            compression,
            photometric,
            samples,
            bits,
            planar,
            predictor,
            offsets,
            counts,
            jpeg_tables,
            description,
            strings,
            resolution,
        },
        next,
    ))
}

/// Parses an Aperio `ImageDescription` (`header|Key = value|...`) into `aperio.Key` properties.
pub(crate) fn parse_aperio(desc: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for item in desc.split('|').skip(1) {
        if let Some((k, v)) = item.split_once('=') {
            let k = k.trim();
            if !k.is_empty() {
                out.insert(format!("aperio.{k}"), v.trim().to_string());
            }
        }
    }
    out
}

/// Microns per pixel from TIFF resolution tags. Centimetre units always count; inch units only
/// when they give a plausible microscope pixel (< 100 µm), because many writers put a meaningless
/// 72 or 96 dpi there (OpenSlide 4 reads centimetres only, for the same reason).
fn mpp_from_resolution(xres: f64, unit: u16) -> Option<f64> {
    if !(xres.is_finite() && xres > 0.0) {
        return None;
    }
    let mpp = match unit {
        3 => 10_000.0 / xres,
        2 => 25_400.0 / xres,
        _ => return None,
    };
    (unit == 3 || mpp < 100.0).then_some(mpp)
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

impl TiffSlide {
    /// Opens and validates a tiled pyramidal TIFF. `cache_bytes` bounds the decoded-tile cache.
    pub(crate) fn open(path: &Path, cache_bytes: usize) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let clone = file.try_clone().map_err(|e| Error::io(path, e))?;
        let mut dec = Decoder::new(BufReader::new(clone)).map_err(|e| match e {
            tiff::TiffError::FormatError(tiff::TiffFormatError::TiffSignatureNotFound)
            | tiff::TiffError::FormatError(tiff::TiffFormatError::TiffSignatureInvalid) => {
                Error::format(path, "not a TIFF file (no TIFF signature)")
            }
            tiff::TiffError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                Error::format(
                    path,
                    "truncated TIFF file (ends inside its header or first directory)",
                )
            }
            e => Error::format(path, format!("cannot read the TIFF structure: {e}")),
        })?;
        let mut ptr = dec.ifd_pointer();
        let mut seen = HashSet::new();
        let mut dirs = Vec::new();
        while let Some(p) = ptr {
            if !seen.insert(p.0) {
                return Err(Error::format(path, "TIFF directory chain loops on itself"));
            }
            if dirs.len() > 10_000 {
                return Err(Error::format(path, "more than 10000 TIFF directories"));
            }
            let (d, next) = read_dir(&mut dec, p, dirs.len()).map_err(|e| {
                Error::format(
                    path,
                    format!("cannot read TIFF directory {}: {e}", dirs.len()),
                )
            })?;
            dirs.push(d);
            ptr = next;
        }
        let description0 = dirs.first().and_then(|d| d.description.clone());
        let aperio = description0
            .as_deref()
            .is_some_and(|d| d.starts_with("Aperio"));
        // Pyramid levels: tiled directories; for generic TIFF the first one or those flagged as
        // reduced-resolution images (thumbnails, labels and macros are skipped, as OpenSlide does).
        let mut candidates: Vec<&Dir> = dirs
            .iter()
            .filter(|d| d.tile.is_some() && (aperio || d.index == 0 || d.subfile & 1 == 1))
            .collect();
        if candidates.is_empty() {
            return Err(Error::format(
                path,
                "no tiled image in this TIFF (a whole-slide image stores its levels as tiles)",
            ));
        }
        candidates.sort_by_key(|d| std::cmp::Reverse((d.width, d.height)));
        let (w0, h0) = (candidates[0].width, candidates[0].height);
        let mut levels = Vec::new();
        for (li, d) in candidates.iter().enumerate() {
            levels.push(Self::level(path, li, d, w0, h0, file_len)?);
        }
        let infos = levels.iter().map(|l| l.info.clone()).collect();
        let vendor = if aperio { "aperio" } else { "generic-tiff" }.to_string();
        let properties = Self::properties(&dirs, &levels, &vendor, aperio);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            levels,
            infos,
            vendor,
            properties,
            cache: TileCache::new(cache_bytes),
        })
    }

    fn level(
        path: &Path,
        li: usize,
        d: &Dir,
        w0: u64,
        h0: u64,
        file_len: u64,
    ) -> Result<TiffLevel> {
        let bad = |msg: String| {
            Error::format(
                path,
                format!("level {li} (TIFF directory {}): {msg}", d.index),
            )
        };
        let unsup = |msg: String| {
            Error::unsupported(
                path,
                format!("level {li} (TIFF directory {}): {msg}", d.index),
            )
        };
        let (tw, th) = d.tile.unwrap_or((0, 0));
        if d.width == 0 || d.height == 0 {
            return Err(bad(format!("empty image ({}x{})", d.width, d.height)));
        }
        if tw == 0 || th == 0 {
            return Err(bad(format!("zero tile size {tw}x{th}")));
        }
        if tw * th > MAX_TILE_PIXELS {
            return Err(unsup(format!("tiles of {tw}x{th} pixels are too large")));
        }
        let compression = Compression::from_tag(d.compression).map_err(unsup)?;
        if d.bits.iter().any(|&b| b != 8) {
            return Err(unsup(format!(
                "{:?} bits per sample (only 8 is supported)",
                d.bits
            )));
        }
        if !matches!(d.samples, 1 | 3 | 4) {
            return Err(unsup(format!("{} samples per pixel", d.samples)));
        }
        if d.planar != 1 && d.samples > 1 {
            return Err(unsup(
                "separate colour planes (PlanarConfiguration 2)".into(),
            ));
        }
        if compression != Compression::Jpeg {
            match d.photometric {
                Some(0..=2) => {}
                Some(6) => {
                    return Err(unsup("YCbCr samples without JPEG compression".into()));
                }
                Some(p) => return Err(unsup(format!("photometric interpretation {p}"))),
                None => return Err(bad("no PhotometricInterpretation tag".into())),
            }
        }
        if d.photometric == Some(0) {
            return Err(unsup("WhiteIsZero photometric interpretation".into()));
        }
        let across = d.width.div_ceil(tw);
        let down = d.height.div_ceil(th);
        let n = across * down;
        if d.offsets.len() as u64 != n || d.counts.len() as u64 != n {
            return Err(bad(format!(
                "{} tile offsets and {} byte counts for {n} tiles ({across}x{down})",
                d.offsets.len(),
                d.counts.len()
            )));
        }
        for (i, (&o, &c)) in d.offsets.iter().zip(&d.counts).enumerate() {
            if c > 0 && o.checked_add(c).is_none_or(|end| end > file_len) {
                return Err(Error::format(
                    path,
                    format!(
                        "level {li}: tile {i} ({c} bytes at offset {o}) lies beyond the end of the \
                         file ({file_len} bytes); the file is truncated or corrupt"
                    ),
                ));
            }
        }
        let downsample = ((w0 as f64 / d.width as f64) + (h0 as f64 / d.height as f64)) / 2.0;
        Ok(TiffLevel {
            info: LevelInfo {
                width: d.width,
                height: d.height,
                downsample,
            },
            tile_w: tw,
            tile_h: th,
            tiles_across: across,
            offsets: d.offsets.clone(),
            counts: d.counts.clone(),
            format: TileFormat {
                compression,
                samples: d.samples as usize,
                predictor: d.predictor,
                jpeg_tables: d.jpeg_tables.clone(),
                ycbcr: d.photometric == Some(6),
            },
        })
    }

    fn properties(
        dirs: &[Dir],
        levels: &[TiffLevel],
        vendor: &str,
        aperio: bool,
    ) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert("openslide.vendor".into(), vendor.to_string());
        p.insert("openslide.level-count".into(), levels.len().to_string());
        for (i, l) in levels.iter().enumerate() {
            p.insert(
                format!("openslide.level[{i}].width"),
                l.info.width.to_string(),
            );
            p.insert(
                format!("openslide.level[{i}].height"),
                l.info.height.to_string(),
            );
            p.insert(
                format!("openslide.level[{i}].downsample"),
                l.info.downsample.to_string(),
            );
            p.insert(
                format!("openslide.level[{i}].tile-width"),
                l.tile_w.to_string(),
            );
            p.insert(
                format!("openslide.level[{i}].tile-height"),
                l.tile_h.to_string(),
            );
        }
        if let Some(d0) = dirs.first() {
            if let Some(desc) = &d0.description {
                p.insert("tiff.ImageDescription".into(), desc.clone());
                p.insert("openslide.comment".into(), desc.clone());
            }
            for (k, v) in &d0.strings {
                p.insert(format!("tiff.{k}"), v.clone());
            }
            if let Some((x, y, unit)) = d0.resolution {
                p.insert("tiff.XResolution".into(), x.to_string());
                p.insert("tiff.YResolution".into(), y.to_string());
                let u = match unit {
                    1 => "none",
                    2 => "inch",
                    3 => "centimeter",
                    _ => "unknown",
                };
                p.insert("tiff.ResolutionUnit".into(), u.into());
                if let (Some(mx), Some(my)) =
                    (mpp_from_resolution(x, unit), mpp_from_resolution(y, unit))
                {
                    p.insert("openslide.mpp-x".into(), mx.to_string());
                    p.insert("openslide.mpp-y".into(), my.to_string());
                }
            }
            if aperio {
                let a = parse_aperio(d0.description.as_deref().unwrap_or(""));
                if let Some(mpp) = a.get("aperio.MPP") {
                    p.insert("openslide.mpp-x".into(), mpp.clone());
                    p.insert("openslide.mpp-y".into(), mpp.clone());
                }
                if let Some(mag) = a.get("aperio.AppMag") {
                    p.insert("openslide.objective-power".into(), mag.clone());
                }
                p.extend(a);
            }
        }
        p
    }

    /// The decoded RGB pixels of one tile (`tile_w * tile_h * 3` bytes), cached.
    fn tile(&self, level: usize, tx: u64, ty: u64) -> Result<Arc<Vec<u8>>> {
        let key = (level, tx, ty);
        if let Some(t) = self.cache.get(&key) {
            return Ok(t);
        }
        let l = &self.levels[level];
        let mut px = vec![0u8; l.tile_w as usize * l.tile_h as usize * 3];
        self.decode_into(level, tx, ty, &mut px)?;
        let px = Arc::new(px);
        self.cache.insert(key, px.clone());
        Ok(px)
    }

    /// Reads and decodes one tile into `out` (`tile_w * tile_h * 3` bytes), bypassing the cache.
    fn decode_into(&self, level: usize, tx: u64, ty: u64, out: &mut [u8]) -> Result<()> {
        let l = &self.levels[level];
        let i = (ty * l.tiles_across + tx) as usize;
        let (off, len) = (l.offsets[i], l.counts[i]);
        if len == 0 {
            // A missing tile is transparent in OpenSlide: black after conversion to RGB.
            out.fill(0);
            return Ok(());
        }
        let mut buf = vec![0u8; len as usize];
        read_exact_at(&self.file, &mut buf, off).map_err(|e| {
            Error::format(
                &self.path,
                format!(
                    "level {level} tile ({tx}, {ty}): cannot read {len} bytes at offset {off}: {e}"
                ),
            )
        })?;
        codec::decode_tile_into(&l.format, &buf, l.tile_w as usize, l.tile_h as usize, out).map_err(
            |msg| {
                Error::format(
                    &self.path,
                    format!("level {level} tile ({tx}, {ty}): {msg}"),
                )
            },
        )
    }

    /// Cache (hits, misses).
    pub(crate) fn cache_stats(&self) -> (u64, u64) {
        self.cache.stats()
    }
}

impl Backend for TiffSlide {
    fn name(&self) -> &'static str {
        "rust"
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn vendor(&self) -> &str {
        &self.vendor
    }

    fn levels(&self) -> &[LevelInfo] {
        &self.infos
    }

    fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    fn read_level(
        &self,
        level: usize,
        px: i64,
        py: i64,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let l = &self.levels[level];
        let (lw, lh) = (l.info.width as i64, l.info.height as i64);
        let x0 = px.max(0);
        let y0 = py.max(0);
        let x1 = (px + w as i64).min(lw);
        let y1 = (py + h as i64).min(lh);
        // Tiles cover the whole level, so only a request reaching outside it has pixels no
        // tile writes: those are black.
        if (x0, y0, x1, y1) != (px, py, px + w as i64, py + h as i64) {
            out.fill(0);
        }
        if x0 >= x1 || y0 >= y1 {
            return Ok(());
        }
        let (tw, th) = (l.tile_w as i64, l.tile_h as i64);
        // A read of exactly one whole tile (grid tiling, aligned RSP tiles) is decoded straight
        // into the output and not cached: such reads are rarely repeated, and caching them would
        // cost a copy and evict the tiles that overlapping reads share.
        if (w as i64, h as i64) == (tw, th)
            && px >= 0
            && py >= 0
            && px % tw == 0
            && py % th == 0
            && (x1, y1) == (px + tw, py + th)
        {
            let (tx, ty) = ((px / tw) as u64, (py / th) as u64);
            return match self.cache.get(&(level, tx, ty)) {
                Some(t) => {
                    out.copy_from_slice(&t);
                    Ok(())
                }
                None => self.decode_into(level, tx, ty, out),
            };
        }
        for ty in (y0 / th)..=((y1 - 1) / th) {
            for tx in (x0 / tw)..=((x1 - 1) / tw) {
                let tile = self.tile(level, tx as u64, ty as u64)?;
                // Intersection of this tile with the request, in level pixels.
                let ix0 = x0.max(tx * tw);
                let ix1 = x1.min((tx + 1) * tw);
                let iy0 = y0.max(ty * th);
                let iy1 = y1.min((ty + 1) * th);
                let n = ((ix1 - ix0) * 3) as usize;
                for y in iy0..iy1 {
                    let src = (((y - ty * th) * tw + (ix0 - tx * tw)) * 3) as usize;
                    let dst = (((y - py) * w as i64 + (ix0 - px)) * 3) as usize;
                    out[dst..dst + n].copy_from_slice(&tile[src..src + n]);
                }
            }
        }
        Ok(())
    }

    fn cache_stats(&self) -> Option<(u64, u64)> {
        Some(TiffSlide::cache_stats(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aperio_description_is_parsed_into_properties() {
        let p = parse_aperio(
            "Aperio Image Library v10.0.51\r\n46920x33014 (256x256) JPEG/RGB Q=30|AppMag = 20|MPP = 0.4990|Left = 25.69",
        );
        assert_eq!(p["aperio.AppMag"], "20");
        assert_eq!(p["aperio.MPP"], "0.4990");
        assert_eq!(p["aperio.Left"], "25.69");
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn resolution_units() {
        assert_eq!(mpp_from_resolution(20_000.0, 3), Some(0.5));
        assert_eq!(mpp_from_resolution(50_800.0, 2), Some(0.5));
        assert_eq!(mpp_from_resolution(72.0, 2), None);
        assert_eq!(mpp_from_resolution(0.0, 3), None);
        assert_eq!(mpp_from_resolution(100.0, 1), None);
    }
}
