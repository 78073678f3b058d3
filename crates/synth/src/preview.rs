//! Preview images for judging the synthetic data by eye: a labelled mosaic of patches per class
//! and a slide thumbnail with its annotation outlines. Drawing is done here with a built-in 5×7
//! bitmap font and Bresenham lines (a font/plotting dependency would be far heavier than these
//! few lines).

use histo_tensor::Image;

use crate::class::TissueClass;
use crate::polygon::Polygon;

/// 5×7 glyph rows (bit 4 = leftmost column).
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [14, 17, 17, 31, 17, 17, 17],
        'B' => [30, 17, 17, 30, 17, 17, 30],
        'C' => [14, 17, 16, 16, 16, 17, 14],
        'D' => [30, 17, 17, 17, 17, 17, 30],
        'E' => [31, 16, 16, 30, 16, 16, 31],
        'F' => [31, 16, 16, 30, 16, 16, 16],
        'G' => [14, 17, 16, 23, 17, 17, 15],
        'H' => [17, 17, 17, 31, 17, 17, 17],
        'I' => [14, 4, 4, 4, 4, 4, 14],
        'J' => [7, 2, 2, 2, 2, 18, 12],
        'K' => [17, 18, 20, 24, 20, 18, 17],
        'L' => [16, 16, 16, 16, 16, 16, 31],
        'M' => [17, 27, 21, 21, 17, 17, 17],
        'N' => [17, 25, 21, 19, 17, 17, 17],
        'O' => [14, 17, 17, 17, 17, 17, 14],
        'P' => [30, 17, 17, 30, 16, 16, 16],
        'Q' => [14, 17, 17, 17, 21, 18, 13],
        'R' => [30, 17, 17, 30, 20, 18, 17],
        'S' => [15, 16, 16, 14, 1, 1, 30],
        'T' => [31, 4, 4, 4, 4, 4, 4],
        'U' => [17, 17, 17, 17, 17, 17, 14],
        'V' => [17, 17, 17, 17, 17, 10, 4],
        'W' => [17, 17, 17, 21, 21, 21, 10],
        'X' => [17, 17, 10, 4, 10, 17, 17],
        'Y' => [17, 17, 10, 4, 4, 4, 4],
        'Z' => [31, 1, 2, 4, 8, 16, 31],
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '_' => [0, 0, 0, 0, 0, 0, 31],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        ',' => [0, 0, 0, 0, 12, 4, 8],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        '=' => [0, 0, 31, 0, 31, 0, 0],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        '/' => [0, 1, 2, 4, 8, 16, 0],
        _ => [0; 7],
    }
}

/// Writes `text` with its top-left at `(x, y)`, each font pixel `scale`×`scale`.
pub fn draw_text(img: &mut Image, x: usize, y: usize, text: &str, scale: usize, rgb: [u8; 3]) {
    for (k, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..5 {
                if bits & (16 >> col) == 0 {
                    continue;
                }
                for sy in 0..scale {
                    for sx in 0..scale {
                        let px = x + (k * 6 + col) * scale + sx;
                        let py = y + row * scale + sy;
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, rgb);
                        }
                    }
                }
            }
        }
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: usize) -> usize {
    (text.chars().count() * 6).saturating_sub(1) * scale
}

/// Draws a line `thickness` pixels wide (clipped to the image).
pub fn draw_line(img: &mut Image, a: (f64, f64), b: (f64, f64), thickness: usize, rgb: [u8; 3]) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    let half = thickness as i64 / 2;
    for s in 0..=steps {
        let t = s as f64 / steps as f64;
        let x = (a.0 + (b.0 - a.0) * t).round() as i64;
        let y = (a.1 + (b.1 - a.1) * t).round() as i64;
        for dy in -half..=half {
            for dx in -half..=half {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && (px as usize) < img.width() && (py as usize) < img.height()
                {
                    img.put_pixel(px as usize, py as usize, rgb);
                }
            }
        }
    }
}

/// Draws a closed polygon given in level-0 pixels onto an image that shows the slide downsampled
/// by `downsample`.
pub fn draw_polygon(img: &mut Image, p: &Polygon, downsample: f64, thickness: usize, rgb: [u8; 3]) {
    let n = p.vertices.len();
    for i in 0..n {
        let (x0, y0) = p.vertices[i];
        let (x1, y1) = p.vertices[(i + 1) % n];
        draw_line(
            img,
            (x0 / downsample, y0 / downsample),
            (x1 / downsample, y1 / downsample),
            thickness,
            rgb,
        );
    }
}

