//! `generate`: writes the selected datasets under one output folder, resumably.

use std::path::{Path, PathBuf};

use histo_tensor::Image;
use serde::{Deserialize, Serialize};

use crate::breastpathq::{self, BpqSplit};
use crate::camelyon::{self, CamSplit};
use crate::class::TissueClass;
use crate::config::SynthConfig;
use crate::io::{mkdir, save_image, write_atomic};
use crate::kather::{self, KatherSplit};
use crate::preview::{annotated_thumbnail, class_mosaic, draw_text};
use crate::run::{DatasetReport, Progress, Run};
use crate::{Error, Result, pretrain};

/// Name of the resolved configuration written at the root of the output folder.
pub const CONFIG_FILE: &str = "synth.json";

/// Which datasets to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// `pretrain/`.
    pub pretrain: bool,
    /// `kather/`.
    pub kather: bool,
    /// `breastpathq/`.
    pub breastpathq: bool,
    /// `camelyon16/`.
    pub camelyon16: bool,
}

impl Selection {
    /// All four datasets.
    pub fn all() -> Self {
        Self {
            pretrain: true,
            kather: true,
            breastpathq: true,
            camelyon16: true,
        }
    }

    /// Parses a comma-separated list (`pretrain,kather,breastpathq,camelyon16`).
    pub fn parse(list: &[String]) -> Result<Self> {
        if list.is_empty() {
            return Ok(Self::all());
        }
        let mut s = Self {
            pretrain: false,
            kather: false,
            breastpathq: false,
            camelyon16: false,
        };
        for name in list {
            match name.trim().to_ascii_lowercase().as_str() {
                "pretrain" => s.pretrain = true,
                "kather" => s.kather = true,
                "breastpathq" => s.breastpathq = true,
                "camelyon16" => s.camelyon16 = true,
                other => {
                    return Err(Error::Config(format!(
                        "unknown dataset `{other}` (expected pretrain, kather, breastpathq or camelyon16)"
                    )));
                }
            }
        }
        Ok(s)
    }
}

/// What a generation wrote.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The output folder.
    pub out: PathBuf,
    /// One entry per dataset written.
    pub datasets: Vec<DatasetReport>,
    /// Preview images written.
    pub previews: Vec<PathBuf>,
    /// Notes (e.g. a preview that could not be made).
    pub notes: Vec<String>,
}

