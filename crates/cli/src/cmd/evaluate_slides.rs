//! `histo evaluate-slides`: the test-slide evaluation of a tumour detector from what
//! `histo predict-slide` wrote — per-tile labels from the annotations, slide scores, and the
//! Camelyon16 lesion-level FROC.
//!
//! For every slide listed in the reference CSV (`image,label` with `Tumor`/`Normal`, as
//! Camelyon16's `test_reference.csv`), it reads `{slide}.json` and `{slide}_tiles.csv` from
//! `--maps` and writes into `--out`:
//! - `tiles.csv` (`slide,col,row,x0,y0,target,score`): every tissue tile, labelled tumour when
//!   its centre lies inside an annotated tumour polygon (the Camelyon16 patch rule);
//! - `slides.csv` (`slide,target,score,max,mean,tiles,tumour_tiles`): `score` is the slide's
//!   maximum tile probability (or the mean, `--slide-score mean`);
//! - `froc.json` and `froc.png`: detections by NCRF's iterative maximum suppression on the tile
//!   map, scored with the official Camelyon16 FROC rules (histo-metrics' `froc` module), the
//!   evaluation mask rasterised from the annotations at the level nearest 7.776 µm per pixel
//!   (Camelyon16's level 5 at 0.243 µm).
//!
//! `histo evaluate --task binary` on `tiles.csv` and `slides.csv` gives the patch-level and
//! slide-level AUC and ROC plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::{Args as ClapArgs, ValueEnum};
use histo_metrics::froc::{
    Detection, FP_RATES, LesionMask, MaskGeometry, detect_local_maxima, evaluate_slide, froc,
};
use histo_metrics::plot;
use histo_wsi::{Annotations, Slide};
use serde_json::json;

use crate::Context;

/// Which tile statistic is the slide's score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SlideScore {
    /// The highest tile probability.
    Max,
    /// The mean tile probability over tissue tiles.
    Mean,
}

/// Options of `histo evaluate-slides`.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Folder of `histo predict-slide` outputs (`{slide}.json`, `{slide}_tiles.csv`).
    #[arg(long, value_name = "DIR")]
    maps: PathBuf,
    /// Reference CSV with columns `image` and `label` (`Tumor` or `Normal`).
    #[arg(long, value_name = "CSV")]
    reference: PathBuf,
    /// Folder of tumour annotations: `{slide}.xml` (ASAP) or `{slide}.json` (the original's
    /// format). Every tumour slide needs one.
    #[arg(long, value_name = "DIR")]
    annotations: PathBuf,
    /// Output folder (created).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Slide-level score written to `slides.csv`.
    #[arg(long, value_enum, default_value = "max")]
    slide_score: SlideScore,
    /// Tile probability above which a local maximum is a detection (NCRF: 0.5).
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Suppression radius around a detection, in µm (NCRF: 12 cells of 64 px at 0.243 µm).
    #[arg(long, default_value_t = 186.6)]
    nms_radius_um: f64,
    /// Pixel size of the FROC evaluation mask in µm (Camelyon16: level 5 at 0.243 µm).
    #[arg(long, default_value_t = 7.776)]
    mask_um: f64,
    /// Level-0 pixel size in µm when a slide does not record one.
    #[arg(long)]
    mpp: Option<f64>,
}

/// One slide's tiles as `histo predict-slide` wrote them.
struct SlideTiles {
    slide: PathBuf,
    max: f64,
    mean: f64,
    cols: usize,
    rows: usize,
    /// Level-0 pixels per map cell.
    cell: f64,
    /// (col, row, x0, y0, value)
    tiles: Vec<(usize, usize, i64, i64, f64)>,
}

