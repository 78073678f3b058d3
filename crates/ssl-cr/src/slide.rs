//! Slide heat-maps (`histo predict-slide`): tile the tissue of a whole-slide image on a grid
//! (histo-wsi), predict every tile with the trained head (the original's `test_Camelyon16.py`
//! forgot to load it, B19), and write the probability map as `.npy`, a PNG heat-map over the
//! thumbnail, a per-tile CSV and the slide scores (max, mean) as JSON.

use std::io::Write;
use std::path::{Path, PathBuf};

use histo_tensor::Image;
use histo_wsi::{GridConfig, GridTile, LevelSpec, Slide, TissueMethod, grid_tiles};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::predict::Predictor;
use crate::task::TaskKind;
use crate::{Error, Result};

/// How a slide is tiled and drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlideConfig {
    /// The resolution tiles are read at (level 0 = the resolution of Camelyon16 patches).
    pub level: LevelSpec,
    /// Tile side in pixels of that level (256, the patch size).
    pub tile: usize,
    /// Step between tiles (`tile` = no overlap; one map cell per step).
    pub stride: usize,
    /// Tissue test (`None`: every tile).
    pub tissue: Option<TissueMethod>,
    /// The class whose probability is mapped (`None`: class 1 for binary models; for
    /// multiclass models a class named `TUM`/`tumor`/`tumour`). Ignored for regression
    /// models, whose map holds the predicted score.
    pub class: Option<usize>,
    /// Longer side of the thumbnail under the heat-map, in pixels.
    pub thumbnail: usize,
    /// Opacity of the heat-map over the thumbnail.
    pub alpha: f32,
}

impl Default for SlideConfig {
    fn default() -> Self {
        Self {
            level: LevelSpec::Index(0),
            tile: 256,
            stride: 256,
            tissue: Some(TissueMethod::otsu()),
            class: None,
            thumbnail: 1024,
            alpha: 0.5,
        }
    }
}

/// The outputs of one slide (also written as `{stem}.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlideResult {
    /// The slide file.
    pub slide: PathBuf,
    /// Highest tile probability (the slide-level score for slide AUC).
    pub max: f64,
    /// Mean tile probability over tissue tiles.
    pub mean: f64,
    /// Tissue tiles predicted.
    pub tiles: usize,
    /// Grid columns (map width).
    pub cols: usize,
    /// Grid rows (map height).
    pub rows: usize,
    /// What the map holds (`p(class k)` or `score`).
    pub value: String,
    /// Level-0 pixels per map cell.
    pub cell_level0: f64,
    /// The `.npy` map: float64, shape `(cols, rows)` (x-major, as the original writes it),
    /// 0 outside tissue.
    pub npy: PathBuf,
    /// The PNG heat-map.
    pub heatmap: PathBuf,
    /// The per-tile CSV (`col,row,x0,y0,tissue_fraction,value`).
    pub tiles_csv: PathBuf,
    /// Seconds spent.
    pub wall_s: f64,
}

/// Writes a float64 array as a NumPy `.npy` file (format 1.0, C order).
pub fn write_npy(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::Config(format!(
            "npy: shape {shape:?} holds {n} values, got {}",
            data.len()
        )));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // magic (6) + version (2) + length (2) + header + '\n' padded to a multiple of 64
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 8 * data.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    let len =
        u16::try_from(header.len()).map_err(|_| Error::Config("npy header too long".into()))?;
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&bytes).map_err(|e| Error::io(path, e))
}

/// The class mapped for a predictor (see [`SlideConfig::class`]).
fn mapped_class(pred: &Predictor, cfg: &SlideConfig) -> Result<Option<usize>> {
    if pred.task == TaskKind::Regression {
        return Ok(None);
    }
    let c = pred.outputs();
    let k = match cfg.class {
        Some(k) => k,
        None if c == 2 => 1,
        None => pred
            .class_names
            .iter()
            .position(|n| {
                let n = n.to_ascii_lowercase();
                n == "tum" || n == "tumor" || n == "tumour"
            })
            .ok_or_else(|| {
                Error::Config(format!(
                    "the checkpoint has {c} classes ({}); say which one to map with --class",
                    pred.class_names.join(", ")
                ))
            })?,
    };
    if k >= c {
        return Err(Error::Config(format!(
            "--class {k} is out of range for a checkpoint with {c} classes"
        )));
    }
    Ok(Some(k))
}

