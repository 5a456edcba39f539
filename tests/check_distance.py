#!/usr/bin/python3
"""Independent check of the distance losses and the metrics through the CLI.

Losses (`segloss loss ... --json --grad --loss-map`, --impl fast and ref) against torch float64
(autograd) with scipy.ndimage.distance_transform_edt for the distance maps, written here from
the reference notes (Kervadec's one_hot2dist + SurfaceLoss; MONAI 1.5 HausdorffDTLoss), never
from the C code:

  boundary      mean over (image, idc entry, pixel) of p_k * phi_k; phi_k = EDT(~G) outside G,
                -(EDT(G) - 1) inside, 0 for an empty class (and, our choice, for a full one);
                G = (label == k) or (t_k > 0.5). Map [N, C]: per (image, class) the mean over
                pixels times the class's count in idc.
  hausdorff_dt  per (image, class) mean over pixels of (p - g)^2 (field(p)^a + field(g)^a),
                field(m) = EDT(m > 0.5) + EDT(~(m > 0.5)) per sample, 0 for an empty or full
                mask; batch=true averages over the batch too; mean over the [rows, C'] matrix.

Metrics (`segloss metrics --json`) against numpy/scipy with MONAI's conventions: Dice/IoU NaN
for an empty target; edges m ^ binary_erosion(m) (scipy's default cross, border 0); distances
edt(~edges_other, sampling=spacing)[edges]; HD95 the larger np.percentile(., 95) of the two
directions; ASSD the mean of both directions pooled; NaN where a mask is empty. Plus hand
computed values and CLI errors.

Run with /usr/bin/python3. Binary: $SEGLOSS (default build/segloss). Ends with
`check_distance: N passed, M failed`; exits 1 when M > 0.
"""
import json
import math
import os
import sys

import numpy as np
import scipy.ndimage as ndi
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import fail, ok  # noqa: E402

torch.set_default_dtype(torch.float64)

SEED = int(os.environ.get("CHECK_DISTANCE_SEED", "20240612"))
NLOSS = int(os.environ.get("CHECK_DISTANCE_CASES", "400"))
NMETRIC = int(os.environ.get("CHECK_DISTANCE_METRIC_CASES", "300"))


def run(args):
    """`segloss ARGS` -> (exit status, stdout, stderr), with two minutes for the metrics."""
    return checklib.run_segloss(args, timeout=120)


# ------------------------------------------------------------------------------------------------
# Loss references.


def edt(mask):
    """scipy's EDT: distance to the nearest False."""
    return ndi.distance_transform_edt(mask)


def signed_map(G):
    """one_hot2dist for one class mask (full masks left at 0: our documented choice)."""
    if not G.any() or G.all():
        return np.zeros(G.shape)
    neg = ~G
    return edt(neg) * neg - (edt(G) - 1) * G


def field(m):
    """MONAI HausdorffDTLoss.distance_field for one sample's channel."""
    fg = m > 0.5
    if not fg.any() or fg.all():
        return np.zeros(m.shape)
    return edt(fg) + edt(~fg)


def probs_of(x, kind, single_as_given):
    """softmax of logits; MONAI skips it for a single channel (hausdorff_dt)."""
    if kind == "logits" and not (x.shape[1] == 1 and single_as_given):
        return torch.softmax(x, 1)
    return x


def ref_boundary(x, kind, tgt_np, tkind, o):
    N, C = x.shape[:2]
    p = probs_of(x, kind, False)
    idc = o["idc"] if o["idc"] is not None else list(range(1, C))
    mult = np.zeros(C)
    for k in idc:
        mult[k] += 1
    phi = np.zeros(x.shape)
    for n in range(N):
        for k in range(C):
            G = (tgt_np[n] == k) if tkind == "labels" else (tgt_np[n, k] > 0.5)
            phi[n, k] = signed_map(G)
    phi = torch.from_numpy(phi)
    red = tuple(range(2, x.dim()))
    m = (p * phi).mean(dim=red) * torch.from_numpy(mult)  # [N, C]
    if o["reduction"] == "mean":
        v = m.sum() / (N * len(idc)) if len(idc) else m.sum() * 0.0
    else:
        v = m.sum()
    return v, m


