//! The shared drawing set-up: font registration, an RGB buffer, PNG encoding, colours.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;

use crate::error::{MetricsError, Result};

/// The family name the bundled font is registered under.
pub(crate) const FONT_FAMILY: &str = "sans-serif";

/// DejaVu Sans, subset to Latin-1 and a few symbols (see `assets/README.md`).
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-histo.ttf");

/// Series colours (matplotlib's "tab10").
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and checked by the tests, so this cannot fail at run time;
        // if it ever did, text would simply be missing and drawing would report it.
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT);
    });
}

/// An RGB pixel buffer that plotters draws into and that is then written as PNG.
pub(crate) struct Canvas {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) buf: Vec<u8>,
}

impl Canvas {
    /// A white canvas.
    pub(crate) fn new(width: u32, height: u32) -> Self {
        register_font();
        Self {
            width,
            height,
            buf: vec![255; width as usize * height as usize * 3],
        }
    }

    /// A canvas holding `buf` (RGB, row-major, `width * height * 3` bytes).
    pub(crate) fn from_rgb(width: u32, height: u32, buf: Vec<u8>) -> Self {
        register_font();
        debug_assert_eq!(buf.len(), width as usize * height as usize * 3);
        Self { width, height, buf }
    }

    /// Runs `draw` on a plotters drawing area covering the canvas; drawing errors are
    /// reported against `path`.
    pub(crate) fn draw<F>(&mut self, path: &Path, draw: F) -> Result<()>
    where
        F: FnOnce(
            &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
        ) -> std::result::Result<(), Box<dyn std::error::Error>>,
    {
        let plot_err = |e: &dyn std::fmt::Display| MetricsError::Plot {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let root = BitMapBackend::with_buffer(&mut self.buf, (self.width, self.height))
            .into_drawing_area();
        draw(&root).map_err(|e| plot_err(&e))?;
        root.present().map_err(|e| plot_err(&e))?;
        Ok(())
    }

    /// Encodes the canvas as PNG at `path`.
    pub(crate) fn save(self, path: &Path) -> Result<()> {
        let img =
            image::RgbImage::from_raw(self.width, self.height, self.buf).ok_or_else(|| {
                MetricsError::Plot {
                    path: path.to_path_buf(),
                    message: "internal error: pixel buffer has the wrong size".into(),
                }
            })?;
        img.save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| MetricsError::Write {
                path: path.to_path_buf(),
                source,
            })
    }
}

/// The range of the finite values, padded by 5 % on each side (or ±0.5 when all are equal);
/// `(0, 1)` when there is no finite value.
pub(crate) fn finite_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_font_parses() {
        assert!(plotters::style::register_font("histo-test", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn finite_range_pads_and_handles_degenerate_input() {
        assert_eq!(finite_range([]), (0.0, 1.0));
        assert_eq!(finite_range([f64::NAN, f64::INFINITY]), (0.0, 1.0));
        assert_eq!(finite_range([2.0, 2.0]), (1.5, 2.5));
        let (lo, hi) = finite_range([0.0, 10.0, f64::NAN]);
        assert!((lo + 0.5).abs() < 1e-12 && (hi - 10.5).abs() < 1e-12);
    }
}
