#!/usr/bin/python3
"""The tree's one Gaussian blur (src/blur.c) against scipy.ndimage, and through it the typical
predictions of `segloss predict` (src/masks.c), which blur each class's one-hot map.

The blur's rule: the kernel truncated at ceil(3 sigma) pixels (and at the longer side, beyond
which no tap lands) and renormalised at the borders, each output the weighted mean of the taps
inside the image. Its independent form here: scipy's gaussian_filter with zero padding
(mode='constant') divided by the same filter of a plane of ones. Checked on random planes of
many shapes and sigmas (through the helper $BUILD/tools/blur_plane, as sl__blur is internal),
for a constant plane staying constant, and for `segloss predict --noise 0` against
softmax(confidence * (2 * blurred one-hot - 1)) computed here, and for `segloss play`'s blur
mistake: its ce curve against ce computed here from the same ground truth (`segloss masks` of
the same seed), the perfect logits' softmax blurred per class and logits = log p.

Run with /usr/bin/python3. Last line: `check_blur: N passed, M failed`; exit 1 on a failure.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402

TOOL = os.path.join(os.environ.get("BUILD", "build"), "tools", "blur_plane")


def expected(x, sigma):
    """The renormalised, truncated blur of plane x, from scipy."""
    h, w = x.shape
    radius = min(math.ceil(3 * sigma), max(h, w) - 1) if sigma > 0 else 0
    if radius < 1:
        return x.copy()

    def gf(a):
        return ndimage.gaussian_filter(a, sigma, mode="constant", cval=0.0, radius=radius)
    return gf(x) / gf(np.ones_like(x))


def blur_with_tool(cases):
    """sl__blur of each (plane, sigma), through the helper."""
    text = []
    for x, sigma in cases:
        text.append("%d %d %s" % (x.shape[0], x.shape[1], float(sigma).hex()))
        text.extend(float(v).hex() for v in x.ravel())
    p = subprocess.run([TOOL], input="\n".join(text) + "\n", stdout=subprocess.PIPE,
                       universal_newlines=True, check=True)
    vals = [float.fromhex(s) for s in p.stdout.split()]
    out, k = [], 0
    for x, _ in cases:
        out.append(np.array(vals[k:k + x.size]).reshape(x.shape))
        k += x.size
    return out


def check_planes(rng):
    shapes = [(1, 1), (1, 7), (9, 1), (2, 3), (5, 5), (16, 16), (13, 40), (64, 31)]
    shapes += [tuple(rng.integers(1, 48, size=2)) for _ in range(12)]
    sigmas = [0.0, 0.2, 0.34, 0.5, 1.0, 1.1, 1.5, 2.7, 4.0, 9.5, 1e3]
    cases = [(rng.random(s) * rng.choice([1.0, 1e-3, 50.0]), sg) for s in shapes for sg in sigmas]
    cases += [(np.full(s, 0.3), sg) for s in shapes[:8] for sg in (0.7, 2.0, 30.0)]
    got = blur_with_tool(cases)
    for (x, sigma), g in zip(cases, got):
        e = expected(x, sigma)
        err = np.max(np.abs(g - e) / np.maximum(np.abs(e), 1e-300))
        check(err <= 1e-12, "blur of a %dx%d plane, sigma %g: relative error %.3g" %
              (x.shape[0], x.shape[1], sigma, err))
        if np.all(x == x.flat[0]):
            check(np.max(np.abs(g - x)) <= 1e-15,
                  "a constant %dx%d plane stays constant under sigma %g" %
                  (x.shape[0], x.shape[1], sigma))


def check_predict(rng, tmp):
    """segloss predict without noise: softmax(confidence * (2 * blur(one-hot) - 1))."""
    for (n, h, w, C, edge, conf) in [(2, 20, 17, 4, 1.5, 5.0), (1, 6, 30, 3, 2.2, 3.0),
                                      (3, 9, 9, 5, 0.4, 8.0), (1, 4, 5, 2, 50.0, 2.0),
                                      (1, 12, 12, 4, 0.0, 4.0)]:
        lab = rng.integers(0, C, size=(n, h, w)).astype(np.int32)
        lp, pp = os.path.join(tmp, "lab.npy"), os.path.join(tmp, "probs.npy")
        np.save(lp, lab)
        rc, _, se = checklib.run_segloss(["predict", "--labels", lp, "--out", pp, "--classes",
                                          str(C), "--edge", repr(edge), "--confidence",
                                          repr(conf), "--noise", "0"])
        desc = "predict %dx%dx%d, %d classes, edge %g" % (n, h, w, C, edge)
        check(rc == 0, "%s: exit 0 (%d: %s)" % (desc, rc, se.strip()))
        if rc != 0:
            continue
        got = np.load(pp)
        z = np.empty((n, C, h, w))
        for i in range(n):
            for c in range(C):
                z[i, c] = conf * (2 * expected((lab[i] == c).astype(np.float64), edge) - 1)
        z -= z.max(axis=1, keepdims=True)
        want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        problem = checklib.compare_within(got, want.astype(np.float32), 2e-7)
        check(problem is None, "%s: the probabilities (%s)" % (desc, problem))


def check_play(tmp):
    """play's blur row of ce: the perfect logits 10 * (one-hot - 0.5) of the post's masks, their
    softmax blurred per class at each sigma, logits = log max(p, 1e-30) as float32, then ce."""
    n, H, W, seed = 2, 32, 40, 5
    lab = os.path.join(tmp, "lab.npy")
    rc, _, se = checklib.run_segloss(["masks", "--n", str(n), "--size", "%d,%d" % (H, W),
                                      "--seed", str(seed), "--out", os.path.join(tmp, "m.npy"),
                                      "--labels", lab])
    check(rc == 0, "masks: exit 0 (%d: %s)" % (rc, se.strip()))
    rc, so, se = checklib.run_segloss(["play", "--losses", "ce", "--n", str(n), "--size",
                                       "%d,%d" % (H, W), "--seed", str(seed), "--steps", "4",
                                       "--out", os.path.join(tmp, "play"), "--json"], timeout=120)
    check(rc == 0, "play: exit 0 (%d: %s)" % (rc, se.strip()))
    if rc != 0:
        return
    blur = [m for m in json.loads(so)["mistakes"] if m["name"] == "blur"][0]
    y = np.load(lab).astype(np.int64)
    onehot = (y[:, None] == np.arange(4)[None, :, None, None]).astype(np.float64)
    z = np.float32(10.0) * (onehot.astype(np.float32) - np.float32(0.5))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    for sigma, got in zip(blur["strengths"], blur["values"]["ce"]):
        if sigma == 0:
            continue
        q = np.stack([[expected(p[i, c], sigma) for c in range(4)] for i in range(n)])
        x = np.log(np.maximum(q, 1e-30)).astype(np.float32).astype(np.float64)
        lse = np.log(np.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1)) + x.max(axis=1)
        want = float(np.mean(lse - np.take_along_axis(x, y[:, None], axis=1)[:, 0]))
        check(abs(got - want) <= 1e-5 * abs(want),
              "play blur sigma %g: ce %r, computed here %r" % (sigma, got, want))


def main():
    if not checklib.segloss_found("check_blur"):
        return 1
    if not os.path.exists(TOOL):
        print("check_blur: %s not found (make tests builds it)" % TOOL)
        print("check_blur: 0 passed, 1 failed")
        return 1
    rng = np.random.default_rng(10)
    check_planes(rng)
    with checklib.temp_dir("check_blur") as tmp:
        check_predict(rng, tmp)
        check_play(tmp)
    return checklib.summary("check_blur")


sys.exit(main())
