#!/usr/bin/python3
"""Independent check of `segloss loss` for focal, bce, sigmoid_focal and lovasz against PyTorch
(float64, autograd for every gradient).

Each case writes an input and a target as .npy files, runs
`segloss loss SPEC ... --json --grad G.npy --loss-map M.npy` with --impl fast and --impl ref, and
compares the JSON `loss`, the loss map and the gradient with the semantics written here from
the issue and docs/focal.md's statement of what each loss matches (never from the C code):

  focal          -sum_c alpha_c t_c (1 - p_c)^gamma log p_c per pixel; p from log_softmax, or for
                 probabilities log(clamp(x / sum x, eps, 1 - eps)) (Keras); mean over the
                 non-ignored pixels (label map) or N*P (per-class target).
  bce            torch.nn.functional.binary_cross_entropy_with_logits itself (weight, pos_weight
                 per class); on probabilities BCELoss on clamp(p, eps, 1 - eps) with each log
                 clamped at -100; label map -> one-hot; ignored pixels leave the mean.
  sigmoid_focal  torchvision.ops.sigmoid_focal_loss's formula; on probabilities Keras'
                 binary_focal_crossentropy (cross-entropy on the clipped p, p_t on p as given).
  lovasz         the authors' lovasz_softmax (Berman et al.): per class, errors |fg - p| sorted in
                 decreasing order (torch.sort, stable), lovasz_grad of the sorted targets, dot;
                 mean over counted classes, per image then over images with per_image.

The CLI reads float32, so the reference starts from the float32-rounded input. Run with
/usr/bin/python3 (python3-torch). The binary is $SEGLOSS (default build/segloss). Ends with
`check_focal: N passed, M failed` (N, M count individual comparisons); exits 1 when M > 0.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import fail, ok  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_FOCAL_CASES", "800"))
SEED = int(os.environ.get("CHECK_FOCAL_SEED", "7031"))


# ------------------------------------------------------------------------------------------------
# References, in torch float64. Each returns (value, map) with value differentiable in x.


def cshape(v, nd):
    """[C] -> [1, C, 1, ...] for an input of nd dimensions."""
    return v.view([1, -1] + [1] * (nd - 2))


def onehot_target(tgt, tkind, C, ignore):
    """Per-class float target [N, C, ...] and a valid-pixel mask [N, ...]."""
    if tkind == "labels":
        valid = tgt != ignore
        ysafe = torch.where(valid, tgt, torch.zeros_like(tgt))
        if C == 1:  # binary segmentation: the {0, 1} label is the one channel's target
            t = (ysafe == 1).unsqueeze(1).double()
        else:
            t = F.one_hot(ysafe, C).movedim(-1, 1).double()
        t = t * valid.unsqueeze(1)
        return t, valid
    return tgt, torch.ones(tgt.shape[:1] + tgt.shape[2:], dtype=torch.bool)


def reduce(m, red, denom):
    if red == "mean":
        return m.sum() / denom
    return m.sum()


# Intermediates of the softmax-family terms: (k, tensor, s) with tensor log p (logits) or the
# renormalised u = x / s (probabilities). The float32 chain rule back to the input errs in
# proportion to d(loss)/d(that tensor), which sizes the gradient tolerance (as check_losses).
INTER = []


def ref_focal(x, kind, tgt, tkind, o):
    C, nd = x.shape[1], x.dim()
    if kind == "logits":
        logp = F.log_softmax(x, 1)
        INTER.append((logp, None))
    else:
        ssum = x.sum(1, keepdim=True)
        u = x / ssum
        INTER.append((u, ssum))
        logp = torch.log(torch.clamp(u, o["eps"], 1.0 - o["eps"]))
    g = o["gamma"]
    q = -torch.expm1(logp)  # 1 - p
    if g == 0:
        mod = torch.ones_like(q)
    else:
        # (1 - p)^gamma; where p == 1 exactly its limit 0 (and no NaN through autograd).
        mod = torch.where(q > 0, q.clamp_min(1e-300) ** g, torch.zeros(()))
    a = torch.ones(C) if o["alpha"] is None else torch.tensor(o["alpha"])
    t, valid = onehot_target(tgt, tkind, C, o["ignore_index"])
    m = -(cshape(a, nd) * t * mod * logp).sum(1)
    m = torch.where(valid, m, torch.zeros(()))
    d = valid.sum().double()
    return reduce(m, o["reduction"], d), m.detach()


def log_clamped(u):
    """max(log u, -100) whose gradient is 0 where the clamp holds (not 0 * inf at u = 0)."""
    keep = u > math.exp(-100.0)
    return torch.where(keep, torch.log(torch.where(keep, u, torch.ones(()))), torch.full((), -100.0))


def clamp_logs(p, eps):
    pc = torch.clamp(p, eps, 1.0 - eps)
    return log_clamped(pc), log_clamped(1.0 - pc)


def ref_bce(x, kind, tgt, tkind, o):
    C, nd = x.shape[1], x.dim()
    t, valid = onehot_target(tgt, tkind, C, o["ignore_index"])
    w = torch.ones(C) if o["weight"] is None else torch.tensor(o["weight"])
    pw = torch.ones(C) if o["pos_weight"] is None else torch.tensor(o["pos_weight"])
    if kind == "logits":
        m = F.binary_cross_entropy_with_logits(x, t, weight=cshape(w, nd),
                                               pos_weight=pw.view([-1] + [1] * (nd - 2)),
                                               reduction="none")
    else:
        lp, l1 = clamp_logs(x, o["eps"])
        m = -cshape(w, nd) * (cshape(pw, nd) * t * lp + (1.0 - t) * l1)
        if o["pos_weight"] is None and o["eps"] < 1e-50:
            # With no clip and no pos_weight this is BCELoss itself.
            m2 = F.binary_cross_entropy(x.detach(), t, weight=cshape(w, nd).expand_as(t),
                                        reduction="none")
            if not torch.allclose(m.detach(), m2, rtol=1e-12, atol=1e-12):
                fail("reference self-check: bce on probabilities != torch BCELoss")
    m = m * valid.unsqueeze(1)
    d = valid.sum().double() * C
    return reduce(m, o["reduction"], d), m.detach()


def ref_sigmoid_focal(x, kind, tgt, tkind, o):
    C = x.shape[1]
    t, valid = onehot_target(tgt, tkind, C, o["ignore_index"])
    g, al = o["gamma"], o["alpha"]
    if kind == "logits":
        # torchvision.ops.sigmoid_focal_loss (1 - p computed as sigmoid(-x), same value).
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
        one_m_pt = p * (1 - t) + torch.sigmoid(-x) * t
    else:
        lp, l1 = clamp_logs(x, o["eps"])
        ce = -(t * lp + (1 - t) * l1)
        one_m_pt = x * (1 - t) + (1 - x) * t
    if g == 0:
        mod = torch.ones_like(one_m_pt)
    else:
        mod = torch.where(one_m_pt > 0, one_m_pt.clamp_min(1e-300) ** g, torch.zeros(()))
    m = ce * mod
    if al >= 0:
        m = (al * t + (1 - al) * (1 - t)) * m
    if o.get("weight") is not None:  # MONAI FocalLoss weight: a per-class multiplier
        m = m * cshape(torch.tensor(o["weight"]), x.dim())
    m = m * valid.unsqueeze(1)
    d = valid.sum().double() * C
    return reduce(m, o["reduction"], d), m.detach()


def lovasz_flat(probas, fg_all, classes, order_dtype):
    """probas [M, C], fg_all [M, C] (0/1 or soft). Returns (mean over counted classes, per-class
    values [C] with 0 where not counted)."""
    M, C = probas.shape
    vals = []
    per = torch.zeros(C)
    if M == 0:
        return torch.zeros(()) * probas.sum(), per
    for c in range(C):
        fg = fg_all[:, c]
        if classes == "present" and not (fg.sum() > 0):
            continue
        errors = (fg - probas[:, c]).abs()
        key = errors.detach().to(order_dtype)
        _, perm = torch.sort(key, dim=0, descending=True, stable=True)
        v = torch.dot(errors[perm], checklib.lovasz_grad(fg[perm]))
        vals.append(v)
        per[c] = v.detach()
    if not vals:
        return torch.zeros(()) * probas.sum(), per
    return sum(vals) / len(vals), per


def ref_lovasz(x, kind, tgt, tkind, o, order_dtype=torch.float64):
    N, C = x.shape[:2]
    if kind == "logits":
        p = F.softmax(x, 1)
    else:
        p = x / x.sum(1, keepdim=True)
    t, valid = onehot_target(tgt, tkind, C, o["ignore_index"])
    pf = p.reshape(N, C, -1).transpose(1, 2)  # [N, P, C]
    tf = t.reshape(N, C, -1).transpose(1, 2)
    vf = valid.reshape(N, -1)
    if o["per_image"]:
        losses, rows = [], []
        for n in range(N):
            v, per = lovasz_flat(pf[n][vf[n]], tf[n][vf[n]], o["classes"], order_dtype)
            losses.append(v)
            rows.append(per)
        mp = torch.stack(rows)
        mean = sum(losses) / N
    else:
        mean, per = lovasz_flat(pf[vf], tf[vf], o["classes"], order_dtype)
        mp = per.unsqueeze(0)
    if o["reduction"] == "mean":
        return mean, mp
    # sum / none: the sum of the counted (group, class) losses; recompute differentiably.
    total = 0.0
    groups = range(N) if o["per_image"] else [None]
    for n in groups:
        pp = pf[n][vf[n]] if n is not None else pf[vf]
        tt = tf[n][vf[n]] if n is not None else tf[vf]
        mv, _ = lovasz_flat(pp, tt, o["classes"], order_dtype)
        k = counted(tt, o["classes"], C) if pp.shape[0] else 0
        total = total + mv * k
    return total, mp


def counted(tt, classes, C):
    if classes == "all":
        return C
    return int((tt.sum(0) > 0).sum())


REFS = {"focal": ref_focal, "bce": ref_bce, "sigmoid_focal": ref_sigmoid_focal,
        "lovasz": ref_lovasz}


def reference(terms, x32, kind, tgt_np, tkind, order_dtype=torch.float64):
    x = torch.tensor(x32.astype(np.float64), requires_grad=True)
    if tkind == "labels":
        tgt = torch.from_numpy(tgt_np.astype(np.int64))
    else:
        tgt = torch.from_numpy(tgt_np.astype(np.float32).astype(np.float64))
    total, tmap = 0.0, 0.0
    del INTER[:]
    for k, name, o in terms:
        if name == "lovasz":
            v, m = ref_lovasz(x, kind, tgt, tkind, o, order_dtype)
        else:
            v, m = REFS[name](x, kind, tgt, tkind, o)
        total = total + k * v
        tmap = tmap + k * m
    extra = np.zeros(x32.shape)
    if isinstance(total, torch.Tensor) and total.requires_grad:
        for t, ssum in INTER:
            gi, = torch.autograd.grad(total, t, retain_graph=True)
            sc = gi.abs().amax(1, keepdim=True)
            if ssum is not None:
                sc = gi.abs().div(t.clamp_min(1e-300)).amax(1, keepdim=True) / ssum
            extra = np.maximum(extra, (1e-6 * sc.detach()).expand(x32.shape).numpy())
        total.backward()
        g = x.grad.numpy().copy()
    else:
        g = np.zeros(x32.shape)
    del INTER[:]
    tm = np.asarray(tmap.numpy() if isinstance(tmap, torch.Tensor) else tmap)
    return float(total), tm, g, extra


# ------------------------------------------------------------------------------------------------
# Comparisons and the CLI.


def cmp_arr(got, exp, rtol, atol, extra=0.0):
    # Floor: float32 resolves an O(1) quantity to ~1e-7 (e.g. log p of a near-certain pixel).
    return checklib.compare_scaled(got, exp, rtol, atol, 1e-2, extra)


def fmt(v):
    return "%.10g" % v


def spec_string(terms):
    parts = []
    for k, name, o in terms:
        kv = []
        for key in o.get("say", []):
            v = o[key]
            if isinstance(v, list):
                kv.append("%s=[%s]" % (key, ",".join(fmt(a) for a in v)))
            elif isinstance(v, bool):
                kv.append("%s=%s" % (key, "true" if v else "false"))
            elif isinstance(v, str):
                kv.append("%s=%s" % (key, v))
            elif isinstance(v, int):
                kv.append("%s=%d" % (key, v))
            else:
                kv.append("%s=%s" % (key, fmt(v)))
        t = name + ("(" + ",".join(kv) + ")" if kv else "")
        if k != 1.0:
            t = fmt(k) + "*" + t
        parts.append(t)
    return " + ".join(parts)


def check_case(tmp, label, terms, x, kind, tgt, tkind, rtol=1e-4, atol=1e-5):
    x32 = x.astype(np.float32)
    exp_v, exp_m, exp_g, extra = reference(terms, x32, kind, tgt, tkind)
    alt_g = None
    if any(n == "lovasz" for _, n, _ in terms):
        # Near-ties sort differently in float32 (fast path) and float64: accept either order.
        alt_g = reference(terms, x32, kind, tgt, tkind, torch.float32)[2]
    spec = spec_string(terms)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, kind=kind)
    desc = "%s: spec '%s' input %s %s target %s %s" % (label, spec, kind, list(x.shape), tkind,
                                                       tgt.dtype)

    def value_problem(got_v):
        if checklib.close_scalar(got_v, exp_v, rtol, atol):
            return None
        return "got %.12g expected %.12g" % (got_v, exp_v)

    def map_problem(got_m):
        return cmp_arr(got_m, exp_m, rtol, atol)

    def grad_problem(got_g):
        r = cmp_arr(got_g, exp_g, rtol, atol, extra)
        if r is not None and alt_g is not None and cmp_arr(got_g, alt_g, rtol, atol) is None:
            r = None
        return r

    # An empty mean: only the value (NaN) is specified.
    grad_specified = not (np.isnan(exp_g).any() and math.isnan(exp_v))
    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem,
                            grad_problem if grad_specified else None)


def check_error(tmp, label, spec, x, tgt, kind="logits", want=None):
    checklib.check_loss_refused(tmp, label, spec, checklib.loss_input_args(tmp, x, tgt, kind=kind),
                                want)


# ------------------------------------------------------------------------------------------------
# Anchors: small values worked by hand (pure Python float64).


def anchors(tmp):
    def one(spec, x, t, want, kind="logits", tol=2e-6):
        xi, ti = os.path.join(tmp, "ax.npy"), os.path.join(tmp, "at.npy")
        np.save(xi, np.asarray(x, np.float32))
        np.save(ti, t)
        for impl in ("fast", "ref"):
            a = [spec, "--input", xi, "--target", ti, "--json", "--impl", impl]
            if kind == "probs":
                a += ["--input-kind", "probs"]
            rc, out, err = checklib.run_segloss(["loss"] + a)
            if rc != 0:
                fail("anchor %s [%s]: %s" % (spec, impl, err.strip()))
                continue
            v = checklib.loss_of_json(out)
            if abs(v - want) <= tol * max(1.0, abs(want)):
                ok()
            else:
                fail("anchor %s [%s]: got %.10f expected %.10f" % (spec, impl, v, want))

    # One pixel, logits [0, 0]: p = 0.5. focal gamma=2: 0.25 * log 2.
    one("focal", [[[0.0], [0.0]]], np.array([[1]], np.int32), 0.25 * math.log(2))
    # bce, x = 0 everywhere: log 2 per element; pos_weight 3 on class 1 (target 1 there).
    one("bce", [[[0.0], [0.0]]], np.array([[1]], np.int32), math.log(2))
    one("bce(pos_weight=[1,3])", [[[0.0], [0.0]]], np.array([[1]], np.int32),
        (math.log(2) + 3 * math.log(2)) / 2)
    # sigmoid_focal, x = 0: ce = log 2, (1 - p_t)^2 = 0.25, alpha_t = 0.75 (neg), 0.25 (pos).
    one("sigmoid_focal", [[[0.0], [0.0]]], np.array([[1]], np.int32),
        (0.75 + 0.25) * 0.25 * math.log(2) / 2)
    # bce on probabilities exactly 0 and 1 with no clip: PyTorch's -100 clamp.
    one("bce(eps=1e-300)", [[[0.0], [1.0]]], np.array([[0]], np.int32), 100.0, kind="probs")
    one("bce", [[[0.0], [1.0]]], np.array([[0]], np.int32), -math.log(1e-7), kind="probs",
        tol=1e-5)
    # lovasz: 2 pixels, p(class 1) = [0.8, 0.3], labels [1, 0], classes=all, C=2.
    # class 1: errors [0.2, 0.3] -> sorted [0.3 (bg), 0.2 (fg)]: J = [1 - 1/2, 1 - 0/2]
    #   grad [0.5, 0.5] -> 0.25. class 0: fg = [0, 1], p0 = [0.2, 0.7], errors [0.2, 0.3]:
    #   sorted [0.3 (fg), 0.2 (bg)]: J = [1 - 0/1, 1 - 0/2] = [1, 1], grad [1, 0] -> 0.3.
    z = np.log(np.array([[0.2, 0.7], [0.8, 0.3]]))
    one("lovasz(classes=all)", z[None], np.array([[1, 0]], np.int32), (0.25 + 0.3) / 2,
        tol=1e-6)


# ------------------------------------------------------------------------------------------------
# Random cases.


def rand_spatial(rng, nsp):
    return checklib.rand_spatial(rng, nsp, [1, 3, 17, 64, 130], 11, 5)


def make_input(rng, shape, kind, sigmoid, big):
    if kind == "logits":
        scale = 1e4 if big else float(rng.choice([0.5, 2.0, 6.0, 20.0]))
        x = rng.randn(*shape) * scale
        if big:
            x = np.round(x / 1e4) * 1e4  # p exactly 0 or 1 (and many exact ties)
        return x.astype(np.float32)
    if sigmoid:
        x = rng.random_sample(shape)
        r = rng.random_sample(shape)
        x[r < 0.05] = 0.0
        x[(r >= 0.05) & (r < 0.1)] = 1.0
        x[(r >= 0.1) & (r < 0.13)] = 1e-9  # below the clip
        return x.astype(np.float32)
    x = 0.02 + rng.random_sample(shape)
    flat = x.reshape(shape[0], shape[1], -1)
    for n in range(shape[0]):
        for i in range(flat.shape[2]):
            if rng.random_sample() < 0.1:
                k = int(rng.randint(shape[1]))
                flat[n, :, i] *= 1e-9
                flat[n, k, i] = 1.0
    return x.astype(np.float32)


def make_target(rng, N, C, sp, tkind, soft, ignore_mode, ignore_index):
    P = int(np.prod(sp))
    y = np.zeros([N, P], np.int64)
    for n in range(N):
        pool = [0] + [c for c in range(1, max(C, 2)) if rng.random_sample() < 0.6]
        y[n] = rng.choice(pool, size=P)
    if tkind == "labels":
        if ignore_mode != "none":
            m = rng.random_sample(y.shape) < 0.15
            y[m] = ignore_index
        return y.reshape([N] + sp).astype(str(rng.choice(["int32", "int64", "int64"])))
    if soft:
        t = rng.random_sample([N, C, P]) ** 2
        t[rng.random_sample([N, C, P]) < 0.3] = 0.0
        if soft == "norm":
            s = t.sum(1, keepdims=True)
            t = np.where(s > 0, t / np.where(s > 0, s, 1), 0)
        return t.reshape([N, C] + sp).astype(np.float32)
    t = np.eye(max(C, 2))[y][:, :, 1:] if C == 1 else np.eye(C)[y]  # binary: [y == 1]
    t = t.transpose(0, 2, 1)
    return np.ascontiguousarray(t).reshape([N, C] + sp).astype(np.float32)


def rand_options(rng, name, C, kind, tkind, ignore_index, say_ignore):
    o = {"say": [], "ignore_index": ignore_index, "reduction": "mean", "eps": 1e-7}
    if say_ignore:
        o["say"].append("ignore_index")
    o["reduction"] = str(rng.choice(["mean", "mean", "sum", "none"]))
    if o["reduction"] != "mean" or rng.random_sample() < 0.2:
        o["say"].append("reduction")
    if kind == "probs" and name != "lovasz" and rng.random_sample() < 0.3:
        o["eps"] = float(rng.choice([1e-3, 1e-5, 1e-300]))
        o["say"].append("eps")
    if name == "focal":
        o["alpha"] = None
        if rng.random_sample() < 0.5:
            o["alpha"] = [float(v) for v in np.round(rng.uniform(0, 3, C), 3)]
            o["say"].append("alpha")
        o["gamma"] = 2.0
        if rng.random_sample() < 0.6:
            o["gamma"] = float(rng.choice([0.0, 0.5, 1.0, 1.5, 3.0, 0.25]))
            o["say"].append("gamma")
    elif name == "bce":
        o["weight"] = o["pos_weight"] = None
        if rng.random_sample() < 0.4:
            o["weight"] = [float(v) for v in np.round(rng.uniform(0, 3, C), 3)]
            o["say"].append("weight")
        if rng.random_sample() < 0.4:
            o["pos_weight"] = [float(v) for v in np.round(rng.uniform(0, 4, C), 3)]
            o["say"].append("pos_weight")
    elif name == "sigmoid_focal":
        o["alpha"], o["gamma"] = 0.25, 2.0
        if rng.random_sample() < 0.5:
            o["alpha"] = float(rng.choice([-1.0, 0.0, 0.5, 0.9, 1.0, -0.5]))
            o["say"].append("alpha")
        if rng.random_sample() < 0.5:
            o["gamma"] = float(rng.choice([0.0, 0.5, 1.0, 3.0]))
            o["say"].append("gamma")
        o["weight"] = None
        if rng.random_sample() < 0.3:
            o["weight"] = [float(v) for v in np.round(rng.uniform(0, 3, C), 3)]
            o["say"].append("weight")
    else:
        o["classes"] = str(rng.choice(["present", "all"]))
        if o["classes"] != "present" or rng.random_sample() < 0.3:
            o["say"].append("classes")
        o["per_image"] = bool(rng.random_sample() < 0.5)
        if o["per_image"] or rng.random_sample() < 0.3:
            o["say"].append("per_image")
    return o


def random_case(rng, tmp, idx):
    r = rng.random_sample()
    if r < 0.85:
        names = [["focal", "bce", "sigmoid_focal", "lovasz"][idx % 4]]
    elif r < 0.95:
        names = ["bce", "sigmoid_focal"]  # same (element) map shape
    else:
        names = ["focal", "focal"]
    sigmoid = names[0] in ("bce", "sigmoid_focal")
    nsp = int(rng.randint(1, 4))
    N = int(rng.randint(1, 4))
    C = int(rng.randint(1 if sigmoid else 2, 7))
    sp = rand_spatial(rng, nsp)
    kind = "probs" if rng.random_sample() < 0.3 else "logits"
    big = kind == "logits" and rng.random_sample() < 0.08
    tkind = "labels" if rng.random_sample() < 0.6 else "perclass"
    soft = None
    if tkind == "perclass":
        soft = str(rng.choice(["", "norm", "raw"])) if True else None
        if soft == "raw" and names[0] in ("focal",):
            soft = "norm"
    ignore_mode = "none"
    ignore_index = -100
    say_ignore = False
    if tkind == "labels":
        ignore_mode = str(rng.choice(["none", "255", "-100", "class"]))
        if ignore_mode == "255":
            ignore_index, say_ignore = 255, True
        elif ignore_mode == "class":
            ignore_index, say_ignore = int(rng.randint(C)), True
        elif ignore_mode == "-100":
            say_ignore = rng.random_sample() < 0.5
    if kind == "probs" and sigmoid and len(names) == 1 and rng.random_sample() < 0.5:
        pass
    x = make_input(rng, [N, C] + sp, kind, sigmoid, big)
    if kind == "probs":
        # Every pixel's probabilities must sum to more than 0 (a common check of the library).
        flat = x.reshape(N, C, -1)
        z = flat.sum(1) <= 0
        flat[:, 0, :][z] = 0.5
    tgt = make_target(rng, N, C, sp, tkind, soft, ignore_mode, ignore_index)
    terms = []
    for i, name in enumerate(names):
        k = 1.0 if len(names) == 1 else float(rng.choice([0.5, 1.0, 2.0]))
        terms.append((k, name, rand_options(rng, name, C, kind, tkind, ignore_index, say_ignore)))
    if len(names) == 2 and "ignore_index" in terms[0][2]["say"]:
        for _, _, o in terms:
            if "ignore_index" not in o["say"]:
                o["say"].append("ignore_index")
    rtol, atol = 1e-4, 1e-5
    if big:
        # log-softmax in float (the shared pixel driver) loses ~ulp(1e4) = 1e-3 in log p.
        rtol, atol = 3e-3, 3e-3
    check_case(tmp, "case %d" % idx, terms, x.astype(np.float64) if idx % 3 == 0 else x, kind,
               tgt, tkind, rtol=rtol, atol=atol)


def error_cases(tmp, rng):
    x = rng.randn(2, 3, 5).astype(np.float32)
    y = np.array([[0, 1, 2, 0, 1], [0, 0, 2, 2, 0]], np.int64)
    t = np.ascontiguousarray(np.eye(3, dtype=np.float32)[y].transpose(0, 2, 1))
    p = rng.random_sample((2, 3, 5)).astype(np.float32)
    p[0, 1, 2] = 1.5
    check_error(tmp, "error: bce probability above 1", "bce", p, y, "probs", "above 1")
    check_error(tmp, "error: sigmoid_focal probability above 1", "sigmoid_focal", p, y, "probs",
                "above 1")
    t2 = t.copy()
    t2[1, 2, 3] = 2.0
    check_error(tmp, "error: sigmoid_focal target above 1", "sigmoid_focal", x, t2, want="above 1")
    check_error(tmp, "error: lovasz target above 1", "lovasz", x, t2, want="above 1")
    check_error(tmp, "error: focal alpha length", "focal(alpha=[1,2])", x, y, want="alpha")
    check_error(tmp, "error: focal negative alpha", "focal(alpha=[1,-2,1])", x, y, want="alpha")
    check_error(tmp, "error: focal negative gamma", "focal(gamma=-1)", x, y, want="gamma")
    check_error(tmp, "error: sigmoid_focal alpha > 1", "sigmoid_focal(alpha=2)", x, y, want="alpha")
    check_error(tmp, "error: bce pos_weight length", "bce(pos_weight=[1,2])", x, y,
                want="pos_weight")
    check_error(tmp, "error: bce ignore_index >= 0 with per-class target",
                "bce(ignore_index=255)", x, t, want="ignore_index")
    check_error(tmp, "error: lovasz bad classes word", "lovasz(classes=some)", x, y,
                want="classes")
    y2 = y.copy()
    y2[0, 0] = 3
    check_error(tmp, "error: lovasz label out of range", "lovasz", x, y2, want="label")


def main():
    return checklib.run_cases("check_focal", SEED, NCASES, random_case, before=[anchors],
                              after=[error_cases])


if __name__ == "__main__":
    sys.exit(main())
