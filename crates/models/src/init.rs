//! torchvision's weight initialisation, drawn on the host from a seeded [`SampleRng`].

use histo_tensor::SampleRng;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Kaiming-normal with `mode="fan_out"`, `nonlinearity="relu"` (torchvision ResNet convs):
/// N(0, 2 / fan_out) with `fan_out = out_channels · kh · kw`.
pub fn kaiming_normal_fan_out(rng: &mut SampleRng, shape: &[usize]) -> Vec<f32> {
    let fan_out: usize = shape[0] * shape[2..].iter().product::<usize>();
    let std = (2.0 / fan_out as f64).sqrt();
    (0..shape.iter().product::<usize>())
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            (z * std) as f32
        })
        .collect()
}

/// U(−bound, bound) values.
pub fn uniform(rng: &mut SampleRng, n: usize, bound: f64) -> Vec<f32> {
    (0..n)
        .map(|_| rng.random_range(-bound..bound) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaiming_has_the_torchvision_variance() {
        let mut rng = SampleRng::global("init", 1, 0);
        // conv 64x16x3x3: fan_out = 64*9 = 576, var = 2/576
        let v = kaiming_normal_fan_out(&mut rng, &[64, 16, 3, 3]);
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        let want = 2.0 / 576.0;
        // 9216 draws: the relative standard error of a variance estimate is sqrt(2/n) ≈ 1.5 %
        assert!((var / want - 1.0).abs() < 0.06, "{var} vs {want}");
        assert!(mean.abs() < 4.0 * (want / n).sqrt(), "{mean}");
    }

    #[test]
    fn uniform_stays_in_bounds() {
        let mut rng = SampleRng::global("init", 1, 0);
        let v = uniform(&mut rng, 10_000, 0.125);
        assert!(v.iter().all(|x| x.abs() <= 0.125));
        assert!(v.iter().any(|&x| x > 0.12) && v.iter().any(|&x| x < -0.12));
    }
}
