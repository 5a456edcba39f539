#!/usr/bin/python3
"""PyTorch peers of segloss's losses: a value check, then timings beside `segloss bench`.

Every peer is the loss's formula (docs/losses.md, focal.md, dice.md, distance.md) written here in
PyTorch ops (float32, CPU), forward and backward by autograd: the loss value and its gradient
with respect to the logits. The distance losses take their distance maps from SciPy's
distance_transform_edt, per image and class, computed inside the timed call (segloss computes
them per call too). This file imports nothing from tests/.

  ce                F.cross_entropy(x, y, weight=[0.5,1,2,1], ignore_index=255), ~5% of the labels
                    255 (with C != 4 the weights cycle: 0.5,1,2,1,0.5,1,...)
  missing_ce        the blog post's custom loss: -log p_y, except 0 at background pixels whose
                    argmax class is not annotated in the image (annotation inferred from the label
                    map); mean over all pixels (argmax as torch.max(x, 1).indices: the same first
                    maximum, ~10x faster than x.argmax(1) in torch 1.13)
  marginal_ce       Shi et al.: at background pixels -log of the summed probability of background
                    and the classes not annotated in the image; mean over pixels
  focal             softmax focal loss, -(1 - p_y)^2 log p_y, mean over pixels
  bce               BCEWithLogitsLoss on the one-hot labels over the C channels, mean
  dice, tversky,    MONAI-style (softmax, one-hot, sums over the spatial axes per (image, class),
  generalized_dice  smooth_nr = smooth_dr = 1e-5, mean over the (image, class) matrix;
                    tversky with MONAI's explicit fp = sum p (1 - g), fn = sum (1 - p) g;
                    generalized_dice: MONAI GeneralizedDiceLoss, w_type=square, per image)
  lovasz            Berman et al.'s lovasz_softmax semantics (classes=present, per_image=False):
                    per class, errors |fg - p| sorted descending, the Lovasz gradient of the sorted
                    foreground from cumulative sums, dot product; mean over present classes
                    (that Lovasz gradient in float64: see LOVASZ_NOTE)
  boundary          Kervadec et al.'s SurfaceLoss with one_hot2dist signed maps, classes 1..C-1
  hausdorff_dt      MONAI HausdorffDTLoss(alpha=2, include_background=False)

Steps:
  1. value check: at small sizes (fixed seeds) the inputs are written as .npy files, `segloss loss
     SPEC --input X --target Y --json --grad G` is run and its value and gradient are compared
     with the peer's; a difference above 1e-4 relative (value: to max(|value|, 0.01); gradient:
     to the largest |gradient| entry) fails the script (exit 1) before any timing.
  2. timing: for each loss, size and thread count, the peer's forward+backward is timed in a
     fresh Python process (torch.set_num_threads(T); warm-up, then the median of the reps), once
     with glibc's default allocator and once with GLIBC_TUNABLES set to the "tuned allocator"
     (it must be in the environment when the process starts), and `segloss bench` is run for the
     same loss, size and threads. One table line per (loss, size, threads), or one JSON object
     per line with --json.

Run from the repository root, with Debian's python3-torch:

    make && /usr/bin/python3 bench/peers.py --quick
    /usr/bin/python3 bench/peers.py --losses ce,dice --sizes "S1;C19" --threads 1,2 --json
    /usr/bin/python3 bench/peers.py --check-only

--quick (S1 only, 5 reps) takes about 9 minutes on a loaded 2-core machine (the value check
takes seconds); the full default run (5 sizes, 2 thread counts, 15 reps) is of the order of
40 minutes there. `segloss bench` is called once per size for every loss and thread count (it
also times its own double-precision reference, slow for the distance losses). When the binary
has no `bench` command, the torch side is still timed and the segloss columns are '-'.

Sizes: names (S1=8,4,512,512  N32=32,4,512,512  N1=1,4,512,512  C19=8,19,256,512
3D=2,4,64,64,64) or explicit shapes N,C,H,W or N,C,D,H,W, separated by ';' or spaces.
"""
import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

TUNED_ENV = ("glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736:"
             "glibc.malloc.top_pad=268435456")

SIZES = [("S1", (8, 4, 512, 512)), ("N32", (32, 4, 512, 512)), ("N1", (1, 4, 512, 512)),
         ("C19", (8, 19, 256, 512)), ("3D", (2, 4, 64, 64, 64))]

LOSSES = ["ce", "missing_ce", "marginal_ce", "focal", "bce", "dice", "tversky",
          "generalized_dice", "lovasz", "boundary", "hausdorff_dt"]

