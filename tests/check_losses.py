#!/usr/bin/python3
"""Independent check of `segloss loss` against PyTorch (float64, autograd).

Each case writes an input, a target and sometimes an annotation matrix as .npy files, runs
`segloss loss SPEC ... --json --grad G.npy --loss-map M.npy` with --impl fast and --impl ref, and
compares the JSON `loss`, the loss map and the gradient with a PyTorch implementation of the
semantics written here from the manual (include/segloss.h) and the reference notes on
PyTorch, Keras and the partial-annotation losses (never from the C code):

  ce          torch.nn.functional.cross_entropy on logits; on probabilities (Keras) the same
              formulas on log(clamp(p / sum_c p, eps, 1 - eps)).
  missing_ce  cross-entropy whose background term is dropped where the input's argmax (lowest
              index on ties) is a class not annotated in the image; the gate is a constant.
  marginal_ce background merged with the classes not annotated in the image (logsumexp).

The CLI reads float32, so the reference starts from the float32-rounded input. Run with
/usr/bin/python3 (python3-torch). The binary is $SEGLOSS (default build/segloss). Ends with
`check_losses: N passed, M failed` (N, M count individual comparisons); exits 1 when M > 0.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import fail, ok  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_LOSSES_CASES", "250"))
SEED = int(os.environ.get("CHECK_LOSSES_SEED", "20240611"))


# ------------------------------------------------------------------------------------------------
# The reference, in torch.


def log_probs(x, kind, eps, inter=None):
    """x: float64 tensor [N, C, ...] (requires grad). When inter is a list, appends the
    intermediate whose gradient sizes the float32 tolerance: (log p, None) for logits,
    (u, s) for probabilities (u = x / s renormalised, before the clip)."""
    if kind == "logits":
        lp = F.log_softmax(x, dim=1)
        if inter is not None:
            inter.append((lp, None))
        return lp
    s = x.sum(dim=1, keepdim=True)
    u = x / s
    if inter is not None:
        inter.append((u, s))
    return torch.log(torch.clamp(u, eps, 1.0 - eps))


def pixel_scale(v, inter):
    """Per pixel, the size of d(v)/d(log p) (logits) or d(v)/du / s (probabilities): what the
    gradient is made of before the last step's cancellations, so what float32 errors scale with."""
    (t, s), = inter
    g, = torch.autograd.grad(v, t, retain_graph=True)
    g = g.abs().amax(1)
    if s is not None:
        g = g / s.squeeze(1)
    return g.detach()


def bcast_w(w, ndim):
    """[C] weights -> [1, C, 1, ...] for the input's ndim."""
    return w.view([1, -1] + [1] * (ndim - 2))


def gather_c(t, idx):
    """t [N, C, ...], idx [N, ...] int64 -> t[n, idx, ...]."""
    return t.gather(1, idx.unsqueeze(1)).squeeze(1)


def reduce_map(m, reduction, denom):
    if reduction == "mean":
        return m.sum() / denom
    return m.sum()  # sum, and none (the CLI reports the sum of the map)


def ce_by_formula(logp, tgt, tkind, w, ignore, ls):
    """Map and the mean's denominator of ce, from log-probabilities (formulas of losses.md 2.1-2.3)."""
    C = logp.shape[1]
    nd = logp.dim()
    wc = torch.ones(C) if w is None else w
    if tkind == "labels":
        valid = tgt != ignore
        ysafe = torch.where(valid, tgt, torch.zeros_like(tgt))
        wy = wc[ysafe] * valid
        nll = -wy * gather_c(logp, ysafe)
        smooth = -(bcast_w(wc, nd) * logp).sum(1)
        smooth = torch.where(valid, smooth, torch.zeros_like(smooth))
        m = (1.0 - ls) * nll + (ls / C) * smooth
        m = torch.where(valid, m, torch.zeros_like(m))
        return m, wy.sum()
    tp = tgt * (1.0 - ls) + ls / C
    m = -(bcast_w(wc, nd) * tp * logp).sum(1)
    return m, float(m.numel())