def ref_hd(x, kind, tgt_np, tkind, o):
    N, C = x.shape[:2]
    p = probs_of(x, kind, True)
    if tkind == "labels":
        g = np.stack([(tgt_np == c) for c in range(C)], 1).astype(np.float64)
    else:
        g = tgt_np.astype(np.float32).astype(np.float64)
    c0 = 1 if (C > 1 and not o["include_background"]) else 0
    a = o["alpha"]
    cols = []
    for c in range(c0, C):
        pc = p[:, c]
        gc = torch.from_numpy(g[:, c])
        fp = np.stack([field(pc[n].detach().numpy()) for n in range(N)])
        fg = np.stack([field(g[n, c]) for n in range(N)])
        dist = torch.from_numpy(fp ** a + fg ** a)
        r = (pc - gc) ** 2 * dist
        axes = tuple(range(1, r.dim()))
        if o["batch"]:
            cols.append(r.mean().reshape(1))
        else:
            cols.append(r.mean(dim=axes))
    m = torch.stack(cols, 1)  # [rows, C']
    if o["reduction"] == "mean":
        v = m.mean()
    else:
        v = m.sum()
    return v, m


def spec_of(name, o):
    kv = []
    if name == "boundary":
        if o["idc"] is not None:
            kv.append("idc=[%s]" % ",".join(str(k) for k in o["idc"]))
    else:
        if o["alpha"] != 2.0 or o.get("say"):
            kv.append("alpha=%r" % o["alpha"])
        if o["include_background"] or o.get("say"):
            kv.append("include_background=%s" % ("true" if o["include_background"] else "false"))
        if o["batch"] or o.get("say"):
            kv.append("batch=%s" % ("true" if o["batch"] else "false"))
    if o["reduction"] != "mean" or o.get("say"):
        kv.append("reduction=%s" % o["reduction"])
    return name + ("(" + ",".join(kv) + ")" if kv else "")


def blob_labels(rng, N, C, S):
    """Label maps with regions: argmax over classes of smoothed noise."""
    z = rng.standard_normal((N, C) + S)
    for n in range(N):
        for c in range(C):
            z[n, c] = ndi.gaussian_filter(z[n, c], sigma=rng.uniform(0.5, 2.0))
    return z.argmax(1).astype(np.int32)


def random_case(rng):
    ndim = int(rng.choice([3, 4, 4, 5]))
    N = int(rng.integers(1, 4))
    C = int(rng.choice([1, 2, 3, 4, 5])) if rng.random() < 0.9 else 1
    if ndim == 3:
        S = (int(rng.integers(1, 30)),)
    elif ndim == 4:
        S = (int(rng.integers(1, 14)), int(rng.integers(1, 14)))
    else:
        S = tuple(int(rng.integers(1, 7)) for _ in range(3))
    kind = "logits" if rng.random() < 0.6 else "probs"
    tkind = "labels" if rng.random() < 0.6 else "probs"
    lab = blob_labels(rng, N, C, S) if rng.random() < 0.7 else \
        rng.integers(0, C, (N,) + S).astype(np.int32)
    r = rng.random()
    if r < 0.1:
        lab[:] = 0                      # every object class empty, background full
    elif r < 0.2 and C > 2:
        lab[lab == C - 1] = 0           # one class empty
    if tkind == "labels":
        tgt = lab if rng.random() < 0.8 else lab.astype(np.int64)
    else:
        oh = np.stack([(lab == c) for c in range(C)], 1).astype(np.float32)
        if rng.random() < 0.5:          # soft
            soft = rng.random(oh.shape).astype(np.float32)
            oh = 0.6 * oh + 0.4 * soft
        tgt = oh
    if kind == "logits":
        x = (rng.standard_normal((N, C) + S) * rng.choice([1.0, 3.0])).astype(np.float32)
        if rng.random() < 0.3:          # predictions that follow the target
            x += 4.0 * np.stack([(lab == c) for c in range(C)], 1)
    else:
        x = rng.random((N, C) + S).astype(np.float32) + 0.01
        if rng.random() < 0.5:
            x /= x.sum(1, keepdims=True)
    return x, kind, tgt, tkind, lab


