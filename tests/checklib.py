"""The harness shared by the tests/check_*.py cross-checks.

Each script imports it (`import checklib`, with the script's own folder on sys.path) and uses:

  counting      ok(), fail(msg), check(cond, msg) and summary(name), which prints the last
                line `NAME: N passed, M failed` and returns the exit status (1 when M > 0).
  the CLI       run_program(argv) and run_segloss(args): (exit status, stdout, stderr), never
                raising; SEGLOSS is $SEGLOSS (default build/segloss); segloss_found(name).
  temp dirs     temp_dir(name): a fresh folder, removed afterwards.
  a main        run_cases(name, seed, ncases, random_case, before, after): the usual main of a
                cross-check of random cases.
  arrays        compare_within(got, exp, tol) and compare_scaled(got, exp, rtol, atol, floor).
  the trainer   torch_unet(cin, k, w): train/net.h's U-Net in torch.nn, its parameters in
                segloss's order; load_flat(model, flat) copies segloss's flat parameters in.
  loss cases    loss_input_args(), check_loss_cli() (one `segloss loss` case with --impl fast
                and ref: the JSON loss, the --loss-map and the --grad outputs) and
                check_loss_refused() (an error case: non-zero exit, one line on stderr, no file).

This file is not a check itself: tests/run.sh runs only tests/check_*.py.
"""
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

SEGLOSS = os.environ.get("SEGLOSS", "build/segloss")


# ------------------------------------------------------------------------------------------------
# Counting.


class Counts:
    """How many comparisons passed and failed so far."""

    def __init__(self):
        self.passed = 0
        self.failed = 0


counts = Counts()


def ok():
    counts.passed += 1


def fail(msg):
    counts.failed += 1
    print("FAIL " + msg)


def check(cond, msg):
    """Counts one comparison: passed when cond is true, else failed with msg printed."""
    if cond:
        ok()
    else:
        fail(msg)


def summary(name):
    """Prints `NAME: N passed, M failed`; returns the exit status, 1 when anything failed."""
    print("%s: %d passed, %d failed" % (name, counts.passed, counts.failed))
    return 1 if counts.failed else 0


# ------------------------------------------------------------------------------------------------
# Running programs.


def run_program(argv, timeout=60):
    """Runs argv; returns (exit status, stdout, stderr). A program that cannot be started or
    that runs past timeout seconds gives (-1, "", a line saying so)."""
    argv = [str(a) for a in argv]
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, errors="replace", timeout=timeout)
    except (OSError, subprocess.SubprocessError) as e:
        return -1, "", "cannot run %s: %s" % (argv[0], e)
    return p.returncode, p.stdout, p.stderr


def run_segloss(args, timeout=60):
    """Runs `segloss ARGS`; returns (exit status, stdout, stderr)."""
    return run_program([SEGLOSS] + list(args), timeout)


def segloss_found(name):
    """False (after printing why and a summary line with one failure) when there is no binary."""
    if os.path.exists(SEGLOSS):
        return True
    print("%s: %s not found (build it with make, or set SEGLOSS)" % (name, SEGLOSS))
    print("%s: 0 passed, 1 failed" % name)
    return False


def one_line(err):
    """True when err is exactly one non-blank line ending in a newline."""
    lines = err.splitlines()
    return len(lines) == 1 and lines[0].strip() != "" and err == lines[0] + "\n"


@contextlib.contextmanager
def temp_dir(name):
    """A new folder for a script's files; removed with everything in it afterwards."""
    path = tempfile.mkdtemp(prefix=name + ".")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_if_there(path):
    if os.path.exists(path):
        os.unlink(path)


# ------------------------------------------------------------------------------------------------
# Comparing arrays.