# The slow peers: fewer reps, one warm-up, and sizes above max_elems (N*C*spatial) are not timed.
# Measured on the 2-core AMD EPYC this was written on, 1 thread, one forward+backward:
#                 S1 8,4,512,512   C19 8,19,256,512   3D 2,4,64,64,64
#   lovasz            1.7 s            7.5 s              0.4 s
#   boundary          1.1 s            3.9 s              0.5 s
#   hausdorff_dt      2.2 s            7.4 s              1.3 s
# (ce: 0.17 s at S1). N32 is 4x S1. With a warm-up and 3 reps, twice (both allocators) per thread
# count, N32 and C19 would take 2 to 3 minutes per loss: the cap (9.4M elements) keeps S1, N1, 3D.
SLOW = {"lovasz": {"reps": 3, "max_elems": 9 * 2 ** 20},
        "boundary": {"reps": 3, "max_elems": 9 * 2 ** 20},
        "hausdorff_dt": {"reps": 3, "max_elems": 9 * 2 ** 20}}

CE_WEIGHTS = [0.5, 1.0, 2.0, 1.0]
IGNORE = 255
IGNORE_FRACTION = 0.05
SEED = 20240701


def ce_weights(C):
    return [CE_WEIGHTS[c % len(CE_WEIGHTS)] for c in range(C)]


def spec_of(loss, C):
    """The segloss spec the peer computes, for C classes."""
    if loss == "ce":
        return "ce(weight=[%s],ignore_index=%d)" % (",".join("%g" % w for w in ce_weights(C)),
                                                    IGNORE)
    return loss


def make_inputs(shape, loss, seed):
    """logits ~ N(0, 2^2) float32, labels uniform in [0, C) int64; ce: ~5% of labels 255."""
    rng = np.random.default_rng(seed)
    N, C = shape[:2]
    x = rng.standard_normal(shape, dtype=np.float32) * np.float32(2.0)
    y = rng.integers(0, C, size=(N,) + tuple(shape[2:]), dtype=np.int64)
    if loss == "ce":
        y[rng.random(y.shape) < IGNORE_FRACTION] = IGNORE
    return x, y


# ------------------------------------------------------------------------------------------------
# The peers. Each takes x (float32 [N, C, ...], requires_grad) and y (int64 [N, ...]) and returns
# the scalar loss; torch is imported lazily so that the parent process stays light.

torch = None
F = None
ndi = None


def load_torch():
    global torch, F, ndi
    if torch is None:
        import torch as _torch
        import torch.nn.functional as _F
        import scipy.ndimage as _ndi
        torch, F, ndi = _torch, _F, _ndi


def onehot(y, C, dtype):
    """[N, ...] labels -> [N, C, ...] one-hot (MONAI's one_hot: zeros, then scatter)."""
    oh = torch.zeros((y.shape[0], C) + tuple(y.shape[1:]), dtype=dtype)
    return oh.scatter_(1, y.unsqueeze(1), 1.0)


def spatial_axes(t):
    return tuple(range(2, t.dim()))


def annotated(y, C):
    """[N, C] bool: class c >= 1 is annotated in image n when some pixel of n is labelled c;
    background always. (Labels in [0, C): these peers have no ignore_index.)"""
    N = y.shape[0]
    a = torch.zeros((N, C), dtype=torch.bool).scatter_(1, y.reshape(N, -1), True)
    a[:, 0] = True
    return a


def peer_ce(x, y):
    w = torch.tensor(ce_weights(x.shape[1]), dtype=x.dtype)
    return F.cross_entropy(x, y, weight=w, ignore_index=IGNORE)


