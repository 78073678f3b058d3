//! The RSP pretext dataset (spec §2.1): triplets of tiles (HR, LR1, LR2) of one location,
//! shown in one of the 3! = 6 orders; the label is the order.

use std::sync::Arc;

use histo_tensor::{Image, SampleRng};
use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The six orders (label = index): which tile (0 = HR, 1 = LR1, 2 = LR2) goes to input 1, 2, 3.
/// Label 0 = (HR, LR1, LR2), 1 = (HR, LR2, LR1), 2 = (LR1, LR2, HR), 3 = (LR1, HR, LR2),
/// 4 = (LR2, HR, LR1), 5 = (LR2, LR1, HR), as the original (dataset.py:27-70).
pub const ORDERINGS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 2, 0],
    [1, 0, 2],
    [2, 0, 1],
    [2, 1, 0],
];

/// Where triplets come from: the tile store written by histo-wsi, or anything that holds
/// triplets of equally sized tiles per slide.
pub trait TripletSource: Send + Sync {
    /// Number of triplets.
    fn len(&self) -> usize;

    /// `true` when there is no triplet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Index of the slide triplet `index` was cut from (for splits by slide).
    fn slide(&self, index: usize) -> Result<usize>;

    /// Name of slide `slide` (its file stem).
    fn slide_name(&self, slide: usize) -> Result<String>;

    /// The three tiles of triplet `index`: `[HR, LR1, LR2]`.
    fn triplet(&self, index: usize) -> Result<[Image; 3]>;
}

/// How many samples a triplet gives per epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orderings {
    /// All six orders of every triplet, each a sample (the original): 6 samples per triplet.
    #[default]
    All,
    /// One order per triplet per epoch, drawn from the seed, the epoch and the triplet: a sixth
    /// of the work per epoch, the same expected gradient.
    OneRandom,
}

/// How RSP validation samples are held out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RspValSplit {
    /// Whole slides go to validation: no tissue is in both sets (default).
    #[default]
    BySlide,
    /// Whole triplets (all their orders) go to validation; slides are shared.
    ByTriplet,
    /// As the original: the 6·N (triplet, order) samples are split at random, so the same tiles
    /// are in both sets and validation accuracy is optimistic (B6). Needs [`Orderings::All`].
    OriginalPermutations,
}

/// Configuration of [`RspSplit::new`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RspConfig {
    /// Orders per triplet per epoch.
    pub orderings: Orderings,
    /// How validation is held out.
    pub val_split: RspValSplit,
    /// Fraction held out (of slides, triplets or samples, per `val_split`), in [0, 1).
    pub val_fraction: f64,
    /// Seed of the split and of the per-epoch orders.
    pub seed: u64,
}

impl Default for RspConfig {
    fn default() -> Self {
        Self {
            orderings: Orderings::All,
            val_split: RspValSplit::BySlide,
            val_fraction: 0.2,
            seed: 42,
        }
    }
}

/// One RSP sample: three tiles in the order given by `label`.
#[derive(Clone, Debug, PartialEq)]
pub struct TripletSample {
    /// `[input1, input2, input3]` = `[tiles[o[0]], tiles[o[1]], tiles[o[2]]]` with
    /// `o = ORDERINGS[label]`.
    pub inputs: [Image; 3],
    /// The order, 0–5.
    pub label: u32,
    /// Index of the triplet in the source.
    pub triplet: usize,
    /// `slide/triplet` identifier.
    pub id: String,
}

/// One item of a split: a triplet, with a fixed order or none (drawn per epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Unit {
    triplet: usize,
    order: Option<u8>,
}

/// A training or validation set of RSP samples over a [`TripletSource`].
///
/// Sample `i` of epoch `e` is a function of `(seed, e, i)` only, so any thread may build it.
pub struct RspTriplets<S: ?Sized> {
    source: Arc<S>,
    units: Vec<Unit>,
    seed: u64,
}

impl<S: TripletSource + ?Sized> RspTriplets<S> {
    /// Number of samples per epoch.
    pub fn len(&self) -> usize {
        self.units.len()
    }

    /// `true` when empty.
    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The source.
    pub fn source(&self) -> &Arc<S> {
        &self.source
    }

