"""Reference timings for `cargo bench -p histo-datasets` (benches/read.rs), on the same files.

Writes (once) into DIR: 64 Kather-like 224x224 RGB TIFFs (uncompressed, as NCT-CRC-HE-100K) in
`kather/ADI/`, 64 Camelyon16-like 256x256 PNGs with their `list.txt` in
`camelyon/PATCHES_TUMOR_TRAIN/`, and `bpq.h5` in the original's layout (`x` float32
(64, 3, 256, 256) gzip-chunked one patch per chunk, `y` (64,)); then times, per sample, what the
original's datasets do: `Image.open(p).convert('RGB')` -> `np.array` (Kather, Camelyon16) and
`(f['x'][i].transpose(1, 2, 0) * 255).astype(np.uint8)` (BreastPathQ h5). Prints one line per
case: `name: median_us`.

Run: /work/venvs/datasets/bin/python reference.py DIR   (numpy, Pillow, h5py)."""
import os
import statistics
import sys
import time

import h5py
import numpy as np
from PIL import Image

out = sys.argv[1]
kdir = os.path.join(out, "kather", "ADI")
cdir = os.path.join(out, "camelyon", "PATCHES_TUMOR_TRAIN")
os.makedirs(kdir, exist_ok=True)
os.makedirs(cdir, exist_ok=True)
rng = np.random.default_rng(0)


def tissue(h, w):
    """Smooth colour blobs plus noise: compresses like tissue, not like flat colour."""
    yy, xx = np.mgrid[0:h, 0:w] / 16.0
    base = np.stack([np.sin(xx + k) * np.cos(yy * 0.7 + 2 * k) for k in range(3)], -1)
    img = 170 + 60 * base + rng.normal(0, 12, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


n = 64
for i in range(n):
    p = os.path.join(kdir, f"k{i:03}.tif")
    if not os.path.exists(p):
        Image.fromarray(tissue(224, 224)).save(p)
    p = os.path.join(cdir, f"{i}.png")
    if not os.path.exists(p):
        Image.fromarray(tissue(256, 256)).save(p)
with open(os.path.join(cdir, "list.txt"), "w") as f:
    f.writelines(f"Tumor_030,{1000 + i},{2000 + i}\n" for i in range(n))
h5 = os.path.join(out, "bpq.h5")
if not os.path.exists(h5):
    x = np.stack([tissue(256, 256).transpose(2, 0, 1) for _ in range(n)]).astype(np.float32) / 255
    with h5py.File(h5, "w") as f:
        f.create_dataset("x", data=x, compression="gzip", chunks=(1, 3, 256, 256))
        f.create_dataset("y", data=rng.random(n).astype(np.float32))


def bench(name, fn, items, rounds=5):
    per = []
    for _ in range(rounds):
        t = time.perf_counter()
        for it in items:
            fn(it)
        per.append((time.perf_counter() - t) / len(items) * 1e6)
    print(f"{name}: {statistics.median(per):.1f}")


kather = sorted(os.path.join(kdir, f) for f in os.listdir(kdir))
cam = [os.path.join(cdir, f"{i}.png") for i in range(n)]
bench("kather_tiff_224", lambda p: np.array(Image.open(p).convert("RGB")), kather)
bench("camelyon_png_256", lambda p: np.array(Image.open(p).convert("RGB")), cam)
with h5py.File(h5, "r") as f:
    x = f["x"]
    bench("bpq_h5_gzip_256", lambda i: (x[i].transpose(1, 2, 0) * 255).astype(np.uint8), range(n))
