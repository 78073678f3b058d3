//! What to generate: one serde struct with a preset per scale; every field can be overridden
//! (`--set kather.train_per_class=500` on the command line, or a TOML file).

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A preset size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// For tests: seconds, a few MB.
    Tiny,
    /// The `cargo xtask reproduce` default: a few minutes on 2 cores.
    Small,
    /// Hours; for GPU machines.
    Full,
}

impl std::str::FromStr for Scale {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tiny" => Ok(Self::Tiny),
            "small" => Ok(Self::Small),
            "full" => Ok(Self::Full),
            _ => Err(Error::Config(format!(
                "unknown scale `{s}` (expected tiny, small or full)"
            ))),
        }
    }
}

/// The difficulty knobs (see the crate documentation for what each one does to the data).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Difficulty {
    /// Largest weight with which a region's parameters are pulled towards a confusable class
    /// (0 = each class drawn only from its own distribution; 0.5 = half-way regions occur).
    pub overlap: f32,
    /// Relative spread of each parameter around its class centre (log-normal σ for sizes and
    /// densities, 0.5·σ additive for fractions).
    pub spread: f32,
    /// Per-slide stain variation (0 = every slide stained exactly with the reference HED matrix;
    /// 1 = stain vectors ±8 %, stain amounts ±15 %).
    pub stain_variation: f32,
    /// Stain shift of the Kather-style test slides (a different lab: more haematoxylin, less
    /// eosin), the domain shift between NCT-CRC-HE-100K and CRC-VAL-HE-7K.
    pub test_stain_shift: f32,
    /// Sensor noise standard deviation, grey levels.
    pub noise: f32,
    /// Range of the optical blur standard deviation, microns (drawn per slide / patch).
    pub blur_um: [f32; 2],
    /// Probability that a Kather-style patch also contains a minority region (< 35 % of its
    /// area) of a neighbouring class.
    pub mix: f32,
}

impl Default for Difficulty {
    fn default() -> Self {
        Self {
            overlap: 0.45,
            spread: 0.25,
            stain_variation: 1.0,
            test_stain_shift: 0.6,
            noise: 2.5,
            blur_um: [0.2, 0.6],
            mix: 0.3,
        }
    }
}

/// How slides are written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlideFormat {
    /// Tile size of every pyramid level.
    pub tile: u32,
    /// JPEG quality of the tiles (1–100).
    pub jpeg_quality: u8,
    /// Smallest number of pyramid levels (downsample 2 per level).
    pub min_levels: u32,
}

impl Default for SlideFormat {
    fn default() -> Self {
        Self {
            tile: 256,
            jpeg_quality: 80,
            min_levels: 4,
        }
    }
}

/// `pretrain/`: unlabelled slides for RSP pretraining.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// Number of slides.
    pub slides: usize,
    /// Level-0 width of each slide.
    pub width: u64,
    /// Level-0 height of each slide.
    pub height: u64,
}

/// `kather/`: 224×224 class patches in `train/` and `test/` (from different slides).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KatherConfig {
    /// Patch size (Kather: 224).
    pub patch: u32,
    /// Training patches per class.
    pub train_per_class: usize,
    /// Test patches per class.
    pub test_per_class: usize,
    /// Number of virtual slides (staining batches) the training patches come from.
    pub train_slides: usize,
    /// Number of virtual slides of the test patches.
    pub test_slides: usize,
}

/// `breastpathq/`: cellularity patches with scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreastPathQConfig {
    /// Patch size (real release: 512; synthetic: 256).
    pub patch: u32,
    /// Training patches.
    pub train: usize,
    /// Validation patches.
    pub validation: usize,
    /// Test patches (scored by two raters).
    pub test: usize,
    /// Patches per slide (each slide has its own staining).
    pub patches_per_slide: usize,
    /// Standard deviation of a rater's error (cellularity units).
    pub rater_sd: f32,
    /// Raters round to multiples of this (0.05 = 5 %).
    pub rater_step: f32,
}