def ref_ce(x, kind, tgt, tkind, o):
    w, ignore, ls, eps, red = o["weight"], o["ignore_index"], o["label_smoothing"], o["eps"], o["reduction"]
    if kind == "logits":
        # torch.nn.functional.cross_entropy itself.
        val = F.cross_entropy(x, tgt, weight=w, ignore_index=ignore,
                              reduction="sum" if red == "none" else red, label_smoothing=ls)
        m = F.cross_entropy(x.detach(), tgt, weight=w, ignore_index=ignore, reduction="none",
                            label_smoothing=ls)
        # Self-check of the hand formulas (used for probabilities) against torch on logits;
        # their d/d(log p) sizes the tolerance.
        lp2 = F.log_softmax(x.detach(), 1).requires_grad_()
        m2, d2 = ce_by_formula(lp2, tgt, tkind, w, ignore, ls)
        v2 = reduce_map(m2, red, d2)
        sc = pixel_scale(v2, [(lp2, None)])
        m2 = m2.detach()
        if not (torch.allclose(m, m2, rtol=1e-10, atol=1e-12) and
                (torch.isnan(v2) and torch.isnan(val.detach()) or
                 abs(float(v2) - float(val)) <= 1e-9 * (1 + abs(float(val))))):
            fail("reference self-check: ce formula != torch cross_entropy (%s)" % (o,))
        return val, m.detach(), sc
    inter = []
    logp = log_probs(x, kind, eps, inter)
    m, d = ce_by_formula(logp, tgt, tkind, w, ignore, ls)
    v = reduce_map(m, red, d)
    return v, m.detach(), pixel_scale(v, inter)


def first_argmax(arr):
    """argmax over axis 1, lowest index on ties (numpy documents the first occurrence)."""
    return np.argmax(arr, axis=1)


def ref_missing(x, kind, tgt, tkind, o, ann, x32, tgt_np):
    w, ignore, eps, red, den = o["weight"], o["ignore_index"], o["eps"], o["reduction"], o["denominator"]
    C = x.shape[1]
    nd = x.dim()
    wc = torch.ones(C) if w is None else w
    inter = []
    logp = log_probs(x, kind, eps, inter)
    with torch.no_grad():
        pred = first_argmax(x32)                                  # [N, ...]
        nidx = np.arange(x32.shape[0]).reshape([-1] + [1] * (nd - 2))
        gate = torch.from_numpy(~ann[nidx, pred])                 # pred not annotated
    if tkind == "labels":
        valid = tgt != ignore
        ysafe = torch.where(valid, tgt, torch.zeros_like(tgt))
        gated = (tgt == 0) & gate
        keep = valid & ~gated
        wy = wc[ysafe]
        m = torch.where(keep, -wy * gather_c(logp, ysafe), torch.zeros(()))
        if den == "all":
            d = (wy * valid).sum()
        else:
            d = (wy * keep).sum()
    else:
        omega = torch.ones_like(tgt)
        omega[:, 0] = torch.where(gate, torch.zeros(()), torch.ones(()))
        m = -(bcast_w(wc, nd) * omega * tgt * logp).sum(1)
        if den == "all":
            d = float(m.numel())
        else:
            targ = torch.from_numpy(first_argmax(tgt_np.astype(np.float32)))
            d = (~(gate & (targ == 0))).sum().double()
    v = reduce_map(m, red, d)
    return v, m.detach(), pixel_scale(v, inter)


def ref_marginal(x, kind, tgt, tkind, o, ann):
    ignore, eps, red = o["ignore_index"], o["eps"], o["reduction"]
    nd = x.dim()
    inter = []
    logp = log_probs(x, kind, eps, inter)
    S = torch.from_numpy(~ann)
    S[:, 0] = True
    Sb = S.view(list(S.shape) + [1] * (nd - 2)).expand_as(logp)
    lse = logp.masked_fill(~Sb, float("-inf")).logsumexp(1)
    if tkind == "labels":
        valid = tgt != ignore
        ysafe = torch.where(valid, tgt, torch.zeros_like(tgt))
        m = torch.where(ysafe == 0, -lse, -gather_c(logp, ysafe))
        m = torch.where(valid, m, torch.zeros(()))
        d = valid.sum().double()
    else:
        tS = (tgt * Sb).sum(1)
        rest = (tgt * logp).masked_fill(Sb, 0.0).sum(1)
        m = -tS * lse - rest
        d = float(m.numel())
    v = reduce_map(m, red, d)
    return v, m.detach(), pixel_scale(v, inter)


