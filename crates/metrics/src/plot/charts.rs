//! Evaluation charts: confusion matrix, ROC and FROC curves, Bland–Altman, and prediction
//! against rater with the identity line.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor;

use super::{Canvas, FONT_FAMILY, PALETTE, finite_range};
use crate::agreement::bland_altman;
use crate::classification::ConfusionMatrix;
use crate::error::{Result, invalid};
use crate::froc::{FP_RATES, Froc};
use crate::roc::RocCurve;

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// matplotlib-like "Blues": white to dark blue.
fn blues(t: f64) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// Writes the confusion matrix as a PNG grid (rows: true class, columns: predicted), with
/// counts, or with row-normalised fractions when `normalized` (each row sums to 1: the
/// diagonal is the per-class sensitivity). `class_names` may be empty (indices are shown).
pub fn confusion_matrix_plot(
    path: &Path,
    cm: &ConfusionMatrix,
    class_names: &[String],
    normalized: bool,
    title: &str,
) -> Result<()> {
    let c = cm.n_classes();
    if !class_names.is_empty() && class_names.len() != c {
        return Err(invalid!(
            "{} class names for {c} classes",
            class_names.len()
        ));
    }
    let name = |i: usize| class_names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let fractions = cm.normalized_rows();
    let counts = cm.rows();
    let max_count = counts.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    let cell = (560 / c as u32).clamp(28, 90);
    let (left, top) = (150u32, 70u32);
    let (w, h) = (left + cell * c as u32 + 40, top + cell * c as u32 + 110);
    let mut canvas = Canvas::new(w, h);
    canvas.draw(path, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let font = |size: u32| TextStyle::from((FONT_FAMILY, size).into_font()).color(&BLACK);
        root.draw(&Text::new(title.to_string(), (left as i32, 20), font(22)))?;
        let value_size = (cell / 4).clamp(9, 18);
        for (t, row) in counts.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let level = if normalized {
                    fractions[t][p]
                } else {
                    count as f64 / max_count
                };
                let (x0, y0) = (
                    (left + p as u32 * cell) as i32,
                    (top + t as u32 * cell) as i32,
                );
                let rect = [(x0, y0), (x0 + cell as i32, y0 + cell as i32)];
                root.draw(&Rectangle::new(rect, blues(level).filled()))?;
                root.draw(&Rectangle::new(rect, RGBColor(200, 200, 200)))?;
                let text = if normalized {
                    format!("{:.2}", fractions[t][p])
                } else {
                    count.to_string()
                };
                let colour = if level > 0.5 { WHITE } else { BLACK };
                let style = TextStyle::from((FONT_FAMILY, value_size).into_font())
                    .color(&colour)
                    .pos(text_anchor::Pos::new(
                        text_anchor::HPos::Center,
                        text_anchor::VPos::Center,
                    ));
                root.draw(&Text::new(
                    text,
                    (x0 + cell as i32 / 2, y0 + cell as i32 / 2),
                    style,
                ))?;
            }
        }
        let label_size = (cell / 3).clamp(10, 15);
        for i in 0..c {
            let centre = (i as u32 * cell + cell / 2) as i32;
            let right = TextStyle::from((FONT_FAMILY, label_size).into_font()).pos(
                text_anchor::Pos::new(text_anchor::HPos::Right, text_anchor::VPos::Center),
            );
            root.draw(&Text::new(
                name(i),
                (left as i32 - 8, top as i32 + centre),
                right,
            ))?;
            let below = TextStyle::from((FONT_FAMILY, label_size).into_font())
                .transform(FontTransform::Rotate270)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Right,
                    text_anchor::VPos::Center,
                ));
            let y = (top + c as u32 * cell + 8) as i32;
            root.draw(&Text::new(name(i), (left as i32 + centre, y), below))?;
        }
        let mid = (left + c as u32 * cell / 2) as i32;
        root.draw(&Text::new(
            "predicted class",
            (mid - 55, h as i32 - 24),
            font(16),
        ))?;
        root.draw(&Text::new("true class", (10, top as i32 - 22), font(16)))?;
        Ok(())
    })?;
    canvas.save(path)
}