def peer_missing_ce(x, y):
    N, C = x.shape[:2]
    logp = F.log_softmax(x, 1)
    nll = -logp.gather(1, y.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        a = annotated(y, C)
        # torch.max's indices: the first maximum, as argmax, and ~10x faster than
        # x.argmax(1) over the class axis in torch 1.13 on CPU.
        pred = torch.max(x, 1).indices                              # [N, ...]
        gate = ~a.gather(1, pred.reshape(N, -1)).reshape(pred.shape)  # predicted not annotated
        drop = (y == 0) & gate
    return torch.where(drop, torch.zeros((), dtype=x.dtype), nll).mean()


def peer_marginal_ce(x, y):
    N, C = x.shape[:2]
    logp = F.log_softmax(x, 1)
    with torch.no_grad():
        merged = ~annotated(y, C)
        merged[:, 0] = True
        merged = merged.reshape((N, C) + (1,) * (x.dim() - 2))
    log_q0 = logp.masked_fill(~merged, float("-inf")).logsumexp(1)
    logp_y = logp.gather(1, y.unsqueeze(1)).squeeze(1)
    return -torch.where(y == 0, log_q0, logp_y).mean()


def peer_focal(x, y):
    logp_y = F.log_softmax(x, 1).gather(1, y.unsqueeze(1)).squeeze(1)
    p_y = logp_y.exp()
    return (-(1.0 - p_y) ** 2 * logp_y).mean()


def peer_bce(x, y):
    return F.binary_cross_entropy_with_logits(x, onehot(y, x.shape[1], x.dtype))


SMOOTH_NR = SMOOTH_DR = 1e-5


def peer_dice(x, y):
    p = torch.softmax(x, 1)
    g = onehot(y, x.shape[1], x.dtype)
    ax = spatial_axes(p)
    inter = (p * g).sum(ax)
    den = p.sum(ax) + g.sum(ax)
    return (1.0 - (2.0 * inter + SMOOTH_NR) / (den + SMOOTH_DR)).mean()


def peer_tversky(x, y, alpha=0.5, beta=0.5):
    p = torch.softmax(x, 1)
    g = onehot(y, x.shape[1], x.dtype)
    ax = spatial_axes(p)
    tp = (p * g).sum(ax)
    fp = (p * (1.0 - g)).sum(ax)
    fn = ((1.0 - p) * g).sum(ax)
    t = (tp + SMOOTH_NR) / (tp + alpha * fp + beta * fn + SMOOTH_DR)
    return (1.0 - t).mean()


def peer_generalized_dice(x, y):
    p = torch.softmax(x, 1)
    g = onehot(y, x.shape[1], x.dtype)
    ax = spatial_axes(p)
    inter = (p * g).sum(ax)                   # [N, C]
    g_sum = g.sum(ax)
    den = g_sum + p.sum(ax)
    with torch.no_grad():
        w = 1.0 / (g_sum * g_sum)             # w_type=square; inf where the class is absent
        inf = torch.isinf(w)
        w[inf] = 0.0
        w = w + inf * w.max(1, keepdim=True)[0]
    num = 2.0 * (inter * w).sum(1) + SMOOTH_NR
    den = (den * w).sum(1) + SMOOTH_DR
    return (1.0 - num / den).mean()


LOVASZ_NOTE = (
    "the Lovasz gradient (a constant of autograd: differences of consecutive Jaccard values "
    "over the sorted foreground) is computed in float64 and rounded to float32 for the dot "
    "product; probabilities, errors and the sort stay float32. In float32 throughout (the "
    "authors' code) the differences J_k - J_(k-1) of numbers near 1 lose digits: at "
    "2x4x64x64 the gradient then differs from segloss and from a float64 evaluation by "
    "2.7e-4 of its largest entry (the value by 1e-5), which would fail the 1e-4 check")


def peer_lovasz(x, y, sort_key=None):
    """sort_key(c, err) -> the key the errors of class c are sorted by (default: err itself);
    only the value check passes another one (segloss's order, to explain ties)."""
    N, C = x.shape[:2]
    p = torch.softmax(x, 1)
    pf = p.movedim(1, -1).reshape(-1, C)      # [N * P, C], image-major pixel order
    yf = y.reshape(-1)
    per_class = []
    for c in range(C):
        fg = (yf == c).to(p.dtype)
        total = fg.sum()
        if not total > 0:                     # classes='present'
            continue
        err = (fg - pf[:, c]).abs()
        if sort_key is None:
            err_sorted, order = torch.sort(err, descending=True, stable=True)
        else:
            _, order = torch.sort(sort_key(c, err.detach()), descending=True, stable=True)
            err_sorted = err[order]
        with torch.no_grad():                 # the Lovasz gradient of the sorted foreground
            fg_sorted = fg[order].double()    # in double: see LOVASZ_NOTE
            total = fg_sorted.sum()
            inter = total - fg_sorted.cumsum(0)
            union = total + (1.0 - fg_sorted).cumsum(0)
            jac = 1.0 - inter / union
            jac[1:] = jac[1:] - jac[:-1].clone()
        per_class.append(torch.dot(err_sorted, jac.to(p.dtype)))
    if not per_class:
        return p.sum() * 0.0
    return torch.stack(per_class).mean()


def edt(mask):
    return ndi.distance_transform_edt(mask)


def signed_distance(G):
    """one_hot2dist of one class mask; 0 when the mask is empty or full (segloss's choice)."""
    if not G.any() or G.all():
        return np.zeros(G.shape, np.float32)
    outside = ~G
    return (edt(outside) * outside - (edt(G) - 1.0) * G).astype(np.float32)


def peer_boundary(x, y):
    N, C = x.shape[:2]
    p = torch.softmax(x, 1)
    yn = y.numpy()
    phi = np.empty((N, C - 1) + tuple(x.shape[2:]), np.float32)
    for n in range(N):
        for k in range(1, C):
            phi[n, k - 1] = signed_distance(yn[n] == k)
    return (p[:, 1:] * torch.from_numpy(phi)).mean()


def field(fg):
    """MONAI HausdorffDTLoss.distance_field of one mask (fg = m > 0.5)."""
    if not fg.any() or fg.all():
        return np.zeros(fg.shape)
    return edt(fg) + edt(~fg)


def peer_hausdorff_dt(x, y, alpha=2.0):
    N, C = x.shape[:2]
    p = torch.softmax(x, 1)
    g = onehot(y, C, x.dtype)
    pn = p.detach().numpy()
    yn = y.numpy()
    dist = np.empty((N, C - 1) + tuple(x.shape[2:]), np.float32)
    for n in range(N):
        for c in range(1, C):
            dist[n, c - 1] = field(pn[n, c] > 0.5) ** alpha + field(yn[n] == c) ** alpha
    r = (p[:, 1:] - g[:, 1:]) ** 2 * torch.from_numpy(dist)
    return r.mean(spatial_axes(r)).mean()


PEERS = {"ce": peer_ce, "missing_ce": peer_missing_ce, "marginal_ce": peer_marginal_ce,
         "focal": peer_focal, "bce": peer_bce, "dice": peer_dice, "tversky": peer_tversky,
         "generalized_dice": peer_generalized_dice, "lovasz": peer_lovasz,
         "boundary": peer_boundary, "hausdorff_dt": peer_hausdorff_dt}


def peer_value_grad(loss, x_np, y_np, **kw):
    load_torch()
    x = torch.from_numpy(x_np.copy()).requires_grad_()
    y = torch.from_numpy(y_np)
    v = PEERS[loss](x, y, **kw)
    v.backward()
    return float(v), x.grad.numpy()


def lovasz_segloss_order(x_np, y_np):
    """The sort key segloss documents (docs/focal.md): errors from double probabilities, rounded
    to float, ties by pixel index. Only for explaining a gradient difference at tied errors."""
    C = x_np.shape[1]
    p64 = torch.softmax(torch.from_numpy(x_np.astype(np.float64)), 1)
    pf = p64.movedim(1, -1).reshape(-1, C)
    yf = torch.from_numpy(y_np).reshape(-1)

    def key(c, err32):
        return ((yf == c).double() - pf[:, c]).abs().float()
    return key


# ------------------------------------------------------------------------------------------------
# The worker: one (loss, size, threads, allocator) timing in its own process.


def worker(cfg):
    load_torch()
    torch.set_num_threads(cfg["threads"])
    shape = tuple(cfg["shape"])
    x_np, y_np = make_inputs(shape, cfg["loss"], cfg["seed"])
    x = torch.from_numpy(x_np).requires_grad_()
    y = torch.from_numpy(y_np)
    fn = PEERS[cfg["loss"]]

    def once():
        x.grad = None
        t0 = time.perf_counter()
        v = fn(x, y)
        v.backward()
        return (time.perf_counter() - t0) * 1e3, float(v)

    for _ in range(cfg["warmup"]):
        once()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    value = None
    for _ in range(cfg["reps"]):
        t, value = once()
        times.append(t)
    f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = {"t_med_ms": statistics.median(times), "t_min_ms": min(times), "reps": len(times),
           "value": value, "torch_threads": torch.get_num_threads(),
           "minflt_per_rep": (f1 - f0) / max(1, len(times)),
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
           "glibc_tunables": os.environ.get("GLIBC_TUNABLES")}
    print(json.dumps(out))
    return 0


def run_worker(loss, shape, threads, reps, warmup, tuned, timeout):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if tuned:
        env["GLIBC_TUNABLES"] = TUNED_ENV
    cfg = {"loss": loss, "shape": list(shape), "threads": threads, "reps": reps,
           "warmup": warmup, "seed": SEED}
    argv = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(cfg)]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timed out after %d s" % timeout
    if p.returncode != 0:
        return None, "worker exit %d: %s" % (p.returncode, p.stderr.strip()[-400:])
    try:
        return json.loads(p.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError) as e:
        return None, "bad worker output %r (%s)" % (p.stdout[-200:], e)


