//! Whole slides: rendered tile by tile (a row of tiles at a time, in parallel) and streamed to
//! histo-wsi's pyramidal TIFF writer, so memory stays bounded whatever the slide size.

use std::path::Path;

use histo_wsi::{PyramidOptions, PyramidWriter, TiffFormat};
use rand::Rng;
use rayon::prelude::*;

use crate::Result;
use crate::config::{Difficulty, SynthConfig};
use crate::layout::{Ellipse, TissueShape};
use crate::render::{Optics, Scene};

/// Writer options for a slide of `width`×`height`: Aperio-style description with MPP and
/// AppMag, downsample 2 per level, at least `min_levels` levels.
pub(crate) fn pyramid_options(
    cfg: &SynthConfig,
    width: u64,
    height: u64,
    title: &str,
) -> PyramidOptions {
    let tile = u64::from(cfg.slide.tile);
    let longest = width.max(height);
    let shift = cfg.slide.min_levels.saturating_sub(1).min(40);
    let min_size = tile.min((longest >> shift).max(1));
    PyramidOptions {
        tile_size: cfg.slide.tile,
        quality: cfg.slide.jpeg_quality,
        max_levels: None,
        min_size: Some(min_size),
        format: TiffFormat::Auto,
        mpp: Some(cfg.mpp),
        app_mag: Some((10.0 / cfg.mpp).round()),
        aperio: true,
        title: Some(title.to_string()),
    }
}

/// Renders `scene` over `width`×`height` level-0 pixels into a pyramidal TIFF at `path`
/// (written to a temporary name and renamed by the writer). Returns the pixels rendered.
pub(crate) fn write_slide(
    path: &Path,
    scene: &Scene<'_>,
    width: u64,
    height: u64,
    opts: PyramidOptions,
    on_row: &(dyn Fn() + Sync),
) -> Result<u64> {
    let t = opts.tile_size as u64;
    let mut w = PyramidWriter::create(path, width, height, opts)?;
    let (across, down) = w.tile_grid();
    for ty in 0..down {
        let tiles: Vec<_> = (0..across)
            .into_par_iter()
            .map(|tx| {
                let (x0, y0) = (tx * t, ty * t);
                let tw = t.min(width - x0) as usize;
                let th = t.min(height - y0) as usize;
                scene.render(x0 as i64, y0 as i64, tw, th)
            })
            .collect();
        for tile in &tiles {
            w.push_tile(tile)?;
        }
        on_row();
    }
    w.finish()?;
    Ok(width * height)
}

/// Scanner optics drawn for one slide (or staining batch).
pub(crate) fn draw_optics(d: &Difficulty, mpp: f64, rng: &mut impl Rng) -> Optics {
    let [lo, hi] = d.blur_um;
    let um = if hi > lo {
        rng.random_range(lo..=hi)
    } else {
        lo
    };
    Optics {
        blur_px: um / mpp as f32,
        noise: d.noise,
    }
}

/// One to three roughened ellipses of tissue covering much of a `width`×`height` slide;
/// `size` scales the semi-axes (1 = about 0.4 of each piece's slot).
pub(crate) fn draw_tissue(
    width: u64,
    height: u64,
    pieces: usize,
    size: f64,
    rng: &mut impl Rng,
) -> TissueShape {
    let (w, h) = (width as f64, height as f64);
    let mut blobs = Vec::new();
    let n = pieces.max(1);
    for k in 0..n {
        // Pieces side by side along the longer axis.
        let (cx, cy, rx, ry) = if w >= h {
            let slot = w / n as f64;
            (
                slot * (k as f64 + 0.5) + rng.random_range(-0.05..0.05) * slot,
                h * rng.random_range(0.45..0.55),
                size * slot * rng.random_range(0.36..0.44),
                size * h * rng.random_range(0.33..0.42),
            )
        } else {
            let slot = h / n as f64;
            (
                w * rng.random_range(0.45..0.55),
                slot * (k as f64 + 0.5) + rng.random_range(-0.05..0.05) * slot,
                size * w * rng.random_range(0.33..0.42),
                size * slot * rng.random_range(0.36..0.44),
            )
        };
        blobs.push(Ellipse { cx, cy, rx, ry });
    }
    TissueShape {
        blobs,
        roughness: 0.3,
        scale: 0.25 * w.min(h),
        seed: rng.random(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scale;

    #[test]
    fn slides_get_at_least_the_requested_levels() {
        let cfg = SynthConfig::preset(Scale::Tiny, 1);
        for (w, h) in [(2048, 1536), (512, 512), (9000, 700)] {
            let o = pyramid_options(&cfg, w, h, "x");
            let levels = histo_wsi::pyramid_levels(w, h, &o);
            assert!(levels.len() >= 4, "{w}x{h}: {levels:?}");
            assert_eq!(levels[1], (w / 2, h / 2));
        }
        let o = pyramid_options(&cfg, 2048, 2048, "x");
        assert_eq!(o.app_mag, Some(20.0));
        assert_eq!(o.mpp, Some(0.5));
    }
}
