#!/usr/bin/python3
"""Independent check of the overlap (Dice) family of `segloss loss` against PyTorch (float64).

The semantics are written here from MONAI 1.5's formulas (DiceLoss, TverskyLoss,
GeneralizedDiceLoss: tp/fp/fn as compute_tp_fp_fn builds them, the factor 2 of Jaccard, the
weights of the generalised Dice with infinite ones replaced by the group's largest) and from the
issue's definitions of log_cosh_dice, focal_tversky, marginal_dice and exclusion, never from
the C code. Gradients come from autograd.

  dice, log_cosh_dice  MONAI DiceLoss(softmax=True, to_onehot_y=True) (+ log cosh of its value)
  tversky, focal_tversky  MONAI TverskyLoss (+ max(f, 0)^gamma per entry)
  generalized_dice     MONAI GeneralizedDiceLoss
  marginal_dice        dice on background merged with unannotated classes, mean over the
                       entries that exist
  exclusion            soft Dice of each unannotated class with the annotated objects' union

For every case the CLI runs with --impl fast and --impl ref, and the JSON loss, the loss map
and the gradient are compared. Run with /usr/bin/python3 (python3-torch). The binary is
$SEGLOSS (default build/segloss). Ends with `check_dice: N passed, M failed`; exits 1 when
M > 0.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import fail, ok  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_DICE_CASES", "1200"))
SEED = int(os.environ.get("CHECK_DICE_SEED", "7321"))


# ------------------------------------------------------------------------------------------------
# The reference.

NAMES = ["dice", "tversky", "focal_tversky", "generalized_dice", "log_cosh_dice",
         "marginal_dice", "exclusion"]


PROBS = []  # the masked probabilities of the last reference, for the gradient's tolerance


def prep(x, kind, tgt, tkind, ignore, sigmoid=False):
    """p (softmax, sigmoid or as given) and the one-hot / per-class target g, both zeroed at
    ignored pixels, so that those pixels leave every sum. MONAI's sigmoid=True: a sigmoid per
    channel; a label map is one-hot (to_onehot_y), except on one channel, where MONAI skips the
    one-hot and the {0, 1} label is the channel's target."""
    C = x.shape[1]
    if kind == "logits":
        p = torch.sigmoid(x) if sigmoid else torch.softmax(x, dim=1)
    else:
        p = x
    if tkind == "labels":
        valid = tgt != ignore
        ysafe = torch.where(valid, tgt, torch.zeros_like(tgt))
        if sigmoid and C == 1:
            g = (ysafe == 1).unsqueeze(1).double()
        else:
            g = torch.nn.functional.one_hot(ysafe, C).movedim(-1, 1).double()
        v = valid.unsqueeze(1).double()
        return p * v, g * v
    if ignore is not None and 0 <= ignore < C:
        # a per-class target: the pixels whose target's first largest channel is ignore_index
        # (torch.argmax's tie rule), the pixels the label map argmax(target) would mark
        v = (torch.argmax(tgt, dim=1) != ignore).unsqueeze(1).double()
        return p * v, tgt * v
    return p, tgt


def tp_fp_fn(p, g, axes, squared, decoupled=True, soft=False):
    """MONAI's compute_tp_fp_fn: ord 1 (ord 2 with squared) and soft_label."""
    if soft and not squared:  # the L1 form: tp = (|p|_1 + |g|_1 - |p - g|_1) / 2
        pred_o = p.abs().sum(axes)
        ground_o = g.abs().sum(axes)
        diff = (p - g).abs().sum(axes)
        tp = (pred_o + ground_o - diff) / 2
        return tp, pred_o - tp, ground_o - tp
    if not squared:
        tp = (p * g).sum(axes)
        if decoupled:
            return tp, p.sum(axes) - tp, g.sum(axes) - tp
        return tp, (p * (1 - g)).sum(axes), ((1 - p) * g).sum(axes)
    pred_o = (p * p).sum(axes)
    ground_o = (g * g).sum(axes)
    diff = ((p - g) ** 2).sum(axes)
    tp = (pred_o + ground_o - diff) / 2
    return tp, pred_o - tp, ground_o - tp


