//! Slide heat-maps: a tumour-probability map coloured with matplotlib's "jet" colormap and
//! blended over an RGB thumbnail of the slide, with a colour bar.

use std::path::Path;
use std::sync::LazyLock;

use image::RgbImage;
use plotters::prelude::*;

use super::{Canvas, FONT_FAMILY};
use crate::error::{Result, invalid};

/// matplotlib's `jet` segment data `(x, value)` for red, green and blue
/// (`matplotlib/_cm.py`, `_jet_data`).
const JET: [&[(f64, f64)]; 3] = [
    &[
        (0.0, 0.0),
        (0.35, 0.0),
        (0.66, 1.0),
        (0.89, 1.0),
        (1.0, 0.5),
    ],
    &[
        (0.0, 0.0),
        (0.125, 0.0),
        (0.375, 1.0),
        (0.64, 1.0),
        (0.91, 0.0),
        (1.0, 0.0),
    ],
    &[
        (0.0, 0.5),
        (0.11, 1.0),
        (0.34, 1.0),
        (0.65, 0.0),
        (1.0, 0.0),
    ],
];

/// The 256-entry lookup table matplotlib builds for `jet` (`cmap(x, bytes=True)`): entry `i` is
/// the piecewise-linear segment value at `i / 255`, scaled by 255 and truncated to `u8`.
static JET_LUT: LazyLock<[[u8; 3]; 256]> = LazyLock::new(|| {
    let mut lut = [[0u8; 3]; 256];
    // As matplotlib's `_create_lookup_table` (3.11), in units of table steps: segment points
    // at 255·x, sample i at 255·(i · (1/255)); the first and last entries are the end values,
    // the others `distance · (y[j] − y[j−1]) + y[j−1]` with `j` the first segment point at or
    // after the sample. (The exact float steps matter: some entries sit on a .0 boundary.)
    let step = 1.0 / 255.0;
    for (i, entry) in lut.iter_mut().enumerate() {
        let x = 255.0 * (i as f64 * step);
        for (c, segments) in JET.iter().enumerate() {
            let v = if i == 0 {
                segments[0].1
            } else if i == 255 {
                segments[segments.len() - 1].1
            } else {
                let j = segments
                    .iter()
                    .position(|s| 255.0 * s.0 >= x)
                    .unwrap_or(segments.len() - 1);
                let (x0, y0) = (255.0 * segments[j - 1].0, segments[j - 1].1);
                let (x1, y1) = (255.0 * segments[j].0, segments[j].1);
                let distance = (x - x0) / (x1 - x0);
                distance * (y1 - y0) + y0
            };
            entry[c] = (v.clamp(0.0, 1.0) * 255.0) as u8;
        }
    }
    lut
});

/// The jet colour of `value` exactly as matplotlib's `cm.jet(value, bytes=True)` gives it, after
/// clipping `value` to `[0, 1]` (as the original `test_Camelyon16.py` does). NaN gives the colour
/// of 0.
pub fn jet(value: f64) -> [u8; 3] {
    let v = if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, 1.0)
    };
    // matplotlib: index = int(v * N) with v == 1 mapped to N - 1.
    let idx = ((v * 256.0) as usize).min(255);
    JET_LUT[idx]
}

fn check_map(probs: &[f32], width: usize, height: usize) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(invalid!(
            "probability map has zero size ({width} × {height})"
        ));
    }
    if probs.len() != width * height {
        return Err(invalid!(
            "probability map has {} values but width × height = {width} × {height} = {}",
            probs.len(),
            width * height
        ));
    }
    Ok(())
}

/// Whether a map cell holds tissue (a finite, non-negative probability).
fn is_tissue(p: f32) -> bool {
    p.is_finite() && p >= 0.0
}

/// The map coloured with [`jet`] at its own size (one pixel per cell); cells without tissue
/// (NaN or negative) get `background`.
pub fn colorize(
    probs: &[f32],
    width: usize,
    height: usize,
    background: [u8; 3],
) -> Result<RgbImage> {
    check_map(probs, width, height)?;
    let (w, h) = (dim(width)?, dim(height)?);
    Ok(RgbImage::from_fn(w, h, |x, y| {
        let p = probs[y as usize * width + x as usize];
        image::Rgb(if is_tissue(p) {
            jet(p as f64)
        } else {
            background
        })
    }))
}

fn dim(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| invalid!("image dimension {n} is too large"))
}

/// Width of the colour-bar panel to the right of the overlay.
const BAR_PANEL: u32 = 120;