def ambiguous_hd(x32, kind, C):
    """A probability within float32 rounding of 0.5 may threshold differently in float32."""
    x = torch.from_numpy(x32.astype(np.float64))
    p = torch.softmax(x, 1) if (kind == "logits" and C > 1) else x
    return bool((torch.abs(p - 0.5) < 1e-5).any())


def check_loss_case(tmp, label, name, o, x, kind, tgt, tkind):
    C = x.shape[1]
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    if name == "boundary":
        v, m = ref_boundary(xt, kind, tgt, tkind, o)
    else:
        if ambiguous_hd(x, kind, C):
            return
        v, m = ref_hd(xt, kind, tgt, tkind, o)
        if name == "log_hausdorff_dt":  # MONAI LogHausdorffDTLoss: log(HD + 1)
            v, m = torch.log(v + 1), torch.log1p(m)
    v.backward()
    exp_v, exp_m, exp_g = float(v), m.detach().numpy(), xt.grad.numpy()
    spec = spec_of(name, o)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, kind=kind)
    desc = "%s: '%s' input %s %s target %s %s %s" % (label, spec, kind, list(x.shape), tkind,
                                                     tgt.dtype, list(tgt.shape))

    def value_problem(got_v):
        sc = max(abs(exp_v), float(np.abs(exp_m).max()) if exp_m.size else 0.0, 1e-12)
        if abs(got_v - exp_v) <= 1e-5 * sc + 1e-12:
            return None
        return "%.12g expected %.12g" % (got_v, exp_v)

    def map_problem(got_m):
        return checklib.compare_scaled(got_m, exp_m, 1e-5, 1e-6, 1e-12)

    def grad_problem(got_g):
        return checklib.compare_scaled(got_g, exp_g, 1e-4, 1e-5, 1e-12)

    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem, grad_problem,
                            grad_dtype=None)


def loss_checks(tmp, rng):
    for i in range(NLOSS):
        x, kind, tgt, tkind, lab = random_case(rng)
        C = x.shape[1]
        if i % 2 == 0:
            k = int(rng.integers(0, 4))
            if k == 0 or C == 1:
                idc = None
            elif k == 1:
                idc = [int(v) for v in rng.integers(0, C, int(rng.integers(1, 4)))]
            elif k == 2:
                idc = list(range(C))
            else:
                idc = [C - 1, C - 1]
            o = {"idc": idc, "reduction": str(rng.choice(["mean", "sum", "none"])),
                 "say": rng.random() < 0.2}
            if C == 1 and kind == "logits":
                # a softmax over one channel is constant: refused, naming a sigmoid form
                checklib.check_loss_refused(tmp, "case %d: boundary on one channel" % i,
                                            spec_of("boundary", o),
                                            checklib.loss_input_args(tmp, x, tgt, kind=kind))
                continue
            check_loss_case(tmp, "case %d" % i, "boundary", o, x, kind, tgt, tkind)
        else:
            o = {"alpha": float(rng.choice([2.0, 2.0, 1.0, 0.5, 3.0])),
                 "include_background": bool(rng.random() < 0.4),
                 "batch": bool(rng.random() < 0.4),
                 "reduction": str(rng.choice(["mean", "sum", "none"])),
                 "say": rng.random() < 0.2}
            name = "hausdorff_dt"
            if i % 4 == 3:
                name = "log_hausdorff_dt"
                o["reduction"] = str(rng.choice(["mean", "sum"]))
            check_loss_case(tmp, "case %d" % i, name, o, x, kind, tgt, tkind)

    # A hand case of boundary: 1-D, 1 image, C=2, labels [0,0,1,1,1,0], one-hot probabilities.
    lab = np.array([[0, 0, 1, 1, 1, 0]], np.int32)
    p = np.stack([(lab == 0), (lab == 1)], 1).astype(np.float32)
    phi = np.array([2, 1, 0, -1, 0, 1], np.float64)  # signed map of class 1
    want = float((p[0, 1] * phi).mean())             # = -1/6
    xi, ti = os.path.join(tmp, "x.npy"), os.path.join(tmp, "t.npy")
    np.save(xi, p)
    np.save(ti, lab)
    rc, out, err = run(["loss", "boundary", "--input", xi, "--target", ti, "--input-kind",
                        "probs", "--json"])
    if rc == 0 and abs(float(json.loads(out)["loss"]) - want) < 1e-7 and abs(want + 1 / 6) < 1e-12:
        ok()
    else:
        fail("boundary hand case: rc %d out %r want %g" % (rc, out, want))


