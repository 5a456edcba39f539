#!/usr/bin/python3
"""Independent check of ignore_index with a per-class target (one-hot or soft) against PyTorch.

The rule (docs/losses.md, "ignore_index"): with a target of the input's shape and
0 <= ignore_index < C, a pixel is ignored where its target's first largest channel is
ignore_index (torch.argmax), the pixel that the label map argmax(target) would mark. An
ignored pixel leaves every sum and the mean's count, and its gradient is 0.

  ce          torch.nn.functional.cross_entropy with probability targets over the pixels left in
              (weight, label_smoothing, reduction); its map is 0 at ignored pixels, a mean over
              no pixel is NaN
  Dice family the MONAI formulas of tests/check_dice.py on p and target both zeroed at the
              ignored pixels (MONAI's masking of the label map's ignored voxels)

Refusals: a loss without the rule (focal, bce, lovasz, ...), sigmoid=true (channels overlap:
no channel is a pixel's label) and ignore_index >= C. For every case the CLI runs with --impl
fast and --impl ref, and the JSON loss, the loss map and the gradient are compared. Run with
/usr/bin/python3 (python3-torch). The binary is $SEGLOSS (default build/segloss). Ends with
`check_ignore_probs: N passed, M failed`; exits 1 when M > 0.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_dice  # noqa: E402
import checklib  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_IGNORE_PROBS_CASES", "240"))
SEED = int(os.environ.get("CHECK_IGNORE_PROBS_SEED", "4177"))
DICE = ["dice", "tversky", "focal_tversky", "generalized_dice", "log_cosh_dice"]


def ce_reference(x32, kind, t_np, o):
    """Value, map and gradient of ce on the pixels whose target's argmax is not ignore_index."""
    x = torch.tensor(x32.astype(np.float64), requires_grad=True)
    t = torch.from_numpy(t_np.astype(np.float64))
    C = x.shape[1]
    xs = x.movedim(1, -1).reshape(-1, C)
    ts = t.movedim(1, -1).reshape(-1, C)
    keep = torch.argmax(ts, dim=1) != o["ignore_index"]
    if kind == "logits":
        lp = torch.log_softmax(xs, dim=1)
    else:
        eps = 1e-7
        lp = torch.log(torch.clamp(xs / xs.sum(1, keepdim=True), eps, 1 - eps))
    w = o["weight"] if o["weight"] is not None else torch.ones(C)
    ls = o["label_smoothing"]
    tt = ts * (1 - ls) + ls / C
    per = -(lp * tt * w).sum(1) * keep.double()
    n = int(keep.sum())
    if o["reduction"] == "mean":
        v = per.sum() / n if n > 0 else per.sum() * float("nan")
    else:
        v = per.sum()
    if n > 0 or o["reduction"] != "mean":
        v.backward()
        g = x.grad.numpy()
    else:
        g = np.zeros(x.shape)
    m = per.detach().reshape([x.shape[0]] + list(x.shape[2:])).numpy()
    if kind == "logits" and n > 0:
        # the same through PyTorch itself on the pixels left in
        ref = torch.nn.functional.cross_entropy(
            xs.detach()[keep], ts[keep], weight=o["weight"], label_smoothing=ls,
            reduction="mean" if o["reduction"] == "mean" else "sum")
        checklib.check(abs(float(ref) - float(v)) <= 1e-9 * max(1.0, abs(float(v))),
                       "ce reference vs F.cross_entropy: %r vs %r" % (float(v), float(ref)))
    return float(v), m, g


def ce_spec(o):
    s = ["ignore_index=%d" % o["ignore_index"], "reduction=" + o["reduction"]]
    if o["weight"] is not None:
        s.append("weight=[%s]" % ",".join("%g" % float(v) for v in o["weight"]))
    if o["label_smoothing"]:
        s.append("label_smoothing=%g" % o["label_smoothing"])
    return "ce(%s)" % ",".join(s)


def ce_case(tmp, label, x, kind, t, o):
    exp_v, exp_m, exp_g = ce_reference(x.astype(np.float32), kind, t, o)
    spec = ce_spec(o)
    args = [spec] + checklib.loss_input_args(tmp, x, t, None, kind)
    desc = "%s: spec '%s' input %s %s" % (label, spec, kind, list(x.shape))

    def value_problem(got):
        if np.isnan(exp_v):
            return None if np.isnan(got) else "got %r expected NaN" % got
        if abs(got - exp_v) <= 1e-5 * abs(exp_v) + 1e-6:
            return None
        return "got %.12g expected %.12g" % (got, exp_v)

    def map_problem(got):
        if o["reduction"] != "none":
            return None
        return checklib.compare_scaled(got, exp_m, 1e-5, 1e-6, 1.0)

    def grad_problem(got):
        return checklib.compare_scaled(got, exp_g, 1e-4, 1e-7, 1.0)

    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem, grad_problem)


