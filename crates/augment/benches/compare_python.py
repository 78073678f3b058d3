#!/usr/bin/env python3
"""Side-by-side timing: the original's augmentations (Python, restated from dataset.py and
models/randaugment.py with albumentations 0.4.6, imgaug 0.4.0 and scikit-image-0.15 HED formulas)
vs histo-augment (the `timing` example), alternating rounds in one run; medians over the rounds
of CPU ms per call (each item runs for at least 1 s of CPU per round), per 256x256 tile (per
triplet for the RSP pool). CPU time, because the development machine is shared (wall time
inflates both sides with the load).

    cargo build --release -p histo-augment --example timing
    /work/venvs/augment/bin/python crates/augment/benches/compare_python.py [ROUNDS]

Uses the venv of data/fixtures/augment/make_golden.py. Both sides run single-threaded.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from albumentations import (Blur, CenterCrop, Compose, Flip, HorizontalFlip, HueSaturationValue,  # noqa: E402
                            IAAAdditiveGaussianNoise, RandomBrightnessContrast, RandomCrop, RandomScale,
                            Resize, Rotate, ShiftScaleRotate)

sys.dont_write_bytecode = True  # no __pycache__ in the fixture folder
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../data/fixtures/augment"))
from make_golden import skimage015_hed2rgb, skimage015_rgb2hed  # noqa: E402

cv2.setNumThreads(1)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))
TILE = np.array(Image.open(os.path.join(ROOT, "data/fixtures/augment/tile.png")))
TIMING = os.path.join(ROOT, "target/release/examples/timing")


def colour_augmentation(image, h_std, d_std, e_std):
    """dataset.colour_augmentation: rgb2hed, per-pixel Python loop adding the offsets, hed2rgb."""
    hed = skimage015_rgb2hed(image)
    n = image.shape[1]
    h, d, e = (np.ravel(hed[:, :, c], order="A") for c in range(3))
    hmod, dmod, emod = (random.normalvariate(0, s) for s in (h_std, d_std, e_std))
    for x in range(len(h)):
        h[x] = h[x] + hmod
        d[x] = d[x] + dmod
        e[x] = e[x] + emod
    z = np.stack((h.reshape(n, n), d.reshape(n, n), e.reshape(n, n)), 2)
    return (skimage015_hed2rgb(z) * 255).astype("uint8")


def hed_vectorised(image, delta):
    return (skimage015_hed2rgb(skimage015_rgb2hed(image) + np.asarray(delta)) * 255).astype("uint8")


def color(img, v=0.0):
    return colour_augmentation(img, *(random.uniform(-0.035, 0.035) for _ in range(3)))


def run(transforms, img):
    return Compose(transforms)(image=img)["image"]


# models/randaugment.py (consistency training), 9 ops with their original magnitude handling
def ra_hsv(img, v):
    v = -v if random.random() < 0.5 else v
    return run([HueSaturationValue(hue_shift_limit=v, sat_shift_limit=v, val_shift_limit=v)], img)


def ra_noise(img, v):
    return run([IAAAdditiveGaussianNoise(loc=0, scale=(0, v * 255))], img)


def ra_scale_resize_crop(img, v):
    s = img.shape[1]
    return run([RandomScale(scale_limit=v, interpolation=2), Resize(s + 20, s + 20, interpolation=2),
                RandomCrop(s, s)], img)


def ra_ssr(img, v):
    v = -v if random.random() < 0.5 else v
    return run([ShiftScaleRotate(shift_limit=v, scale_limit=v + 0.5, rotate_limit=90, interpolation=2),
                RandomCrop(img.shape[1], img.shape[1])], img)


def ra_blur(img, v):
    return run([Blur(blur_limit=int(v + 5))], img)


def ra_brightness(img, v):
    return run([RandomBrightnessContrast(brightness_limit=v)], img)


def ra_contrast(img, v):
    return run([RandomBrightnessContrast(contrast_limit=v)], img)


def ra_rotate_crop(img, v):
    v = -v if random.random() < 0.5 else v
    return run([Flip(), Rotate(limit=v, interpolation=2), CenterCrop(img.shape[1], img.shape[1])], img)


POOL = [(ra_hsv, -1, 1), (ra_noise, 0, 0.15), (ra_scale_resize_crop, 0.8, 1.2), (ra_ssr, 0.01, 0.1),
        (color, -0.035, 0.035), (ra_blur, 0, 2), (ra_brightness, -0.2, 0.2), (ra_contrast, -0.2, 0.2),
        (ra_rotate_crop, -90, 90)]


def strong(img):
    """TransformFix.strong: RandomHorizontalFlip + RandomCrop(256) + RandAugment(7, 10)."""
    if random.random() < 0.5:
        img = img[:, ::-1].copy()
    i, j = random.randint(0, img.shape[0] - 256), random.randint(0, img.shape[1] - 256)
    img = img[i:i + 256, j:j + 256]
    for op, lo, hi in random.choices(POOL, k=7):
        v = np.random.randint(1, 10)
        img = np.asarray(op(img, v / 30 * (hi - lo) + lo))
    return img


# dataset.py RSP pretraining pool (8 ops, shuffled order shared by the triplet)
def p_hsv(img):
    return run([HueSaturationValue(hue_shift_limit=(-0.1, 0.1), sat_shift_limit=(-1, 1))], img)


def p_noise(img):
    return run([IAAAdditiveGaussianNoise(loc=0, scale=(0, 0.1 * 255))], img)


def p_src(img):
    s = img.shape[1]
    return run([Rotate(limit=(-90, 90), interpolation=2), RandomScale(scale_limit=(0.8, 1.2), interpolation=2),
                Resize(s + 20, s + 20, interpolation=2), RandomCrop(s, s)], img)


def p_ssr(img):
    return run([HorizontalFlip(), ShiftScaleRotate(shift_limit=0.0625, scale_limit=0.5, rotate_limit=45,
                                                   interpolation=2), RandomCrop(img.shape[1], img.shape[1])], img)


def p_blur(img):
    return run([Blur(blur_limit=(3, 7))], img)


def p_bc(img):
    return run([RandomBrightnessContrast(brightness_limit=(-0.2, 0.2), contrast_limit=(-0.2, 0.2))], img)


def p_rot(img):
    return run([Rotate(limit=(-90, 90), interpolation=2), CenterCrop(img.shape[1], img.shape[1])], img)


RSP = [p_hsv, p_noise, p_src, p_ssr, color, p_blur, p_bc, p_rot]


def rsp_triplet(tiles):
    out = list(tiles)
    for k in np.random.permutation(8):
        out = [np.asarray(RSP[k](t)) for t in out]
    return out


def cpu_ms(f):
    """CPU ms per call over at least 1 s of CPU."""
    t, calls = time.process_time(), 0
    while time.process_time() - t < 1.0:
        f()
        calls += 1
    return (time.process_time() - t) * 1e3 / calls


def python_round():
    return {
        "hed_loop": cpu_ms(lambda: color(TILE)),
        "hed_vectorised": cpu_ms(lambda: hed_vectorised(TILE, (0.02, -0.015, 0.01))),
        "strong_faithful": cpu_ms(lambda: strong(TILE)),
        "rsp_v1_triplet": cpu_ms(lambda: rsp_triplet([TILE, TILE, TILE])),
    }


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    random.seed(0)
    np.random.seed(0)
    py, rs = [], []
    for r in range(rounds):
        py.append(python_round())
        rs.append(json.loads(subprocess.run([TIMING, "1"], check=True, capture_output=True, text=True).stdout))
        print(f"round {r + 1}/{rounds}: python {py[-1]}\n             rust   {rs[-1]}", file=sys.stderr)
    med = lambda rows, k: statistics.median(row[k] for row in rows)  # noqa: E731
    out = {"rounds": rounds, "python_ms": {k: med(py, k) for k in py[0]}, "rust_ms": {k: med(rs, k) for k in rs[0]}}
    p, q = out["python_ms"], out["rust_ms"]
    out["speedup"] = {
        "hed_vs_loop": p["hed_loop"] / q["hed_random"],
        "hed_vs_vectorised": p["hed_vectorised"] / q["hed_fixed"],
        "strong_faithful": p["strong_faithful"] / q["strong_faithful"],
        "rsp_v1_triplet": p["rsp_v1_triplet"] / q["rsp_v1_triplet"],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