# ------------------------------------------------------------------------------------------------
# segloss.


def run_cmd(argv, timeout, env=None):
    try:
        p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, errors="replace", timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return -1, "", "timed out after %d s" % timeout
    except OSError as e:
        return -1, "", "cannot run %s: %s" % (argv[0], e)
    return p.returncode, p.stdout, p.stderr


def segloss_env():
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    return env


def bench_available(segloss):
    """(True, None) when `segloss bench --help` works, else (False, why)."""
    rc, out, err = run_cmd([segloss, "bench", "--help"], 30, segloss_env())
    if rc == 0:
        return True, None
    msg = (err.strip() or out.strip()).splitlines()
    return False, "`%s bench --help` exit %d: %s" % (segloss, rc, msg[0] if msg else "")


def run_segloss_bench(segloss, specs, shape, threads, reps, timeout):
    """The JSON objects `segloss bench --loss 'S1;S2;...' --threads T1,T2,...` prints (a list),
    or (None, why). One call per size: segloss also times its double-precision reference (for
    max_abs_diff), which is slow for some losses, so one call for every spec and thread count."""
    argv = [segloss, "bench", "--loss", ";".join(specs), "--size", ",".join(map(str, shape)),
            "--threads", ",".join(map(str, threads)), "--reps", reps, "--json"]
    rc, out, err = run_cmd(argv, timeout, segloss_env())
    if rc != 0:
        return None, "segloss bench exit %d: %s" % (rc, err.strip()[-300:])
    objs = []
    for line in out.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            objs.append(json.loads(line))
        except ValueError:
            return None, "segloss bench printed a line that is not JSON: %r" % line[:200]
    if not objs:
        return None, "segloss bench printed nothing"
    return objs, None