/// `camelyon16/`: lymph-node slides with tumour annotations and patch folders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Camelyon16Config {
    /// Level-0 width of each slide.
    pub width: u64,
    /// Level-0 height of each slide.
    pub height: u64,
    /// Training slides with metastases (`Tumor_NNN`, patches in `PATCHES_*_TRAIN`).
    pub train_tumor: usize,
    /// Training slides without (`Normal_NNN`).
    pub train_normal: usize,
    /// Validation slides with metastases (patches in `PATCHES_*_VALID`).
    pub valid_tumor: usize,
    /// Validation slides without.
    pub valid_normal: usize,
    /// Test slides with metastases (`Test_NNN`, annotated).
    pub test_tumor: usize,
    /// Test slides without.
    pub test_normal: usize,
    /// Tumour patches cut per tumour slide.
    pub tumor_patches_per_slide: usize,
    /// Normal patches cut per slide (normal slides, and non-tumour tissue of tumour slides).
    pub normal_patches_per_slide: usize,
    /// Patch size (original: 256).
    pub patch: u32,
    /// Metastases per tumour slide, inclusive range.
    pub tumours_per_slide: [usize; 2],
    /// Radius range of a metastasis, microns.
    pub tumour_radius_um: [f64; 2],
}

/// Everything `histo synth` generates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthConfig {
    /// The preset this configuration started from.
    pub scale: Scale,
    /// The seed of everything.
    pub seed: u64,
    /// Microns per level-0 pixel (0.5 = 20×).
    pub mpp: f64,
    /// Difficulty knobs.
    pub difficulty: Difficulty,
    /// Slide file format.
    pub slide: SlideFormat,
    /// Pretraining slides.
    pub pretrain: PretrainConfig,
    /// Kather-style class patches.
    pub kather: KatherConfig,
    /// BreastPathQ-style cellularity patches.
    pub breastpathq: BreastPathQConfig,
    /// Camelyon16-style slides and patches.
    pub camelyon16: Camelyon16Config,
}

impl SynthConfig {
    /// The preset of a scale.
    pub fn preset(scale: Scale, seed: u64) -> Self {
        let (pretrain, kather, breastpathq, camelyon16) = match scale {
            Scale::Tiny => (
                PretrainConfig {
                    slides: 2,
                    width: 2048,
                    height: 2048,
                },
                KatherConfig {
                    patch: 224,
                    train_per_class: 4,
                    test_per_class: 2,
                    train_slides: 2,
                    test_slides: 1,
                },
                BreastPathQConfig {
                    patch: 256,
                    train: 12,
                    validation: 4,
                    test: 6,
                    patches_per_slide: 4,
                    rater_sd: 0.08,
                    rater_step: 0.05,
                },
                Camelyon16Config {
                    width: 2048,
                    height: 1536,
                    train_tumor: 1,
                    train_normal: 1,
                    valid_tumor: 1,
                    valid_normal: 1,
                    test_tumor: 1,
                    test_normal: 1,
                    tumor_patches_per_slide: 4,
                    normal_patches_per_slide: 2,
                    patch: 256,
                    tumours_per_slide: [1, 2],
                    tumour_radius_um: [80.0, 160.0],
                },
            ),
            Scale::Small => (
                PretrainConfig {
                    slides: 4,
                    width: 8192,
                    height: 8192,
                },
                KatherConfig {
                    patch: 224,
                    train_per_class: 250,
                    test_per_class: 80,
                    train_slides: 20,
                    test_slides: 8,
                },
                BreastPathQConfig {
                    patch: 256,
                    train: 500,
                    validation: 100,
                    test: 200,
                    patches_per_slide: 25,
                    rater_sd: 0.08,
                    rater_step: 0.05,
                },
                Camelyon16Config {
                    width: 4096,
                    height: 4096,
                    train_tumor: 4,
                    train_normal: 4,
                    valid_tumor: 2,
                    valid_normal: 2,
                    test_tumor: 3,
                    test_normal: 3,
                    tumor_patches_per_slide: 100,
                    normal_patches_per_slide: 50,
                    patch: 256,
                    tumours_per_slide: [1, 3],
                    tumour_radius_um: [200.0, 600.0],
                },
            ),
            Scale::Full => (
                PretrainConfig {
                    slides: 24,
                    width: 32768,
                    height: 32768,
                },
                KatherConfig {
                    patch: 224,
                    train_per_class: 5000,
                    test_per_class: 800,
                    train_slides: 86,
                    test_slides: 50,
                },
                BreastPathQConfig {
                    patch: 256,
                    train: 2394,
                    validation: 185,
                    test: 1119,
                    patches_per_slide: 30,
                    rater_sd: 0.08,
                    rater_step: 0.05,
                },
                Camelyon16Config {
                    width: 32768,
                    height: 24576,
                    train_tumor: 40,
                    train_normal: 60,
                    valid_tumor: 10,
                    valid_normal: 10,
                    test_tumor: 20,
                    test_normal: 28,
                    tumor_patches_per_slide: 500,
                    normal_patches_per_slide: 300,
                    patch: 256,
                    tumours_per_slide: [1, 4],
                    tumour_radius_um: [200.0, 2000.0],
                },
            ),
        };
        Self {
            scale,
            seed,
            mpp: 0.5,
            difficulty: Difficulty::default(),
            slide: SlideFormat::default(),
            pretrain,
            kather,
            breastpathq,
            camelyon16,
        }
    }