def reduce_axes(x, batch):
    ax = list(range(2, x.dim()))
    return [0] + ax if batch else ax


def monai_dice(p, g, o):
    axes = reduce_axes(p, o["batch"])
    tp, fp, fn = tp_fp_fn(p, g, axes, o["squared"], soft=o["soft_label"])
    if not o["jaccard"]:
        fp = fp * 0.5
        fn = fn * 0.5
    f = 1 - (2 * tp + o["smooth_nr"]) / (2 * (tp + fp + fn) + o["smooth_dr"])
    if f.dim() == 1:
        f = f.unsqueeze(0)
    return f


def log_cosh(v):
    """log cosh v, written so that it does not overflow for large |v|."""
    return v.abs() + torch.nn.functional.softplus(-2 * v.abs()) - math.log(2.0)


def reduce(f, red, count=None):
    if red == "mean":
        n = f.numel() if count is None else count
        return f.sum() / n if n > 0 else f.sum() * 0.0
    return f.sum()


def ref_loss(name, x, kind, tgt, tkind, o, ann):
    """Value, map of one loss in torch float64."""
    C = x.shape[1]
    p, g = prep(x, kind, tgt, tkind, o["ignore_index"], o["sigmoid"])
    p.retain_grad()
    PROBS.append(p)
    if name in ("dice", "log_cosh_dice", "tversky", "focal_tversky"):
        if not o["include_background"]:
            p, g = p[:, 1:], g[:, 1:]
        if name in ("dice", "log_cosh_dice"):
            f = monai_dice(p, g, o)
            if o["weight"] is not None:
                w = o["weight"] if o["include_background"] else o["weight"][1:]
                f = f * w.view(1, -1)
            if name == "log_cosh_dice":
                # log cosh of the dice value: of the reduced dice with mean or sum, of each
                # entry with none (and the unreduced map is always the entries' log cosh)
                d = reduce(f, o["reduction"])
                if o["reduction"] != "none":
                    return log_cosh(d), log_cosh(f).detach()
                f = log_cosh(f)
        else:
            axes = reduce_axes(p, o["batch"])
            tp, fp, fn = tp_fp_fn(p, g, axes, False, decoupled=False, soft=o["soft_label"])
            f = 1 - (tp + o["smooth_nr"]) / (tp + o["alpha"] * fp + o["beta"] * fn + o["smooth_dr"])
            if f.dim() == 1:
                f = f.unsqueeze(0)
            if name == "focal_tversky":
                # max(f, 0)^gamma; at f <= 0 (Tversky >= 1) the gradient is taken as 0 (the
                # double where keeps autograd's 0 * inf out of it)
                pos = f > 0
                f = torch.where(pos, torch.where(pos, f, torch.ones_like(f)) ** o["gamma"],
                                torch.zeros_like(f))
        return reduce(f, o["reduction"]), f.detach()
    if name == "generalized_dice":
        if not o["include_background"]:
            p, g = p[:, 1:], g[:, 1:]
        axes = reduce_axes(p, o["batch"])
        tp, fp, fn = tp_fp_fn(p, g, axes, False, soft=o["soft_label"])
        den = 2 * (tp + 0.5 * fp + 0.5 * fn)
        G = g.sum(axes).detach()
        wt = o["w_type"]
        w = torch.ones_like(G) if wt == "uniform" else (1 / G if wt == "simple" else 1 / (G * G))
        if o["batch"]:
            infs = torch.isinf(w)
            w[infs] = 0.0
            w = w + infs * w.max()
            f = 1 - (2 * (tp * w).sum() + o["smooth_nr"]) / ((den * w).sum() + o["smooth_dr"])
            f = f.view(1)
        else:
            infs = torch.isinf(w)
            w[infs] = 0.0
            w = w + infs * w.max(dim=1, keepdim=True)[0]
            f = 1 - (2 * (tp * w).sum(1) + o["smooth_nr"]) / ((den * w).sum(1) + o["smooth_dr"])
        return reduce(f, o["reduction"]), f.detach()
    A = torch.from_numpy(ann)  # [N, C] bool, background on
    bshape = list(A.shape) + [1] * (x.dim() - 2)
    Ab = A.view(bshape).double()
    if name == "marginal_dice":
        unann = 1 - Ab
        unann[:, 0] = 1  # background joins the merged channel
        q0 = (p * unann).sum(1, keepdim=True)
        g0 = (g * unann).sum(1, keepdim=True)
        q = torch.cat([q0, (p * Ab)[:, 1:]], 1)
        r = torch.cat([g0, (g * Ab)[:, 1:]], 1)
        f = monai_dice(q, r, o)
        if o["weight"] is not None:
            f = f * o["weight"].view(1, -1)
        E = A.clone()
        E[:, 0] = bool(o["include_background"])
        if o["batch"]:
            E = E.any(0, keepdim=True)
        E = E.double()
        f = f * E
        return reduce(f, o["reduction"], float(E.sum())), f.detach()
    # exclusion
    e = (g * Ab)[:, 1:].sum(1, keepdim=True)
    axes = reduce_axes(p, False)
    D = (2 * (p * e).sum(axes) + o["smooth_nr"]) / (p.sum(axes) + e.sum(axes) + o["smooth_dr"])
    U = (~A).double()
    U[:, 0] = 0
    D = D * U
    return reduce(D, o["reduction"], float(U.sum())), D.detach()


