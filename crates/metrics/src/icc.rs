//! Intraclass correlation: the six forms of Shrout & Fleiss / McGraw & Wong, with F test and
//! 95 % confidence interval, exactly as `pingouin.intraclass_corr` computes them.
//!
//! The ratings form an `n × k` table (n targets, k raters, no missing cells). A two-way ANOVA
//! without interaction gives the mean squares MSB (targets), MSJ (raters), MSE (residual) and
//! MSW = (SSJ + SSE) / (DFJ + DFE); then, as in pingouin (`reliability.py`):
//!
//! | form | pingouin name | ICC | F | df2 |
//! |---|---|---|---|---|
//! | ICC1 | ICC(1,1) | (MSB − MSW) / (MSB + (k−1)·MSW) | MSB/MSW | n(k−1) |
//! | ICC2 | ICC(A,1) | (MSB − MSE) / (MSB + (k−1)·MSE + k·(MSJ − MSE)/n) | MSB/MSE | (n−1)(k−1) |
//! | ICC3 | ICC(C,1) | (MSB − MSE) / (MSB + (k−1)·MSE) | MSB/MSE | (n−1)(k−1) |
//! | ICC1k | ICC(1,k) | (MSB − MSW) / MSB | MSB/MSW | n(k−1) |
//! | ICC2k | ICC(A,k) | (MSB − MSE) / (MSB + (MSJ − MSE)/n) | MSB/MSE | (n−1)(k−1) |
//! | ICC3k | ICC(C,k) | (MSB − MSE) / MSB | MSB/MSE | (n−1)(k−1) |
//!
//! df1 = n − 1 and the p-value is the F survival function. Confidence intervals: for forms 1
//! and 3 from the F quantiles, for form 2 with the Satterthwaite degrees of freedom of McGraw &
//! Wong (1996). pingouin 0.3.3 (used by the original code) has the same formulas but rounds the
//! ICC and F to 3 decimals and the interval to 2 in its output table; current pingouin rounds
//! the interval to 2 decimals by default. Here nothing is rounded.

use serde::Serialize;

use crate::error::{Result, invalid};
use crate::fdist::{f_ppf, f_sf};

/// The six ICC forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum IccKind {
    /// One-way random effects, single rater: `ICC(1,1)`.
    Icc1,
    /// Two-way random effects, absolute agreement, single rater: `ICC(A,1)`.
    Icc2,
    /// Two-way mixed effects, consistency, single rater: `ICC(C,1)`.
    Icc3,
    /// One-way random effects, mean of k raters: `ICC(1,k)`.
    Icc1k,
    /// Two-way random effects, absolute agreement, mean of k raters: `ICC(A,k)`.
    Icc2k,
    /// Two-way mixed effects, consistency, mean of k raters: `ICC(C,k)`.
    Icc3k,
}

impl IccKind {
    /// All six, in pingouin's row order.
    pub const ALL: [IccKind; 6] = [
        IccKind::Icc1,
        IccKind::Icc2,
        IccKind::Icc3,
        IccKind::Icc1k,
        IccKind::Icc2k,
        IccKind::Icc3k,
    ];

    /// Shrout & Fleiss name as pingouin 0.3.3 printed it (`ICC1` … `ICC3k`).
    pub fn name(self) -> &'static str {
        match self {
            IccKind::Icc1 => "ICC1",
            IccKind::Icc2 => "ICC2",
            IccKind::Icc3 => "ICC3",
            IccKind::Icc1k => "ICC1k",
            IccKind::Icc2k => "ICC2k",
            IccKind::Icc3k => "ICC3k",
        }
    }

    /// McGraw & Wong name as current pingouin prints it (`ICC(1,1)`, `ICC(A,1)`, …).
    pub fn pingouin_name(self) -> &'static str {
        match self {
            IccKind::Icc1 => "ICC(1,1)",
            IccKind::Icc2 => "ICC(A,1)",
            IccKind::Icc3 => "ICC(C,1)",
            IccKind::Icc1k => "ICC(1,k)",
            IccKind::Icc2k => "ICC(A,k)",
            IccKind::Icc3k => "ICC(C,k)",
        }
    }
}

