//! Colour ops with albumentations 0.4 / OpenCV uint8 semantics: brightness/contrast (a LUT) and
//! HSV shifts (OpenCV's integer RGB→HSV with H in [0, 180), per-channel LUTs, OpenCV's float
//! HSV→RGB).

use std::sync::OnceLock;

use histo_tensor::Image;

use crate::Result;
use crate::error::{check_finite, check_range};

/// Applies one 256-entry lookup table per channel.
pub fn apply_luts(img: &Image, luts: &[[u8; 256]; 3]) -> Image {
    let mut out = img.clone();
    let (l0, l1, l2) = (&luts[0], &luts[1], &luts[2]);
    for px in out.as_mut_slice().as_chunks_mut::<3>().0 {
        *px = [l0[px[0] as usize], l1[px[1] as usize], l2[px[2] as usize]];
    }
    out
}

/// The brightness/contrast LUT of albumentations 0.4 (`brightness_by_max=True`), float32:
/// `v = i * alpha + beta * 255`, clipped to [0, 255], truncated.
pub fn brightness_contrast_lut(alpha: f64, beta: f64) -> [u8; 256] {
    std::array::from_fn(|i| {
        let mut v = i as f32;
        if alpha != 1.0 {
            v *= alpha as f32;
        }
        if beta != 0.0 {
            v += (beta * 255.0) as f32;
        }
        v.clamp(0.0, 255.0) as u8
    })
}

/// `RandomBrightnessContrast` with fixed `alpha` (contrast factor, 1 = unchanged) and `beta`
/// (brightness offset as a fraction of 255, 0 = unchanged): `clip(x * alpha + beta * 255)`.
/// `alpha` in [0, 10], `beta` in [-1, 1].
pub fn brightness_contrast(img: &Image, alpha: f64, beta: f64) -> Result<Image> {
    check_range(
        "brightness_contrast",
        "alpha",
        alpha,
        0.0,
        10.0,
        "a contrast factor in [0, 10]",
    )?;
    check_range(
        "brightness_contrast",
        "beta",
        beta,
        -1.0,
        1.0,
        "a brightness offset in [-1, 1] (fraction of 255)",
    )?;
    let lut = brightness_contrast_lut(alpha, beta);
    Ok(apply_luts(img, &[lut, lut, lut]))
}

/// Everything the u8 HSV conversions look up, built once.
struct HsvTables {
    /// OpenCV's `RGB2HSV_b` division tables (`hsv_shift` = 12, H range 180).
    sdiv: [i32; 256],
    hdiv: [i32; 256],
    /// Per hue: OpenCV's sector (0..6).
    sector: [u8; 256],
    /// Per hue and saturation: the factors of v giving the 4 candidate channel values
    /// `[1, 1 - s, 1 - s·f, 1 - s·(1 - f)]` (f = position in the sector), with `1 - s·f` rounded
    /// once, as OpenCV's FMA-contracted vector code computes it.
    factors: Vec<[[f32; 4]; 256]>,
}

/// Which of the 4 candidates are (b, g, r) in each sector (OpenCV's `sector_data`).
const SECTOR_BGR: [[usize; 3]; 6] = [
    [1, 3, 0],
    [1, 0, 2],
    [3, 0, 1],
    [0, 2, 1],
    [0, 1, 3],
    [2, 1, 0],
];

fn hsv_tables() -> &'static HsvTables {
    static T: OnceLock<HsvTables> = OnceLock::new();
    T.get_or_init(|| {
        let mut sdiv = [0i32; 256];
        let mut hdiv = [0i32; 256];
        for i in 1..256 {
            sdiv[i] = ((255 << 12) as f64 / i as f64).round_ties_even() as i32;
            hdiv[i] = ((180 << 12) as f64 / (6.0 * i as f64)).round_ties_even() as i32;
        }
        let mut sector = [0u8; 256];
        let factors = (0..256)
            .map(|h| {
                let hh = h as f32 * (6.0f32 / 180.0);
                let pre = hh.trunc();
                let f = hh - pre;
                sector[h] = (pre - (pre * (1.0f32 / 6.0)).trunc() * 6.0) as u8;
                std::array::from_fn(|s| {
                    let s = s as f32 * (1.0f32 / 255.0);
                    [
                        1.0,
                        1.0 - s,
                        (-s).mul_add(f, 1.0),
                        (-s).mul_add(1.0 - f, 1.0),
                    ]
                })
            })
            .collect();
        HsvTables {
            sdiv,
            hdiv,
            sector,
            factors,
        }
    })
}

impl HsvTables {
    fn to_hsv(&self, rgb: [u8; 3]) -> [u8; 3] {
        let (r, g, b) = (rgb[0] as i32, rgb[1] as i32, rgb[2] as i32);
        let v = r.max(g).max(b);
        let diff = v - r.min(g).min(b);
        let vr = if v == r { -1 } else { 0 };
        let vg = if v == g { -1 } else { 0 };
        let s = (diff * self.sdiv[v as usize] + (1 << 11)) >> 12;
        let h = (vr & (g - b)) + (!vr & ((vg & (b - r + 2 * diff)) + (!vg & (r - g + 4 * diff))));
        let mut h = (h * self.hdiv[diff as usize] + (1 << 11)) >> 12;
        if h < 0 {
            h += 180;
        }
        [h.clamp(0, 255) as u8, s as u8, v as u8]
    }