def reference(terms, x32, kind, tgt_np, tkind, ann_given):
    """Value, map, gradient of sum_i k_i * loss_i (float64), and the gradient's per-pixel scale."""
    x = torch.tensor(x32.astype(np.float64), requires_grad=True)
    if tkind == "labels":
        tgt = torch.from_numpy(tgt_np.astype(np.int64))
    else:
        tgt = torch.from_numpy(tgt_np.astype(np.float32).astype(np.float64))
    ann = checklib.annotation(tgt_np, tkind, x32.shape[1], ann_given)
    total = 0.0
    tmap = 0.0
    scale = 0.0
    for k, name, o in terms:
        if name == "ce":
            v, m, sc = ref_ce(x, kind, tgt, tkind, o)
        elif name == "missing_ce":
            v, m, sc = ref_missing(x, kind, tgt, tkind, o, ann, x32, tgt_np)
        else:
            v, m, sc = ref_marginal(x, kind, tgt, tkind, o, ann)
        total = total + k * v
        tmap = tmap + k * m
        scale = scale + abs(k) * sc
    total.backward()
    scale = scale.numpy().copy()
    if kind == "probs":
        # Where a renormalised probability lies within float32 rounding of a clip bound, float32
        # and float64 may decide the clip differently: the gradient there is not comparable.
        u = x32.astype(np.float64) / x32.astype(np.float64).sum(1, keepdims=True)
        for _, _, o in terms:
            e = o["eps"]
            amb = (np.abs(u - e) <= 1e-6 * e) | (np.abs(u - (1.0 - e)) <= 3e-7)
            scale[amb.any(1)] = np.inf
    return float(total), tmap.numpy(), x.grad.numpy(), scale


# ------------------------------------------------------------------------------------------------
# Comparisons.


def cmp_map(got, exp, rtol, atol):
    return checklib.compare_scaled(got, exp, rtol, atol, 1.0)


def cmp_grad(got, exp, pscale, rtol, atol):
    """Tolerance per pixel: relative to the pixel's largest d(loss)/d(log p) (logits) or
    d(loss)/du / s (probabilities), since float32 evaluation errs in proportion to those."""
    pix = np.expand_dims(np.maximum(pscale, np.abs(exp).max(axis=1)), 1)
    fin = pix[np.isfinite(pix)]
    scale = np.maximum(pix, 1e-9 * (float(fin.max()) if fin.size else 0.0))
    return checklib.compare_within(got, exp, rtol * np.abs(exp) + atol * scale)


def fmt_num(v):
    return "%.10g" % v


def spec_string(terms):
    parts = []
    for k, name, o in terms:
        kv = []
        if o.get("weight") is not None:
            kv.append("weight=[%s]" % ",".join(o["weight_s"]))
        if o["ignore_index"] != -100 or o.get("say_ignore"):
            kv.append("ignore_index=%d" % o["ignore_index"])
        if name == "ce" and (o["label_smoothing"] != 0 or o.get("say_ls")):
            kv.append("label_smoothing=%s" % o["ls_s"])
        if o["eps"] != 1e-7:
            kv.append("eps=%s" % fmt_num(o["eps"]))
        if o["reduction"] != "mean" or o.get("say_red"):
            kv.append("reduction=%s" % o["reduction"])
        if name == "missing_ce" and (o["denominator"] != "all" or o.get("say_den")):
            kv.append("denominator=%s" % o["denominator"])
        t = name + ("(" + ",".join(kv) + ")" if kv else "")
        if k != 1.0 or o.get("say_k"):
            t = fmt_num(k) + "*" + t
        parts.append(t)
    return " + ".join(parts)


