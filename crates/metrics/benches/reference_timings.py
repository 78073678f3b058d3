#!/usr/bin/env python3
"""The Python side of `cargo bench -p histo-metrics`: the same timings as
/work/shared/bench/python/bench_metrics.py (same inputs, seed 0), printed only, so that both
sides can be run alternately in one session. Needs numpy, pandas, scikit-learn, pingouin.

    python3 crates/metrics/benches/reference_timings.py [runs] [auc|icc|all]
"""
import statistics
import sys
import time

import numpy as np
import pandas as pd
import pingouin as pg
from sklearn.metrics import f1_score, roc_auc_score

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
ONLY = sys.argv[2] if len(sys.argv) > 2 else "all"


def median_ms(fn):
    fn()
    times = []
    for _ in range(RUNS):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


rng = np.random.default_rng(0)
n = 1000
ref = rng.random(n)
pred = np.clip(ref + rng.normal(0, 0.1, n), 0, 1)
df = pd.DataFrame(
    {
        "targets": np.hstack([np.arange(1, n + 1), np.arange(1, n + 1)]),
        "raters": np.hstack([np.tile(["M"], n), np.tile(["A"], n)]),
        "scores": np.hstack([pred, ref]),
    }
)
if ONLY in ("all", "icc"):
    print(f"pingouin intraclass_corr 1000 pairs: {median_ms(lambda: pg.intraclass_corr(data=df, targets='targets', raters='raters', ratings='scores')):.3f} ms")
m = 1_000_000
y = rng.integers(0, 2, m)
score = np.clip(y * 0.3 + rng.random(m), 0, None)
if ONLY in ("all", "auc"):
    print(f"sklearn roc_auc_score 1e6: {median_ms(lambda: roc_auc_score(y, score)):.3f} ms")
k, c = 7180, 9
yk = rng.integers(0, c, k)
logits = rng.normal(0, 1, (k, c)) + 2.0 * np.eye(c)[yk]
prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
if ONLY == "all":
    print(f"sklearn roc_auc_score ovr 7180x9: {median_ms(lambda: roc_auc_score(yk, prob, multi_class='ovr')):.3f} ms")
pk = prob.argmax(1)
if ONLY == "all":
    print(f"sklearn f1_score weighted 7180: {median_ms(lambda: f1_score(yk, pk, average='weighted')):.3f} ms")
