//! Criterion benches for the figures the issue compares with scikit-learn and pingouin
//! (`/work/shared/bench/python/bench_metrics.py` measures the same inputs' shapes):
//! ROC AUC on 10⁶ binary scores, the six ICC forms on 1000 pairs, and the Kather-shaped
//! one-vs-rest AUC (7180 × 9) and weighted F1.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use histo_metrics::{Average, ConfusionMatrix, icc_pair, roc_auc, roc_auc_ovr};

/// SplitMix64: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0);
    // As bench_metrics.py: y ∈ {0, 1}, score = y·0.3 + U(0, 1).
    let n = 1_000_000;
    let y: Vec<bool> = (0..n).map(|_| rng.next() & 1 == 1).collect();
    let s: Vec<f64> = y
        .iter()
        .map(|&t| t as u8 as f64 * 0.3 + rng.unit())
        .collect();
    c.bench_function("roc_auc 1e6 scores", |b| {
        b.iter(|| roc_auc(black_box(&y), black_box(&s)).unwrap())
    });

    // As bench_metrics.py: reference U(0, 1), prediction = reference + noise.
    let reference: Vec<f64> = (0..1000).map(|_| rng.unit()).collect();
    let pred: Vec<f64> = reference
        .iter()
        .map(|r| (r + (rng.unit() - 0.5) * 0.35).clamp(0.0, 1.0))
        .collect();
    c.bench_function("icc six forms 1000 pairs", |b| {
        b.iter(|| icc_pair(black_box(&pred), black_box(&reference)).unwrap())
    });

    let (k, classes) = (7180, 9);
    let yk: Vec<usize> = (0..k)
        .map(|_| (rng.next() % classes as u64) as usize)
        .collect();
    let mut probs = Vec::with_capacity(k * classes);
    for &t in &yk {
        let e: Vec<f64> = (0..classes)
            .map(|c| (rng.unit() * 2.0 + if c == t { 2.0 } else { 0.0 }).exp())
            .collect();
        let z: f64 = e.iter().sum();
        probs.extend(e.iter().map(|v| v / z));
    }
    let pred_k: Vec<usize> = probs
        .chunks(classes)
        .map(|r| (0..classes).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap())
        .collect();
    c.bench_function("roc_auc_ovr 7180 x 9", |b| {
        b.iter(|| roc_auc_ovr(black_box(&yk), black_box(&probs), classes, Average::Macro).unwrap())
    });
    c.bench_function("f1 weighted 7180", |b| {
        b.iter(|| {
            ConfusionMatrix::new(black_box(&yk), black_box(&pred_k), classes)
                .unwrap()
                .f1(Average::Weighted)
        })
    });
}

criterion_group! {
    name = metrics;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(metrics);
