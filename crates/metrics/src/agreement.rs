//! Agreement between a prediction and a reference: mean squared and absolute error, and the
//! Bland–Altman bias and limits of agreement.

use serde::Serialize;

use crate::error::{Result, invalid};

fn check(a: &[f64], b: &[f64], min: usize) -> Result<()> {
    if a.len() != b.len() {
        return Err(invalid!("{} values against {} values", a.len(), b.len()));
    }
    if a.len() < min {
        return Err(invalid!("at least {min} pairs are needed, got {}", a.len()));
    }
    for (name, v) in [("first", a), ("second", b)] {
        if let Some(i) = v.iter().position(|v| !v.is_finite()) {
            return Err(invalid!(
                "value {i} of the {name} series is {}; values must be finite",
                v[i]
            ));
        }
    }
    Ok(())
}

/// Mean squared error (scikit-learn's `mean_squared_error`).
pub fn mse(prediction: &[f64], reference: &[f64]) -> Result<f64> {
    check(prediction, reference, 1)?;
    let n = prediction.len() as f64;
    Ok(prediction
        .iter()
        .zip(reference)
        .map(|(p, r)| (p - r).powi(2))
        .sum::<f64>()
        / n)
}

/// Mean absolute error (scikit-learn's `mean_absolute_error`).
pub fn mae(prediction: &[f64], reference: &[f64]) -> Result<f64> {
    check(prediction, reference, 1)?;
    let n = prediction.len() as f64;
    Ok(prediction
        .iter()
        .zip(reference)
        .map(|(p, r)| (p - r).abs())
        .sum::<f64>()
        / n)
}

/// Bland–Altman summary of two measurements of the same samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BlandAltman {
    /// Mean of the differences `m1 − m2`.
    pub bias: f64,
    /// Sample standard deviation of the differences (ddof = 1).
    pub sd: f64,
    /// `bias − 1.96 · sd`.
    pub loa_low: f64,
    /// `bias + 1.96 · sd`.
    pub loa_high: f64,
}

/// Bland–Altman bias and 95 % limits of agreement of `m1 − m2`. The SD uses ddof = 1 (the
/// sample SD of Bland & Altman 1986); statsmodels' `mean_diff_plot`, used by the original
/// code, uses ddof = 0, which narrows the limits by a factor `sqrt((n − 1) / n)`.
pub fn bland_altman(m1: &[f64], m2: &[f64]) -> Result<BlandAltman> {
    check(m1, m2, 2)?;
    let n = m1.len() as f64;
    let d: Vec<f64> = m1.iter().zip(m2).map(|(a, b)| a - b).collect();
    let bias = d.iter().sum::<f64>() / n;
    let sd = (d.iter().map(|x| (x - bias).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    Ok(BlandAltman {
        bias,
        sd,
        loa_low: bias - 1.96 * sd,
        loa_high: bias + 1.96 * sd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_worked() {
        // differences 1, 2, 3: bias 2, sd 1.
        let ba = bland_altman(&[2.0, 4.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!((ba.bias, ba.sd), (2.0, 1.0));
        assert!((ba.loa_high - 3.96).abs() < 1e-15 && (ba.loa_low - 0.04).abs() < 1e-15);
        assert_eq!(mse(&[1.0, 3.0], &[0.0, 0.0]).unwrap(), 5.0);
        assert_eq!(mae(&[1.0, -3.0], &[0.0, 0.0]).unwrap(), 2.0);
        assert!(bland_altman(&[1.0], &[1.0]).is_err());
        assert!(mse(&[], &[]).is_err());
    }
}