# ------------------------------------------------------------------------------------------------
# Step 1: the value check.


def blob_labels(rng, N, C, sp, missing):
    """Smooth blobs (argmax of smoothed noise); with missing, each image loses some classes >= 1
    (relabelled background), so missing_ce's gate and marginal_ce's merge are exercised."""
    load_torch()
    y = np.empty((N,) + sp, np.int64)
    for n in range(N):
        f = ndi.gaussian_filter(rng.standard_normal((C,) + sp), sigma=[0] + [2.0] * len(sp))
        lab = f.argmax(0)
        if missing:
            gone = [c for c in range(1, C) if rng.random() < 0.4]
            lab[np.isin(lab, gone)] = 0
        y[n] = lab
    return y


def check_cases():
    """(name, x, y, y for ce) of the value check."""
    cases = []
    x, y = make_inputs((2, 4, 32, 32), "dice", SEED)
    _, yce = make_inputs((2, 4, 32, 32), "ce", SEED)
    cases.append(("uniform 2,4,32,32", x, y, yce))
    x, y = make_inputs((2, 4, 64, 64), "dice", SEED + 2)
    _, yce = make_inputs((2, 4, 64, 64), "ce", SEED + 2)
    cases.append(("uniform 2,4,64,64", x, y, yce))
    rng = np.random.default_rng(SEED + 1)
    for name, shape in (("blobs+missing 2,4,32,32", (2, 4, 32, 32)),
                        ("blobs+missing 2,4,12,12,12", (2, 4, 12, 12, 12)),
                        ("blobs+missing 2,19,16,24", (2, 19, 16, 24))):
        x = (rng.standard_normal(shape) * 2.0).astype(np.float32)
        # Logits that agree with the labels now and then (predictions near the target).
        y = blob_labels(rng, shape[0], shape[1], tuple(shape[2:]), missing=True)
        oh = np.moveaxis(np.eye(shape[1], dtype=np.float32)[y], -1, 1)
        x = (x + 3.0 * oh * (rng.random(oh.shape) < 0.7)).astype(np.float32)
        yce = y.copy()
        yce[rng.random(y.shape) < IGNORE_FRACTION] = IGNORE
        cases.append((name, x, y, yce))
    return cases


def value_check(segloss, losses, emit, json_out):
    """Returns the number of disagreements (0 when every peer matches segloss)."""
    bad = 0
    tmp = tempfile.mkdtemp(prefix="segloss_peers.")
    try:
        for cname, x, y, yce in check_cases():
            xp = os.path.join(tmp, "x.npy")
            np.save(xp, x)
            for loss in losses:
                yy = yce if loss == "ce" else y
                yp, gp = os.path.join(tmp, "y.npy"), os.path.join(tmp, "g.npy")
                np.save(yp, yy)
                if os.path.exists(gp):
                    os.unlink(gp)
                spec = spec_of(loss, x.shape[1])
                rec = {"record": "check", "case": cname, "loss": loss, "spec": spec}
                rc, out, err = run_cmd([segloss, "loss", spec, "--input", xp, "--target", yp,
                                        "--json", "--grad", gp], 120)
                try:
                    if rc != 0:
                        raise RuntimeError("segloss loss exit %d: %s" % (rc, err.strip()))
                    sv = float(json.loads(out)["loss"])
                    sg = np.load(gp)
                except Exception as e:  # noqa: BLE001 - any failure to get segloss's answer
                    rec.update(ok=False, error=str(e))
                    bad += 1
                    emit(rec)
                    continue
                pv, pg = peer_value_grad(loss, x, yy)
                dv = abs(sv - pv)
                vtol = 1e-4 * max(abs(pv), 0.01)
                gscale = float(np.abs(pg).max())
                dg = float(np.abs(sg.astype(np.float64) - pg).max()) if sg.shape == pg.shape \
                    else float("inf")
                gtol = 1e-4 * gscale
                ok = dv <= vtol and dg <= gtol
                rec.update(ok=ok, segloss=sv, peer=pv, value_abs_diff=dv,
                           value_rel_diff=dv / max(abs(pv), 0.01), grad_max_abs_diff=dg,
                           grad_rel_diff=dg / gscale if gscale > 0 else dg, grad_max=gscale)
                if loss == "lovasz" and dv <= vtol and not dg <= gtol and sg.shape == pg.shape:
                    # Tied float32 errors: the peer orders them by pixel index, segloss by the
                    # errors of double probabilities; the gradient is then another (valid)
                    # subgradient at those pixels. The same formula with segloss's order must
                    # agree everywhere.
                    _, pg2 = peer_value_grad(loss, x, yy,
                                             sort_key=lovasz_segloss_order(x, yy))
                    dg2 = float(np.abs(sg.astype(np.float64) - pg2).max())
                    n_tie = int((np.abs(sg.astype(np.float64) - pg) > gtol).sum())
                    rec.update(tie_entries=n_tie, grad_max_abs_diff_segloss_order=dg2)
                    if dg2 <= gtol:
                        ok = True
                        rec["tie_note"] = (
                            "%d gradient entries differ (max %.1e) at float32 errors that tie in "
                            "the peer but not in segloss (which sorts errors of double "
                            "probabilities); sorted in segloss's order the peer's gradient agrees "
                            "to %.1e: a different valid subgradient, same formula" % (n_tie, dg, dg2))
                    rec["ok"] = ok
                if not ok and sg.shape == pg.shape:
                    d = np.abs(sg.astype(np.float64) - pg)
                    where = np.unravel_index(int(np.argmax(d)), d.shape)
                    rec.update(grad_entries_off=int((d > gtol).sum()), grad_size=int(d.size),
                               worst_at=[int(i) for i in where],
                               worst_segloss=float(sg[where]), worst_peer=float(pg[where]))
                if not ok:
                    bad += 1
                emit(rec)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return bad


