//! PNG plots drawn with [plotters] and a bundled font (DejaVu Sans, subset; see
//! `assets/README.md`), so no system font library is needed.
//!
//! Every function writes one PNG and returns `Ok(())`, or a [`MetricsError`] naming the file.
//! Plots are rendered into an RGB buffer by plotters' bitmap backend and encoded by the `image`
//! crate (plotters' own encoder would pull a second, older copy of `image`).
//!
//! [`MetricsError`]: crate::MetricsError

mod canvas;
mod charts;
mod heatmap;
mod line;
mod scatter;

pub use charts::{
    bland_altman_plot, confusion_matrix_plot, froc_plot, roc_plot, scatter_identity_plot,
};
pub use heatmap::{colorize, heatmap_overlay, jet};
pub use line::{Series, line_chart};
pub use scatter::scatter_groups;

pub(crate) use canvas::{Canvas, FONT_FAMILY, PALETTE, finite_range};
