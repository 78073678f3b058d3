//! Line charts of curves such as loss and accuracy per epoch.

use std::path::Path;

use plotters::prelude::*;

use super::{Canvas, FONT_FAMILY, PALETTE, finite_range};
use crate::error::Result;

/// One named curve of a [`line_chart`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in drawing order. Non-finite points are left out and break the line.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a name and its points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// At most this many points get a marker as well as the line.
const MAX_MARKED_POINTS: usize = 60;

/// Writes a PNG line chart (900 × 600) of `series` at `path`, with a title, axis labels and a
/// legend. Axes span the finite points of all series; non-finite points (a NaN loss, say) are
/// skipped and split the line there. An empty chart (no points yet) is drawn with unit axes.
///
/// ```
/// use histo_metrics::plot::{Series, line_chart};
/// let dir = tempfile::tempdir()?;
/// let train = Series::new("train", vec![(1.0, 0.9), (2.0, 0.6), (3.0, 0.4)]);
/// let val = Series::new("validation", vec![(1.0, 1.0), (2.0, 0.7), (3.0, 0.55)]);
/// line_chart(&dir.path().join("loss.png"), "Loss", "epoch", "loss", &[train, val])?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = finite_range(all().filter(|p| p.1.is_finite()).map(|p| p.0));
    let (y0, y1) = finite_range(all().filter(|p| p.0.is_finite()).map(|p| p.1));
    let mut canvas = Canvas::new(900, 600);
    canvas.draw(path, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style((FONT_FAMILY, 18))
            .label_style((FONT_FAMILY, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let style = colour.stroke_width(2);
            let mut labelled = false;
            for segment in finite_segments(&s.points) {
                let ann = chart.draw_series(LineSeries::new(segment.iter().copied(), style))?;
                if !labelled && !s.name.is_empty() {
                    ann.label(s.name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
                    labelled = true;
                }
            }
            let finite = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite());
            if finite.clone().count() <= MAX_MARKED_POINTS {
                chart.draw_series(finite.map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        if series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .label_font((FONT_FAMILY, 15))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }
        Ok(())
    })?;
    canvas.save(path)
}

/// The runs of consecutive finite points.
fn finite_segments(points: &[(f64, f64)]) -> Vec<&[(f64, f64)]> {
    points
        .split(|p| !(p.0.is_finite() && p.1.is_finite()))
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_split_at_non_finite_points() {
        let p = [
            (0.0, 1.0),
            (1.0, f64::NAN),
            (2.0, 2.0),
            (3.0, 3.0),
            (f64::INFINITY, 0.0),
        ];
        let s = finite_segments(&p);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], &[(0.0, 1.0)]);
        assert_eq!(s[1], &[(2.0, 2.0), (3.0, 3.0)]);
    }
}
