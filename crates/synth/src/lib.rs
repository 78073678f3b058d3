//! Procedural H&E histology with known ground truth, written in the real on-disk layouts: the
//! embedded default dataset of histo, so the whole method runs in minutes on any machine.
//!
//! Tissue is rendered through the stain model the method itself uses: per pixel, stain
//! concentrations `c = (c_H, c_E, c_D)` come from layered procedural structures with physical
//! sizes in microns (nuclei, fibres, fat-cell membranes, glands, red cells, debris), and the
//! colour is Beer–Lambert through the HED matrix of spec §2.4,
//! `255 · exp(−(glass + Σ_k amount_k · c_k · M_k))`, with per-slide stain vectors, amounts and
//! glass tint ([`Stain`]), then Gaussian optical blur and sensor noise ([`Optics`]). Nine classes
//! named as Kather's ([`TissueClass`]) are points of one parameter space ([`TissueParams`]);
//! a region draws its parameters around its class centre and partly towards a confusable class,
//! so classes overlap by a controlled amount. [`Layout`]s place regions: one class per patch,
//! a patch with a minority region, or large noise-warped Voronoi regions inside a tissue outline
//! with annotated tumour polygons ([`Mosaic`]). Every value is a pure function of absolute
//! level-0 coordinates (integer hashes per pixel, nucleus and gland; [`histo_tensor::SampleRng`]
//! streams per slide, patch and region), so any tile of an arbitrarily large slide renders on
//! its own, in bounded memory, identically whatever tiling or thread count produced it. Slides
//! are streamed row of tiles by row of tiles to histo-wsi's pyramidal TIFF writer.
//!
//! [`generate()`] writes, under one folder and resumably (temporary file + rename; complete files
//! are skipped; `synth.json` records the configuration): `pretrain/slide_NNN.svs` (Aperio-style
//! pyramids, MPP 0.5, AppMag 20, ≥ 4 levels); `kather/{train,test}/{ADI,…,TUM}/*.tif`
//! (224×224, train and test from different staining batches, the test set shifted);
//! `breastpathq/{train,validation,test}/{slide}_{rid}.tif` with `train_labels.csv`,
//! `val_labels.csv` (`slide,rid,y`, y = true tumour-cell area fraction) and `test_labels.csv`
//! (`slide,rid,pathologist1,pathologist2`: truth + independent N(0, 0.08²) error, rounded to
//! 5 %; the truth is in `test_truth.csv`); and `camelyon16/` (lymph-node-like slides in
//! `slides/{train,test}/`, ASAP XML in `annotations/`, the original's JSON in
//! `jsons/{train,valid}/`, `PATCHES_{TUMOR,NORMAL}_{TRAIN,VALID}/` with `list.txt` and
//! `{i}.png`, `test_reference.csv`). Sizes come from a [`Scale`] preset, each overridable
//! ([`SynthConfig::with_overrides`]).
//!
//! Difficulty knobs ([`Difficulty`]): `overlap` (how far a region's parameters are pulled
//! towards a confusable class), `spread` (parameter jitter within a class), `stain_variation`
//! and `test_stain_shift` (colour variation between slides and the train→test domain shift),
//! `noise` and `blur_um` (image quality) and `mix` (patches holding a second class). The
//! [`proxy`] module measures how separable the Kather-style classes are with a weak classifier.
//!
//! The noise, hashing and drawing are written here rather than taken from a crate: the renderer
//! needs integer-hash value noise evaluated at absolute coordinates with outputs that must never
//! change between versions (the data are promised byte-identical), which general-purpose noise
//! crates do not guarantee, and the code involved is small.
//!
//! ```
//! use histo_synth::layout::{Region, Uniform};
//! use histo_synth::{Optics, Scene, Stain, TissueClass};
//! use histo_tensor::SampleRng;
//!
//! let mut rng = SampleRng::new(42, 0, 0);
//! let layout = Uniform { region: Region::draw(TissueClass::Lym, 0.2, 0.0, &mut rng) };
//! let scene = Scene {
//!     layout: &layout,
//!     stain: Stain::reference(),
//!     optics: Optics { blur_px: 0.8, noise: 2.0 },
//!     mpp: 0.5,
//!     seed: 7,
//! };
//! // Any rectangle of the infinite plane, at 0.5 µm per pixel.
//! let (patch, truth) = scene.render_with_truth(1_000_000, 2_000, 64, 64);
//! assert_eq!((patch.width(), patch.height()), (64, 64));
//! assert_eq!(truth.majority(), TissueClass::Lym);
//! // The same pixels whenever and wherever they are rendered.
//! assert_eq!(scene.render(1_000_032, 2_000, 32, 64).pixel(0, 5), patch.pixel(32, 5));
//! ```

#![warn(missing_docs)]

mod error;
mod hash;
mod io;
mod noise;
mod run;
mod slide;

pub mod breastpathq;
pub mod camelyon;
pub mod class;
pub mod config;
pub mod generate;
pub mod kather;
pub mod layout;
pub mod params;
pub mod polygon;
pub mod pretrain;
pub mod preview;
pub mod proxy;
pub mod render;
pub mod stain;

pub use class::TissueClass;
pub use config::{Difficulty, Scale, SynthConfig};
pub use error::{Error, Result};
pub use generate::{Report, Selection, generate};
pub use layout::{Layout, Mosaic, Region, RegionKey};
pub use params::TissueParams;
pub use polygon::Polygon;
pub use render::{Optics, Scene, Truth};
pub use run::{DatasetReport, Progress, Silent};
pub use stain::{HED, Stain};