/// One row of the ICC table.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Icc {
    /// Which form.
    #[serde(skip)]
    pub kind: IccKind,
    /// The coefficient.
    pub icc: f64,
    /// F statistic of the test ICC = 0.
    pub f: f64,
    /// Numerator degrees of freedom (n − 1).
    pub df1: f64,
    /// Denominator degrees of freedom.
    pub df2: f64,
    /// p-value of the F test.
    pub pval: f64,
    /// Lower end of the 95 % confidence interval.
    pub ci95_low: f64,
    /// Upper end of the 95 % confidence interval.
    pub ci95_high: f64,
}

/// Mean squares of the two-way ANOVA of an `n × k` table.
struct Anova {
    n: f64,
    k: f64,
    msb: f64,
    msj: f64,
    mse: f64,
    msw: f64,
}

fn anova(ratings: &[f64], n: usize, k: usize) -> Anova {
    let total = (n * k) as f64;
    let grand = ratings.iter().sum::<f64>() / total;
    let row_means: Vec<f64> = ratings
        .chunks(k)
        .map(|r| r.iter().sum::<f64>() / k as f64)
        .collect();
    let mut col_means = vec![0.0; k];
    for row in ratings.chunks(k) {
        for (c, &v) in col_means.iter_mut().zip(row) {
            *c += v;
        }
    }
    col_means.iter_mut().for_each(|c| *c /= n as f64);
    let ssb = k as f64 * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ssj = n as f64 * col_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let mut sse = 0.0;
    for (row, rm) in ratings.chunks(k).zip(&row_means) {
        for (&v, cm) in row.iter().zip(&col_means) {
            sse += (v - rm - cm + grand).powi(2);
        }
    }
    let (dfb, dfj, dfe) = ((n - 1) as f64, (k - 1) as f64, ((n - 1) * (k - 1)) as f64);
    Anova {
        n: n as f64,
        k: k as f64,
        msb: ssb / dfb,
        msj: ssj / dfj,
        mse: sse / dfe,
        msw: (ssj + sse) / (dfj + dfe),
    }
}