def reference(name, x32, kind, tgt_np, tkind, o, ann_given):
    x = torch.tensor(x32.astype(np.float64), requires_grad=True)
    C = x32.shape[1]
    if tkind == "labels":
        tgt = torch.from_numpy(tgt_np.astype(np.int64))
    else:
        tgt = torch.from_numpy(tgt_np.astype(np.float32).astype(np.float64))
    ann = checklib.annotation(tgt_np, tkind, C, ann_given)
    del PROBS[:]
    v, m = ref_loss(name, x, kind, tgt, tkind, o, ann)
    v.backward()
    g = x.grad.numpy()
    # Per pixel, the largest |dL/dp|: float32 errors of the gradient scale with it (the softmax
    # chain p (d - sum p d) cancels).
    dp = PROBS[0].grad
    scale = np.zeros(g.shape[:1] + g.shape[2:]) if dp is None else dp.abs().amax(1).numpy()
    return float(v), m.numpy(), g, scale


# ------------------------------------------------------------------------------------------------
# Running the CLI and comparing.


def cmp_arr(got, exp, rtol, atol):
    return checklib.compare_scaled(got, exp, rtol, atol, 1.0)


def cmp_grad(got, exp, pscale, rtol, atol):
    """Tolerance per pixel: relative to the pixel's largest |dL/dp| and |dL/dx|."""
    pix = np.expand_dims(np.maximum(pscale, np.abs(exp).max(axis=1)), 1)
    return checklib.compare_within(got, exp, rtol * np.abs(exp) + atol * pix + 1e-12)


def default_options():
    return {"reduction": "mean", "ignore_index": -100, "include_background": True,
            "squared": False, "jaccard": False, "batch": False, "smooth_nr": 1e-5,
            "smooth_dr": 1e-5, "weight": None, "alpha": 0.5, "beta": 0.5, "gamma": 0.75,
            "w_type": "square", "sigmoid": False, "soft_label": False}


KEYS = {
    "dice": ["include_background", "squared", "jaccard", "batch", "smooth_nr", "smooth_dr",
             "weight", "ignore_index", "reduction"],
    "tversky": ["alpha", "beta", "include_background", "batch", "smooth_nr", "smooth_dr",
                "ignore_index", "reduction"],
    "generalized_dice": ["w_type", "include_background", "batch", "smooth_nr", "smooth_dr",
                         "ignore_index", "reduction"],
    "exclusion": ["smooth_nr", "smooth_dr", "ignore_index", "reduction"],
}
KEYS["marginal_dice"] = KEYS["dice"]
KEYS["focal_tversky"] = KEYS["tversky"] + ["gamma"]
SIGMOID_NAMES = ("dice", "tversky", "focal_tversky", "generalized_dice", "log_cosh_dice")
for _n in ("dice", "tversky", "focal_tversky", "generalized_dice"):
    KEYS[_n] = KEYS[_n] + ["sigmoid", "soft_label"]