def compare_within(got, exp, tol):
    """None when got has exp's shape and |got - exp| <= tol everywhere (tol is a number or an
    array that broadcasts to exp; a NaN anywhere fails), else a string saying how many entries
    are off and which one is the furthest beyond its tolerance."""
    if got.shape != exp.shape:
        return "shape %s, expected %s" % (got.shape, exp.shape)
    got = got.astype(np.float64)
    err = np.abs(got - exp)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, err - tol, -np.inf))), exp.shape)
        return "%d of %d entries off; worst at %s: got %.9g expected %.9g" % (
            int(bad.sum()), exp.size, tuple(int(v) for v in i), got[i], exp[i])
    return None


def compare_scaled(got, exp, rtol, atol, floor, extra=0.0):
    """compare_within with the tolerance rtol * |exp| + atol * max(max |exp|, floor) + extra."""
    scale = max(float(np.abs(exp).max()) if exp.size else 0.0, floor)
    return compare_within(got, exp, rtol * np.abs(exp) + atol * scale + extra)


# ------------------------------------------------------------------------------------------------
# One `segloss loss` case.


def loss_input_args(tmp, x, tgt, ann=None, kind="logits"):
    """Saves the input, the target and the annotation matrix (when given) in tmp; returns the
    options that name them (and --input-kind probs for probabilities)."""
    xi, ti, ai = (os.path.join(tmp, n) for n in ("x.npy", "t.npy", "a.npy"))
    np.save(xi, x)
    np.save(ti, tgt)
    args = ["--input", xi, "--target", ti]
    if kind == "probs":
        args += ["--input-kind", "probs"]
    if ann is not None:
        np.save(ai, ann)
        args += ["--annotated", ai]
    return args


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


def loss_of_json(out):
    """The "loss" of the JSON printed by --json, read as strict JSON (NaN or Infinity there is
    an error): null, the NaN of a mean over nothing, is returned as NaN."""
    v = json.loads(out, parse_constant=_no_constant)["loss"]
    return float("nan") if v is None else float(v)


def json_loss(out):
    """(the "loss" of the JSON printed by --json, None), or (None, why it cannot be read)."""
    try:
        return loss_of_json(out), None
    except (ValueError, KeyError, TypeError) as e:
        return None, "bad JSON %r (%s)" % (out, e)


def close_scalar(got, exp, rtol, atol):
    """|got - exp| <= rtol * |exp| + atol * max(1, |exp|); a NaN exp wants a NaN."""
    if math.isnan(exp):
        return math.isnan(got)
    return abs(got - exp) <= rtol * abs(exp) + atol * max(1.0, abs(exp))


def check_loss_cli(tmp, desc, args, value_problem, map_problem, grad_problem,
                   grad_dtype=np.float32, impls=("fast", "ref")):
    """Runs `segloss loss ARGS --json --impl IMPL --grad G --loss-map M` for each impl and counts
    three comparisons: the JSON loss, the loss map and the gradient (three failures when the run
    fails). value_problem(float), map_problem(array) and grad_problem(array) return None when the
    output is right, else a string saying what is off. grad_problem None: the gradient is not
    specified (counted as passed). grad_dtype: the gradient's dtype, unless None."""
    gp, mp = os.path.join(tmp, "g.npy"), os.path.join(tmp, "m.npy")
    for impl in impls:
        remove_if_there(gp)
        remove_if_there(mp)
        rc, out, err = run_segloss(["loss"] + args + ["--json", "--impl", impl, "--grad", gp,
                                                      "--loss-map", mp])
        tag = "%s [impl %s]" % (desc, impl)
        if rc != 0:
            for _ in range(3):
                fail("%s: exit %d: %s" % (tag, rc, err.strip()))
            continue
        got_v, r = json_loss(out)
        if r is None:
            r = value_problem(got_v)
            if r is not None:
                r = "loss " + r
        check(r is None, "%s: %s" % (tag, r))
        try:
            r = map_problem(np.load(mp))
        except Exception as e:  # noqa: BLE001 - report any unreadable output as a failure
            r = "cannot read: %s" % e
        check(r is None, "%s: loss map %s" % (tag, r))
        if grad_problem is None:
            ok()
            continue
        try:
            got_g = np.load(gp)
            r = grad_problem(got_g)
            if r is None and grad_dtype is not None and got_g.dtype != grad_dtype:
                r = "dtype %s, expected %s" % (got_g.dtype, np.dtype(grad_dtype))
        except Exception as e:  # noqa: BLE001
            r = "cannot read: %s" % e
        check(r is None, "%s: grad %s" % (tag, r))


