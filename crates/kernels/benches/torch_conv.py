#!/usr/bin/env python3
"""PyTorch side of the conv benchmark: forward + backward of every distinct ResNet-18
convolution at 64 and 128 px input, batch 32, 2 threads (--threads) -- the same layers and passes as
`benches/conv.rs` (input gradient skipped for the 3-channel stem, as in training).

    python torch_conv.py --json out.json            # time PyTorch, print ms and GFLOP/s
    python torch_conv.py --criterion DIR --json f   # also read criterion's medians for
                                                    # `ours` from DIR (target/criterion)
                                                    # and store them in the same file
    python torch_conv.py --summary f1.json f2.json  # median over passes, ratio table
    python torch_conv.py --train-step 64 --steps 3  # ResNet-18 train step as bench_models.py
                                                    # (b32, CE, SGD nesterov), img/s

`compare_torch.sh` alternates this script with `cargo bench ... -- ours` and summarises.
Run with the project's PyTorch CPU venv (e.g. /work/venvs/torch/bin/python).
"""
import argparse
import json
import os
import statistics
import time

LAYERS = [  # name, cin, cout, k, stride, pad, input divisor (same list as conv.rs)
    ("conv1_7x7s2_3-64", 3, 64, 7, 2, 3, 1),
    ("l1_3x3s1_64-64", 64, 64, 3, 1, 1, 4),
    ("l2a_3x3s2_64-128", 64, 128, 3, 2, 1, 4),
    ("l2b_3x3s1_128-128", 128, 128, 3, 1, 1, 8),
    ("l2d_1x1s2_64-128", 64, 128, 1, 2, 0, 4),
    ("l3a_3x3s2_128-256", 128, 256, 3, 2, 1, 8),
    ("l3b_3x3s1_256-256", 256, 256, 3, 1, 1, 16),
    ("l3d_1x1s2_128-256", 128, 256, 1, 2, 0, 8),
    ("l4a_3x3s2_256-512", 256, 512, 3, 2, 1, 16),
    ("l4b_3x3s1_512-512", 512, 512, 3, 1, 1, 32),
    ("l4d_1x1s2_256-512", 256, 512, 1, 2, 0, 16),
]
BATCH = 32
SIZES = (64, 128)


def flops(size, layer):
    name, cin, cout, k, stride, pad, div = layer
    s = size // div
    o = (s + 2 * pad - k) // stride + 1
    passes = 2 if cin == 3 else 3
    return passes * 2 * BATCH * cout * o * o * cin * k * k


def time_torch(runs, min_time, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": {}}
    for size in SIZES:
        for layer in LAYERS:
            name, cin, cout, k, stride, pad, div = layer
            s = size // div
            x = torch.randn(BATCH, cin, s, s, requires_grad=cin != 3)
            w = torch.randn(cout, cin, k, k, requires_grad=True)
            o = (s + 2 * pad - k) // stride + 1
            dy = torch.randn(BATCH, cout, o, o)
            inputs = [x, w] if cin != 3 else [w]

            def step():
                y = F.conv2d(x, w, stride=stride, padding=pad)
                torch.autograd.grad(y, inputs, dy)

            for _ in range(2):
                step()
            t0 = time.perf_counter()
            step()
            iters = max(1, int(min_time / max(time.perf_counter() - t0, 1e-6)))
            samples = []
            for _ in range(runs):
                t0 = time.perf_counter()
                for _ in range(iters):
                    step()
                samples.append((time.perf_counter() - t0) / iters)
            out["ms"][f"{size}px/{name}"] = 1e3 * statistics.median(samples)
    return out


def train_step(size, steps, runs, threads):
    """img/s of torchvision ResNet-18 train steps, exactly as shared/bench/python/bench_models.py
    times them (batch 32, 0-255 inputs, CE, SGD lr 0.01 momentum 0.9 nesterov wd 1e-4)."""
    import torch
    import torch.nn as nn
    import torchvision

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    crit = nn.CrossEntropyLoss()
    x = torch.rand(32, 3, size, size) * 255
    y = torch.randint(0, 1000, (32,))

    def step():
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()

    step()
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    print(f"torch ResNet-18 train step {size}px b32, {threads} threads: {32 * steps / med:.1f} img/s "
          f"({1e3 * med / steps:.0f} ms/step wall, {1e3 * statistics.median(cpu) / steps:.0f} ms/step CPU, "
          f"runs {['%.2fs' % t for t in times]})")


def read_criterion(root):
    """Median estimate (ms) of every `conv_fwd_bwd/<size>px/<layer>/ours` run in `root`."""
    res = {}
    for size in SIZES:
        for layer in LAYERS:
            path = os.path.join(root, f"conv_fwd_bwd_{size}px", f"{layer[0]}_ours", "new", "estimates.json")
            if os.path.exists(path):
                with open(path) as f:
                    res[f"{size}px/{layer[0]}"] = json.load(f)["median"]["point_estimate"] / 1e6
    return res


def summary(files):
    passes = []
    for f in files:
        with open(f) as fh:
            passes.append(json.load(fh))
    print(f"{len(passes)} passes; medians over passes; GFLOP/s = FLOPs of fwd+bwd / time")
    print(f"{'layer':<28}{'torch ms':>10}{'ours ms':>10}{'torch GF/s':>12}{'ours GF/s':>11}{'ours/torch':>12}")
    tot_t = tot_o = 0.0
    for size in SIZES:
        for layer in LAYERS:
            key = f"{size}px/{layer[0]}"
            t = statistics.median(p["ms"][key] for p in passes)
            ours = [p["ours_ms"][key] for p in passes if key in p.get("ours_ms", {})]
            o = statistics.median(ours) if ours else float("nan")
            tot_t += t
            tot_o += o
            gf = flops(size, layer) / 1e9
            print(f"{key:<28}{t:>10.2f}{o:>10.2f}{gf / t * 1e3:>12.1f}{gf / o * 1e3:>11.1f}{t / o:>11.2f}x")
    print(f"{'sum of all layers':<28}{tot_t:>10.1f}{tot_o:>10.1f}{'':>23}{tot_t / tot_o:>11.2f}x")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--criterion")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--summary", nargs="*")
    ap.add_argument("--train-step", type=int, metavar="PX")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.train_step:
        train_step(a.train_step, a.steps, a.runs, a.threads)
        return
    if a.summary:
        summary(a.summary)
        return
    res = time_torch(a.runs, a.min_time, a.threads)
    if a.criterion:
        res["ours_ms"] = read_criterion(a.criterion)
    for key, ms in res["ms"].items():
        size, name = key.split("/")
        layer = next(l for l in LAYERS if l[0] == name)
        print(f"torch {key:<28}{ms:>9.2f} ms {flops(int(size[:-2]), layer) / ms / 1e6:>7.1f} GFLOP/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
