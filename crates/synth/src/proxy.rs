//! A cheap separability proxy for the Kather-style data: a nearest-centroid classifier on colour
//! and texture statistics, trained on `train/` and scored on `test/`. It is far weaker than a
//! network; its use is to show that the classes are neither trivially separable (a proxy at
//! 100 % would mean the task is too easy) nor noise (near 11 % chance).

use std::path::Path;

use histo_tensor::Image;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::class::TissueClass;
use crate::{Error, Result};

/// Number of features per patch.
pub const FEATURES: usize = 17;

/// Result of the nearest-centroid proxy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxyReport {
    /// Training patches used.
    pub train: usize,
    /// Test patches scored.
    pub test: usize,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test accuracy of the same classifier on the training patches (resubstitution).
    pub train_accuracy: f64,
    /// Per-class test recall (ADI … TUM).
    pub recall: [f64; 9],
    /// Confusion matrix, rows = truth, columns = prediction.
    pub confusion: [[usize; 9]; 9],
}

/// Colour and texture statistics of a patch: mean and SD of R, G, B; mean and SD of optical
/// density per channel; fraction of dark and of bright pixels; gradient energy at full and at
/// quarter resolution; gradient coherence (how aligned the texture is).
pub fn features(img: &Image) -> [f64; FEATURES] {
    let (w, h) = (img.width(), img.height());
    let n = (w * h).max(1) as f64;
    let s = img.as_slice();
    let mut f = [0.0f64; FEATURES];
    let mut grey = vec![0.0f64; w * h];
    let (mut m, mut m2, mut od, mut od2) = ([0.0; 3], [0.0; 3], [0.0; 3], [0.0; 3]);
    let (mut dark, mut bright) = (0.0, 0.0);
    for (i, px) in s.chunks_exact(3).enumerate() {
        let mut g = 0.0;
        for c in 0..3 {
            let v = px[c] as f64;
            m[c] += v;
            m2[c] += v * v;
            let o = -((v + 1.0) / 256.0).ln();
            od[c] += o;
            od2[c] += o * o;
            g += v / 3.0;
        }
        grey[i] = g;
        if g < 110.0 {
            dark += 1.0;
        }
        if g > 215.0 {
            bright += 1.0;
        }
    }
    for c in 0..3 {
        f[c] = m[c] / n / 255.0;
        f[3 + c] = (m2[c] / n - (m[c] / n).powi(2)).max(0.0).sqrt() / 255.0;
        f[6 + c] = od[c] / n;
        f[9 + c] = (od2[c] / n - (od[c] / n).powi(2)).max(0.0).sqrt();
    }
    f[12] = dark / n;
    f[13] = bright / n;
    let grad = |g: &[f64], w: usize, h: usize| -> (f64, f64) {
        let (mut e, mut jxx, mut jyy, mut jxy, mut k) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for y in 1..h.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let gx = (g[y * w + x + 1] - g[y * w + x - 1]) / 2.0;
                let gy = (g[(y + 1) * w + x] - g[(y - 1) * w + x]) / 2.0;
                e += (gx * gx + gy * gy).sqrt();
                jxx += gx * gx;
                jyy += gy * gy;
                jxy += gx * gy;
                k += 1.0;
            }
        }
        let k = f64::max(k, 1.0);
        let coherence = ((jxx - jyy).powi(2) + 4.0 * jxy * jxy).sqrt() / (jxx + jyy + 1e-9);
        (e / k / 255.0, coherence)
    };
    let (e1, coh) = grad(&grey, w, h);
    let (w4, h4) = (w / 4, h / 4);
    let mut small = vec![0.0f64; w4 * h4];
    for y in 0..h4 {
        for x in 0..w4 {
            let mut s = 0.0;
            for dy in 0..4 {
                for dx in 0..4 {
                    s += grey[(4 * y + dy) * w + 4 * x + dx];
                }
            }
            small[y * w4 + x] = s / 16.0;
        }
    }
    let (e4, _) = grad(&small, w4, h4);
    f[14] = e1;
    f[15] = e4;
    f[16] = coh;
    f
}