    /// Applies overrides given as `section.field=value` (values in TOML syntax; bare words are
    /// taken as strings), e.g. `kather.train_per_class=100` or `difficulty.blur_um=[0.3, 0.8]`.
    pub fn with_overrides(&self, sets: &[String]) -> Result<Self> {
        let mut tree = toml::Value::try_from(self)
            .map_err(|e| Error::Config(format!("cannot serialise the configuration: {e}")))?;
        for set in sets {
            let (key, value) = set.split_once('=').ok_or_else(|| {
                Error::Config(format!("override `{set}` is not of the form key=value"))
            })?;
            let value: toml::Value = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
                Ok(mut t) => t.remove("v").unwrap_or(toml::Value::String(value.into())),
                Err(_) => toml::Value::String(value.trim().to_string()),
            };
            let mut node = &mut tree;
            let parts: Vec<&str> = key.trim().split('.').collect();
            for (k, part) in parts.iter().enumerate() {
                let table = node.as_table_mut().ok_or_else(|| {
                    Error::Config(format!(
                        "override `{set}`: `{part}` is not inside a section"
                    ))
                })?;
                let slot = table.get_mut(*part).ok_or_else(|| {
                    Error::Config(format!(
                        "override `{set}`: no setting `{}`",
                        parts[..=k].join(".")
                    ))
                })?;
                if k + 1 == parts.len() {
                    *slot = value.clone();
                    break;
                }
                node = slot;
            }
        }
        let cfg: Self = tree
            .try_into()
            .map_err(|e| Error::Config(format!("invalid override: {e}")))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Merges a TOML document holding any subset of the fields.
    pub fn with_toml(&self, text: &str) -> Result<Self> {
        let over: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(format!("invalid TOML: {e}")))?;
        let mut sets = Vec::new();
        flatten("", &toml::Value::Table(over), &mut sets);
        self.with_overrides(&sets)
    }

    /// Checks that the numbers make sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.mpp > 0.0 && self.mpp.is_finite()) {
            return bad(format!("mpp must be positive, got {}", self.mpp));
        }
        let d = &self.difficulty;
        for (name, v) in [
            ("overlap", d.overlap),
            ("spread", d.spread),
            ("stain_variation", d.stain_variation),
            ("noise", d.noise),
            ("mix", d.mix),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("difficulty.{name} must be ≥ 0, got {v}"));
            }
        }
        if d.overlap > 1.0 || d.mix > 1.0 {
            return bad("difficulty.overlap and difficulty.mix must be ≤ 1".into());
        }
        if !(d.blur_um[0] >= 0.0 && d.blur_um[1] >= d.blur_um[0] && d.blur_um[1] < 20.0) {
            return bad(format!(
                "difficulty.blur_um must be [lo, hi] with 0 ≤ lo ≤ hi < 20, got {:?}",
                d.blur_um
            ));
        }
        if self.slide.tile < 16 || !self.slide.tile.is_multiple_of(16) {
            return bad(format!(
                "slide.tile must be a multiple of 16, got {}",
                self.slide.tile
            ));
        }
        if !(1..=100).contains(&self.slide.jpeg_quality) {
            return bad(format!(
                "slide.jpeg_quality must be 1–100, got {}",
                self.slide.jpeg_quality
            ));
        }
        let min_side = |w: u64, h: u64, what: &str| {
            if w.min(h) < 2 * self.slide.tile as u64 {
                bad(format!(
                    "{what} slides of {w}×{h} are smaller than two tiles"
                ))
            } else {
                Ok(())
            }
        };
        min_side(self.pretrain.width, self.pretrain.height, "pretrain")?;
        min_side(self.camelyon16.width, self.camelyon16.height, "camelyon16")?;
        if self.kather.patch < 16 || self.breastpathq.patch < 16 || self.camelyon16.patch < 16 {
            return bad("patch sizes must be at least 16".into());
        }
        if self.kather.train_slides == 0 || self.kather.test_slides == 0 {
            return bad("kather.train_slides and kather.test_slides must be ≥ 1".into());
        }
        if self.breastpathq.patches_per_slide == 0 {
            return bad("breastpathq.patches_per_slide must be ≥ 1".into());
        }
        if !(self.breastpathq.rater_step >= 0.0 && self.breastpathq.rater_sd >= 0.0) {
            return bad("breastpathq.rater_sd and rater_step must be ≥ 0".into());
        }
        let c = &self.camelyon16;
        if c.tumours_per_slide[0] == 0 || c.tumours_per_slide[1] < c.tumours_per_slide[0] {
            return bad(format!(
                "camelyon16.tumours_per_slide must be [lo, hi] with 1 ≤ lo ≤ hi, got {:?}",
                c.tumours_per_slide
            ));
        }
        if !(c.tumour_radius_um[0] > 0.0 && c.tumour_radius_um[1] >= c.tumour_radius_um[0]) {
            return bad(format!(
                "camelyon16.tumour_radius_um must be [lo, hi] with 0 < lo ≤ hi, got {:?}",
                c.tumour_radius_um
            ));
        }
        let max_r = c.tumour_radius_um[1] / self.mpp;
        if 2.5 * max_r > c.width.min(c.height) as f64 {
            return bad(format!(
                "camelyon16 tumours of radius up to {} µm do not fit slides of {}×{} pixels",
                c.tumour_radius_um[1], c.width, c.height
            ));
        }
        for (what, n) in [
            ("train_tumor", c.train_tumor),
            ("train_normal", c.train_normal),
            ("valid_tumor", c.valid_tumor),
            ("valid_normal", c.valid_normal),
            ("test_tumor", c.test_tumor),
            ("test_normal", c.test_normal),
        ] {
            if n > 900 {
                return bad(format!(
                    "camelyon16.{what} = {n}: slide numbers have three digits"
                ));
            }
        }
        Ok(())
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push(format!("{prefix}={other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_grow() {
        let t = SynthConfig::preset(Scale::Tiny, 1);
        let s = SynthConfig::preset(Scale::Small, 1);
        let f = SynthConfig::preset(Scale::Full, 1);
        for c in [&t, &s, &f] {
            c.validate().unwrap();
        }
        assert!(t.kather.train_per_class < s.kather.train_per_class);
        assert!(s.pretrain.width < f.pretrain.width);
    }

    #[test]
    fn overrides_set_nested_fields() {
        let c = SynthConfig::preset(Scale::Tiny, 1)
            .with_overrides(&[
                "kather.train_per_class=7".into(),
                "difficulty.blur_um=[0.1, 0.2]".into(),
                "scale=small".into(),
            ])
            .unwrap();
        assert_eq!(c.kather.train_per_class, 7);
        assert_eq!(c.difficulty.blur_um, [0.1, 0.2]);
        assert_eq!(c.scale, Scale::Small);
        let c2 = SynthConfig::preset(Scale::Tiny, 1)
            .with_toml("[kather]\ntrain_per_class = 7\n[difficulty]\nblur_um = [0.1, 0.2]\n")
            .unwrap();
        assert_eq!(c2.kather, c.kather);
        assert_eq!(c2.difficulty, c.difficulty);
    }

    #[test]
    fn bad_overrides_say_what_is_wrong() {
        let base = SynthConfig::preset(Scale::Tiny, 1);
        let e = base.with_overrides(&["kather.nope=3".into()]).unwrap_err();
        assert!(e.to_string().contains("kather.nope"), "{e}");
        let e = base.with_overrides(&["kather.patch".into()]).unwrap_err();
        assert!(e.to_string().contains("key=value"), "{e}");
        let e = base
            .with_overrides(&["kather.patch=\"big\"".into()])
            .unwrap_err();
        assert!(e.to_string().contains("invalid override"), "{e}");
        let e = base
            .with_overrides(&["slide.jpeg_quality=0".into()])
            .unwrap_err();
        assert!(e.to_string().contains("jpeg_quality"), "{e}");
        let e = base
            .with_overrides(&["difficulty.overlap=-1".into()])
            .unwrap_err();
        assert!(e.to_string().contains("overlap"), "{e}");
        assert!("huge".parse::<Scale>().is_err());
    }
}