    /// The triplet indices used (sorted, without repeats).
    pub fn triplets(&self) -> Vec<usize> {
        let mut t: Vec<usize> = self.units.iter().map(|u| u.triplet).collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    /// The order label of sample `index` in `epoch` (no tile is read).
    pub fn label(&self, epoch: u64, index: usize) -> Result<u32> {
        let u = self
            .units
            .get(index)
            .ok_or_else(|| Error::index(index, self.units.len()))?;
        Ok(match u.order {
            Some(o) => o as u32,
            None => SampleRng::stream("rsp-order", self.seed, epoch, u.triplet as u64)
                .random_range(0..6u32),
        })
    }

    /// Sample `index` of `epoch`: reads the triplet and orders its tiles.
    pub fn get(&self, epoch: u64, index: usize) -> Result<TripletSample> {
        let label = self.label(epoch, index)?;
        let t = self.units[index].triplet;
        let tiles = self.source.triplet(t)?;
        let o = ORDERINGS[label as usize];
        let [a, b, c] = tiles;
        let mut slots = [Some(a), Some(b), Some(c)];
        let mut take = |k: usize| {
            slots[k]
                .take()
                .ok_or_else(|| Error::Invalid("an order uses a tile twice".into()))
        };
        let inputs = [take(o[0])?, take(o[1])?, take(o[2])?];
        let slide = self.source.slide(t)?;
        Ok(TripletSample {
            inputs,
            label,
            triplet: t,
            id: format!("{}/{t}", self.source.slide_name(slide)?),
        })
    }
}

/// Training and validation RSP sets of one source.
pub struct RspSplit<S: ?Sized> {
    /// Training samples.
    pub train: RspTriplets<S>,
    /// Validation samples (always all six orders of their triplets, except under
    /// [`RspValSplit::OriginalPermutations`], where they are the held-out (triplet, order) pairs).
    pub val: RspTriplets<S>,
    /// Slides held out (by-slide split only).
    pub val_slides: Vec<usize>,
}

fn all_orders(triplets: &[usize]) -> Vec<Unit> {
    triplets
        .iter()
        .flat_map(|&t| {
            (0..6u8).map(move |o| Unit {
                triplet: t,
                order: Some(o),
            })
        })
        .collect()
}

impl<S: TripletSource + ?Sized> RspSplit<S> {
    /// Splits `source` as `config` says.
    pub fn new(source: Arc<S>, config: &RspConfig) -> Result<Self> {
        let n = source.len();
        if n == 0 {
            return Err(Error::Invalid("the triplet source is empty".into()));
        }
        if !(0.0..1.0).contains(&config.val_fraction) {
            return Err(Error::Invalid(format!(
                "validation fraction {} is not in [0, 1)",
                config.val_fraction
            )));
        }
        let portion = |m: usize| ((config.val_fraction * m as f64) + 1e-9).floor() as usize;
        let mut rng = SampleRng::global("rsp-split", config.seed, 0);
        let train_units = |t: &[usize]| match config.orderings {
            Orderings::All => all_orders(t),
            Orderings::OneRandom => t
                .iter()
                .map(|&triplet| Unit {
                    triplet,
                    order: None,
                })
                .collect(),
        };
        let make = |units: Vec<Unit>| RspTriplets {
            source: source.clone(),
            units,
            seed: config.seed,
        };
        let (train, val, val_slides) = match config.val_split {
            RspValSplit::BySlide => {
                let slides: Vec<usize> = (0..n).map(|i| source.slide(i)).collect::<Result<_>>()?;
                let mut ids = slides.clone();
                ids.sort_unstable();
                ids.dedup();
                let k = portion(ids.len());
                if config.val_fraction > 0.0 && k == 0 {
                    return Err(Error::Invalid(format!(
                        "a validation fraction of {} of {} slide(s) holds out no slide; split \
                         by triplet instead, or use more slides",
                        config.val_fraction,
                        ids.len()
                    )));
                }
                ids.shuffle(&mut rng);
                let mut held: Vec<usize> = ids[..k].to_vec();
                held.sort_unstable();
                let (mut tr, mut va) = (Vec::new(), Vec::new());
                for (i, s) in slides.iter().enumerate() {
                    if held.binary_search(s).is_ok() {
                        va.push(i);
                    } else {
                        tr.push(i);
                    }
                }
                (train_units(&tr), all_orders(&va), held)
            }
            RspValSplit::ByTriplet => {
                let mut idx: Vec<usize> = (0..n).collect();
                idx.shuffle(&mut rng);
                let k = portion(n);
                let (mut va, mut tr) = (idx[..k].to_vec(), idx[k..].to_vec());
                va.sort_unstable();
                tr.sort_unstable();
                (train_units(&tr), all_orders(&va), Vec::new())
            }
            RspValSplit::OriginalPermutations => {
                if config.orderings != Orderings::All {
                    return Err(Error::Invalid(
                        "the original permutation split needs all six orders per triplet".into(),
                    ));
                }
                let mut units = all_orders(&(0..n).collect::<Vec<_>>());
                units.shuffle(&mut rng);
                let k = portion(units.len());
                let tr = units.split_off(k);
                (tr, units, Vec::new())
            }
        };
        if train.is_empty() {
            return Err(Error::Invalid(
                "the validation split leaves no training triplet".into(),
            ));
        }
        Ok(Self {
            train: make(train),
            val: make(val),
            val_slides,
        })
    }
}
