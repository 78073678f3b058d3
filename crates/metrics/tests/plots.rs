//! Every plot writes a decodable PNG of the documented size with the expected colours in it.
//! Set `HISTO_PLOT_DIR` to keep the PNGs for a look.

use std::path::PathBuf;

use histo_metrics::plot::{Series, line_chart};

fn out_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("HISTO_PLOT_DIR") {
        Some(d) => {
            std::fs::create_dir_all(&d).unwrap();
            (None, PathBuf::from(d))
        }
        None => {
            let t = tempfile::tempdir().unwrap();
            let p = t.path().to_path_buf();
            (Some(t), p)
        }
    }
}

fn count_colour(img: &image::RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == rgb).count()
}

/// Pixels that are neither white nor grey (anti-aliased text and axes are grey).
fn coloured_pixels(img: &image::RgbImage) -> usize {
    img.pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            r.max(g).max(b) - r.min(g).min(b) > 40
        })
        .count()
}

#[test]
fn line_chart_draws_both_series_and_text() {
    let (_t, dir) = out_dir();
    let path = dir.join("line_chart.png");
    let train: Vec<_> = (1..=30).map(|e| (e as f64, 2.0 / e as f64)).collect();
    let mut val: Vec<_> = (1..=30).map(|e| (e as f64, 2.2 / e as f64 + 0.1)).collect();
    val[10].1 = f64::NAN; // a NaN loss breaks the line, it does not break the chart
    line_chart(
        &path,
        "Loss per epoch (κ, µm, ±)",
        "epoch",
        "cross-entropy loss",
        &[Series::new("train", train), Series::new("validation", val)],
    )
    .unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (900, 600));
    // tab10 blue and orange markers are drawn in full colour.
    assert!(count_colour(&img, [31, 119, 180]) > 200);
    assert!(count_colour(&img, [255, 127, 14]) > 200);
    // Text is drawn: dark pixels exist in the title band (above the plot area).
    let dark_in_title = (0..900)
        .flat_map(|x| (0..40).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
        .count();
    assert!(dark_in_title > 100, "no title text drawn");
}

#[test]
fn line_chart_without_points_draws_empty_axes() {
    let (_t, dir) = out_dir();
    let path = dir.join("line_chart_empty.png");
    line_chart(
        &path,
        "nothing yet",
        "epoch",
        "loss",
        &[Series::new("train", vec![])],
    )
    .unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(coloured_pixels(&img), 0);
}

#[test]
fn unwritable_path_is_an_error_naming_it() {
    let path = PathBuf::from("/nonexistent-dir-histo/x.png");
    let e = line_chart(&path, "t", "x", "y", &[]).unwrap_err();
    assert!(
        e.to_string().contains("/nonexistent-dir-histo/x.png"),
        "{e}"
    );
}

#[test]
fn heatmap_overlay_blends_tissue_only_and_draws_a_colour_bar() {
    use histo_metrics::plot::{heatmap_overlay, jet};
    let (_t, dir) = out_dir();
    let path = dir.join("heatmap_overlay.png");
    let (tw, th) = (320u32, 200u32);
    let thumb = image::RgbImage::from_fn(tw, th, |x, y| {
        image::Rgb([200 + (x % 40) as u8, 150 + (y % 60) as u8, 210])
    });
    // 32 × 20 map: left half no tissue (NaN / negative), right half a ramp 0 → 1.
    let (w, h) = (32usize, 20usize);
    let probs: Vec<f32> = (0..w * h)
        .map(|i| {
            let x = i % w;
            if x < w / 2 {
                if x % 2 == 0 { f32::NAN } else { -1.0 }
            } else {
                (x - w / 2) as f32 / (w / 2 - 1) as f32
            }
        })
        .collect();
    heatmap_overlay(&path, &thumb, &probs, w, h, 0.5).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (tw + 120, 240));
    // No-tissue half is the thumbnail, untouched.
    for (x, y) in [(0, 0), (17, 33), (159, 199)] {
        assert_eq!(img.get_pixel(x, y), thumb.get_pixel(x, y));
    }
    // The last column has p = 1: the blend of thumbnail and jet(1) (rounded half away).
    let (x, y) = (tw - 1, 10);
    let t = thumb.get_pixel(x, y).0;
    let c = jet(1.0);
    let want: Vec<u8> = (0..3)
        .map(|i| ((t[i] as f32 + c[i] as f32) / 2.0).round() as u8)
        .collect();
    assert_eq!(img.get_pixel(x, y).0.to_vec(), want);
    // Colour bar from y = 20 (value 1) to y = 220 (value 0), inside a black frame.
    assert_eq!(img.get_pixel(tw + 30, 21).0, jet(199.0 / 200.0));
    assert_eq!(img.get_pixel(tw + 30, 120).0, jet(0.5));
    assert_eq!(img.get_pixel(tw + 30, 219).0, jet(1.0 / 200.0));
}