def check_case(tmp, label, terms, x, kind, tgt, tkind, ann, impls=("fast", "ref"),
               rtol=1e-4, atol=1e-5, extra=None):
    """Write the files, run each impl, compare loss, map and gradient with torch."""
    x32 = x.astype(np.float32)
    exp_v, exp_m, exp_g, exp_s = reference(terms, x32, kind, tgt, tkind, ann)
    spec = spec_string(terms)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, ann, kind)
    if kind != "probs" and np.random.random() < 0.2:  # the default, said explicitly now and then
        args += ["--input-kind", "logits"]
    desc = "%s: spec '%s' input %s %s %s target %s %s%s" % (
        label, spec, kind, x.dtype, list(x.shape), tkind, tgt.dtype,
        "" if ann is None else " annotated=%s" % ann.astype(int).tolist())
    if extra:
        desc += " " + extra

    def value_problem(got_v):
        if checklib.close_scalar(got_v, exp_v, rtol, atol):
            return None
        return "got %.12g expected %.12g" % (got_v, exp_v)

    def map_problem(got_m):
        return cmp_map(got_m, exp_m, rtol, atol)

    def grad_problem(got_g):
        return cmp_grad(got_g, exp_g, exp_s, rtol, atol)

    # An empty mean (0/0): torch's gradient is NaN; only the value (NaN) is specified.
    grad_specified = not np.isnan(exp_g).any()
    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem,
                            grad_problem if grad_specified else None, impls=impls)


def check_error(tmp, label, spec, x, tgt, ann, kind="logits"):
    """The CLI must refuse (non-zero exit, one line on stderr, no output files)."""
    checklib.check_loss_refused(tmp, label, spec, checklib.loss_input_args(tmp, x, tgt, ann, kind))


# ------------------------------------------------------------------------------------------------
# The worked example of docs/losses.md.