    fn to_rgb(&self, hsv: [u8; 3]) -> [u8; 3] {
        let k = &self.factors[hsv[0] as usize][hsv[1] as usize];
        let v = hsv[2] as f32 * (1.0f32 / 255.0);
        let t = [v * k[0], v * k[1], v * k[2], v * k[3]];
        let [bi, gi, ri] = SECTOR_BGR[self.sector[hsv[0] as usize] as usize % 6];
        let cast = |x: f32| (x * 255.0) as u8; // truncates, saturates
        [cast(t[ri]), cast(t[gi]), cast(t[bi])]
    }
}

/// OpenCV `COLOR_RGB2HSV` on one u8 pixel: H in [0, 180), S and V in [0, 255] (integer maths).
pub fn rgb_to_hsv_cv(rgb: [u8; 3]) -> [u8; 3] {
    hsv_tables().to_hsv(rgb)
}

/// OpenCV `COLOR_HSV2RGB` on one u8 pixel (H range 180) as its vectorised path computes it
/// (float32, `1 - s·f` fused, results truncated; OpenCV's scalar tail rounds instead, but images
/// whose width is a multiple of 32 never reach it).
pub fn hsv_to_rgb_cv(hsv: [u8; 3]) -> [u8; 3] {
    hsv_tables().to_rgb(hsv)
}

/// The HSV shift LUTs of albumentations 0.4 (`_shift_hsv_uint8`), in float64:
/// hue `(i + hue) mod 180`, saturation and value `clip(i + shift, 0, 255)`, truncated.
pub fn hsv_shift_luts(hue: f64, sat: f64, val: f64) -> [[u8; 256]; 3] {
    let hue_lut = std::array::from_fn(|i| {
        // numpy's float `mod`: fmod, then moved into [0, 180).
        let mut m = (i as f64 + hue) % 180.0;
        if m < 0.0 {
            m += 180.0;
        }
        m as u8
    });
    let clip = |shift: f64| -> [u8; 256] {
        std::array::from_fn(|i| (i as f64 + shift).clamp(0.0, 255.0) as u8)
    };
    [hue_lut, clip(sat), clip(val)]
}

/// `HueSaturationValue` with fixed shifts: RGB→HSV (OpenCV u8), shift H by `hue` (units of 2°,
/// modulo 180), S by `sat` and V by `val` (grey levels, clipped), HSV→RGB. Shifts are truncated
/// through the LUT, so |shift| < 1 is almost a no-op — but the u8 HSV round trip itself is lossy
/// (a few grey levels), exactly as in the original. Shifts must be in [-255, 255].
pub fn hsv_shift(img: &Image, hue: f64, sat: f64, val: f64) -> Result<Image> {
    for (name, v) in [("hue", hue), ("sat", sat), ("val", val)] {
        check_finite("hsv_shift", name, v)?;
        check_range(
            "hsv_shift",
            name,
            v,
            -255.0,
            255.0,
            "a shift in [-255, 255]",
        )?;
    }
    let [lh, ls, lv] = hsv_shift_luts(hue, sat, val);
    let t = hsv_tables();
    let mut out = img.clone();
    for px in out.as_mut_slice().as_chunks_mut::<3>().0 {
        let [h, s, v] = t.to_hsv(*px);
        *px = t.to_rgb([lh[h as usize], ls[s as usize], lv[v as usize]]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_convert_like_opencv() {
        assert_eq!(rgb_to_hsv_cv([255, 0, 0]), [0, 255, 255]);
        assert_eq!(rgb_to_hsv_cv([0, 255, 0]), [60, 255, 255]);
        assert_eq!(rgb_to_hsv_cv([0, 0, 255]), [120, 255, 255]);
        assert_eq!(rgb_to_hsv_cv([10, 10, 10]), [0, 0, 10]);
        assert_eq!(hsv_to_rgb_cv([0, 255, 255]), [255, 0, 0]);
        assert_eq!(hsv_to_rgb_cv([120, 255, 255]), [0, 0, 255]);
    }

    #[test]
    fn brightness_contrast_lut_matches_the_closed_form() {
        let lut = brightness_contrast_lut(1.2, -0.1);
        for (i, &v) in lut.iter().enumerate() {
            let want = (i as f64 * 1.2 - 25.5).clamp(0.0, 255.0).floor();
            assert!((v as f64 - want).abs() <= 1.0, "{i}: {v} vs {want}");
        }
        assert_eq!(
            brightness_contrast_lut(1.0, 0.0),
            std::array::from_fn(|i| i as u8)
        );
        assert!(brightness_contrast(&Image::new(1, 1), f64::NAN, 0.0).is_err());
        assert!(brightness_contrast(&Image::new(1, 1), 1.0, 2.0).is_err());
    }

    #[test]
    fn hue_lut_wraps_like_numpy_mod() {
        let l = hsv_shift_luts(-0.05, -0.6, 0.3);
        assert_eq!(l[0][0], 179);
        assert_eq!(l[0][5], 4);
        assert_eq!(l[1][0], 0);
        assert_eq!(l[1][1], 0);
        assert_eq!(l[2][7], 7);
        assert_eq!(hsv_shift_luts(200.0, 0.0, 0.0)[0][0], 20);
    }
}