/// A mosaic with one column per class (label on top) and as many rows as patches per class.
/// `patches[c]` holds the patches of class `TissueClass::ALL[c]`; all patches must have the same
/// size (smaller lists leave white cells).
pub fn class_mosaic(patches: &[Vec<Image>; 9]) -> Image {
    let (pw, ph) = patches
        .iter()
        .flatten()
        .next()
        .map_or((64, 64), |p| (p.width(), p.height()));
    let rows = patches.iter().map(Vec::len).max().unwrap_or(0);
    let gap = 4;
    let label_h = 7 * 3 + 2 * gap;
    let w = 9 * (pw + gap) + gap;
    let h = label_h + rows * (ph + gap) + gap;
    let mut img = Image::filled(w, h, [255, 255, 255]);
    for (c, list) in patches.iter().enumerate() {
        let x0 = gap + c * (pw + gap);
        let name = TissueClass::ALL[c].name();
        let tx = x0 + pw.saturating_sub(text_width(name, 3)) / 2;
        draw_text(&mut img, tx, gap, name, 3, [20, 20, 20]);
        for (r, p) in list.iter().enumerate() {
            let y0 = label_h + r * (ph + gap);
            for y in 0..ph.min(p.height()) {
                for x in 0..pw.min(p.width()) {
                    img.put_pixel(x0 + x, y0 + y, p.pixel(x, y));
                }
            }
        }
    }
    img
}

/// A slide thumbnail (downsampled by `downsample` from level 0) with tumour outlines in green,
/// exclusion outlines in blue and a title line.
pub fn annotated_thumbnail(
    thumb: &Image,
    downsample: f64,
    positive: &[Polygon],
    negative: &[Polygon],
    title: &str,
) -> Image {
    let band = 7 * 2 + 8;
    let mut img = Image::filled(thumb.width(), thumb.height() + band, [255, 255, 255]);
    for y in 0..thumb.height() {
        for x in 0..thumb.width() {
            img.put_pixel(x, y + band, thumb.pixel(x, y));
        }
    }
    draw_text(&mut img, 4, 4, title, 2, [20, 20, 20]);
    let shifted = |p: &Polygon| Polygon {
        vertices: p
            .vertices
            .iter()
            .map(|&(x, y)| (x, y + band as f64 * downsample))
            .collect(),
    };
    for p in positive {
        draw_polygon(&mut img, &shifted(p), downsample, 3, [0, 200, 60]);
    }
    for p in negative {
        draw_polygon(&mut img, &shifted(p), downsample, 3, [30, 80, 255]);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_sets_the_glyph_pixels() {
        let mut img = Image::filled(20, 10, [255, 255, 255]);
        draw_text(&mut img, 0, 0, "T", 1, [0, 0, 0]);
        // T: full top row, then the middle column.
        for x in 0..5 {
            assert_eq!(img.pixel(x, 0), [0, 0, 0]);
        }
        assert_eq!(img.pixel(2, 6), [0, 0, 0]);
        assert_eq!(img.pixel(0, 6), [255, 255, 255]);
        assert_eq!(text_width("ADI", 2), 34);
    }

    #[test]
    fn polygon_outline_is_drawn_and_clipped() {
        let mut img = Image::filled(50, 50, [255, 255, 255]);
        let p = Polygon {
            vertices: vec![(20.0, 20.0), (180.0, 20.0), (180.0, 180.0), (20.0, 180.0)],
        };
        draw_polygon(&mut img, &p, 4.0, 1, [0, 255, 0]);
        assert_eq!(img.pixel(5, 5), [0, 255, 0]);
        assert_eq!(img.pixel(45, 45), [0, 255, 0]);
        assert_eq!(img.pixel(25, 25), [255, 255, 255]);
        // Off-image segments are clipped, not a panic.
        let big = Polygon {
            vertices: vec![(-100.0, -100.0), (1000.0, 10.0), (10.0, 1000.0)],
        };
        draw_polygon(&mut img, &big, 1.0, 3, [0, 0, 255]);
    }

    #[test]
    fn mosaic_layout() {
        let mut patches: [Vec<Image>; 9] = Default::default();
        patches[0] = vec![Image::filled(8, 8, [1, 2, 3]); 2];
        patches[8] = vec![Image::filled(8, 8, [9, 9, 9])];
        let m = class_mosaic(&patches);
        assert_eq!(m.width(), 9 * 12 + 4);
        assert_eq!(m.height(), 21 + 8 + 2 * 12 + 4);
        assert_eq!(m.pixel(4, 29), [1, 2, 3]);
        assert_eq!(m.pixel(4 + 8 * 12, 29), [9, 9, 9]);
    }
}