# ------------------------------------------------------------------------------------------------
# Output.


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.3g" % v if v < 100 else "%.0f" % v


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def fmt_diff(v):
    return "-" if v is None else "%.1e" % v


def size_label(shape):
    for name, s in SIZES:
        if tuple(s) == tuple(shape):
            return "%s %s" % (name, ",".join(map(str, shape)))
    return ",".join(map(str, shape))


TABLE_HEAD = ("%-17s %-19s %2s %10s %6s %8s %-7s %10s %10s %8s %8s" % (
    "loss", "size", "T", "segloss_ms", "floor", "max_diff", "isa", "torch_ms", "tuned_ms",
    "x_torch", "x_tuned"))


def table_line(r):
    return "%-17s %-19s %2d %10s %6s %8s %-7s %10s %10s %8s %8s" % (
        r["loss"], size_label(r["shape"]), r["threads"], fmt_ms(r.get("segloss_t_med_ms")),
        fmt_ratio(r.get("floor_ratio")), fmt_diff(r.get("max_abs_diff")), r.get("isa") or "-",
        fmt_ms(r.get("torch_default_ms")), fmt_ms(r.get("torch_tuned_ms")),
        fmt_ratio(r.get("speedup_vs_default")), fmt_ratio(r.get("speedup_vs_tuned")))


def check_line(r):
    if "error" in r:
        return "check %-17s %-27s FAIL: %s" % (r["loss"], r["case"], r["error"])
    s = "check %-17s %-27s %s  value segloss %.9g peer %.9g (rel diff %.1e)  grad max abs diff " \
        "%.1e (rel %.1e of max |grad| %.2e)" % (
            r["loss"], r["case"], "ok  " if r["ok"] else "FAIL", r["segloss"], r["peer"],
            r["value_rel_diff"], r["grad_max_abs_diff"], r["grad_rel_diff"], r["grad_max"])
    if "tie_note" in r:
        s += "\n      " + r["tie_note"]
    if not r["ok"] and "worst_at" in r:
        s += "\n      %d of %d gradient entries off; worst at %s: segloss %.9g peer %.9g" % (
            r["grad_entries_off"], r["grad_size"], r["worst_at"], r["worst_segloss"],
            r["worst_peer"])
    return s


# ------------------------------------------------------------------------------------------------
# Main.


def parse_sizes(text):
    named = dict(SIZES)
    out = []
    for tok in text.replace(";", " ").split():
        if tok.upper() in (k.upper() for k in named):
            out.append(next(v for k, v in named.items() if k.upper() == tok.upper()))
            continue
        try:
            shape = tuple(int(v) for v in tok.split(","))
        except ValueError:
            raise SystemExit("peers.py: bad size %r (a name %s or N,C,H,W / N,C,D,H,W)" % (
                tok, "/".join(named)))
        if len(shape) not in (4, 5) or min(shape) < 1 or shape[1] < 2:
            raise SystemExit("peers.py: bad size %r (N,C,H,W or N,C,D,H,W, C >= 2)" % tok)
        out.append(shape)
    if not out:
        raise SystemExit("peers.py: --sizes names no size")
    return out


def find_segloss(path):
    if os.path.exists(path) or os.path.isabs(path):
        return path
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    alt = os.path.join(root, path)
    return alt if os.path.exists(alt) else path


