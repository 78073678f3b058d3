//! Scatter plots of 2-D points coloured by group (e.g. an embedding coloured by class).

use std::path::Path;

use plotters::prelude::*;

use super::{Canvas, FONT_FAMILY, PALETTE, finite_range};
use crate::error::{Result, invalid};

/// Writes a PNG scatter plot (800 × 700) of `points`, point `i` drawn in the colour of group
/// `groups[i]` (matplotlib's tab10 colours, cycling after ten groups), with a legend of
/// `group_names` (one name per group; groups are `0..group_names.len()`). Non-finite points
/// are left out.
///
/// ```
/// use histo_metrics::plot::scatter_groups;
/// let dir = tempfile::tempdir()?;
/// let points = [(0.0, 0.1), (0.2, 0.0), (3.0, 3.1), (3.2, 2.9)];
/// let names = ["order 0".to_string(), "order 1".to_string()];
/// scatter_groups(&dir.path().join("pca.png"), "Features (PCA)", "PC 1", "PC 2", &points, &[0, 0, 1, 1], &names)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn scatter_groups(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    points: &[(f64, f64)],
    groups: &[usize],
    group_names: &[String],
) -> Result<()> {
    if points.len() != groups.len() {
        return Err(invalid!(
            "{} points but {} group labels",
            points.len(),
            groups.len()
        ));
    }
    if group_names.is_empty() {
        return Err(invalid!("a scatter plot needs at least one group name"));
    }
    if let Some(&g) = groups.iter().find(|&&g| g >= group_names.len()) {
        return Err(invalid!(
            "group {g} has no name ({} group names given)",
            group_names.len()
        ));
    }
    let finite = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let (x0, x1) = finite_range(points.iter().filter(finite).map(|p| p.0));
    let (y0, y1) = finite_range(points.iter().filter(finite).map(|p| p.1));
    let mut canvas = Canvas::new(800, 700);
    canvas.draw(path, |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style((FONT_FAMILY, 17))
            .label_style((FONT_FAMILY, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (g, name) in group_names.iter().enumerate() {
            let colour = PALETTE[g % PALETTE.len()];
            let mine = points
                .iter()
                .zip(groups)
                .filter(|(p, gi)| **gi == g && finite(p))
                .map(|(&p, _)| Circle::new(p, 3, colour.filled()));
            chart
                .draw_series(mine)?
                .label(name.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
        }
        chart
            .configure_series_labels()
            .label_font((FONT_FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
        Ok(())
    })?;
    canvas.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("g{i}")).collect()
    }

    #[test]
    fn draws_each_group_in_its_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.png");
        let mut pts = Vec::new();
        let mut gs = Vec::new();
        for g in 0..3 {
            for i in 0..20 {
                pts.push((g as f64 * 10.0 + i as f64 * 0.3, (i % 5) as f64));
                gs.push(g);
            }
        }
        pts.push((f64::NAN, 1.0)); // left out, not an error
        gs.push(0);
        scatter_groups(&path, "t", "x", "y", &pts, &gs, &names(3)).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (800, 700));
        for (g, c) in PALETTE.iter().enumerate().take(3) {
            let n = img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count();
            assert!(n > 100, "group {g}: {n} pixels");
        }
        // a fourth colour is not used
        let c = PALETTE[3];
        assert_eq!(img.pixels().filter(|p| p.0 == [c.0, c.1, c.2]).count(), 0);
    }

    #[test]
    fn mismatched_or_unnamed_groups_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.png");
        let pts = [(0.0, 0.0), (1.0, 1.0)];
        let e = scatter_groups(&p, "t", "x", "y", &pts, &[0], &names(1)).unwrap_err();
        assert!(e.to_string().contains("2 points but 1"), "{e}");
        let e = scatter_groups(&p, "t", "x", "y", &pts, &[0, 2], &names(2)).unwrap_err();
        assert!(e.to_string().contains("group 2 has no name"), "{e}");
        assert!(scatter_groups(&p, "t", "x", "y", &pts, &[0, 0], &[]).is_err());
        // no points at all: an empty chart with unit axes
        scatter_groups(&p, "t", "x", "y", &[], &[], &names(2)).unwrap();
        assert!(p.exists());
    }
}
