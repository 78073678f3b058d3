//! Primitive ops: deterministic functions of an image and explicit parameters.
//!
//! | op | reference semantics | parameters |
//! |---|---|---|
//! | [`flip`], [`hflip`], [`vflip`] | exact | — |
//! | [`crop`], [`center_crop`], [`random_crop`] | albumentations / torchvision | window size |
//! | [`resize`], [`scale`] | `cv2.resize` INTER_CUBIC (bit-exact) | size / factor > 0 |
//! | [`rotate`], [`shift_scale_rotate`], [`warp_affine`] | `cv2.warpAffine` INTER_CUBIC, BORDER_REFLECT_101 (bit-exact) | angle (°), scale (0, 100], shift ±10 |
//! | [`box_blur`] | `cv2.blur` | odd k (3, 5, 7 in the original) |
//! | [`gaussian_noise`] | imgaug `AdditiveGaussianNoise(per_channel=False)` | σ in [0, 255] grey levels |
//! | [`brightness_contrast`] | albumentations 0.4 LUT (`brightness_by_max`) | α in [0, 10], β in [-1, 1] |
//! | [`hsv_shift`] | albumentations 0.4 / OpenCV u8 HSV, H in [0, 180) | shifts in [-255, 255] |
//! | [`enhance`] (contrast, brightness, sharpness, colour) | `PIL.ImageEnhance` | factor in [0, 10] |
//! | [`autocontrast`], [`equalize`], [`posterize`], [`solarize`] | `PIL.ImageOps` | bits 1..=8, threshold |
//! | [`pil_rotate`], [`translate_x`]/[`translate_y`], [`shear_x`]/[`shear_y`] | PIL `rotate` / `transform(AFFINE)` | degrees, pixels, shear |
//! | [`HedShift`] | scikit-image 0.15 HED, log10 (or 0.14, ln) | δ per stain in [-5, 5] |
//! | [`HedJitter`], [`HsbJitter`] | Pretraining_v2 `HedColorAugmenter`, `HsbColorAugmenter` | σ, bias, hue, saturation in [-1, 1] |

mod blur;
mod color;
mod crop;
mod flip;
mod noise;
mod pil;
mod pil_geom;
mod resize;
mod stain;
mod warp;

pub use blur::box_blur;
pub use color::{
    apply_luts, brightness_contrast, brightness_contrast_lut, hsv_shift, hsv_shift_luts,
    hsv_to_rgb_cv, rgb_to_hsv_cv,
};
pub use crop::{center_crop, crop, random_crop};
pub use flip::{Flip, flip, hflip, vflip};
pub use noise::gaussian_noise;
pub use pil::{Enhance, autocontrast, enhance, equalize, luma, posterize, solarize};
pub use pil_geom::{PilAffine, pil_rotate, shear_x, shear_y, translate_x, translate_y};
pub use resize::{resize, scale};
pub use stain::{HedBase, HedJitter, HedShift, HsbJitter, RGB_FROM_HED};
pub use warp::{Affine, rotate, rotation_matrix, shift_scale_rotate, warp_affine};
