#!/usr/bin/python3
"""The trainer end to end, checked with numpy: segloss images (shapes, reproducibility, complete
labels, missing annotations), a small segloss train that must reach a mean IoU of 0.9 on the
held-out set, and segloss infer on fresh images of an unseen seed, scored here independently.
Needs the CLI (SEGLOSS or build/segloss)."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

SEGLOSS = os.environ.get("SEGLOSS", "build/segloss")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402


def run(*args):
    r = subprocess.run([SEGLOSS] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("segloss %s failed: %s" % (" ".join(map(str, args)), r.stderr.strip()))
    return r.stdout


def images(d, name, n, size, seed, *extra):
    x, y = os.path.join(d, name + "_x.npy"), os.path.join(d, name + "_y.npy")
    run("images", "--n", n, "--size", size, "--seed", seed, "--out", x, "--labels", y, *extra)
    return np.load(x), np.load(y)


def iou_per_class(pred, lab):
    """Mean over images of |P & G| / |P | G| per object class, images without G left out."""
    out = []
    for c in (1, 2, 3):
        vals = []
        for p, g in zip(pred, lab):
            gm, pm = g == c, p == c
            if gm.sum() == 0:
                continue
            vals.append((gm & pm).sum() / (gm | pm).sum())
        out.append(float(np.mean(vals)))
    return out


with tempfile.TemporaryDirectory() as d:
    # --- images: shapes, dtypes, values
    x, y = images(d, "a", 6, "32,48", 7)
    check(x.dtype == np.float32 and x.shape == (6, 1, 32, 48), "images are float32 [N,1,H,W]")
    check(y.dtype == np.int32 and y.shape == (6, 32, 48), "labels are int32 [N,H,W]")
    check(np.isfinite(x).all() and -0.5 < x.min() and x.max() < 1.5, "image values finite, ~[0,1]")
    check(set(np.unique(y)) <= {0, 1, 2, 3}, "labels in 0..3")
    check(all(set(np.unique(im)) == {0, 1, 2, 3} for im in y), "every image shows all three objects")
    # objects differ from the background on average, yet clutter reaches object brightness
    check(x[:, 0][y > 0].mean() > x[:, 0][y == 0].mean() + 0.2, "objects brighter than background")
    check(np.quantile(x[:, 0][y == 0], 0.999) > 0.6, "background clutter as bright as objects")
    # --- reproducible, a prefix of a longer set, different for another seed
    x2, y2 = images(d, "b", 9, "32,48", 7)
    check(np.array_equal(x, x2[:6]) and np.array_equal(y, y2[:6]), "image i depends on (seed, i) only")
    x3, y3 = images(d, "c", 6, "32,48", 8)
    check(not np.array_equal(x, x3) and not np.array_equal(y, y3), "another seed, other images")
    # --- missing annotations: whole objects, about the rate, nested across rates, classes chosen
    _, full = images(d, "f", 400, "16,16", 3)
    _, m25 = images(d, "m25", 400, "16,16", 3, "--missing", "0.25")
    _, m50 = images(d, "m50", 400, "16,16", 3, "--missing", "0.5")
    _, msq = images(d, "msq", 400, "16,16", 3, "--missing", "0.5", "--missing-classes", "2")
    check(np.all((m50 == full) | (m50 == 0)), "dropping only turns pixels into background")

    def dropped(m):
        return np.array([[(full[i] == c).any() and not (m[i] == c).any() for c in (1, 2, 3)]
                         for i in range(len(full))])

    def whole(m):
        return all(((m[i] == c) == (full[i] == c)).all() or not (m[i] == c).any()
                   for i in range(len(full)) for c in (1, 2, 3))

    d25, d50, dsq = dropped(m25), dropped(m50), dropped(msq)
    check(whole(m50), "an object is dropped whole or kept whole")
    check(0.43 < d50.mean() < 0.57, "rate 0.5 drops about half the objects (%.3f)" % d50.mean())
    check(0.18 < d25.mean() < 0.32, "rate 0.25 drops about a quarter (%.3f)" % d25.mean())
    check(np.all(d50[d25]), "a higher rate drops a superset")
    check(not dsq[:, 0].any() and not dsq[:, 2].any() and 0.4 < dsq[:, 1].mean() < 0.6,
          "--missing-classes 2 drops squares only")

    # --- a small training reaches the target, reproducibly; its outputs are all there
    out = os.path.join(d, "tr")
    js = json.loads(run("train", "--loss", "ce", "--size", "32,32", "--width", "8", "--steps",
                        400, "--n", 512, "--lr", 0.003, "--threads", 1, "--out", out, "--json"))
    for k in ("iou", "dice", "mean_iou", "steps", "train_seconds", "seconds"):
        check(k in js, "train --json has %s" % k)
    check(len(js["iou"]) == 3 and len(js["dice"]) == 3, "iou and dice over the three objects")
    check(js["steps"] == 400 and 0 < js["train_seconds"] <= js["seconds"], "steps and times")
    check(js["mean_iou"] >= 0.9, "held-out mean IoU >= 0.9 (got %.4f)" % js["mean_iou"])
    for f in ("log.csv", "curves.png", "predictions.png", "model.slm"):
        check(os.path.getsize(os.path.join(out, f)) > 0, "train wrote %s" % f)
    log = open(os.path.join(out, "log.csv")).read().splitlines()
    check(log[0].startswith("epoch,step,loss") and len(log) == 1 + 13, "log.csv: one row per epoch")
    check(abs(float(log[-1].split(",")[7]) - js["mean_iou"]) < 1e-5, "log.csv ends at the result")

    # --- fresh images of an unseen seed through infer, scored here
    fx, fy = images(d, "fresh", 48, "32,32", 424242)
    probs_path = os.path.join(d, "probs.npy")
    ij = json.loads(run("infer", "--model", os.path.join(out, "model.slm"), "--input",
                        os.path.join(d, "fresh_x.npy"), "--out", probs_path, "--labels",
                        os.path.join(d, "fresh_y.npy"), "--json"))
    probs = np.load(probs_path)
    check(probs.dtype == np.float32 and probs.shape == (48, 4, 32, 32), "infer writes [N,C+1,H,W]")
    check(np.allclose(probs.sum(axis=1), 1, atol=1e-5) and probs.min() >= 0, "probabilities")
    ious = iou_per_class(probs.argmax(axis=1), fy)
    check(np.mean(ious) >= 0.9, "fresh images, unseen seed: mean IoU >= 0.9 (got %s)" % ious)
    check(np.allclose(ious, ij["iou"], atol=1e-6), "infer's IoU agrees with numpy's")

    # --- the same seed and threads give the same model; any loss spec trains
    for k in (1, 2):
        run("train", "--loss", "dice + ce", "--missing", "0.5", "--size", "16,16", "--width", 4,
            "--steps", 5, "--n", 32, "--threads", 1, "--out", os.path.join(d, "r%d" % k))
    a = open(os.path.join(d, "r1", "model.slm"), "rb").read()
    b = open(os.path.join(d, "r2", "model.slm"), "rb").read()
    check(a == b, "train is reproducible for a seed and thread count")
    for spec in ("missing_ce", "marginal_ce", "0.5*focal + dice(include_background=false)"):
        js = json.loads(run("train", "--loss", spec, "--missing", "0.5", "--size", "16,16",
                            "--width", 4, "--steps", 3, "--n", 32, "--threads", 1, "--out",
                            os.path.join(d, "s"), "--json"))
        check(js["steps"] == 3 and all(0 <= v <= 1 for v in js["iou"]), "trains with %s" % spec)

sys.exit(checklib.summary("check_train_cli"))