KEYS["log_cosh_dice"] = KEYS["dice"]


def spec_string(name, o, say=()):
    d = default_options()
    kv = []
    for k in KEYS[name]:
        v = o[k]
        if v is None or (v == d[k] and k not in say):
            continue
        if k == "weight":
            kv.append("weight=[%s]" % ",".join("%g" % float(w) for w in v))
        elif isinstance(v, bool):
            kv.append("%s=%s" % (k, ("True" if v else "False") if k == "sigmoid" and say
                                 else "true" if v else "false"))
        elif isinstance(v, float):
            kv.append("%s=%.10g" % (k, v))
        else:
            kv.append("%s=%s" % (k, v))
    return name + ("(" + ",".join(kv) + ")" if kv else "")


def check_case(tmp, label, name, o, x, kind, tgt, tkind, ann, rtol=1e-4, atol=2e-5, say=()):
    x32 = x.astype(np.float32)
    exp_v, exp_m, exp_g, exp_s = reference(name, x32, kind, tgt, tkind, o, ann)
    spec = spec_string(name, o, say)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, ann, kind)
    desc = "%s: spec '%s' input %s %s target %s %s%s" % (
        label, spec, kind, list(x.shape), tkind, tgt.dtype,
        "" if ann is None else " annotated=%s" % ann.astype(int).tolist())

    def value_problem(got_v):
        if abs(got_v - exp_v) <= rtol * abs(exp_v) + atol * max(1.0, abs(exp_v)):
            return None
        return "got %.12g expected %.12g" % (got_v, exp_v)

    def map_problem(got_m):
        return cmp_arr(got_m, exp_m, rtol, atol)

    def grad_problem(got_g):
        return cmp_grad(got_g, exp_g, exp_s, rtol, atol * 10)

    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem, grad_problem)


def check_error(tmp, label, spec, x, tgt, ann, kind="logits"):
    checklib.check_loss_refused(tmp, label, spec, checklib.loss_input_args(tmp, x, tgt, ann, kind))


# ------------------------------------------------------------------------------------------------
# The worked example of docs/losses.md.


def anchors(tmp):
    z = np.array([[2.0, 0.5, -1.0], [0.1, 1.5, 0.3], [0.2, -0.3, 1.2], [1.0, 1.0, 0.0]])
    x = np.ascontiguousarray(z.T[None])
    y = np.array([[0, 1, 0, 1]], np.int64)
    onehot = np.ascontiguousarray(np.eye(3, dtype=np.float32)[y[0]].T[None])
    xi, ti, mp = (os.path.join(tmp, n) for n in ("ax.npy", "at.npy", "am.npy"))
    np.save(xi, x)

    def expect(spec, tt, want, want_map):
        np.save(ti, tt)
        for impl in ("fast", "ref"):
            rc, out, err = checklib.run_segloss(["loss", spec, "--input", xi, "--target", ti,
                                                 "--json", "--impl", impl, "--loss-map", mp])
            tag = "anchor '%s' [impl %s]" % (spec, impl)
            if rc != 0:
                fail("%s: %s" % (tag, err.strip()))
                continue
            v = float(json.loads(out)["loss"])
            if abs(v - want) <= 2e-7:
                ok()
            else:
                fail("%s: got %.10f expected %.10f" % (tag, v, want))
            m = np.load(mp).ravel()
            if np.allclose(m, want_map, rtol=0, atol=2e-7):
                ok()
            else:
                fail("%s: map got %s expected %s" % (tag, m.tolist(), list(want_map)))

    per = [0.43485677, 0.36854434, 0.99999017]
    for tt in (y, onehot):
        expect("dice", tt, 0.601130427, per)
        expect("dice(reduction=none)", tt, sum(per), per)
        expect("dice(include_background=false)", tt, 0.684267257, per[1:])
        expect("dice(jaccard=true)", tt, 0.714906981, [0.60613265, 0.53859321, 0.99999509])


