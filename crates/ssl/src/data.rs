//! The tile store as training and validation samples, and their batches.

use std::path::Path;
use std::sync::Arc;

use candle_core::{Device, Tensor};
use histo_augment::RspPool;
use histo_datasets::{
    ORDERINGS, RspSplit, RspValSplit, StoreTriplets, TripletSample, TripletSource,
};
use histo_tensor::{Image, ImageBatch, InputScale, SampleRng};
use histo_wsi::SlideStatus;
use rand::seq::SliceRandom;

use crate::config::PretrainConfig;
use crate::{Error, Result};

/// The store of a run, split into training and validation triplets.
pub struct RspData {
    /// The store.
    pub source: Arc<StoreTriplets>,
    /// Training samples (and the split's validation set).
    pub split: Arc<RspSplit<StoreTriplets>>,
    /// Validation samples actually evaluated: `(triplet, order)`.
    pub val: Arc<Vec<(usize, u8)>>,
    /// Differences between the store and what the configuration expects.
    pub warnings: Vec<String>,
}

impl RspData {
    /// Opens and checks the store at `dir` and splits it as `config` says.
    pub fn open(dir: &Path, config: &PretrainConfig) -> Result<Self> {
        let store_err = |reason: String| Error::Store {
            path: dir.to_path_buf(),
            reason,
        };
        if !dir.is_dir() {
            return Err(store_err(
                "is not a folder (cut one with `histo tile rsp`)".into(),
            ));
        }
        if !dir.join("manifest.json").is_file() {
            return Err(store_err(
                "has no manifest.json: not a tile store (cut one with `histo tile rsp`)".into(),
            ));
        }
        let source = StoreTriplets::open(dir).map_err(|e| store_err(e.to_string()))?;
        let manifest = source.store().manifest();
        let warnings = config.store.check(manifest, dir)?;
        if source.is_empty() {
            let mut why: Vec<String> = manifest
                .slides
                .iter()
                .filter(|s| s.status != SlideStatus::Complete || s.accepted == 0)
                .take(5)
                .map(|s| {
                    format!(
                        "{}: {:?}{}",
                        s.path,
                        s.status,
                        s.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            if why.is_empty() {
                why.push("no slide listed".into());
            }
            return Err(store_err(format!(
                "holds no triplet ({} slide(s) in the manifest; {})",
                manifest.slides.len(),
                why.join("; ")
            )));
        }
        let source = Arc::new(source);
        let mut warnings = warnings;
        let mut split_config = config.split();
        if config.data.val_split == RspValSplit::BySlide && config.data.val_fraction > 0.0 {
            let mut slides: Vec<usize> = (0..source.len())
                .map(|i| source.slide(i))
                .collect::<std::result::Result<_, _>>()?;
            slides.dedup();
            slides.sort_unstable();
            slides.dedup();
            let n = slides.len();
            if n < 2 {
                return Err(store_err(format!(
                    "holds triplets of {n} slide(s): a by-slide validation split needs at least \
                     2 (set data.val_split = \"by_triplet\" in a configuration file, or add \
                     slides)"
                )));
            }
            if (config.data.val_fraction * n as f64 + 1e-9).floor() < 1.0 {
                split_config.val_fraction = (1.0 + 1e-6) / n as f64;
                warnings.push(format!(
                    "a validation fraction of {} of {n} slides holds out none; holding out 1 slide",
                    config.data.val_fraction
                ));
            }
        }
        let split = RspSplit::new(source.clone(), &split_config)
            .map_err(|e| store_err(format!("cannot split for validation: {e}")))?;
        if split.val.is_empty() {
            return Err(store_err(
                "the validation split is empty; raise data.val_fraction".into(),
            ));
        }
        let max = config.data.val_max_triplets;
        let val: Vec<(usize, u8)> = if config.data.val_split == RspValSplit::OriginalPermutations {
            // held-out (triplet, order) pairs, already in a seeded random order
            let n = if max > 0 {
                split.val.len().min(6 * max)
            } else {
                split.val.len()
            };
            (0..n)
                .map(|i| -> Result<(usize, u8)> {
                    let s = split.val.get(0, i)?;
                    Ok((s.triplet, s.label as u8))
                })
                .collect::<Result<_>>()?
        } else {
            let mut t = split.val.triplets();
            if max > 0 && t.len() > max {
                t.shuffle(&mut SampleRng::global("rsp-val-subset", config.seed, 0));
                t.truncate(max);
                t.sort_unstable();
            }
            t.iter()
                .flat_map(|&t| (0..6u8).map(move |o| (t, o)))
                .collect()
        };
        Ok(Self {
            source,
            split: Arc::new(split),
            val: Arc::new(val),
            warnings,
        })
    }

    /// Number of training triplets.
    pub fn train_triplets(&self) -> usize {
        self.split.train.triplets().len()
    }

    /// Number of validation triplets evaluated.
    pub fn val_triplets(&self) -> usize {
        let mut t: Vec<usize> = self.val.iter().map(|u| u.0).collect();
        t.dedup();
        t.len()
    }

    /// Names of the slides held out for validation (by-slide split).
    pub fn val_slide_names(&self) -> Vec<String> {
        self.split
            .val_slides
            .iter()
            .filter_map(|&s| self.source.slide_name(s).ok())
            .collect()
    }

    /// The training samples of `epoch`.
    pub fn train_epoch(&self, epoch: u64) -> TrainSamples {
        TrainSamples {
            split: self.split.clone(),
            epoch,
        }
    }

    /// The validation samples.
    pub fn val_samples(&self) -> ValSamples {
        ValSamples {
            source: self.source.clone(),
            units: self.val.clone(),
        }
    }
}

/// The training samples of one epoch (the order of a triplet may depend on the epoch).
pub struct TrainSamples {
    split: Arc<RspSplit<StoreTriplets>>,
    epoch: u64,
}

impl TrainSamples {
    /// The training samples of `split` in `epoch`.
    pub fn new(split: Arc<RspSplit<StoreTriplets>>, epoch: u64) -> Self {
        Self { split, epoch }
    }
}

impl histo_train::Dataset for TrainSamples {
    type Sample = TripletSample;

    fn len(&self) -> usize {
        self.split.train.len()
    }

    fn get(&self, index: usize) -> std::result::Result<TripletSample, String> {
        self.split
            .train
            .get(self.epoch, index)
            .map_err(|e| e.to_string())
    }
}

/// Validation samples: fixed `(triplet, order)` pairs.
pub struct ValSamples {
    source: Arc<StoreTriplets>,
    units: Arc<Vec<(usize, u8)>>,
}

impl histo_train::Dataset for ValSamples {
    type Sample = TripletSample;

    fn len(&self) -> usize {
        self.units.len()
    }

    fn get(&self, index: usize) -> std::result::Result<TripletSample, String> {
        let &(t, o) = self
            .units
            .as_slice()
            .get(index)
            .ok_or_else(|| format!("validation sample {index} out of range"))?;
        ordered(self.source.as_ref(), t, o).map_err(|e| e.to_string())
    }
}

/// Triplet `t` of `source` in order `o` (0–5, spec §2.1).
pub fn ordered<S: TripletSource + ?Sized>(source: &S, t: usize, o: u8) -> Result<TripletSample> {
    let [hr, lr1, lr2] = source.triplet(t)?;
    let tiles = [Some(hr), Some(lr1), Some(lr2)];
    let order = ORDERINGS
        .get(o as usize)
        .ok_or_else(|| Error::Config(format!("order {o} is not in 0..6")))?;
    let mut tiles = tiles;
    let mut take = |k: usize| tiles[k].take().unwrap_or_else(|| Image::new(0, 0));
    let inputs = [take(order[0]), take(order[1]), take(order[2])];
    let slide = source.slide(t)?;
    Ok(TripletSample {
        inputs,
        label: o as u32,
        triplet: t,
        id: format!("{}/{t}", source.slide_name(slide)?),
    })
}

/// One batch: the three inputs `[B, 3, T, T]` (f32, scaled, on the CPU) and the order labels
/// `[B]` (u32).
#[derive(Clone, Debug)]
pub struct Batch {
    /// Inputs 1, 2, 3.
    pub x: [Tensor; 3],
    /// Order labels.
    pub y: Tensor,
}

impl Batch {
    /// Number of triplets.
    pub fn len(&self) -> usize {
        self.y.dims().first().copied().unwrap_or(0)
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batch on `device`.
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        Ok(Self {
            x: [
                self.x[0].to_device(device)?,
                self.x[1].to_device(device)?,
                self.x[2].to_device(device)?,
            ],
            y: self.y.to_device(device)?,
        })
    }
}

/// Augments a sample's three inputs (or not, with `pool = None`).
pub fn augment(
    pool: Option<&RspPool>,
    sample: TripletSample,
    rng: &mut SampleRng,
) -> std::result::Result<([Image; 3], u32), String> {
    let inputs = match pool {
        Some(p) => p
            .apply_triplet(&sample.inputs, rng)
            .map_err(|e| format!("{}: {e}", sample.id))?,
        None => sample.inputs,
    };
    Ok((inputs, sample.label))
}

/// Assembles augmented samples into a [`Batch`] on the CPU.
pub fn collate(
    items: Vec<([Image; 3], u32)>,
    scale: InputScale,
) -> std::result::Result<Batch, String> {
    let n = items.len();
    let mut cols: [Vec<Image>; 3] = [
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    ];
    let mut labels = Vec::with_capacity(n);
    for (inputs, label) in items {
        let [a, b, c] = inputs;
        cols[0].push(a);
        cols[1].push(b);
        cols[2].push(c);
        labels.push(label);
    }
    let tensor = |imgs: &[Image]| -> std::result::Result<Tensor, String> {
        ImageBatch::from_images(imgs)
            .and_then(|b| b.to_tensor(&Device::Cpu, scale))
            .map_err(|e| e.to_string())
    };
    Ok(Batch {
        x: [tensor(&cols[0])?, tensor(&cols[1])?, tensor(&cols[2])?],
        y: Tensor::new(labels, &Device::Cpu).map_err(|e| e.to_string())?,
    })
}