/// All six ICC forms of an `n_targets × n_raters` table given row-major (one row per target).
/// Needs at least 2 targets and 2 raters and finite ratings. Degenerate tables (e.g. every
/// rating equal) give NaN where pingouin's arithmetic gives NaN.
pub fn icc(ratings: &[f64], n_targets: usize, n_raters: usize) -> Result<[Icc; 6]> {
    let (n, k) = (n_targets, n_raters);
    if n < 2 || k < 2 {
        return Err(invalid!(
            "ICC needs at least 2 targets and 2 raters, got {n} × {k}"
        ));
    }
    if ratings.len() != n * k {
        return Err(invalid!(
            "{} ratings do not form a {n} × {k} table",
            ratings.len()
        ));
    }
    if let Some(i) = ratings.iter().position(|v| !v.is_finite()) {
        return Err(invalid!(
            "rating of target {} by rater {} is {}; ratings must be finite",
            i / k,
            i % k,
            ratings[i]
        ));
    }
    let Anova {
        n,
        k,
        msb,
        msj,
        mse,
        msw,
    } = anova(ratings, n, k);
    let icc1 = (msb - msw) / (msb + (k - 1.0) * msw);
    let icc2 = (msb - mse) / (msb + (k - 1.0) * mse + k * (msj - mse) / n);
    let icc3 = (msb - mse) / (msb + (k - 1.0) * mse);
    let icc1k = (msb - msw) / msb;
    let icc2k = (msb - mse) / (msb + (msj - mse) / n);
    let icc3k = (msb - mse) / msb;

    let f1k = msb / msw;
    let df1 = n - 1.0;
    let df1kd = n * (k - 1.0);
    let p1k = f_sf(f1k, df1, df1kd);
    let f3k = msb / mse;
    let df2kd = (n - 1.0) * (k - 1.0);
    let p2k = f_sf(f3k, df1, df2kd);

    const Q: f64 = 1.0 - 0.05 / 2.0;
    // Forms 1 and 3.
    let f1l = f1k / f_ppf(Q, df1, df1kd);
    let f1u = f1k * f_ppf(Q, df1kd, df1);
    let (l1, u1) = (
        (f1l - 1.0) / (f1l + (k - 1.0)),
        (f1u - 1.0) / (f1u + (k - 1.0)),
    );
    let f3l = f3k / f_ppf(Q, df1, df2kd);
    let f3u = f3k * f_ppf(Q, df2kd, df1);
    let (l3, u3) = (
        (f3l - 1.0) / (f3l + (k - 1.0)),
        (f3u - 1.0) / (f3u + (k - 1.0)),
    );
    // Form 2 (Satterthwaite).
    let fj = msj / mse;
    let vn = df2kd * (k * icc2 * fj + n * (1.0 + (k - 1.0) * icc2) - k * icc2).powi(2);
    let vd = df1 * k.powi(2) * icc2.powi(2) * fj.powi(2)
        + (n * (1.0 + (k - 1.0) * icc2) - k * icc2).powi(2);
    let v = vn / vd;
    let f2u = f_ppf(Q, n - 1.0, v);
    let f2l = f_ppf(Q, v, n - 1.0);
    let l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb);
    let u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb);

    let row = |kind, icc, f, df2, pval, (lo, hi): (f64, f64)| Icc {
        kind,
        icc,
        f,
        df1,
        df2,
        pval,
        ci95_low: lo,
        ci95_high: hi,
    };
    Ok([
        row(IccKind::Icc1, icc1, f1k, df1kd, p1k, (l1, u1)),
        row(IccKind::Icc2, icc2, f3k, df2kd, p2k, (l2, u2)),
        row(IccKind::Icc3, icc3, f3k, df2kd, p2k, (l3, u3)),
        row(
            IccKind::Icc1k,
            icc1k,
            f1k,
            df1kd,
            p1k,
            (1.0 - 1.0 / f1l, 1.0 - 1.0 / f1u),
        ),
        row(
            IccKind::Icc2k,
            icc2k,
            f3k,
            df2kd,
            p2k,
            (
                l2 * k / (1.0 + l2 * (k - 1.0)),
                u2 * k / (1.0 + u2 * (k - 1.0)),
            ),
        ),
        row(
            IccKind::Icc3k,
            icc3k,
            f3k,
            df2kd,
            p2k,
            (1.0 - 1.0 / f3l, 1.0 - 1.0 / f3u),
        ),
    ])
}

/// The six ICC forms between two raters (or a model and a rater) scoring the same targets.
pub fn icc_pair(a: &[f64], b: &[f64]) -> Result<[Icc; 6]> {
    if a.len() != b.len() {
        return Err(invalid!("{} ratings against {} ratings", a.len(), b.len()));
    }
    let table: Vec<f64> = a.iter().zip(b).flat_map(|(&x, &y)| [x, y]).collect();
    icc(&table, a.len(), 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_agreement_is_one() {
        let a = [0.1, 0.5, 0.9, 0.3];
        for r in icc_pair(&a, &a).unwrap() {
            assert!((r.icc - 1.0).abs() < 1e-12, "{r:?}");
        }
    }

    #[test]
    fn bad_tables_are_errors() {
        assert!(icc(&[1.0, 2.0], 1, 2).is_err());
        assert!(icc(&[1.0, 2.0, 3.0], 2, 2).is_err());
        let e = icc(&[1.0, 2.0, f64::NAN, 3.0], 2, 2).unwrap_err();
        assert!(e.to_string().contains("target 1 by rater 0"), "{e}");
        assert!(icc_pair(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn constant_ratings_give_nan_not_panic() {
        let r = icc_pair(&[0.5; 4], &[0.5; 4]).unwrap();
        assert!(r[0].icc.is_nan());
    }
}
