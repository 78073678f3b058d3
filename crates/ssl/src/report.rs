//! Files of the run folder besides the checkpoints: curves, the embedding plot, the summary.

use std::io::Write;
use std::path::Path;

use candle_core::{Device, Tensor};
use histo_metrics::plot::{Series, line_chart, scatter_groups};
use histo_models::{Mode, PretextModel};
use histo_tensor::{InputScale, SampleRng};
use histo_train::{Dataset, EpochRecord};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::{RspData, collate};
use crate::pca::pca;
use crate::task::ORDER_NAMES;
use crate::{Error, Result};

/// Writes a file through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut name = path
        .file_name()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        drop(f);
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::output(path, e)
    })
}

/// `curves.png`: training and validation loss and accuracy per epoch.
pub fn curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let series = |name: &str, f: &dyn Fn(&EpochRecord) -> Option<f64>| {
        Series::new(
            name,
            history
                .iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
                .collect(),
        )
    };
    let s = [
        series("train loss", &|r| Some(r.train_loss)),
        series("validation loss", &|r| r.metrics.get("val_loss").copied()),
        series("train accuracy", &|r| r.metrics.get("train_acc").copied()),
        series("validation accuracy", &|r| {
            r.metrics.get("val_acc").copied()
        }),
    ];
    line_chart(
        path,
        "RSP pretraining: loss and accuracy per epoch (chance: 0.167)",
        "epoch",
        "cross-entropy / accuracy",
        &s,
    )?;
    Ok(())
}

/// What the embedding plot shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingInfo {
    /// Always `pca`.
    pub method: String,
    /// Samples plotted.
    pub points: usize,
    /// Width of the features (the TripletNet output, `3·head_out`).
    pub features: usize,
    /// Fraction of the variance of the first two components.
    pub explained_ratio: Vec<f64>,
    /// The checkpoint whose features were plotted.
    pub checkpoint: String,
}

/// Features (TripletNet output, the classifier's input) of up to `max` validation samples,
/// their order labels.
pub fn val_features(
    model: &PretextModel,
    data: &RspData,
    scale: InputScale,
    device: &Device,
    max: usize,
    seed: u64,
) -> Result<(Vec<f32>, usize, Vec<usize>)> {
    let samples = data.val_samples();
    let mut idx: Vec<usize> = (0..samples.len()).collect();
    if idx.len() > max {
        idx.shuffle(&mut SampleRng::global("rsp-embedding", seed, 0));
        idx.truncate(max);
        idx.sort_unstable();
    }
    let mut feats = Vec::new();
    let mut labels = Vec::new();
    let mut width = 0;
    for chunk in idx.chunks(128) {
        let items = chunk
            .iter()
            .map(|&i| {
                samples
                    .get(i)
                    .map(|s| (s.inputs, s.label))
                    .map_err(|e| Error::Config(format!("validation sample {i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let b = collate(items, scale)
            .map_err(Error::Config)?
            .to_device(device)?;
        let f: Tensor = model.net.forward(&b.x[0], &b.x[1], &b.x[2], Mode::EVAL)?;
        width = f.dim(1)?;
        feats.extend(
            f.to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        );
        labels.extend(b.y.to_vec1::<u32>()?.into_iter().map(|l| l as usize));
    }
    Ok((feats, width, labels))
}

/// `embedding.png` (+ `embedding.csv`): the first two principal components of the validation
/// features, coloured by order.
pub fn embedding(
    dir: &Path,
    feats: &[f32],
    width: usize,
    labels: &[usize],
    checkpoint: &str,
) -> Result<EmbeddingInfo> {
    let n = labels.len();
    let p = pca(feats, n, width, 2)?;
    let pts: Vec<(f64, f64)> = p
        .scores
        .iter()
        .map(|s| (s[0], s.as_slice().get(1).copied().unwrap_or(0.0)))
        .collect();
    let names: Vec<String> = ORDER_NAMES.iter().map(|s| s.to_string()).collect();
    let ratio = |k: usize| 100.0 * p.explained_ratio.as_slice().get(k).copied().unwrap_or(0.0);
    scatter_groups(
        &dir.join(crate::EMBEDDING),
        &format!("Validation features by order (PCA of {n} samples, {checkpoint})"),
        &format!("PC 1 ({:.1} % of variance)", ratio(0)),
        &format!("PC 2 ({:.1} % of variance)", ratio(1)),
        &pts,
        labels,
        &names,
    )?;
    let mut csv = String::from("pc1,pc2,order\n");
    for ((x, y), l) in pts.iter().zip(labels) {
        csv.push_str(&format!("{x},{y},{l}\n"));
    }
    write_atomic(&dir.join("embedding.csv"), csv.as_bytes())?;
    Ok(EmbeddingInfo {
        method: "pca".into(),
        points: n,
        features: width,
        explained_ratio: p.explained_ratio,
        checkpoint: checkpoint.to_string(),
    })
}

/// The process's peak resident memory in MiB (Linux `VmHWM`), if known.
pub fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