fn load_split(root: &Path) -> Result<Vec<(usize, [f64; FEATURES])>> {
    let mut files = Vec::new();
    for class in TissueClass::ALL {
        let dir = root.join(class.name());
        let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut names: Vec<_> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "tif"))
            .collect();
        names.sort();
        files.extend(names.into_iter().map(|p| (class.index(), p)));
    }
    files
        .par_iter()
        .map(|(c, p)| Ok((*c, features(&Image::open(p)?))))
        .collect()
}

/// Trains the nearest-centroid proxy on `kather/train` and scores it on `kather/test`.
pub fn nearest_centroid(kather: &Path) -> Result<ProxyReport> {
    let train = load_split(&kather.join("train"))?;
    let test = load_split(&kather.join("test"))?;
    if train.is_empty() || test.is_empty() {
        return Err(Error::Config(format!(
            "{}: no patches in train/ or test/",
            kather.display()
        )));
    }
    // Standardise with the training statistics.
    let mut mean = [0.0; FEATURES];
    let mut sd = [0.0; FEATURES];
    for (_, f) in &train {
        for k in 0..FEATURES {
            mean[k] += f[k] / train.len() as f64;
        }
    }
    for (_, f) in &train {
        for k in 0..FEATURES {
            sd[k] += (f[k] - mean[k]).powi(2) / train.len() as f64;
        }
    }
    let z = |f: &[f64; FEATURES]| -> [f64; FEATURES] {
        let mut o = [0.0; FEATURES];
        for k in 0..FEATURES {
            o[k] = (f[k] - mean[k]) / sd[k].sqrt().max(1e-9);
        }
        o
    };
    let mut centroid = [[0.0; FEATURES]; 9];
    let mut count = [0usize; 9];
    for (c, f) in &train {
        let v = z(f);
        for k in 0..FEATURES {
            centroid[*c][k] += v[k];
        }
        count[*c] += 1;
    }
    for (cen, &n) in centroid.iter_mut().zip(&count) {
        for v in cen.iter_mut() {
            *v /= n.max(1) as f64;
        }
    }
    let predict = |f: &[f64; FEATURES]| -> usize {
        let v = z(f);
        (0..9)
            .filter(|&c| count[c] > 0)
            .min_by(|&a, &b| {
                let da: f64 = (0..FEATURES).map(|k| (v[k] - centroid[a][k]).powi(2)).sum();
                let db: f64 = (0..FEATURES).map(|k| (v[k] - centroid[b][k]).powi(2)).sum();
                da.total_cmp(&db)
            })
            .unwrap_or(0)
    };
    let mut confusion = [[0usize; 9]; 9];
    for (c, f) in &test {
        confusion[*c][predict(f)] += 1;
    }
    let correct: usize = (0..9).map(|c| confusion[c][c]).sum();
    let train_correct = train.iter().filter(|(c, f)| predict(f) == *c).count();
    let mut recall = [0.0; 9];
    for c in 0..9 {
        let n: usize = confusion[c].iter().sum();
        recall[c] = if n > 0 {
            confusion[c][c] as f64 / n as f64
        } else {
            0.0
        };
    }
    Ok(ProxyReport {
        train: train.len(),
        test: test.len(),
        accuracy: correct as f64 / test.len() as f64,
        train_accuracy: train_correct as f64 / train.len() as f64,
        recall,
        confusion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_of_flat_images_are_the_closed_forms() {
        let f = features(&Image::filled(16, 16, [255, 0, 51]));
        assert!((f[0] - 1.0).abs() < 1e-12 && f[1] == 0.0 && (f[2] - 0.2).abs() < 1e-12);
        assert!(f[3..6].iter().all(|&v| v.abs() < 1e-9));
        // OD = −ln((v + 1) / 256)
        assert!((f[6] - 0.0).abs() < 1e-12);
        assert!((f[7] - (256.0f64).ln()).abs() < 1e-12);
        // grey = 102 → dark
        assert_eq!(f[12], 1.0);
        assert_eq!(f[13], 0.0);
        assert_eq!(f[14], 0.0);
        // A vertical step edge: perfectly coherent gradient.
        let mut img = Image::filled(16, 16, [0, 0, 0]);
        for y in 0..16 {
            for x in 8..16 {
                img.put_pixel(x, y, [255, 255, 255]);
            }
        }
        let f = features(&img);
        assert!((f[16] - 1.0).abs() < 1e-9, "{}", f[16]);
        assert!(f[14] > 0.0);
    }
}
