#!/usr/bin/env python3
"""PyTorch side of `cargo xtask bench train`: the same training steps as `bench_train.rs`, with
the networks, optimiser and inputs of `/work/shared/bench/python/bench_models.py` (the
project's PyTorch CPU baseline), restated here so the repository does not depend on that folder.

    python bench_train_torch.py --model resnet18|rsp --size 64 --batch 32 --steps 5 --runs 1 \
        [--warmup 1] [--threads 2] [--device cpu|cuda] [--precision f32|bf16] [--json out.json]

One step: forward in training mode, cross-entropy, backward, SGD (lr 0.01, momentum 0.9,
Nesterov, weight decay 1e-4). resnet18 = torchvision resnet18 (1000 classes); rsp = the RSP
pretext network (ResNet-18 trunk without fc on three views, pair MLP 1024-512-256, classifier
768-128-6). Inputs uniform in [0, 255). Prints one JSON summary (also written to --json):
per-run wall and CPU seconds per step (CPU = user + system of every thread of this process),
images/s of the median run, and peak RSS. On `--device cuda` (`cargo xtask gpu-check`)
cuDNN autotuning is on (`cudnn.benchmark`), the timing brackets synchronise the GPU, bf16 is
`torch.autocast(dtype=torch.bfloat16)` (f32 master weights, no loss scaling), and the peak
GPU memory PyTorch allocated and reserved is reported.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["resnet18", "rsp"], default="resnet18")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("RAYON_NUM_THREADS", "2")))
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    ap.add_argument("--json")
    a = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(a.threads)

    import torch
    import torch.nn as nn
    import torchvision

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    cuda = a.device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True

    class RSPNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk = torchvision.models.resnet18(weights=None)
            self.trunk.fc = nn.Sequential()
            self.pair = nn.Sequential(nn.Linear(1024, 512), nn.ReLU(True), nn.Linear(512, 256))
            self.classifier = nn.Sequential(nn.Linear(768, 128), nn.ReLU(True), nn.Linear(128, 6))

        def forward(self, i1, i2, i3):
            e1, e2, e3 = self.trunk(i1), self.trunk(i2), self.trunk(i3)
            f12 = self.pair(torch.cat((e1, e2), 1))
            f23 = self.pair(torch.cat((e2, e3), 1))
            f13 = self.pair(torch.cat((e1, e3), 1))
            return self.classifier(torch.cat((f12, f23, f13), 1))

    if a.model == "resnet18":
        model = torchvision.models.resnet18(weights=None)
        xs = [torch.rand(a.batch, 3, a.size, a.size) * 255]
        y = torch.randint(0, 1000, (a.batch,))
        images = a.batch
    else:
        model = RSPNet()
        xs = [torch.rand(a.batch, 3, a.size, a.size) * 255 for _ in range(3)]
        y = torch.randint(0, 6, (a.batch,))
        images = 3 * a.batch
    model.to(dev).train()
    xs = [x.to(dev) for x in xs]
    y = y.to(dev)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4, nesterov=True)
    crit = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        with torch.autocast(a.device, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            out = model(*xs)
        loss = crit(out.float(), y)
        loss.backward()
        opt.step()

    def sync():
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    sync()
    warmup_s = time.perf_counter() - t0
    wall, cpu = [], []
    for run in range(a.runs):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(a.steps):
            step()
        sync()
        dt = (time.perf_counter() - t0) / a.steps
        dc = (time.process_time() - c0) / a.steps
        wall.append(dt)
        cpu.append(dc)
        print(json.dumps({"run": run, "s_per_step": dt, "cpu_s_per_step": dc,
                          "images_per_s": images / dt}))
    med = statistics.median_low(wall)
    summary = {
        "impl": "torch",
        "torch": torch.__version__,
        "model": a.model,
        "device": a.device,
        "precision": a.precision,
        "warmup_s": warmup_s,
        "size": a.size,
        "batch": a.batch,
        "images_per_step": images,
        "params": params,
        "threads": torch.get_num_threads(),
        "steps_per_run": a.steps,
        "runs": a.runs,
        "s_per_step": wall,
        "cpu_s_per_step": cpu,
        "median_s_per_step": med,
        "median_cpu_s_per_step": statistics.median_low(cpu),
        "images_per_s": images / med,
        # ru_maxrss is in KiB on Linux
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if cuda:
        summary["gpu_peak_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        summary["gpu_peak_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    print(json.dumps({"summary": summary}))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