/// Writes ROC curves (one per `(name, curve, auc)`, legend "name (AUC = …)") with the chance
/// diagonal, on unit axes.
pub fn roc_plot(path: &Path, title: &str, curves: &[(String, RocCurve, f64)]) -> Result<()> {
    let mut canvas = Canvas::new(700, 640);
    canvas.draw(path, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .axis_desc_style((FONT_FAMILY, 17))
            .label_style((FONT_FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        for (i, (name, curve, auc)) in curves.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let pts = curve
                .fpr
                .iter()
                .zip(&curve.tpr)
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .map(|(&x, &y)| (x, y));
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                .label(format!("{name} (AUC = {auc:.3})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        if !curves.is_empty() {
            chart
                .configure_series_labels()
                .label_font((FONT_FAMILY, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::LowerRight)
                .draw()?;
        }
        Ok(())
    })?;
    canvas.save(path)
}

/// Writes the FROC curve (sensitivity against mean false positives per slide, log-free x axis
/// up to 8 or the curve's end) with the six challenge operating points marked.
pub fn froc_plot(path: &Path, title: &str, froc: &Froc) -> Result<()> {
    let x_max = froc.fps_per_slide.iter().copied().fold(8.0, f64::max) * 1.02;
    let mut canvas = Canvas::new(760, 560);
    canvas.draw(path, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let caption = format!("{title} (score {:.3})", froc.score);
        let mut chart = ChartBuilder::on(root)
            .caption(caption, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..1.02)?;
        chart
            .configure_mesh()
            .x_desc("average number of false positives per slide")
            .y_desc("lesion sensitivity")
            .axis_desc_style((FONT_FAMILY, 16))
            .label_style((FONT_FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        let pts: Vec<(f64, f64)> = froc
            .fps_per_slide
            .iter()
            .copied()
            .zip(froc.sensitivity.iter().copied())
            .collect();
        chart.draw_series(LineSeries::new(pts, PALETTE[0].stroke_width(2)))?;
        chart.draw_series(
            FP_RATES
                .iter()
                .zip(froc.sensitivity_at_fp_rates)
                .map(|(&x, y)| Circle::new((x, y), 5, PALETTE[3].filled())),
        )?;
        Ok(())
    })?;
    canvas.save(path)
}

/// Writes a Bland–Altman plot of `m1` against `m2`: mean `(m1 + m2) / 2` on x, difference
/// `m1 − m2` on y, with the bias and the limits of agreement (bias ± 1.96·SD, ddof = 1).
pub fn bland_altman_plot(path: &Path, title: &str, m1: &[f64], m2: &[f64]) -> Result<()> {
    let ba = bland_altman(m1, m2)?;
    let means: Vec<f64> = m1.iter().zip(m2).map(|(a, b)| (a + b) / 2.0).collect();
    let diffs: Vec<f64> = m1.iter().zip(m2).map(|(a, b)| a - b).collect();
    let (x0, x1) = finite_range(means.iter().copied());
    let (y0, y1) = finite_range(diffs.iter().copied().chain([ba.loa_low, ba.loa_high]));
    let mut canvas = Canvas::new(800, 560);
    canvas.draw(path, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(70)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc("mean of the two measurements")
            .y_desc("difference")
            .axis_desc_style((FONT_FAMILY, 16))
            .label_style((FONT_FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart.draw_series(
            means
                .iter()
                .zip(&diffs)
                .map(|(&x, &y)| Circle::new((x, y), 3, PALETTE[0].mix(0.7).filled())),
        )?;
        for (v, label, colour) in [
            (ba.bias, format!("bias {:.3}", ba.bias), PALETTE[3]),
            (
                ba.loa_high,
                format!("+1.96 SD {:.3}", ba.loa_high),
                RGBColor(90, 90, 90),
            ),
            (
                ba.loa_low,
                format!("−1.96 SD {:.3}", ba.loa_low),
                RGBColor(90, 90, 90),
            ),
        ] {
            chart.draw_series(DashedLineSeries::new(
                [(x0, v), (x1, v)],
                8,
                5,
                colour.stroke_width(2),
            ))?;
            let style = TextStyle::from((FONT_FAMILY, 14).into_font()).color(&colour);
            let at = chart.backend_coord(&(x1, v));
            root.draw(&Text::new(label, (at.0 - 130, at.1 - 18), style))?;
        }
        Ok(())
    })?;
    canvas.save(path)
}

/// Writes a scatter plot of `y` against `x` on equal axes with the identity line `y = x` (for
/// a prediction against a rater, or one rater against another).
pub fn scatter_identity_plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    x: &[f64],
    y: &[f64],
) -> Result<()> {
    if x.len() != y.len() {
        return Err(invalid!(
            "{} x values against {} y values",
            x.len(),
            y.len()
        ));
    }
    let (lo, hi) = finite_range(x.iter().chain(y).copied());
    let mut canvas = Canvas::new(640, 640);
    canvas.draw(path, |root| -> DrawResult {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style((FONT_FAMILY, 16))
            .label_style((FONT_FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart.draw_series(LineSeries::new(
            [(lo, lo), (hi, hi)],
            RGBColor(150, 150, 150).stroke_width(1),
        ))?;
        chart.draw_series(
            x.iter()
                .zip(y)
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .map(|(&a, &b)| Circle::new((a, b), 3, PALETTE[0].mix(0.7).filled())),
        )?;
        Ok(())
    })?;
    canvas.save(path)
}