fn read_reference(path: &Path) -> Result<Vec<(String, bool)>> {
    let shown = path.display();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot open {shown}"))?;
    let headers = rdr
        .headers()
        .with_context(|| format!("cannot read the header row of {shown}"))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{shown}: missing column `{name}` (the header has: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    let (ci, cl) = (col("image")?, col("label")?);
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("cannot read {shown}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let name = rec.get(ci).unwrap_or_default().to_string();
        let label = rec.get(cl).unwrap_or_default();
        let tumour = match label.to_ascii_lowercase().as_str() {
            "tumor" | "tumour" | "1" => true,
            "normal" | "0" => false,
            _ => bail!("{shown} line {line}: label `{label}` is neither Tumor nor Normal"),
        };
        if name.is_empty() {
            bail!("{shown} line {line}: empty image name");
        }
        out.push((name, tumour));
    }
    if out.is_empty() {
        bail!("{shown} lists no slides");
    }
    Ok(out)
}

fn read_tiles(maps: &Path, name: &str) -> Result<SlideTiles> {
    let json_path = maps.join(format!("{name}.json"));
    let text = fs::read_to_string(&json_path).with_context(|| {
        format!(
            "no prediction for slide {name}: cannot read {} (run `histo predict-slide` on it)",
            json_path.display()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", json_path.display()))?;
    let num = |k: &str| {
        v[k].as_f64()
            .with_context(|| format!("{}: missing number `{k}`", json_path.display()))
    };
    let (max, mean, cols, rows, cell) = (
        num("max")?,
        num("mean")?,
        num("cols")? as usize,
        num("rows")? as usize,
        num("cell_level0")?,
    );
    let slide = PathBuf::from(
        v["slide"]
            .as_str()
            .with_context(|| format!("{}: missing the slide path", json_path.display()))?,
    );
    let csv_path = maps.join(format!("{name}_tiles.csv"));
    let shown = csv_path.display();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_path(&csv_path)
        .with_context(|| format!("cannot open {shown}"))?;
    let headers = rdr.headers()?.clone();
    let idx = |n: &str| {
        headers
            .iter()
            .position(|h| h == n)
            .with_context(|| format!("{shown}: missing column `{n}`"))
    };
    let (ic, ir, ix, iy, iv) = (
        idx("col")?,
        idx("row")?,
        idx("x0")?,
        idx("y0")?,
        idx("value")?,
    );
    let mut tiles = Vec::new();
    for rec in rdr.records() {
        let rec = rec.with_context(|| format!("cannot read {shown}"))?;
        let line = rec.position().map_or(0, |p| p.line());
        let field = |i: usize| rec.get(i).unwrap_or_default();
        let bad = || format!("{shown} line {line}: not a number");
        let (c, r): (usize, usize) = (
            field(ic).parse().with_context(bad)?,
            field(ir).parse().with_context(bad)?,
        );
        let (x0, y0): (i64, i64) = (
            field(ix).parse().with_context(bad)?,
            field(iy).parse().with_context(bad)?,
        );
        let value: f64 = field(iv).parse().with_context(bad)?;
        if !value.is_finite() || c >= cols || r >= rows {
            bail!("{shown} line {line}: value {value} at ({c}, {r}) outside a {cols}×{rows} map");
        }
        tiles.push((c, r, x0, y0, value));
    }
    if tiles.is_empty() {
        bail!("{shown}: no tissue tile was predicted on slide {name}");
    }
    Ok(SlideTiles {
        slide,
        max,
        mean,
        cols,
        rows,
        cell,
        tiles,
    })
}

fn read_annotations(dir: &Path, name: &str) -> Result<Option<Annotations>> {
    let xml = dir.join(format!("{name}.xml"));
    let json = dir.join(format!("{name}.json"));
    if xml.is_file() {
        return Ok(Some(Annotations::read_asap_xml(&xml)?));
    }
    if json.is_file() {
        return Ok(Some(Annotations::read_json(&json)?));
    }
    Ok(None)
}

/// Runs `histo evaluate-slides`.
pub fn run(args: Args, _ctx: &Context) -> Result<()> {
    if !(args.threshold >= 0.0 && args.threshold < 1.0) {
        bail!("--threshold must be in [0, 1), got {}", args.threshold);
    }
    if !(args.nms_radius_um >= 0.0 && args.mask_um > 0.0) {
        bail!("--nms-radius-um must be ≥ 0 and --mask-um > 0");
    }
    let reference = read_reference(&args.reference)?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut tiles_csv = String::from("slide,col,row,x0,y0,target,score\n");
    let mut slides_csv = String::from("slide,target,score,max,mean,tiles,tumour_tiles\n");
    let mut outcomes = Vec::new();
    let mut per_slide = BTreeMap::new();
    for (name, tumour) in &reference {
        let t = read_tiles(&args.maps, name)?;
        let ann = read_annotations(&args.annotations, name)?;
        if *tumour && ann.as_ref().is_none_or(|a| a.positive.is_empty()) {
            bail!(
                "slide {name} is a tumour slide in {} but {} holds no tumour annotation for it \
                 ({name}.xml or {name}.json)",
                args.reference.display(),
                args.annotations.display()
            );
        }
        let ann = if *tumour { ann } else { None };
        let slide = Slide::open(&t.slide).with_context(|| {
            format!(
                "opening slide {} (for its size and pixel size)",
                t.slide.display()
            )
        })?;
        let mpp = slide.mpp().0.or(args.mpp).with_context(|| {
            format!(
                "{} records no pixel size: give it with --mpp",
                t.slide.display()
            )
        })?;
        let extent = t.cell;
        // Tile labels and the dense map (NaN outside tissue).
        let mut map = vec![f32::NAN; t.cols * t.rows];
        let mut origin = vec![(0i64, 0i64); t.cols * t.rows];
        let mut n_tumour = 0usize;
        for &(c, r, x0, y0, v) in &t.tiles {
            let (cx, cy) = (x0 as f64 + extent / 2.0, y0 as f64 + extent / 2.0);
            let target = ann.as_ref().is_some_and(|a| a.is_positive(cx, cy));
            n_tumour += usize::from(target);
            writeln!(
                tiles_csv,
                "{name},{c},{r},{x0},{y0},{},{v}",
                u8::from(target)
            )?;
            map[r * t.cols + c] = v as f32;
            origin[r * t.cols + c] = (x0, y0);
        }
        let score = match args.slide_score {
            SlideScore::Max => t.max,
            SlideScore::Mean => t.mean,
        };
        writeln!(
            slides_csv,
            "{name},{},{score},{},{},{},{n_tumour}",
            u8::from(*tumour),
            t.max,
            t.mean,
            t.tiles.len()
        )?;
        // Detections: local maxima on the tile map, reported at the tile centre (level 0).
        let radius = ((args.nms_radius_um / (extent * mpp)).round() as usize).max(1);
        let cells = detect_local_maxima(&map, t.cols, t.rows, 0, radius, args.threshold)?;
        let detections: Vec<Detection> = cells
            .iter()
            .map(|d| {
                let (x0, y0) = origin[d.y as usize * t.cols + d.x as usize];
                Detection {
                    probability: d.probability,
                    x: (x0 as f64 + extent / 2.0).max(0.0) as u64,
                    y: (y0 as f64 + extent / 2.0).max(0.0) as u64,
                }
            })
            .collect();
        // The evaluation mask at the level nearest `mask_um`.
        let level = (args.mask_um / mpp).log2().round().max(0.0) as u32;
        let ds = 2f64.powi(level as i32);
        let (w0, h0) = slide.dimensions();
        let (mw, mh) = (
            (w0 as f64 / ds).ceil() as usize,
            (h0 as f64 / ds).ceil() as usize,
        );
        let mask = match &ann {
            Some(a) => {
                let raster: Vec<bool> =
                    a.rasterize(mw, mh, ds).into_iter().map(|v| v > 0).collect();
                Some(LesionMask::new(
                    &raster,
                    mw,
                    mh,
                    MaskGeometry {
                        level0_mpp: mpp,
                        level,
                    },
                )?)
            }
            None => None,
        };
        let outcome = evaluate_slide(mask.as_ref(), &detections)
            .with_context(|| format!("scoring the detections of slide {name}"))?;
        per_slide.insert(
            name.clone(),
            json!({
                "tumour": tumour,
                "score": score,
                "tiles": t.tiles.len(),
                "tumour_tiles": n_tumour,
                "detections": detections.len(),
                "false_positives": outcome.fp_probs.len(),
                "lesions": outcome.n_lesions,
                "lesions_found": outcome.lesion_probs.iter().filter(|&&p| p > 0.0).count(),
                "mask_level": level,
                "nms_radius_cells": radius,
            }),
        );
        outcomes.push(outcome);
    }
    let settings = json!({
        "threshold": args.threshold,
        "nms_radius_um": args.nms_radius_um,
        "mask_um": args.mask_um,
        "slide_score": format!("{:?}", args.slide_score).to_lowercase(),
    });
    let n_lesions: usize = outcomes.iter().map(|o| o.n_lesions).sum();
    // Without a countable lesion (all tumours smaller than the ITC limit) the FROC is
    // undefined: say so and write no score rather than a made-up one.
    let (report, summary) = if n_lesions == 0 {
        let reason = "no lesion in the reference counts for the FROC (every tumour is an isolated \
                      tumour cell cluster: major axis below 275 µm after the 75 µm dilation)";
        tracing::warn!("{reason}; froc.json has score null");
        (
            json!({ "score": null, "reason": reason, "slides": per_slide, "settings": settings }),
            format!("FROC undefined: {reason}"),
        )
    } else {
        let curve = froc(&outcomes).context("computing the FROC")?;
        plot::froc_plot(&args.out.join("froc.png"), "FROC (test slides)", &curve)?;
        let summary = format!(
            "FROC score {:.4} (sensitivity {} at {} FP/slide)",
            curve.score,
            curve
                .sensitivity_at_fp_rates
                .iter()
                .map(|s| format!("{s:.3}"))
                .collect::<Vec<_>>()
                .join(" / "),
            FP_RATES.map(|f| f.to_string()).join(" / ")
        );
        (
            json!({
                "score": curve.score,
                "fp_rates": FP_RATES,
                "sensitivity_at_fp_rates": curve.sensitivity_at_fp_rates,
                "fps_per_slide": curve.fps_per_slide,
                "sensitivity": curve.sensitivity,
                "lesions": n_lesions,
                "slides": per_slide,
                "settings": settings,
            }),
            summary,
        )
    };
    let write = |file: &str, text: String| {
        let p = args.out.join(file);
        fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))
    };
    write("tiles.csv", tiles_csv)?;
    write("slides.csv", slides_csv)?;
    write("froc.json", serde_json::to_string_pretty(&report)? + "\n")?;
    println!(
        "{} slides ({} tumour): {summary}",
        reference.len(),
        reference.iter().filter(|r| r.1).count(),
    );
    println!(
        "tiles.csv, slides.csv, froc.json (+ froc.png) written to {} (AUC: histo evaluate \
         --task binary on tiles.csv and slides.csv)",
        args.out.display()
    );
    Ok(())
}
