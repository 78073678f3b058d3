//! Prediction with a trained checkpoint: a [`Predictor`] for images, and
//! [`predict_dataset`], which writes the CSV that `histo evaluate` reads.
//!
//! CSV columns (header row first; `histo evaluate` ignores the extra ones):
//! - regression: `id,prediction,rater_a[,rater_b]` (raw network output; the rater columns are
//!   the dataset's reference scores);
//! - binary: `id,target,score,prediction` (`score` = softmax probability of class 1);
//! - multiclass: `id,target,prediction,prob_0,…,prob_{C-1}` (softmax probabilities).

use std::io::Write;
use std::path::Path;

use candle_core::Device;
use histo_models::FinetuneModel;
use histo_tensor::{Image, InputScale};
use serde::{Deserialize, Serialize};

use crate::config::InputConfig;
use crate::data::EvalData;
use crate::eval::{Images, infer, softmax_row};
use crate::model::load_finetuned;
use crate::pipeline::to_input;
use crate::task::{TaskKind, argmax};
use crate::{Error, Result};

/// A trained network with its task and input format.
pub struct Predictor {
    /// The network.
    pub model: FinetuneModel,
    /// The task.
    pub task: TaskKind,
    /// Input size and scaling.
    pub input: InputConfig,
    /// Class names (empty for regression or when the checkpoint does not say).
    pub class_names: Vec<String>,
    /// The device.
    pub device: Device,
    /// Images per forward pass.
    pub batch_size: usize,
}

impl Predictor {
    /// Loads a stage-2 or stage-3 checkpoint (histo `.safetensors`, or an original `.pt`).
    /// The task and input format come from the checkpoint; `task` overrides the task (needed
    /// for imported checkpoints with 2 outputs that are not a binary task, say).
    pub fn load(path: &Path, device: &Device, task: Option<TaskKind>) -> Result<Self> {
        let f = load_finetuned(path, device)?;
        let outputs = f.model.classifier.outputs();
        let (task, input, class_names) = match &f.info {
            Some(i) => (task.unwrap_or(i.task), i.input, i.class_names.clone()),
            None => {
                tracing::warn!(
                    "{}: no histo run information; assuming 256-px inputs in 0–255 (the \
                     original's format) and a task from the output count ({outputs})",
                    path.display()
                );
                (
                    task.unwrap_or(TaskKind::from_outputs(outputs)),
                    InputConfig::default(),
                    Vec::new(),
                )
            }
        };
        task.check_outputs(outputs)
            .map_err(|e| Error::input(path, format!("has {outputs} output(s): {e}")))?;
        Ok(Self {
            model: f.model,
            task,
            input,
            class_names,
            device: device.clone(),
            batch_size: 64,
        })
    }

    /// Number of outputs.
    pub fn outputs(&self) -> usize {
        self.model.classifier.outputs()
    }

    /// Scaling of the inputs.
    pub fn scale(&self) -> InputScale {
        self.input.scale
    }

    /// Predictions for patches of any size (resized to the input size): the regression score
    /// (one value) or the class probabilities.
    pub fn predict(&self, images: &[Image]) -> Result<Vec<Vec<f64>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(self.batch_size.max(1)) {
            let resized = chunk
                .iter()
                .map(|i| to_input(i, self.input.size))
                .collect::<Result<Vec<_>>>()?;
            let raw = infer(&self.model, &resized, self.input.scale, &self.device)?;
            out.extend(raw.iter().map(|r| self.finish(r)));
        }
        Ok(out)
    }

    fn finish(&self, raw: &[f32]) -> Vec<f64> {
        match self.task {
            TaskKind::Regression => vec![raw[0] as f64],
            _ => softmax_row(raw),
        }
    }
}

/// What [`predict_dataset`] did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictSummary {
    /// Rows written.
    pub samples: usize,
    /// Accuracy (classification) or mean squared error against rater A (regression).
    pub metric: (String, f64),
    /// Seconds spent.
    pub wall_s: f64,
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Predicts every sample of `data` and writes the CSV described in the module documentation.
pub fn predict_dataset(
    pred: &Predictor,
    data: &EvalData,
    out_csv: &Path,
) -> Result<PredictSummary> {
    let started = std::time::Instant::now();
    let ds = &data.dataset;
    let n = ds.len();
    let images = Images::new(ds.clone(), (0..n).collect(), pred.input.size)?;
    let raw = images.outputs(&pred.model, pred.input.scale, &pred.device, pred.batch_size)?;
    let c = pred.outputs();
    let mut text = String::new();
    match pred.task {
        TaskKind::Regression => {
            let two = data
                .raters
                .as_ref()
                .is_some_and(|r| r.iter().all(|x| x.1.is_some()));
            text.push_str(if two {
                "id,prediction,rater_a,rater_b\n"
            } else {
                "id,prediction,rater_a\n"
            });
        }
        TaskKind::Binary => text.push_str("id,target,score,prediction\n"),
        TaskKind::Multiclass => {
            text.push_str("id,target,prediction");
            for k in 0..c {
                text.push_str(&format!(",prob_{k}"));
            }
            text.push('\n');
        }
    }
    let (mut sq, mut correct) = (0.0f64, 0usize);
    for (i, r) in raw.iter().enumerate() {
        let id = quote(&ds.id(i)?);
        let p = pred.finish(r);
        match pred.task {
            TaskKind::Regression => {
                let (a, b) = match &data.raters {
                    Some(rs) => rs[i],
                    None => (ds.target(i)?.value(), None),
                };
                sq += (p[0] - a as f64).powi(2);
                text.push_str(&format!("{id},{},{a}", p[0]));
                if let Some(b) = b {
                    text.push_str(&format!(",{b}"));
                }
                text.push('\n');
            }
            _ => {
                let y = ds.target(i)?.class().ok_or_else(|| {
                    Error::Config(format!(
                        "sample {id} has a score target, but the checkpoint is a {} model",
                        pred.task
                    ))
                })? as usize;
                if y >= c {
                    return Err(Error::Config(format!(
                        "sample {id} has class {y}, but the checkpoint has {c} classes"
                    )));
                }
                let k = argmax(&p.iter().map(|&v| v as f32).collect::<Vec<_>>());
                if k == y {
                    correct += 1;
                }
                if pred.task == TaskKind::Binary {
                    text.push_str(&format!("{id},{y},{},{k}\n", p[1]));
                } else {
                    text.push_str(&format!("{id},{y},{k}"));
                    for v in &p {
                        text.push_str(&format!(",{v}"));
                    }
                    text.push('\n');
                }
            }
        }
    }
    if let Some(dir) = out_csv.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut f = std::fs::File::create(out_csv).map_err(|e| Error::io(out_csv, e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::io(out_csv, e))?;
    let metric = match pred.task {
        TaskKind::Regression => ("mse".to_string(), sq / n.max(1) as f64),
        _ => ("accuracy".to_string(), correct as f64 / n.max(1) as f64),
    };
    Ok(PredictSummary {
        samples: n,
        metric,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_commas_are_quoted() {
        assert_eq!(quote("a/b.png"), "a/b.png");
        assert_eq!(quote("x,y"), "\"x,y\"");
        assert_eq!(quote("say \"hi\","), "\"say \"\"hi\"\",\"");
    }
}