# ------------------------------------------------------------------------------------------------
# Random cases.


def rand_spatial(rng, nsp):
    return checklib.rand_spatial(rng, nsp, [1, 4, 17, 64, 130], 12, 6)


def make_input(rng, shape, kind, big):
    if kind == "logits":
        scale = 1e4 if big else float(rng.choice([0.5, 2.0, 5.0, 20.0]))
        return (rng.randn(*shape) * scale).astype(np.float32)
    x = rng.random_sample(shape) ** float(rng.choice([1.0, 3.0]))
    x *= float(rng.choice([1.0, 0.3, 2.0]))
    x[rng.random_sample(shape) < 0.1] = 0.0
    if rng.random_sample() < 0.3:  # normalised, as a softmax output would be
        s = x.sum(1, keepdims=True)
        s[s == 0] = 1.0
        x = x / s
    x = x.astype(np.float32)
    flat = x.reshape(shape[0], shape[1], -1)
    for n in range(shape[0]):
        for i in range(flat.shape[2]):
            if not flat[n, :, i].sum() > 0:
                flat[n, int(rng.randint(shape[1])), i] = 0.5
    return x


def make_target(rng, N, C, sp, tkind, soft, ignore):
    P = int(np.prod(sp))
    y = checklib.missing_labels(rng, N, C, P)
    if tkind == "labels":
        if ignore is not None:
            y[rng.random_sample(y.shape) < 0.15] = ignore
        return y.reshape([N] + sp).astype(str(rng.choice(["int32", "int64", "uint8"]))
                                          if ignore in (None, 255) else np.int64)
    if soft:
        return checklib.soft_target(rng, y, C).reshape([N, C] + sp).astype(np.float32)
    t = np.ascontiguousarray(np.eye(C)[y].transpose(0, 2, 1))
    return t.reshape([N, C] + sp).astype(np.float32)


def rand_options(rng, name, C, ignore):
    o = default_options()
    keys = KEYS[name]
    if ignore is not None:
        o["ignore_index"] = ignore
    for k in keys:
        if rng.random_sample() > 0.35:
            continue
        if k in ("include_background", "squared", "jaccard", "batch", "soft_label"):
            o[k] = bool(rng.random_sample() < 0.5)
        elif k in ("smooth_nr", "smooth_dr"):
            o[k] = float(rng.choice([0.0, 1e-5, 0.5, 1.0])) if k == "smooth_nr" else float(
                rng.choice([1e-5, 0.5, 1.0]))
        elif k == "weight":
            o[k] = torch.tensor([float("%g" % v) for v in np.round(rng.uniform(0, 3, C), 3)])
        elif k in ("alpha", "beta"):
            o[k] = float(rng.choice([0.0, 0.3, 0.7, 1.0, 2.0]))
        elif k == "gamma":
            o[k] = float(rng.choice([0.5, 1.0, 1.5, 2.0, 3.0]))
        elif k == "w_type":
            o[k] = str(rng.choice(["square", "simple", "uniform"]))
    o["reduction"] = str(rng.choice(["mean", "mean", "sum", "none"]))
    return o


def random_case(rng, tmp, idx):
    name = NAMES[idx % len(NAMES)]
    N, C, sp, kind, big, tkind = checklib.rand_case_head(rng, rand_spatial)
    ignore = None
    if tkind == "labels" and rng.random_sample() < 0.4:
        ignore = int(rng.choice([255, -100, -1]))
    x = make_input(rng, [N, C] + sp, kind, big)
    tgt = make_target(rng, N, C, sp, tkind, rng.random_sample() < 0.5, ignore)
    o = rand_options(rng, name, C, ignore)
    ann = None
    if rng.random_sample() < 0.5:
        if name == "marginal_dice":
            ann = checklib.present_classes(tgt, tkind, C) | (rng.random_sample((N, C)) < 0.3)
        else:
            ann = rng.random_sample((N, C)) < 0.5
        ann[:, 0] = rng.random_sample(N) < 0.5
        ann = ann.astype(np.uint8)
    if rng.random_sample() < 0.5:
        x = x.astype(np.float64)
    rtol, atol = (1e-3, 1e-3) if big else (1e-4, 2e-5)
    say = ("reduction",) if rng.random_sample() < 0.2 else ()
    check_case(tmp, "case %d" % idx, name, o, x, kind, tgt, tkind, ann, rtol, atol, say)