#[test]
fn heatmap_overlay_rejects_bad_maps() {
    use histo_metrics::plot::heatmap_overlay;
    let (_t, dir) = out_dir();
    let thumb = image::RgbImage::new(10, 10);
    let p = dir.join("bad.png");
    assert!(heatmap_overlay(&p, &thumb, &[0.5; 3], 2, 2, 0.5).is_err());
    assert!(heatmap_overlay(&p, &thumb, &[0.5; 4], 2, 2, 1.5).is_err());
    assert!(heatmap_overlay(&p, &image::RgbImage::new(0, 0), &[0.5; 4], 2, 2, 0.5).is_err());
    assert!(!p.exists());
}

#[test]
fn evaluation_charts_are_drawn() {
    use histo_metrics::froc::{Detection, LesionMask, MaskGeometry, evaluate_slide, froc};
    use histo_metrics::plot::*;
    use histo_metrics::{ConfusionMatrix, roc_auc, roc_curve};
    let (_t, dir) = out_dir();

    let y_true = [0, 0, 1, 1, 2, 2, 2, 1, 0, 2];
    let y_pred = [0, 1, 1, 1, 2, 0, 2, 1, 0, 2];
    let cm = ConfusionMatrix::new(&y_true, &y_pred, 3).unwrap();
    let names: Vec<String> = ["ADI", "BACK", "TUM"].map(String::from).to_vec();
    for normalized in [false, true] {
        let p = dir.join(format!("confusion_{normalized}.png"));
        confusion_matrix_plot(&p, &cm, &names, normalized, "Confusion matrix").unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert!(img.width() > 300 && img.height() > 300);
        assert!(coloured_pixels(&img) > 1000, "cells are coloured");
    }
    assert!(confusion_matrix_plot(&dir.join("x.png"), &cm, &names[..2], false, "t").is_err());

    let y: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
    let s: Vec<f64> = (0..40)
        .map(|i| ((i * 7919) % 40) as f64 / 40.0 + y[i] as u8 as f64 * 0.3)
        .collect();
    let curve = roc_curve(&y, &s).unwrap();
    let auc = roc_auc(&y, &s).unwrap();
    let p = dir.join("roc.png");
    roc_plot(&p, "ROC", &[("tumour".into(), curve, auc)]).unwrap();
    assert!(count_colour(&image::open(&p).unwrap().to_rgb8(), [31, 119, 180]) > 100);

    let mask = LesionMask::new(
        &[true; 64 * 64],
        64,
        64,
        MaskGeometry {
            level0_mpp: 1.0,
            level: 2,
        },
    )
    .unwrap();
    let det = |p, x, y| Detection {
        probability: p,
        x,
        y,
    };
    let o = evaluate_slide(Some(&mask), &[det(0.9, 10, 10), det(0.4, 200, 200)]).unwrap();
    let o2 = evaluate_slide(None, &[det(0.5, 0, 0), det(0.2, 0, 0)]).unwrap();
    let f = froc(&[o, o2]).unwrap();
    let p = dir.join("froc.png");
    froc_plot(&p, "FROC", &f).unwrap();
    assert!(count_colour(&image::open(&p).unwrap().to_rgb8(), [214, 39, 40]) > 50);

    let a: Vec<f64> = (0..50).map(|i| i as f64 / 50.0).collect();
    let b: Vec<f64> = a
        .iter()
        .enumerate()
        .map(|(i, v)| v + ((i % 7) as f64 - 3.0) * 0.02)
        .collect();
    let p = dir.join("bland_altman.png");
    bland_altman_plot(&p, "Bland–Altman: model vs pathologist A", &b, &a).unwrap();
    assert!(coloured_pixels(&image::open(&p).unwrap().to_rgb8()) > 500);
    let p = dir.join("scatter.png");
    scatter_identity_plot(
        &p,
        "Model vs pathologist A",
        "pathologist A",
        "model",
        &a,
        &b,
    )
    .unwrap();
    assert!(coloured_pixels(&image::open(&p).unwrap().to_rgb8()) > 300);
    assert!(scatter_identity_plot(&p, "t", "x", "y", &a, &b[..3]).is_err());
    assert!(bland_altman_plot(&p, "t", &a[..1], &b[..1]).is_err());
}