def check_loss_refused(tmp, label, spec, args, want=None):
    """`segloss loss SPEC ARGS --grad G` must fail with each impl: a non-zero exit, one line on
    stderr (naming want, when given) and no G written."""
    gp = os.path.join(tmp, "g_err.npy")
    for impl in ("fast", "ref"):
        rc, out, err = run_segloss(["loss", spec] + args + ["--grad", gp, "--impl", impl])
        good = rc != 0 and not os.path.exists(gp) and one_line(err)
        if good and want and want not in err:
            good = False
        check(good, "%s [impl %s]: spec '%s': expected a one-line error%s, got exit %d: %r" % (
            label, impl, spec, " naming '%s'" % want if want else "", rc, err.strip()))
        remove_if_there(gp)


def sanitized(path):
    """Whether the program or library at path was built with AddressSanitizer (it then links
    the sanitizer's runtime)."""
    try:
        dyn = subprocess.run(["readelf", "-d", path], capture_output=True, text=True).stdout
    except OSError:
        return False
    return "libasan.so" in dyn


def preload_sanitizer(lib):
    """A library built with -fsanitize=address can be loaded into Python only when the
    sanitizer's runtime comes first: when lib is such a library and the runtime is not loaded
    yet, run this script again with it preloaded (Python's own allocations live as long as the
    process, so leaks are not checked)."""
    if not sanitized(lib) or "libasan" in os.environ.get("LD_PRELOAD", ""):
        return
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True,
                          text=True).stdout.strip()
    if not os.path.isabs(path):
        return
    env = dict(os.environ)
    env["LD_PRELOAD"] = (path + " " + env.get("LD_PRELOAD", "")).strip()
    env["ASAN_OPTIONS"] = "detect_leaks=0:" + env.get("ASAN_OPTIONS", "")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)



def run_cases(name, seed, ncases, random_case, before=(), after=()):
    """The usual main of a cross-check: with the CLI found and in a fresh temporary folder, each
    f(tmp) of before, random_case(rng, tmp, i) for i < ncases from RandomState(seed), then each
    f(tmp, rng) of after; returns summary(name)."""
    if not segloss_found(name):
        return 1
    with temp_dir(name) as tmp:
        for f in before:
            f(tmp)
        rng = np.random.RandomState(seed)
        for i in range(ncases):
            random_case(rng, tmp, i)
        for f in after:
            f(tmp, rng)
    return summary(name)


def rand_spatial(rng, nsp, lengths, hi2, hi3):
    """The spatial axes of a random case: nsp = 1, one length drawn from lengths; 2, two in
    [1, hi2); 3, three in [1, hi3)."""
    if nsp == 1:
        return [int(rng.choice(lengths))]
    if nsp == 2:
        return [int(rng.randint(1, hi2)), int(rng.randint(1, hi2))]
    return [int(rng.randint(1, hi3)), int(rng.randint(1, hi3)), int(rng.randint(1, hi3))]


def rand_case_head(rng, spatial):
    """The first draws of a random case, in this order: the number of spatial axes, N in [1, 4),
    C in [2, 7), the spatial axes (spatial(rng, nsp)), the input's kind (probs 30%), a big-logit
    case (7% of the logits), the target's kind (labels 60%)."""
    nsp = int(rng.randint(1, 4))
    N, C = int(rng.randint(1, 4)), int(rng.randint(2, 7))
    sp = spatial(rng, nsp)
    kind = "probs" if rng.random_sample() < 0.3 else "logits"
    big = kind == "logits" and rng.random_sample() < 0.07
    tkind = "labels" if rng.random_sample() < 0.6 else "perclass"
    return N, C, sp, kind, big, tkind