def main():
    ap = argparse.ArgumentParser(
        description="PyTorch peers of segloss's losses: value check, then timings beside "
                    "`segloss bench`.")
    ap.add_argument("--losses", default=",".join(LOSSES),
                    help="comma-separated losses (default: all): " + ",".join(LOSSES))
    ap.add_argument("--sizes", default=None,
                    help="sizes separated by ';' or spaces: names (%s) or N,C,H,W / N,C,D,H,W "
                         "(default: all named; --quick: S1)" % " ".join(
                             "%s=%s" % (k, ",".join(map(str, v))) for k, v in SIZES))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--reps", type=int, default=None,
                    help="timed reps after the warm-up (default 15; --quick 5; slow peers 3)")
    ap.add_argument("--quick", action="store_true", help="fewer reps, S1 only")
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--segloss", default="build/segloss", help="the binary (default build/segloss)")
    ap.add_argument("--check-only", action="store_true", help="only the value check")
    ap.add_argument("--no-check", action="store_true", help="skip the value check")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds allowed for one timing process (default 900)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        return worker(json.loads(args.worker))

    losses = [s.strip() for s in args.losses.split(",") if s.strip()]
    unknown = [s for s in losses if s not in PEERS]
    if unknown or not losses:
        raise SystemExit("peers.py: unknown loss %s (known: %s)" % (
            ",".join(unknown) or "(none)", ",".join(LOSSES)))
    sizes = parse_sizes(args.sizes if args.sizes else ("S1" if args.quick else
                                                       " ".join(k for k, _ in SIZES)))
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        raise SystemExit("peers.py: bad --threads %r" % args.threads)
    if not threads or min(threads) < 1:
        raise SystemExit("peers.py: bad --threads %r" % args.threads)
    reps = args.reps if args.reps is not None else (5 if args.quick else 15)
    if reps < 1:
        raise SystemExit("peers.py: --reps must be at least 1")
    warmup = 1 if args.quick else 2
    segloss = find_segloss(args.segloss)

    def emit_text(s):
        print(s)
        sys.stdout.flush()

    def emit(rec):
        if args.json:
            emit_text(json.dumps(rec))
        elif rec["record"] == "check":
            emit_text(check_line(rec))
        elif rec["record"] == "result":
            emit_text(table_line(rec))
        elif rec["record"] == "note":
            emit_text("note: " + rec["text"])

    def note(text, **kw):
        rec = {"record": "note", "text": text}
        rec.update(kw)
        emit(rec)

    load_torch()
    import scipy
    meta = {"record": "meta", "torch": torch.__version__, "numpy": np.__version__,
            "scipy": scipy.__version__, "python": platform.python_version(),
            "glibc": "%s %s" % platform.libc_ver(), "cpu": cpu_model(),
            "cpus": os.cpu_count(), "torch_default_threads": torch.get_num_threads(),
            "loadavg_start": load_average(),
            "threads": threads, "reps": reps, "warmup": warmup, "segloss": segloss,
            "tuned_allocator": "GLIBC_TUNABLES=" + TUNED_ENV,
            "note": "one run on a shared machine: the times and ratios are single measurements, "
                    "not averages over runs"}
    if args.json:
        emit_text(json.dumps(meta))
    else:
        emit_text("torch %s (numpy %s, scipy %s, python %s, %s), float32 on CPU" % (
            meta["torch"], meta["numpy"], meta["scipy"], meta["python"], meta["glibc"]))
        emit_text("CPU: %s, %s logical CPUs (load average %s at the start); torch's default "
                  "thread count here %d; timed with threads %s" % (
                      meta["cpu"], meta["cpus"], meta["loadavg_start"],
                      meta["torch_default_threads"], ",".join(map(str, threads))))
        emit_text("Note: %s. Times are medians of %d reps after %d warm-up (%s: at most %d reps after 1 "
                  "warm-up)." % (meta["note"].capitalize(), reps, warmup,
                                 ", ".join(sorted(SLOW)), min(reps, 3)))
    if not os.path.exists(segloss):
        print("peers.py: %s not found (run make, or pass --segloss PATH)" % segloss,
              file=sys.stderr)
        return 2

    if not args.no_check:
        bad = value_check(segloss, losses, emit, args.json)
        if bad:
            msg = ("VALUE CHECK FAILED: %d peer/segloss comparison(s) beyond 1e-4 relative; the "
                   "peers do not compute what segloss computes, so no timing was done" % bad)
            note(msg, failed=bad)
            print("peers.py: " + msg, file=sys.stderr)
            return 1
        note("value check passed: every peer matches segloss within 1e-4 relative "
             "(value and gradient)")
    if args.check_only:
        return 0

    have_bench, why = bench_available(segloss)
    if not have_bench:
        note("segloss bench is not available (%s): only the torch peers are timed; the segloss "
             "columns are '-'" % why)
    if "lovasz" in losses:
        note("lovasz peer: " + LOVASZ_NOTE)
    if any(l in SLOW for l in losses):
        caps = sorted(set(v["max_elems"] for v in SLOW.values()))
        note("lovasz, boundary and hausdorff_dt are timed with at most 3 reps after 1 warm-up; "
             "sizes above %s elements (N*C*spatial) are not timed on their torch side (minutes "
             "per size); the distance peers' EDTs are SciPy's, single-threaded whatever T" % (
                 caps[0] if len(caps) == 1 else
                 ", ".join("%s %d" % (k, v["max_elems"]) for k, v in sorted(SLOW.items()))))
    if "ce" in losses and any(sh[1] != len(CE_WEIGHTS) for sh in sizes):
        note("ce with C != 4: the class weights cycle through 0.5,1,2,1 (the spec says them)")
    note("speed-up = torch median / segloss median; the tuned allocator is GLIBC_TUNABLES=%s, set "
         "in the torch process's environment (segloss runs with GLIBC_TUNABLES unset)" % TUNED_ENV)
    if not args.json:
        emit_text(TABLE_HEAD)

    failures = 0
    for shape in sizes:
        elems = int(np.prod(shape))
        size_s = ",".join(map(str, shape))
        seg_found = {}
        if have_bench:
            objs, err = run_segloss_bench(segloss, [spec_of(l, shape[1]) for l in losses], shape,
                                          threads, reps, args.timeout * len(losses))
            if objs is None:
                note("segloss bench at %s (all losses at once): %s; trying one loss and thread "
                     "count at a time" % (size_s, err))
            else:
                for o in objs:
                    seg_found.setdefault((o.get("loss"), o.get("threads")), []).append(o)
        for loss in losses:
            slow = SLOW.get(loss)
            lreps = min(reps, slow["reps"]) if slow else reps
            skip_torch = bool(slow) and elems > slow["max_elems"]
            if skip_torch:
                note("%s at %s: torch peer not timed (%d elements > %d: minutes per run)" % (
                    loss, ",".join(map(str, shape)), elems, slow["max_elems"]),
                    loss=loss, size=",".join(map(str, shape)))
            for t in threads:
                base = {"record": "result", "loss": loss, "spec": spec_of(loss, shape[1]),
                        "size": ",".join(map(str, shape)), "shape": list(shape), "threads": t,
                        "torch_reps": None if skip_torch else lreps}
                seg_objs = [None]
                if have_bench:
                    objs = seg_found.get((base["spec"], t))
                    if objs is None:   # not in the size's run: this case alone
                        objs, err = run_segloss_bench(segloss, [base["spec"]], shape, [t], reps,
                                                      args.timeout)
                        if objs is None:
                            note("%s %s T=%d: %s" % (loss, size_s, t, err))
                            failures += 1
                    if objs is not None:
                        seg_objs = objs
                tres = {}
                if not skip_torch:
                    for tuned in (False, True):
                        r, err = run_worker(loss, shape, t, lreps, 1 if slow else warmup,
                                            tuned, args.timeout)
                        if r is None:
                            note("%s %s T=%d torch %s: %s" % (
                                loss, base["size"], t, "tuned" if tuned else "default", err))
                            failures += 1
                        want = TUNED_ENV if tuned else None
                        if r is not None and r.get("glibc_tunables") != want:
                            note("%s %s T=%d: the torch process saw GLIBC_TUNABLES=%r, expected %r"
                                 % (loss, base["size"], t, r.get("glibc_tunables"), want))
                            failures += 1
                        tres[tuned] = r
                for so in seg_objs:
                    rec = dict(base)
                    if so is not None:
                        rec["segloss_t_med_ms"] = so.get("t_med_ms")
                        rec["segloss_t_min_ms"] = so.get("t_min_ms")
                        for k in ("floor_ms", "floor_ratio", "max_abs_diff", "isa"):
                            rec[k] = so.get(k)
                        rec["segloss"] = so
                        if so.get("size") not in (None, base["size"]) or \
                                so.get("threads") not in (None, t):
                            rec["segloss_reported"] = {"size": so.get("size"),
                                                       "threads": so.get("threads"),
                                                       "loss": so.get("loss")}
                    for tuned, key in ((False, "default"), (True, "tuned")):
                        r = tres.get(tuned)
                        if r is None:
                            continue
                        rec["torch_%s_ms" % key] = r["t_med_ms"]
                        rec["torch_%s_min_ms" % key] = r["t_min_ms"]
                        rec["torch_%s_minflt_per_rep" % key] = r["minflt_per_rep"]
                        rec["torch_%s_maxrss_mb" % key] = r["maxrss_mb"]
                        rec["torch_value"] = r["value"]
                        sm = rec.get("segloss_t_med_ms")
                        if sm:
                            rec["speedup_vs_%s" % key] = r["t_med_ms"] / sm
                    emit(rec)
    note("load average at the end: %s (%s logical CPUs)" % (load_average(), os.cpu_count()),
         loadavg_end=load_average())
    if failures:
        note("%d run(s) failed (see the notes above)" % failures)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