/// Predicts one slide into `out_dir` (files named after the slide's file stem).
pub fn predict_slide(
    pred: &Predictor,
    slide_path: &Path,
    cfg: &SlideConfig,
    out_dir: &Path,
) -> Result<SlideResult> {
    let started = std::time::Instant::now();
    if cfg.tile == 0 || cfg.stride == 0 || cfg.thumbnail == 0 {
        return Err(Error::Config(
            "tile, stride and thumbnail size must be positive".into(),
        ));
    }
    if !(0.0..=1.0).contains(&cfg.alpha) {
        return Err(Error::Config(format!(
            "alpha must be in [0, 1], got {}",
            cfg.alpha
        )));
    }
    let class = mapped_class(pred, cfg)?;
    let slide = Slide::open(slide_path)?;
    let grid = grid_tiles(
        &slide,
        &GridConfig {
            level: cfg.level,
            tile: cfg.tile,
            stride: cfg.stride,
            tissue: cfg.tissue,
            include_edges: false,
        },
    )?;
    if grid.tiles.is_empty() {
        return Err(Error::input(
            slide_path,
            format!(
                "no tissue tile of {} px at {} ({} × {} grid); try another --tissue method or \
                 --tissue none",
                cfg.tile, cfg.level, grid.cols, grid.rows
            ),
        ));
    }
    let (cols, rows) = (grid.cols, grid.rows);
    let mut values = vec![0f64; grid.tiles.len()];
    let chunk = pred.batch_size.max(1);
    for (b, tiles) in grid.tiles.chunks(chunk).enumerate() {
        let images = tiles
            .par_iter()
            .map(|t: &GridTile| slide.read_at(&grid.level, t.x, t.y, cfg.tile, cfg.tile))
            .collect::<histo_wsi::Result<Vec<Image>>>()?;
        let out = pred.predict(&images)?;
        for (k, o) in out.iter().enumerate() {
            values[b * chunk + k] = match class {
                Some(c) => o[c],
                None => o[0],
            };
        }
    }
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    let stem = slide_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "slide".into());
    // the map, row-major for the PNG (NaN = no tissue) and x-major for the .npy
    let mut map = vec![f32::NAN; cols * rows];
    let mut xmajor = vec![0f64; cols * rows];
    let mut csv = String::from("col,row,x0,y0,tissue_fraction,value\n");
    for (t, &v) in grid.tiles.iter().zip(&values) {
        map[t.row * cols + t.col] = v as f32;
        xmajor[t.col * rows + t.row] = v;
        csv.push_str(&format!(
            "{},{},{},{},{},{v}\n",
            t.col, t.row, t.x0, t.y0, t.tissue_fraction
        ));
    }
    let npy = out_dir.join(format!("{stem}.npy"));
    write_npy(&npy, &[cols, rows], &xmajor)?;
    let tiles_csv = out_dir.join(format!("{stem}_tiles.csv"));
    std::fs::write(&tiles_csv, csv).map_err(|e| Error::io(&tiles_csv, e))?;

    // heat-map over the part of the thumbnail the grid covers (whole cells)
    let thumb = slide.thumbnail(cfg.thumbnail)?.to_rgb_image();
    let (w0, h0) = slide.dimensions();
    let cell0 = cfg.stride as f64 * grid.level.downsample;
    let fit = |cells: usize, full0: u64, px: u32| -> u32 {
        let f = (cells as f64 * cell0 / full0 as f64).min(1.0);
        ((f * px as f64).round() as u32).clamp(1, px)
    };
    let (tw, th) = thumb.dimensions();
    let (cw, ch) = (fit(cols, w0, tw), fit(rows, h0, th));
    let crop = image::imageops::crop_imm(&thumb, 0, 0, cw, ch).to_image();
    let heatmap = out_dir.join(format!("{stem}_heatmap.png"));
    histo_metrics::plot::heatmap_overlay(&heatmap, &crop, &map, cols, rows, cfg.alpha)?;

    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let result = SlideResult {
        slide: slide_path.to_path_buf(),
        max,
        mean,
        tiles: values.len(),
        cols,
        rows,
        value: match class {
            Some(c) => format!(
                "p({})",
                pred.class_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| format!("class {c}"))
            ),
            None => "score".into(),
        },
        cell_level0: cell0,
        npy,
        heatmap,
        tiles_csv,
        wall_s: started.elapsed().as_secs_f64(),
    };
    let json_path = out_dir.join(format!("{stem}.json"));
    let json = serde_json::to_string_pretty(&result).map_err(|e| Error::Config(e.to_string()))?;
    std::fs::write(&json_path, json).map_err(|e| Error::io(&json_path, e))?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_data_follows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.npy");
        write_npy(&p, &[3, 2], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.5]).unwrap();
        let b = std::fs::read(&p).unwrap();
        assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
        let hl = u16::from_le_bytes([b[8], b[9]]) as usize;
        assert_eq!((10 + hl) % 64, 0);
        let header = std::str::from_utf8(&b[10..10 + hl]).unwrap();
        assert!(
            header.contains("'shape': (3, 2)") && header.ends_with('\n'),
            "{header}"
        );
        assert!(header.contains("'descr': '<f8'"));
        let last = f64::from_le_bytes(b[b.len() - 8..].try_into().unwrap());
        assert_eq!(last, 5.5);
        assert_eq!(b.len(), 10 + hl + 6 * 8);
        assert!(write_npy(&p, &[2, 2], &[1.0]).is_err());
    }
}