def anchors(tmp):
    z = np.array([[2.0, 0.5, -1.0], [0.1, 1.5, 0.3], [0.2, -0.3, 1.2], [1.0, 1.0, 0.0]])
    x = np.ascontiguousarray(z.T[None])  # [1, 3, 4]
    y = np.array([[0, 1, 0, 1]], np.int64)
    y_ign = np.array([[0, 1, 0, 255]], np.int64)
    onehot = np.ascontiguousarray(np.eye(3, dtype=np.float32)[y[0]].T[None])

    def value(spec, xx, tt, extra_args=()):
        xi, ti = os.path.join(tmp, "ax.npy"), os.path.join(tmp, "at.npy")
        mp, gp = os.path.join(tmp, "am.npy"), os.path.join(tmp, "ag.npy")
        np.save(xi, xx)
        np.save(ti, tt)
        res = []
        for impl in ("fast", "ref"):
            rc, out, err = checklib.run_segloss(["loss", spec, "--input", xi, "--target", ti,
                                                 "--json", "--impl", impl, "--loss-map", mp,
                                                 "--grad", gp] + list(extra_args))
            if rc != 0:
                res.append((impl, None, None, None, err.strip()))
                continue
            res.append((impl, checklib.loss_of_json(out), np.load(mp), np.load(gp), None))
        return res

    def expect(spec, xx, tt, want, extra_args=(), want_map=None, want_grad=None, tol=2e-6):
        for impl, v, m, g, err in value(spec, xx, tt, extra_args):
            tag = "anchor '%s' %s [impl %s]" % (spec, " ".join(extra_args), impl)
            if v is None:
                fail("%s: exit non-zero: %s" % (tag, err))
                continue
            if abs(v - want) <= tol * max(1.0, abs(want)):
                ok()
            else:
                fail("%s: got %.10f expected %.10f" % (tag, v, want))
            if want_map is not None:
                wm = np.asarray(want_map).reshape(m.shape)
                if np.allclose(m, wm, rtol=0, atol=tol):
                    ok()
                else:
                    fail("%s: map got %s expected %s" % (tag, m.ravel().tolist(), wm.ravel().tolist()))
            if want_grad is not None:
                wg = np.ascontiguousarray(np.asarray(want_grad).T[None])
                if np.allclose(g, wg, rtol=0, atol=tol):
                    ok()
                else:
                    fail("%s: grad got %s expected %s" % (tag, g[0].T.tolist(), wg[0].T.tolist()))

    ce_map = [0.24131130, 0.43682887, 1.46436878, 0.86199480]
    ce_grad = [[-0.05360074, 0.0438226, 0.00977814], [0.03983046, -0.0884795, 0.04864904],
               [-0.19219403, 0.0350611, 0.15713293], [0.1055797, -0.1444203, 0.0388406]]
    expect("ce", x, y, 0.751125938, want_map=ce_map, want_grad=ce_grad)
    expect("ce", x.astype(np.float32), y.astype(np.uint8), 0.751125938, want_map=ce_map)
    expect("ce(weight=[0.2,1,2])", x, y, 0.683316536)
    expect("ce(ignore_index=255)", x, y_ign, 0.714169649,
           want_map=[0.24131130, 0.43682887, 1.46436878, 0.0])
    expect("ce(label_smoothing=0.1)", x, y, 0.814459271)
    expect("ce(weight=[0.2,1,2],ignore_index=255,label_smoothing=0.1)", x, y_ign, 0.870025725)
    expect("ce(weight=[0.2,1,2],label_smoothing=0.1)", x, onehot, 0.538111030)
    expect("ce(reduction=sum)", x, y, sum(ce_map), want_map=ce_map)
    expect("ce(reduction=none)", x, y, sum(ce_map), want_map=ce_map,
           want_grad=(np.array(ce_grad) * 4).tolist())
    miss_map = [0.24131130, 0.43682887, 0.0, 0.86199480]
    expect("missing_ce", x, y, 0.385033742, want_map=miss_map)
    expect("missing_ce(denominator=valid)", x, y, 0.513378322, want_map=miss_map)
    expect("missing_ce", x, onehot, 0.385033742, want_map=miss_map)
    expect("missing_ce(denominator=valid)", x, onehot, 0.513378322, want_map=miss_map)
    expect("marginal_ce", x, y, 0.410663678,
           want_map=[0.19272395, 0.43682887, 0.15110710, 0.86199480])
    expect("marginal_ce", x, onehot, 0.410663678,
           want_map=[0.19272395, 0.43682887, 0.15110710, 0.86199480])
    expect("0.5*ce + missing_ce(denominator=valid)", x, y, 0.5 * 0.751125938 + 0.513378322,
           want_map=[0.5 * a + b for a, b in zip(ce_map, miss_map)])
    # Keras: categorical_crossentropy([0,1,0], [1,0,0]) = -log(1e-7).
    expect("ce", np.array([[[1.0], [0.0], [0.0]]], np.float32), np.array([[1]], np.int32),
           16.118095651, extra_args=("--input-kind", "probs"), tol=1e-6)


# ------------------------------------------------------------------------------------------------
# Random cases.


def rand_spatial(rng, nsp):
    return checklib.rand_spatial(rng, nsp, [1, 3, 17, 64, 65, 130, 200], 13, 6)


def make_input(rng, N, C, sp, kind, big):
    shape = [N, C] + sp
    if kind == "logits":
        scale = 1e4 if big else float(rng.choice([0.5, 2.0, 8.0, 25.0, 50.0]))
        x = rng.randn(*shape) * scale / (3.0 if scale >= 25 else 1.0)
        x = np.clip(x, -abs(scale), abs(scale)).astype(np.float32)
        if rng.random_sample() < 0.4:
            # Argmax ties: copy the maximum into another class at some pixels.
            flat = x.reshape(N, C, -1)
            for n in range(N):
                for i in range(flat.shape[2]):
                    if rng.random_sample() < 0.3:
                        k = int(np.argmax(flat[n, :, i]))
                        j = int(rng.randint(C))
                        flat[n, j, i] = flat[n, k, i]
        return x
    x = rng.random_sample(shape) ** float(rng.choice([1.0, 3.0]))
    x *= float(rng.choice([1.0, 0.01, 7.0]))
    flat = x.reshape(N, C, -1)
    zmask = rng.random_sample(flat.shape) < 0.2
    flat[zmask] = 0.0
    for n in range(N):
        for i in range(flat.shape[2]):
            r = rng.random_sample()
            if r < 0.1:
                # Dominant class, the rest far below eps (clipped) or zero.
                k = int(rng.randint(C))
                flat[n, :, i] = flat[n, :, i] * 1e-11
                flat[n, k, i] = 1.0 + rng.random_sample()
            elif r < 0.15:
                flat[n, :, i] = 0.0
                flat[n, int(rng.randint(C)), i] = rng.random_sample() + 0.1
            if not flat[n, :, i].sum() > 0:
                flat[n, int(rng.randint(C)), i] = 0.5
    return x.astype(np.float32)