# ------------------------------------------------------------------------------------------------
# Metric references.


def edges_of(m):
    return m & ~ndi.binary_erosion(m)


def ref_metrics(yp, yt, C, spacing, include_bg=True, ignore=None):
    """[N, C'] per metric over the classes reported: 1..C-1 without the background (MONAI
    keeps it when C == 1), 0..C-1 with it. Pixels whose target is `ignore` are in no mask."""
    N = yp.shape[0]
    classes = list(range(0 if include_bg or C == 1 else 1, C))
    out = {k: np.full((N, len(classes)), np.nan) for k in ("dice", "iou", "hd95", "assd")}
    for n in range(N):
        keep = np.ones(yt[n].shape, bool) if ignore is None else yt[n] != ignore
        for j, c in enumerate(classes):
            P, G = (yp[n] == c) & keep, (yt[n] == c) & keep
            sp, sg, si = int(P.sum()), int(G.sum()), int((P & G).sum())
            if sg:
                out["dice"][n, j] = 2.0 * si / (sp + sg)
                out["iou"][n, j] = si / (sp + sg - si)
            if sp and sg:
                ep, eg = edges_of(P), edges_of(G)
                a = ndi.distance_transform_edt(~eg, sampling=spacing)[ep]
                b = ndi.distance_transform_edt(~ep, sampling=spacing)[eg]
                out["hd95"][n, j] = max(np.percentile(a, 95), np.percentile(b, 95))
                out["assd"][n, j] = np.concatenate([a, b]).mean()
    return out, classes


def as_array(lst):
    return np.array([[np.nan if v is None else v for v in row] for row in lst], np.float64)


def cmp_metric(got, exp, what, desc):
    if got.shape != exp.shape:
        fail("%s: %s shape %s, expected %s" % (desc, what, got.shape, exp.shape))
        return
    nan_ok = np.array_equal(np.isnan(got), np.isnan(exp))
    fin = ~np.isnan(exp)
    close = np.allclose(got[fin], exp[fin], rtol=1e-12, atol=1e-12)
    if nan_ok and close:
        ok()
    else:
        fail("%s: %s got %s expected %s" % (desc, what, got.tolist(), exp.tolist()))