def sigmoid_case(rng, tmp, idx):
    """MONAI's sigmoid=True: multi-label targets (channels overlap), one channel with a {0, 1}
    label map [N, spatial...] or [N, 1, spatial...] (binary segmentation)."""
    name = SIGMOID_NAMES[idx % len(SIGMOID_NAMES)]
    nsp = int(rng.randint(1, 4))
    N, C = int(rng.randint(1, 4)), int(rng.choice([1, 1, 2, 3, 4]))
    sp = rand_spatial(rng, nsp)
    shape = [N, C] + sp
    kind = "probs" if rng.random_sample() < 0.3 else "logits"
    if kind == "logits":
        x = (rng.randn(*shape) * float(rng.choice([0.5, 2.0, 5.0]))).astype(np.float32)
    else:
        x = rng.random_sample(shape).astype(np.float32)
        x[rng.random_sample(shape) < 0.1] = 0.0
    tkind = "labels" if rng.random_sample() < 0.5 else "perclass"
    ignore = None
    if tkind == "labels":
        y = rng.randint(0, 2 if C == 1 else C, size=[N] + sp).astype(np.int64)
        if rng.random_sample() < 0.4:
            ignore = int(rng.choice([255, -1]))
            y[rng.random_sample(y.shape) < 0.15] = ignore
        tgt = y[:, None] if rng.random_sample() < 0.5 else y  # MONAI's [N, 1, spatial...] too
        tgt = tgt.astype(str(rng.choice(["int32", "int64"])))
    elif rng.random_sample() < 0.6:
        tgt = (rng.random_sample(shape) < 0.4).astype(np.float32)  # overlapping 0/1 channels
    else:
        tgt = rng.random_sample(shape).astype(np.float32)
    o = rand_options(rng, name, C, ignore)
    o["sigmoid"] = True
    if C == 1:
        o["include_background"] = True
    say = ("sigmoid",) if rng.random_sample() < 0.3 else ()
    sigmoid_check(tmp, idx, name, o, x, kind, tgt, tkind, say)


def sigmoid_check(tmp, idx, name, o, x, kind, tgt, tkind, say):
    """check_case, with a label map [N, 1, spatial...] given to the CLI as it is and to the
    reference squeezed."""
    x32 = x.astype(np.float32)
    squeezed = tgt[:, 0] if tkind == "labels" and tgt.ndim == x.ndim else tgt
    exp_v, exp_m, exp_g, exp_s = reference(name, x32, kind, squeezed, tkind, o, None)
    spec = spec_string(name, o, say)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, None, kind)
    desc = "sigmoid case %d: spec '%s' input %s %s target %s %s %s" % (
        idx, spec, kind, list(x.shape), tkind, list(tgt.shape), tgt.dtype)
    rtol, atol = 1e-4, 2e-5

    def value_problem(got_v):
        if abs(got_v - exp_v) <= rtol * abs(exp_v) + atol * max(1.0, abs(exp_v)):
            return None
        return "got %.12g expected %.12g" % (got_v, exp_v)

    checklib.check_loss_cli(tmp, desc, args, value_problem,
                            lambda m: cmp_arr(m, exp_m, rtol, atol),
                            lambda g: cmp_grad(g, exp_g, exp_s, rtol, atol * 10))


