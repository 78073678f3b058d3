//! The OpenSlide backend (cargo feature `openslide`): every vendor format the system library
//! reads, through `openslide-rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use openslide_rs::{Address, OpenSlide, Region, Size};

use crate::slide::{Backend, LevelInfo};
use crate::{Error, Result};

/// A slide opened with OpenSlide.
pub(crate) struct OpenSlideBackend {
    path: PathBuf,
    osr: OpenSlide,
    infos: Vec<LevelInfo>,
    properties: BTreeMap<String, String>,
    vendor: String,
}

/// Converts OpenSlide's premultiplied ARGB (native-endian `u32`) to RGB the way
/// openslide-python's `read_region(...).convert('RGB')` does: un-premultiply
/// (`255 * c / a`, truncating) and drop alpha; fully transparent pixels become black.
pub(crate) fn argb_to_rgb(argb: &[u8], out: &mut [u8]) {
    for (p, o) in argb.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let v = u32::from_ne_bytes([p[0], p[1], p[2], p[3]]);
        let a = v >> 24;
        let (r, g, b) = ((v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF);
        let (r, g, b) = match a {
            255 => (r, g, b),
            0 => (0, 0, 0),
            a => (255 * r / a, 255 * g / a, 255 * b / a),
        };
        o[0] = r.min(255) as u8;
        o[1] = g.min(255) as u8;
        o[2] = b.min(255) as u8;
    }
}

impl OpenSlideBackend {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let err = |e: openslide_rs::errors::OpenSlideError| Error::OpenSlide {
            path: path.to_path_buf(),
            msg: e.to_string(),
        };
        if !path.exists() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let osr = OpenSlide::new(path).map_err(err)?;
        let dims = osr.all_level_dimensions().to_vec();
        let ds = osr.all_level_downsamples().to_vec();
        let infos = dims
            .iter()
            .zip(&ds)
            .map(|(s, &d)| LevelInfo {
                width: u64::from(s.w),
                height: u64::from(s.h),
                downsample: d,
            })
            .collect();
        let mut properties = BTreeMap::new();
        for name in osr.property_names().map_err(err)? {
            if let Ok(v) = osr.property_value(&name) {
                properties.insert(name, v);
            }
        }
        let vendor = properties
            .get("openslide.vendor")
            .cloned()
            .unwrap_or_else(|| "unknown".into());
        Ok(Self {
            path: path.to_path_buf(),
            osr,
            infos,
            properties,
            vendor,
        })
    }

    fn read_raw(
        &self,
        x0: i64,
        y0: i64,
        level: usize,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()> {
        let region = Region {
            address: Address {
                x: x0 as u32,
                y: y0 as u32,
            },
            level: level as u32,
            size: Size {
                w: w as u32,
                h: h as u32,
            },
        };
        let buf = self
            .osr
            .read_region(&region)
            .map_err(|e| Error::OpenSlide {
                path: self.path.clone(),
                msg: e.to_string(),
            })?;
        if buf.len() != w * h * 4 {
            return Err(Error::OpenSlide {
                path: self.path.clone(),
                msg: format!("read_region returned {} bytes for {w}x{h}", buf.len()),
            });
        }
        argb_to_rgb(&buf, out);
        Ok(())
    }
}

fn fits_u32(v: i64) -> bool {
    (0..=i64::from(u32::MAX)).contains(&v)
}

impl Backend for OpenSlideBackend {
    fn name(&self) -> &'static str {
        "openslide"
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
        // The safe API takes unsigned coordinates: read the part inside the level and leave
        // the rest black, which is what OpenSlide returns outside the slide.
        let l = &self.infos[level];
        out.fill(0);
        let x0 = px.max(0);
        let y0 = py.max(0);
        let x1 = (px + w as i64).min(l.width as i64);
        let y1 = (py + h as i64).min(l.height as i64);
        if x0 >= x1 || y0 >= y1 {
            return Ok(());
        }
        let (cw, ch) = ((x1 - x0) as usize, (y1 - y0) as usize);
        let ds = l.downsample;
        let (lx, ly) = (
            (x0 as f64 * ds).round() as i64,
            (y0 as f64 * ds).round() as i64,
        );
        if !fits_u32(lx) || !fits_u32(ly) {
            return Err(Error::request(
                &self.path,
                "region origin beyond OpenSlide's 32-bit range",
            ));
        }
        if cw == w && ch == h {
            return self.read_raw(lx, ly, level, w, h, out);
        }
        let mut part = vec![0u8; cw * ch * 3];
        self.read_raw(lx, ly, level, cw, ch, &mut part)?;
        for r in 0..ch {
            let d = (((y0 - py) as usize + r) * w + (x0 - px) as usize) * 3;
            out[d..d + cw * 3].copy_from_slice(&part[r * cw * 3..(r + 1) * cw * 3]);
        }
        Ok(())
    }

    fn read_region0(
        &self,
        x0: i64,
        y0: i64,
        level: usize,
        w: usize,
        h: usize,
        out: &mut [u8],
    ) -> Result<()> {
        if fits_u32(x0) && fits_u32(y0) {
            self.read_raw(x0, y0, level, w, h, out)
        } else {
            let ds = self.infos[level].downsample;
            let px = (x0 as f64 / ds).round() as i64;
            let py = (y0 as f64 / ds).round() as i64;
            self.read_level(level, px, py, w, h, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argb_conversion_matches_openslide_python() {
        let px =
            |a: u32, r: u32, g: u32, b: u32| ((a << 24) | (r << 16) | (g << 8) | b).to_ne_bytes();
        let mut buf = Vec::new();
        buf.extend(px(255, 10, 20, 30));
        buf.extend(px(0, 0, 0, 0));
        buf.extend(px(128, 64, 32, 0));
        let mut out = [0u8; 9];
        argb_to_rgb(&buf, &mut out);
        assert_eq!(out, [10, 20, 30, 0, 0, 0, 127, 63, 0]);
    }
}