def make_target(rng, N, C, sp, ignore, soft):
    """A one-hot or soft target where ignore_index is the largest channel on about 1 pixel in 4,
    with ties (two channels equal and largest) on some pixels."""
    P = int(np.prod(sp))
    y = rng.randint(0, C, size=(N, P))
    y[rng.random_sample((N, P)) < 0.15] = ignore
    t = np.eye(C)[y].transpose(0, 2, 1).copy()
    if soft:
        raw = rng.random_sample((N, C, P)) * 0.5
        t = 0.6 * t + raw
        tie = rng.random_sample((N, P)) < 0.1
        other = (y + 1) % C
        for n, i in zip(*np.nonzero(tie)):
            t[n, other[n, i], i] = t[n, y[n, i], i]  # a tie: the first channel wins
        t = t / t.sum(1, keepdims=True)
    return t.reshape([N, C] + sp).astype(np.float32)


def random_case(rng, tmp, idx):
    N, C = int(rng.randint(1, 4)), int(rng.randint(2, 6))
    sp = check_dice.rand_spatial(rng, int(rng.randint(1, 3)))
    kind = "probs" if rng.random_sample() < 0.3 else "logits"
    x = check_dice.make_input(rng, [N, C] + sp, kind, False)
    ignore = int(rng.randint(0, C))
    t = make_target(rng, N, C, sp, ignore, rng.random_sample() < 0.5)
    label = "case %d" % idx
    if idx % 3 == 0:
        o = {"ignore_index": ignore, "reduction": str(rng.choice(["mean", "sum", "none"])),
             "weight": None, "label_smoothing": 0.0}
        if rng.random_sample() < 0.4:
            o["weight"] = torch.tensor([float("%g" % v) for v in np.round(rng.uniform(0, 3, C), 3)])
        if rng.random_sample() < 0.3:
            o["label_smoothing"] = 0.1
        ce_case(tmp, label, x, kind, t, o)
        return
    name = DICE[idx % len(DICE)]
    o = check_dice.rand_options(rng, name, C, ignore)
    check_dice.check_case(tmp, label, name, o, x, kind, t, "perclass", None)


def edge_cases(tmp, rng):
    # every pixel ignored: ce's mean over nothing is NaN (null in JSON), zero gradient
    x = rng.randn(2, 3, 4).astype(np.float32)
    t = np.zeros((2, 3, 4), np.float32)
    t[:, 1] = 1.0
    ce_case(tmp, "all ignored", x, "logits", t,
            {"ignore_index": 1, "reduction": "mean", "weight": None, "label_smoothing": 0.0})
    # one-hot target = label map, ignore_index a class: the same value
    y = rng.randint(0, 3, size=(2, 5))
    t = np.eye(3)[y].transpose(0, 2, 1).astype(np.float32)
    x = rng.randn(2, 3, 5).astype(np.float32)
    for spec in ("ce(ignore_index=2)", "dice(ignore_index=2)", "generalized_dice(ignore_index=0)"):
        got = []
        for tg in (y, t):
            rc, out, err = checklib.run_segloss(
                ["loss", spec, "--json"] + checklib.loss_input_args(tmp, x, tg))
            got.append(checklib.json_loss(out)[0] if rc == 0 else None)
        checklib.check(got[0] is not None and got[1] is not None and
                       abs(got[0] - got[1]) <= 1e-6 * max(1.0, abs(got[0])),
                       "%s: one-hot target %r vs label map %r" % (spec, got[1], got[0]))
    # refusals
    t = np.eye(3)[y].transpose(0, 2, 1).astype(np.float32)
    for spec in ("focal(ignore_index=1)", "bce(ignore_index=1)", "lovasz(ignore_index=1)",
                 "dice(sigmoid=true,ignore_index=1)", "ce(ignore_index=3)",
                 "dice(ignore_index=255)"):
        checklib.check_loss_refused(tmp, "refused", spec, checklib.loss_input_args(tmp, x, t))


def main():
    return checklib.run_cases("check_ignore_probs", SEED, NCASES, random_case, after=[edge_cases])


if __name__ == "__main__":
    sys.exit(main())
