//! Grid tiling for inference: every tissue tile of a slide at a given level, tile size and
//! stride, with its grid cell and coordinates (level and level-0), for slide heat-maps.

use serde::{Deserialize, Serialize};

use crate::slide::{LevelSpec, ReadLevel, Slide};
use crate::tissue::{TissueDetector, TissueMethod, TissueStats};
use crate::{Error, Result};

/// Parameters of grid tiling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridConfig {
    /// The resolution tiles are read at.
    pub level: LevelSpec,
    /// Tile width and height in pixels of that level.
    pub tile: usize,
    /// Step between tiles in pixels of that level (tile = no overlap).
    pub stride: usize,
    /// Tissue test (`None`: every tile).
    pub tissue: Option<TissueMethod>,
    /// Also emit the partial tiles at the right and bottom edges (read with black outside).
    pub include_edges: bool,
}

impl Default for GridConfig {
    fn default() -> Self {
        Self {
            level: LevelSpec::Index(0),
            tile: 256,
            stride: 256,
            tissue: Some(TissueMethod::v2()),
            include_edges: false,
        }
    }
}

/// One tile of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GridTile {
    /// Grid column (heat-map x).
    pub col: usize,
    /// Grid row (heat-map y).
    pub row: usize,
    /// Top-left in pixels of the read level.
    pub x: i64,
    /// Top-left in pixels of the read level.
    pub y: i64,
    /// Top-left in level-0 pixels.
    pub x0: i64,
    /// Top-left in level-0 pixels.
    pub y0: i64,
    /// Fraction of tissue pixels (1 when no tissue test is used).
    pub tissue_fraction: f32,
}

/// The tiles of a slide, with the grid shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridPlan {
    /// The level tiles are read at.
    pub level: ReadLevel,
    /// Grid columns.
    pub cols: usize,
    /// Grid rows.
    pub rows: usize,
    /// Tissue statistics, when a test was used.
    pub tissue: Option<TissueStats>,
    /// Accepted tiles, row-major.
    pub tiles: Vec<GridTile>,
}

fn positions(n: u64, tile: usize, stride: usize, edges: bool) -> Vec<i64> {
    let (n, t, s) = (n as i64, tile as i64, stride as i64);
    let mut v = Vec::new();
    let mut p = 0;
    while p + t <= n || (edges && p < n) {
        v.push(p);
        p += s;
    }
    v
}

/// All tissue tiles of `slide` on a regular grid.
pub fn grid_tiles(slide: &Slide, cfg: &GridConfig) -> Result<GridPlan> {
    if cfg.tile == 0 || cfg.stride == 0 {
        return Err(Error::Invalid("tile and stride must be positive".into()));
    }
    let level = slide.resolve(cfg.level)?;
    let xs = positions(level.width, cfg.tile, cfg.stride, cfg.include_edges);
    let ys = positions(level.height, cfg.tile, cfg.stride, cfg.include_edges);
    let detector = cfg
        .tissue
        .as_ref()
        .map(|m| TissueDetector::prepare(slide, m))
        .transpose()?;
    let rows: Vec<(i64, Vec<i64>)> = ys.iter().map(|&y| (y, xs.clone())).collect();
    let counts = match &detector {
        Some(d) => Some(d.count_squares(slide, &level, &rows, cfg.tile)?),
        None => None,
    };
    let total = (cfg.tile * cfg.tile) as u64;
    let ds = level.downsample;
    let mut tiles = Vec::new();
    for (r, (y, xs)) in rows.iter().enumerate() {
        for (c, &x) in xs.iter().enumerate() {
            let (keep, frac) = match (&detector, &counts) {
                (Some(d), Some(counts)) => {
                    let k = u64::from(counts[r][c]);
                    (d.accepts(k, total), k as f64 / total as f64)
                }
                _ => (true, 1.0),
            };
            if keep {
                tiles.push(GridTile {
                    col: c,
                    row: r,
                    x,
                    y: *y,
                    x0: (x as f64 * ds).round() as i64,
                    y0: (*y as f64 * ds).round() as i64,
                    tissue_fraction: frac as f32,
                });
            }
        }
    }
    Ok(GridPlan {
        level,
        cols: xs.len(),
        rows: ys.len(),
        tissue: detector.map(|d| d.stats().clone()),
        tiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_positions_with_and_without_edges() {
        assert_eq!(positions(1000, 256, 256, false), vec![0, 256, 512]);
        assert_eq!(positions(1000, 256, 256, true), vec![0, 256, 512, 768]);
        assert_eq!(positions(512, 256, 128, false), vec![0, 128, 256]);
        assert!(positions(100, 256, 256, false).is_empty());
    }
}