/// Writes the selected datasets of `cfg` under `out` (see the crate documentation for the
/// layout). Files that exist are complete (everything is written to a temporary name and
/// renamed) and are skipped, so an interrupted run resumes where it stopped. `out` must be
/// empty or hold data of the same configuration (checked against `out/synth.json`).
pub fn generate(
    cfg: &SynthConfig,
    out: &Path,
    selection: Selection,
    preview: bool,
    progress: &dyn Progress,
) -> Result<Report> {
    cfg.validate()?;
    mkdir(out)?;
    check_config(cfg, out)?;
    let mut report = Report {
        out: out.to_path_buf(),
        datasets: Vec::new(),
        previews: Vec::new(),
        notes: Vec::new(),
    };
    type Gen = fn(&Run<'_>) -> Result<()>;
    let parts: [(bool, &str, Gen); 4] = [
        (selection.kather, "kather", kather::generate),
        (selection.breastpathq, "breastpathq", breastpathq::generate),
        (selection.camelyon16, "camelyon16", camelyon::generate),
        (selection.pretrain, "pretrain", pretrain::generate),
    ];
    for (on, name, f) in parts {
        if !on {
            continue;
        }
        tracing::info!("synth: writing {name}/");
        let run = Run::new(cfg, out.join(name), progress);
        mkdir(&run.root)?;
        f(&run)?;
        report.datasets.push(run.report(name));
    }
    if preview {
        write_previews(cfg, out, &mut report)?;
    }
    Ok(report)
}

fn check_config(cfg: &SynthConfig, out: &Path) -> Result<()> {
    let path = out.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(cfg).map_err(|e| Error::Config(e.to_string()))?;
    match std::fs::read_to_string(&path) {
        Ok(old) => {
            let prev: std::result::Result<SynthConfig, _> = serde_json::from_str(&old);
            match prev {
                Ok(prev) if &prev == cfg => Ok(()),
                Ok(prev) => Err(Error::Mismatch {
                    path,
                    what: describe_difference(&prev, cfg),
                }),
                Err(e) => Err(Error::Mismatch {
                    path,
                    what: format!("unreadable: {e}"),
                }),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_atomic(&path, format!("{text}\n").as_bytes())
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

fn describe_difference(a: &SynthConfig, b: &SynthConfig) -> String {
    let (Ok(va), Ok(vb)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return "settings differ".into();
    };
    let mut diffs = Vec::new();
    if let (Some(ma), Some(mb)) = (va.as_object(), vb.as_object()) {
        for (k, x) in ma {
            if mb.get(k) != Some(x) {
                diffs.push(k.clone());
            }
        }
    }
    format!("differs in: {}", diffs.join(", "))
}

/// Writes `preview/classes.png`, `preview/breastpathq.png` and `preview/slide.png`.
fn write_previews(cfg: &SynthConfig, out: &Path, report: &mut Report) -> Result<()> {
    let dir = out.join("preview");
    mkdir(&dir)?;

    // Four training patches of each class (the same pixels as the files).
    let mut patches: [Vec<Image>; 9] = Default::default();
    for class in TissueClass::ALL {
        patches[class.index()] = (0..4)
            .map(|k| kather::render_patch(cfg, KatherSplit::Train, class, k))
            .collect();
    }
    let path = dir.join("classes.png");
    save_image(&class_mosaic(&patches), &path, cfg.mpp)?;
    report.previews.push(path);

    // Eight BreastPathQ-style patches, labelled with their true cellularity.
    let n = 8.min(cfg.breastpathq.train.max(1));
    let p = cfg.breastpathq.patch as usize;
    let mut strip = Image::filled(n * (p + 4) + 4, p + 30, [255, 255, 255]);
    for i in 0..n {
        let (img, truth) = breastpathq::render_patch(cfg, BpqSplit::Train, i);
        let x0 = 4 + i * (p + 4);
        for y in 0..p {
            for x in 0..p {
                strip.put_pixel(x0 + x, 26 + y, img.pixel(x, y));
            }
        }
        let label = format!("Y={:.2}", truth.cellularity());
        draw_text(&mut strip, x0, 4, &label, 3, [20, 20, 20]);
    }
    let path = dir.join("breastpathq.png");
    save_image(&strip, &path, cfg.mpp)?;
    report.previews.push(path);

    // The first Camelyon16-style slide with metastases, with its annotation outlines.
    let slides = camelyon::slides(cfg);
    let Some(s) = slides
        .iter()
        .find(|s| s.tumour && s.split == CamSplit::Train)
        .or_else(|| slides.iter().find(|s| s.tumour))
    else {
        report
            .notes
            .push("no Camelyon16 slide with metastases to preview".into());
        return Ok(());
    };
    let slide_path = out
        .join("camelyon16/slides")
        .join(s.folder())
        .join(format!("{}.tif", s.name));
    if !slide_path.exists() {
        report.notes.push(format!(
            "slide preview skipped: {} has not been generated (include camelyon16)",
            slide_path.display()
        ));
        return Ok(());
    }
    let slide = histo_wsi::Slide::open(&slide_path)?;
    let thumb = slide.thumbnail(1024)?;
    let ds = cfg.camelyon16.width as f64 / thumb.width() as f64;
    let m = camelyon::model(cfg, s);
    let img = annotated_thumbnail(
        &thumb,
        ds,
        &m.mosaic.tumours,
        &m.mosaic.holes,
        &format!("{} - TUMOUR GREEN, EXCLUSION BLUE", s.name),
    );
    let path = dir.join("slide.png");
    save_image(&img, &path, cfg.mpp)?;
    report.previews.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_parses_names() {
        let s = Selection::parse(&["kather".into(), "Camelyon16".into()]).unwrap();
        assert!(s.kather && s.camelyon16 && !s.pretrain && !s.breastpathq);
        assert_eq!(Selection::parse(&[]).unwrap(), Selection::all());
        let e = Selection::parse(&["cifar".into()]).unwrap_err();
        assert!(e.to_string().contains("cifar"));
    }
}