def lovasz_grad(gt_sorted):
    """The authors' lovasz_grad (numpy arrays or torch tensors): the gradient of the Lovasz
    extension of the Jaccard loss at the sorted ground truth."""
    gts = gt_sorted.sum()
    inter = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jac = 1.0 - inter / union
    if len(gt_sorted) > 1:
        jac[1:] = jac[1:] - jac[:-1]
    return jac


def missing_labels(rng, N, C, P):
    """[N, P] labels of images that each hold background and a random half of the other
    classes (the rest are 'missing')."""
    y = np.zeros([N, P], np.int64)
    for n in range(N):
        pool = [0] + [c for c in range(1, C) if rng.random_sample() < 0.5]
        y[n] = rng.choice(pool, size=P)
    return y


def soft_target(rng, y, C, holes=0.0):
    """[N, C, P] soft targets over the classes of each image's labels y [N, P] (background
    always), random weights normalised per pixel; with holes, that share of the pixels start
    as background only."""
    N, P = y.shape
    t = np.zeros([N, C, P])
    for n in range(N):
        cls = sorted(set(y[n].tolist()) | {0})
        raw = rng.random_sample([len(cls), P]) ** 2
        if holes:
            raw[:, rng.random_sample(P) < holes] = 0.0
        raw[0, raw.sum(0) == 0] = 1.0
        t[n, cls] = raw / raw.sum(0, keepdims=True)
    return t


def present_classes(tgt, tkind, C):
    """[N, C] bool: class c >= 1 has a pixel in image n (label c, or target_c > 0)."""
    N = tgt.shape[0]
    a = np.zeros((N, C), bool)
    for n in range(N):
        for c in range(1, C):
            a[n, c] = (tgt[n] == c).any() if tkind == "labels" else (tgt[n, c] > 0).any()
    return a


def annotation(tgt, tkind, C, ann_given):
    """The [N, C] bool annotation matrix: the given one, or the classes present; background
    always on."""
    a = ann_given.astype(bool).copy() if ann_given is not None else present_classes(tgt, tkind, C)
    a[:, 0] = True
    return a


def torch_unet(cin, k, w):
    """The U-Net of train/net.h written with torch.nn layers (Conv2d, ReLU, MaxPool2d,
    ConvTranspose2d, torch.cat, a 1x1 Conv2d), its parameters in segloss's order."""
    import torch
    from torch import nn

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.Conv2d(o, o, 3, padding=1)]

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList(
                block(cin, w) + block(w, 2 * w) + block(2 * w, 4 * w)
                + [nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)] + block(4 * w, 2 * w)
                + [nn.ConvTranspose2d(2 * w, w, 2, stride=2)] + block(2 * w, w)
                + [nn.Conv2d(w, k, 1)])

        def forward(self, x):
            L, r, pool = self.layers, torch.relu, nn.functional.max_pool2d
            e1 = r(L[1](r(L[0](x))))
            e2 = r(L[3](r(L[2](pool(e1, 2)))))
            b = r(L[5](r(L[4](pool(e2, 2)))))
            d2 = r(L[8](r(L[7](torch.cat([L[6](b), e2], 1)))))
            d1 = r(L[11](r(L[10](torch.cat([L[9](d2), e1], 1)))))
            return L[12](d1)

    return UNet()


def load_flat(model, flat):
    """Copies segloss's flat parameter vector into the model, parameter by parameter."""
    import torch
    with torch.no_grad():
        off = 0
        for p in model.parameters():
            p.copy_(torch.from_numpy(flat[off:off + p.numel()]).reshape(p.shape))
            off += p.numel()