def dice_ce_cases(tmp, rng):
    """A term's own input kind: MONAI DiceCELoss(softmax=False, to_onehot_y=True), whose Dice
    reads the tensor as given and whose cross-entropy reads it as logits, is the spec
    `dice(input=probs) + ce(input=logits)` (the map shapes differ, so no --loss-map)."""
    gp = os.path.join(tmp, "g_dce.npy")
    for idx in range(12):
        N, C = int(rng.randint(1, 3)), int(rng.randint(2, 5))
        sp = rand_spatial(rng, int(rng.randint(1, 3)))
        x = (rng.random_sample([N, C] + sp) * 2).astype(np.float32)
        y = rng.randint(0, C, size=[N] + sp).astype(np.int64)
        lam = float(rng.choice([1.0, 0.5, 2.0]))
        xt = torch.tensor(x.astype(np.float64), requires_grad=True)
        o = default_options()
        p, g = prep(xt, "probs", torch.from_numpy(y), "labels", -100)
        v = monai_dice(p, g, o).mean() + lam * torch.nn.functional.cross_entropy(
            xt, torch.from_numpy(y))
        v.backward()
        spec = "dice(input=probs) + %g*ce(input=logits)" % lam
        args = ["loss", spec] + checklib.loss_input_args(tmp, x, y) + ["--json", "--grad", gp]
        for impl in ("fast", "ref"):
            rc, out, err = checklib.run_segloss(args + ["--impl", impl])
            tag = "DiceCE case %d '%s' [impl %s]" % (idx, spec, impl)
            if rc != 0:
                fail("%s: exit %d: %s" % (tag, rc, err.strip()))
                continue
            got, why = checklib.json_loss(out)
            checklib.check(why is None and checklib.close_scalar(got, float(v), 1e-5, 1e-6),
                           "%s: got %s expected %.10g" % (tag, got if why is None else why,
                                                         float(v)))
            r = checklib.compare_scaled(np.load(gp), xt.grad.numpy(), 1e-4, 1e-5, 1e-12)
            checklib.check(r is None, "%s: grad %s" % (tag, r))


def error_cases(tmp, rng):
    # a softmax over one channel is constant: refused, naming the sigmoid form
    x1 = rng.randn(2, 1, 5).astype(np.float32)
    yb = np.array([[0, 1, 1, 0, 1], [1, 0, 0, 0, 1]], np.int64)
    for name in SIGMOID_NAMES:
        check_error(tmp, "error: %s on one channel without sigmoid" % name, name, x1, yb, None)
    check_error(tmp, "error: label 2 of a binary map", "dice(sigmoid=true)", x1, yb * 2, None)
    x = rng.randn(2, 3, 5).astype(np.float32)
    y = np.array([[0, 1, 2, 0, 1], [0, 0, 2, 2, 0]], np.int64)
    ann = np.array([[1, 1, 0], [1, 1, 1]], np.uint8)
    check_error(tmp, "error: marginal_dice label not annotated", "marginal_dice", x, y, ann)
    t = np.ascontiguousarray(np.eye(3, dtype=np.float32)[y].transpose(0, 2, 1))
    check_error(tmp, "error: marginal_dice per-class target not annotated", "marginal_dice", x, t,
                ann)
    x1 = rng.randn(2, 1, 5).astype(np.float32)
    for name in ("dice", "tversky", "generalized_dice"):
        check_error(tmp, "error: one class without background",
                    name + "(include_background=false)", x1, np.zeros((2, 5), np.int64), None)
    check_error(tmp, "error: ignore_index with per-class target", "dice(ignore_index=255)", x, t,
                None)
    check_error(tmp, "error: weight length", "dice(weight=[1,2])", x, y, None)
    check_error(tmp, "error: negative alpha", "tversky(alpha=-1)", x, y, None)
    check_error(tmp, "error: w_type", "generalized_dice(w_type=cube)", x, y, None)


def sigmoid_cases(tmp, rng):
    srng = np.random.RandomState(SEED + 1)
    for i in range(NCASES // 4):
        sigmoid_case(srng, tmp, i)


def main():
    return checklib.run_cases("check_dice", SEED, NCASES, random_case, before=[anchors],
                              after=[sigmoid_cases, dice_ce_cases, error_cases])


if __name__ == "__main__":
    sys.exit(main())