def metric_checks(tmp, rng):
    pi, ti = os.path.join(tmp, "p.npy"), os.path.join(tmp, "t.npy")
    for i in range(NMETRIC):
        nd = int(rng.choice([1, 2, 2, 3, 3]))
        N = int(rng.integers(1, 4))
        C = int(rng.integers(2, 5))
        S = tuple(int(rng.integers(1, {1: 40, 2: 24, 3: 10}[nd])) for _ in range(nd))
        yt = blob_labels(rng, N, C, S) if rng.random() < 0.8 else \
            rng.integers(0, C, (N,) + S).astype(np.int32)
        if rng.random() < 0.2 and C > 2:
            yt[yt == C - 1] = 0
        pred_scores = rng.random() < 0.5
        if pred_scores:
            z = rng.standard_normal((N, C) + S) + 1.5 * np.stack([(yt == c) for c in range(C)], 1)
            if rng.random() < 0.2:
                z = np.round(z)          # ties: lowest index wins
            z = z.astype(np.float32 if rng.random() < 0.5 else np.float64)
            yp = z.argmax(1)
            np.save(pi, z)
        else:
            yp = blob_labels(rng, N, C, S) if rng.random() < 0.7 else yt.copy()
            if rng.random() < 0.5:       # some noise on a copy of the target
                flip = rng.random(yp.shape) < 0.1
                yp[flip] = rng.integers(0, C, int(flip.sum()))
            yp = yp.astype(rng.choice([np.int32, np.int64, np.uint8]))
            np.save(pi, yp)
        onehot_t = rng.random() < 0.3
        if onehot_t:
            np.save(ti, np.stack([(yt == c) for c in range(C)], 1).astype(np.float32))
        else:
            np.save(ti, yt)
        args = ["metrics", "--pred", pi, "--target", ti, "--json"]
        spacing = None
        if rng.random() < 0.6:
            spacing = [float(np.round(rng.uniform(0.3, 3.0), 3)) for _ in range(nd)]
            args += ["--spacing", ",".join(repr(s) for s in spacing)]
        include_bg = rng.random() < 0.5
        if include_bg:
            args.append("--include-background")
        # Ignored pixels: a value outside [0, C) in a label-map target (VOC's 255, or -1), or
        # a class inside [0, C) of either kind of target.
        ignore = None
        if rng.random() < 0.4:
            if not onehot_t and rng.random() < 0.6:
                ignore = int(rng.choice([255, -1, C + 3]))
                yt_file = yt.copy()
                yt_file[rng.random(yt.shape) < 0.15] = ignore
                if rng.random() < 0.3:     # ignored everywhere in the target
                    yt_file[...] = ignore
                np.save(ti, yt_file)
                yt = yt_file
            else:
                ignore = int(rng.integers(0, C))
            args += ["--ignore-index", str(ignore)]
        # Class count: from the arrays when one has a class axis, else from the labels.
        Ceff = C
        if not pred_scores and not onehot_t:
            if rng.random() < 0.5:
                args += ["--classes", str(C)]
            else:
                tvals = yt[yt != ignore] if ignore is not None else yt
                Ceff = max(int(yp.max()), int(tvals.max()) if tvals.size else 0, 1) + 1
        desc = "metrics case %d: pred %s %s target %s spacing %s background %s ignore %s" % (
            i, "scores" if pred_scores else "labels", list(yp.shape),
            "one-hot" if onehot_t else "labels", spacing, include_bg, ignore)
        rc, out, err = run(args)
        if rc != 0:
            fail("%s: exit %d: %s" % (desc, rc, err.strip()))
            continue
        js = json.loads(out)
        exp, classes = ref_metrics(np.asarray(yp), yt, Ceff, spacing, include_bg, ignore)
        if js.get("class_ids") == classes and js.get("include_background") == \
                (include_bg or Ceff == 1) and js.get("ignore_index") == ignore:
            ok()
        else:
            fail("%s: class_ids %r include_background %r ignore_index %r, expected %r" % (
                desc, js.get("class_ids"), js.get("include_background"),
                js.get("ignore_index"), classes))
        for k in ("dice", "iou", "hd95", "assd"):
            cmp_metric(as_array(js[k]), exp[k], k, desc)
            with np.errstate(all="ignore"):
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    em = np.nanmean(exp[k], axis=0)
            cmp_metric(np.array([np.nan if v is None else v for v in js["mean_" + k]]), em,
                       "mean_" + k, desc)

    # Hand cases: 6x6, prediction a 3x3 square at rows/cols 1..3, target a 2x2 square at 1..2.
    yp = np.zeros((1, 6, 6), np.int32)
    yp[0, 1:4, 1:4] = 1
    yt = np.zeros((1, 6, 6), np.int32)
    yt[0, 1:3, 1:3] = 1
    np.save(pi, yp)
    np.save(ti, yt)
    hand = [(None, 8 / 13, 4 / 9, 1 + 0.65 * (math.sqrt(2) - 1), (5 + math.sqrt(2)) / 12),
            ("2,1", 8 / 13, 4 / 9, 2 + 0.65 * (math.sqrt(5) - 2), (7 + math.sqrt(5)) / 12)]
    for sp, d, iou, hd, asd in hand:
        args = ["metrics", "--pred", pi, "--target", ti, "--json"] + (["--spacing", sp] if sp else [])
        rc, out, err = run(args)
        if rc != 0:
            fail("hand case spacing %s: exit %d %s" % (sp, rc, err.strip()))
            continue
        js = json.loads(out)
        got = (js["dice"][0][0], js["iou"][0][0], js["hd95"][0][0], js["assd"][0][0])
        if all(abs(g - w) < 1e-12 for g, w in zip(got, (d, iou, hd, asd))):
            ok()
        else:
            fail("hand case spacing %s: got %s want %s" % (sp, got, (d, iou, hd, asd)))
    # Empty classes: a 1-D case with class 2 only in the prediction, class 3 nowhere.
    np.save(pi, np.array([[0, 2, 2, 1, 1, 0]], np.int32))
    np.save(ti, np.array([[0, 0, 1, 1, 1, 0]], np.int32))
    rc, out, err = run(["metrics", "--pred", pi, "--target", ti, "--json", "--classes", "4"])
    js = json.loads(out) if rc == 0 else None
    if js and js["dice"][0][1] is None and js["hd95"][0][1] is None and js["dice"][0][2] is None \
            and js["assd"][0][2] is None and abs(js["dice"][0][0] - 0.8) < 1e-12 \
            and abs(js["iou"][0][0] - 2 / 3) < 1e-12 and abs(js["hd95"][0][0] - 0.95) < 1e-12 \
            and js["class_ids"] == [1, 2, 3]:
        ok()
    else:
        fail("empty-class hand case: rc %d out %r err %r" % (rc, out, err))
    # Ignored pixels: 255 in the target takes the pixel out of both masks (class 1: P = G =
    # {0, 2}, Dice 1 where counting the pixel would give 0.8); the background appears only with
    # --include-background (P = G = {3}: Dice 1).
    np.save(pi, np.array([[1, 1, 1, 0]], np.int32))
    np.save(ti, np.array([[1, 255, 1, 0]], np.int32))
    rc, out, err = run(["metrics", "--pred", pi, "--target", ti, "--json", "--ignore-index", "255"])
    js = json.loads(out) if rc == 0 else None
    if js and js["class_ids"] == [1] and js["dice"] == [[1.0]] and js["iou"] == [[1.0]] \
            and js["classes"] == 2 and js["ignore_index"] == 255:
        ok()
    else:
        fail("ignore_index hand case: rc %d out %r err %r" % (rc, out, err))
    rc, out, err = run(["metrics", "--pred", pi, "--target", ti, "--json", "--ignore-index", "255",
                        "--include-background"])
    js = json.loads(out) if rc == 0 else None
    if js and js["class_ids"] == [0, 1] and js["dice"] == [[1.0, 1.0]] \
            and js["include_background"] is True:
        ok()
    else:
        fail("include_background hand case: rc %d out %r err %r" % (rc, out, err))
    rc, out, err = run(["metrics", "--pred", pi, "--target", ti, "--json", "--classes", "2"])
    if rc == 1 and checklib.one_line(err):
        ok()
    else:
        fail("255 without --ignore-index: exit %d (want 1), stderr %r" % (rc, err))
    # The readable table runs.
    rc, out, err = run(["metrics", "--pred", pi, "--target", ti])
    if rc == 0 and "dice" in out and "hd95" in out:
        ok()
    else:
        fail("table output: rc %d out %r err %r" % (rc, out, err))