def make_target(rng, N, C, sp, tkind, tdtype, ignore_mode):
    """Labels with a random set of classes present per image (the others 'missing')."""
    P = int(np.prod(sp))
    y = checklib.missing_labels(rng, N, C, P)
    if tkind == "labels":
        if ignore_mode in ("255", "-100"):
            m = rng.random_sample(y.shape) < 0.1
            y[m] = 255 if ignore_mode == "255" else -100
        elif ignore_mode == "class":
            pass  # ignore_index is a valid class: labels stay in range
        return y.reshape([N] + sp).astype(tdtype)
    if tdtype == "soft":
        t = checklib.soft_target(rng, y, C, holes=0.2)
        return t.reshape([N, C] + sp).astype(np.float32)
    t = np.eye(C)[y].transpose(0, 2, 1)
    return np.ascontiguousarray(t).reshape([N, C] + sp).astype(tdtype)


def rand_options(rng, name, C, ignore_index, kind, tkind):
    o = {"weight": None, "ignore_index": ignore_index, "label_smoothing": 0.0, "eps": 1e-7,
         "reduction": "mean", "denominator": "all"}
    if name in ("ce", "missing_ce") and rng.random_sample() < 0.4:
        w = np.round(rng.uniform(0.1, 3.0, C), 3)
        if rng.random_sample() < 0.2:
            w[int(rng.randint(1, C))] = 0.0
        o["weight_s"] = ["%g" % v for v in w]
        o["weight"] = torch.tensor([float(s) for s in o["weight_s"]])
    if name == "ce" and rng.random_sample() < 0.4:
        r = rng.random_sample()
        ls = 1.0 if r < 0.1 else (0.0 if r < 0.2 else round(float(rng.random_sample()), 4))
        o["ls_s"] = "%g" % ls
        o["label_smoothing"] = float(o["ls_s"])
        o["say_ls"] = True
    if kind == "probs" and rng.random_sample() < 0.25:
        o["eps"] = float(rng.choice([1e-4, 1e-3, 1e-6]))
    o["reduction"] = str(rng.choice(["mean", "mean", "sum", "none"]))
    o["say_red"] = rng.random_sample() < 0.2
    if name == "missing_ce":
        o["denominator"] = str(rng.choice(["all", "valid"]))
        o["say_den"] = rng.random_sample() < 0.3
    if tkind == "labels" and ignore_index == -100 and rng.random_sample() < 0.1:
        o["say_ignore"] = True
    return o


