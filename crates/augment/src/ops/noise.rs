//! Additive Gaussian noise (imgaug `AdditiveGaussianNoise(loc=0, scale, per_channel=False)`, as
//! albumentations 0.4's `IAAAdditiveGaussianNoise`): one N(0, σ) draw per pixel, rounded half to
//! even, added to all three channels, clipped to [0, 255].

use histo_tensor::Image;
use rand::RngCore;
use rand_distr::{Distribution, StandardNormal};

use crate::Result;
use crate::error::{check_nonempty, check_range};

/// Adds the same rounded N(0, `sigma`) noise value to the 3 channels of each pixel.
/// `sigma` is in grey levels, in [0, 255]; 0 returns the input (and draws nothing).
pub fn gaussian_noise(img: &Image, sigma: f64, rng: &mut dyn RngCore) -> Result<Image> {
    check_range(
        "noise",
        "sigma",
        sigma,
        0.0,
        255.0,
        "a standard deviation in [0, 255]",
    )?;
    check_nonempty("noise", img)?;
    if sigma == 0.0 {
        return Ok(img.clone());
    }
    let mut out = img.clone();
    for px in out.as_mut_slice().chunks_exact_mut(3) {
        let z: f64 = StandardNormal.sample(rng);
        // Round half to even (numpy's `round`) by adding and subtracting 2^52.
        let v = (z * sigma).clamp(-255.0, 255.0);
        let n = ((v + 4_503_599_627_370_496.0) - 4_503_599_627_370_496.0) as i32;
        for v in px {
            *v = (*v as i32 + n).clamp(0, 255) as u8;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample_rng;

    #[test]
    fn noise_is_shared_by_the_channels_and_has_the_right_spread() {
        let img = Image::filled(200, 100, [128, 128, 128]);
        let mut rng = sample_rng(0, 0, 0);
        let out = gaussian_noise(&img, 10.0, &mut rng).unwrap();
        let mut sum = 0.0;
        let mut sq = 0.0;
        for px in out.as_slice().chunks_exact(3) {
            assert!(px[0] == px[1] && px[1] == px[2]);
            let d = px[0] as f64 - 128.0;
            sum += d;
            sq += d * d;
        }
        let n = 20_000.0;
        let mean = sum / n;
        let sd = (sq / n - mean * mean).sqrt();
        // Rounding adds variance 1/12: sd = sqrt(100 + 1/12) = 10.004; standard error ~0.05.
        assert!(mean.abs() < 0.3, "{mean}");
        assert!((sd - 10.004).abs() < 0.25, "{sd}");
    }

    #[test]
    fn zero_sigma_is_identity_and_bad_sigma_is_an_error() {
        let img = Image::filled(3, 2, [1, 2, 3]);
        let mut rng = sample_rng(0, 0, 0);
        assert_eq!(gaussian_noise(&img, 0.0, &mut rng).unwrap(), img);
        assert!(gaussian_noise(&img, -1.0, &mut rng).is_err());
        assert!(gaussian_noise(&img, f64::NAN, &mut rng).is_err());
    }
}