/// Writes a PNG of `thumbnail` with the probability map blended over it, and a colour bar.
///
/// `probs` is row-major, `width × height` cells covering the whole thumbnail (each cell covers
/// `thumbnail.width() / width` × `thumbnail.height() / height` pixels, sampled by nearest cell);
/// a NaN or negative cell means "no tissue" and leaves the thumbnail untouched there. Elsewhere
/// the pixel is `(1 − alpha) · thumbnail + alpha · jet(p)` with `p` clipped to `[0, 1]`.
/// The PNG is the thumbnail size plus a 120-pixel panel on the right (at least 240 pixels high).
///
/// ```
/// use histo_metrics::plot::heatmap_overlay;
/// let dir = tempfile::tempdir()?;
/// let thumb = image::RgbImage::from_pixel(64, 48, image::Rgb([230, 200, 220]));
/// let mut probs = vec![f32::NAN; 8 * 6];
/// probs[2 * 8 + 3] = 0.9; // one tumour cell, the rest background
/// heatmap_overlay(&dir.path().join("slide.png"), &thumb, &probs, 8, 6, 0.5)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn heatmap_overlay(
    path: &Path,
    thumbnail: &RgbImage,
    probs: &[f32],
    width: usize,
    height: usize,
    alpha: f32,
) -> Result<()> {
    check_map(probs, width, height)?;
    if !(0.0..=1.0).contains(&alpha) {
        return Err(invalid!("overlay alpha must be in [0, 1], got {alpha}"));
    }
    let (tw, th) = thumbnail.dimensions();
    if tw == 0 || th == 0 {
        return Err(invalid!("thumbnail is empty ({tw} × {th})"));
    }
    let (cw, ch) = (tw + BAR_PANEL, th.max(240));
    let mut buf = vec![255u8; cw as usize * ch as usize * 3];
    let row_bytes = cw as usize * 3;
    let a = alpha;
    for y in 0..th as usize {
        let my = y * height / th as usize;
        for x in 0..tw as usize {
            let mx = x * width / tw as usize;
            let t = thumbnail.get_pixel(x as u32, y as u32).0;
            let p = probs[my * width + mx];
            let out = if is_tissue(p) {
                let c = jet(p as f64);
                std::array::from_fn(|i| {
                    ((1.0 - a) * t[i] as f32 + a * c[i] as f32)
                        .round()
                        .clamp(0.0, 255.0) as u8
                })
            } else {
                t
            };
            let o = y * row_bytes + x * 3;
            buf[o..o + 3].copy_from_slice(&out);
        }
    }
    let mut canvas = Canvas::from_rgb(cw, ch, buf);
    canvas.draw(path, |root| {
        let bar_x = tw as i32 + 20;
        let (top, bottom) = (20i32, ch as i32 - 20);
        let span = (bottom - top).max(1);
        for y in top..=bottom {
            let v = (bottom - y) as f64 / span as f64;
            let [r, g, b] = jet(v);
            root.draw(&Rectangle::new(
                [(bar_x, y), (bar_x + 24, y + 1)],
                RGBColor(r, g, b).filled(),
            ))?;
        }
        root.draw(&Rectangle::new(
            [(bar_x, top), (bar_x + 24, bottom + 1)],
            BLACK,
        ))?;
        let style = TextStyle::from((FONT_FAMILY, 14).into_font()).color(&BLACK);
        for i in 0..=4 {
            let v = i as f64 / 4.0;
            let y = bottom - (v * span as f64).round() as i32;
            root.draw(&PathElement::new(
                vec![(bar_x + 24, y), (bar_x + 29, y)],
                BLACK,
            ))?;
            root.draw(&Text::new(
                format!("{v:.2}"),
                (bar_x + 33, y - 7),
                style.clone(),
            ))?;
        }
        Ok(())
    })?;
    canvas.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jet_endpoints_are_matplotlibs() {
        // matplotlib: cm.jet(0.0, bytes=True) = (0, 0, 127), cm.jet(1.0, bytes=True) = (127, 0, 0).
        assert_eq!(jet(0.0), [0, 0, 127]);
        assert_eq!(jet(1.0), [127, 0, 0]);
        assert_eq!(jet(-3.0), jet(0.0));
        assert_eq!(jet(7.0), jet(1.0));
        assert_eq!(jet(f64::NAN), jet(0.0));
    }

    #[test]
    fn map_size_must_match() {
        let e = colorize(&[0.5; 5], 2, 3, [0, 0, 0]).unwrap_err();
        assert!(e.to_string().contains("5 values"), "{e}");
        assert!(colorize(&[], 0, 3, [0, 0, 0]).is_err());
    }

    #[test]
    fn colorize_marks_background() {
        let img = colorize(&[f32::NAN, -1.0, 0.0, 1.0], 2, 2, [1, 2, 3]).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(1, 0).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(0, 1).0, jet(0.0));
        assert_eq!(img.get_pixel(1, 1).0, jet(1.0));
    }
}