def error_checks(tmp):
    pi, ti = os.path.join(tmp, "p.npy"), os.path.join(tmp, "t.npy")
    np.save(pi, np.zeros((2, 3, 5, 4), np.float32))
    np.save(ti, np.zeros((2, 5, 4), np.int32))
    bad = os.path.join(tmp, "bad.npy")
    cases = [
        (["--spacing", "1"], 2, "spacing count"),
        (["--spacing", "1,0"], 2, "spacing zero"),
        (["--spacing", "1,-2"], 2, "spacing negative"),
        (["--spacing", "1,x"], 2, "spacing not a number"),
        (["--pred-kind", "maybe"], 2, "bad pred kind"),
        (["--classes", "4"], 2, "classes contradict the scores"),
        (["--ignore-index", "x"], 2, "ignore index not a number"),
        (["--ignore-index", "1.5"], 2, "ignore index not an integer"),
        (["--ignore-index", "99999999999"], 2, "ignore index out of range"),
        (["--ignore-index"], 2, "ignore index without a value"),
        (["--include-background=yes"], 2, "include-background takes no value"),
    ]
    for extra, code, what in cases:
        rc, out, err = run(["metrics", "--pred", pi, "--target", ti] + extra)
        if rc == code and checklib.one_line(err):
            ok()
        else:
            fail("error %s: exit %d (want %d), stderr %r" % (what, rc, code, err))
    def saved(name, arr):
        path = os.path.join(tmp, name)
        np.save(path, arr)
        return path

    data_cases = []
    np.save(bad, np.zeros((2, 5, 3), np.int32))
    data_cases.append((["--pred", pi, "--target", bad], "target shape mismatch"))
    z = np.zeros((2, 3, 5, 4), np.float32)
    z[1, 2, 3, 1] = np.nan
    nanp = saved("nan.npy", z)
    data_cases.append((["--pred", nanp, "--target", ti], "NaN scores"))
    lab = np.zeros((2, 5, 4), np.int32)
    lab[0, 1, 1] = 3
    labp = saved("lab.npy", lab)
    data_cases.append((["--pred", pi, "--target", labp], "target label out of range"))
    data_cases.append((["--pred", labp, "--target", ti, "--classes", "2"], "pred label >= classes"))
    neg = lab.copy()
    neg[1, 0, 0] = -1
    np.save(labp, neg)
    data_cases.append((["--pred", labp, "--target", ti], "negative label"))
    fl = np.zeros((2, 5, 4), np.float64)
    fl[0, 0, 0] = 0.5
    flp = saved("fl.npy", fl)
    data_cases.append((["--pred", pi, "--target", flp], "non-integer label"))
    np.save(bad, np.zeros((2, 3, 5, 4, 2, 2), np.float32))
    data_cases.append((["--pred", bad, "--target", ti], "4 spatial axes"))
    data_cases.append((["--pred", os.path.join(tmp, "missing.npy"), "--target", ti], "no file"))
    for args, what in data_cases:
        rc, out, err = run(["metrics"] + args)
        if rc == 1 and checklib.one_line(err):
            ok()
        else:
            fail("error %s: exit %d (want 1), stderr %r" % (what, rc, err))
    rc, out, err = run(["metrics", "--target", ti])
    if rc == 2:
        ok()
    else:
        fail("missing --pred: exit %d" % rc)
    # Loss options the user can get wrong: exit 2 with one line.
    for spec in ("boundary(idc=[1.5])", "boundary(idc=[3])", "boundary(idc=[-1])",
                 "hausdorff_dt(alpha=-1)", "hausdorff_dt(batch=maybe)"):
        rc, out, err = run(["loss", spec, "--input", pi, "--target", ti])
        if rc == 2 and checklib.one_line(err):
            ok()
        else:
            fail("error %s: exit %d (want 2), stderr %r" % (spec, rc, err))


def main():
    rng = np.random.default_rng(SEED)
    with checklib.temp_dir("check_distance") as tmp:
        loss_checks(tmp, rng)
        metric_checks(tmp, rng)
        error_checks(tmp)
    return checklib.summary("check_distance")


if __name__ == "__main__":
    sys.exit(main())