def random_case(rng, tmp, idx):
    N, C, sp, kind, big, tkind = checklib.rand_case_head(rng, rand_spatial)
    # Losses of the spec.
    r = rng.random_sample()
    if r < 0.25:
        names = ["ce"]
    elif r < 0.5:
        names = ["missing_ce"]
    elif r < 0.7:
        names = ["marginal_ce"]
    else:
        names = [str(v) for v in rng.choice(["ce", "missing_ce", "marginal_ce"], size=2)]
    if tkind == "labels":
        tdtype = str(rng.choice(["uint8", "int32", "int64"]))
        opts = ["none", "255"]
        if tdtype != "uint8":
            opts.append("-100")
        if names == ["ce"]:
            opts.append("class")
        ignore_mode = str(rng.choice(opts))
    else:
        tdtype = str(rng.choice(["uint8", "float32", "soft", "soft"]))
        ignore_mode = "none"
    ignore_index = {"none": -100, "-100": -100, "255": 255}.get(ignore_mode)
    if ignore_mode == "class":
        ignore_index = int(rng.randint(C))
    x = make_input(rng, N, C, sp, kind, big)
    tgt = make_target(rng, N, C, sp, tkind, tdtype, ignore_mode)
    if tkind == "labels":
        valid = tgt.astype(np.int64) != ignore_index
        if not valid.any():  # keep at least one pixel (the empty mean is NaN in torch)
            tgt.flat[0] = 0
    # Annotation matrix: given or inferred.
    ann = None
    if rng.random_sample() < 0.5:
        if "marginal_ce" in names:
            ann = checklib.present_classes(tgt, tkind, C) | (rng.random_sample((N, C)) < 0.3)
        else:
            ann = rng.random_sample((N, C)) < 0.5
        ann[:, 0] = rng.random_sample(N) < 0.5  # column 0 is ignored: background always annotated
        ann = ann.astype(str(rng.choice(["uint8", "uint8", "int64", "float32"])))
    terms = []
    for i, name in enumerate(names):
        k = 1.0 if len(names) == 1 and rng.random_sample() < 0.8 else float(
            rng.choice([0.25, 0.5, 1.0, 2.0, 1.5]))
        terms.append((k, name, rand_options(rng, name, C, ignore_index, kind, tkind)))
    if rng.random_sample() < 0.5:
        x = x.astype(np.float64)  # the CLI rounds it to float32; so does the reference
    rtol, atol = 1e-4, 1e-5
    if big:
        rtol, atol = 3e-3, 3e-3
    elif kind == "probs":
        rtol, atol = 2e-4, 2e-5
    check_case(tmp, "case %d" % idx, terms, x, kind, tgt, tkind, ann, rtol=rtol, atol=atol,
               extra="(|z| scale 1e4)" if big else "")


def error_cases(tmp, rng):
    # marginal_ce: a label of a class the matrix declares not annotated is an error.
    x = rng.randn(2, 3, 5).astype(np.float32)
    y = np.array([[0, 1, 2, 0, 1], [0, 0, 2, 2, 0]], np.int64)
    ann = np.array([[1, 1, 0], [1, 1, 1]], np.uint8)
    check_error(tmp, "error: marginal_ce label not annotated", "marginal_ce", x, y, ann)
    check_error(tmp, "error: marginal_ce label not annotated in a sum", "ce + marginal_ce", x, y, ann)
    t = np.ascontiguousarray(np.eye(3, dtype=np.float32)[y].transpose(0, 2, 1))
    check_error(tmp, "error: marginal_ce per-class target not annotated", "marginal_ce", x, t, ann)
    # ignore_index >= C with a per-class target names no channel (tests/check_ignore_probs.py
    # checks 0 <= ignore_index < C).
    check_error(tmp, "error: ce per-class target with ignore_index=255",
                "ce(ignore_index=255)", x, t, None)
    # A label out of range.
    y2 = y.copy()
    y2[0, 0] = 3
    check_error(tmp, "error: label out of range", "ce", x, y2, None)
    # Probabilities of a pixel summing to 0; a negative probability.
    p = rng.random_sample((1, 3, 4)).astype(np.float32)
    p[0, :, 2] = 0.0
    check_error(tmp, "error: probs summing to 0", "ce", p, np.zeros((1, 4), np.int64), None, "probs")
    p = rng.random_sample((1, 3, 4)).astype(np.float32)
    p[0, 1, 1] = -0.1
    check_error(tmp, "error: negative probability", "ce", p, np.zeros((1, 4), np.int64), None, "probs")


def main():
    return checklib.run_cases("check_losses", SEED, NCASES, random_case,
                              before=[anchors, lambda tmp: np.random.seed(SEED + 1)],
                              after=[error_cases])


if __name__ == "__main__":
    sys.exit(main())
