#!/usr/bin/python3
"""Independent check of `segloss loss asymmetric_unified_focal` against PyTorch (float64).

The reference is MONAI's AsymmetricUnifiedFocalLoss (the multi-class form: channel 0 the
background, channels 1.. the foreground) written here from its definition, never from the C
code: softmax of logits (use_softmax=True) or probabilities as given, clamped to
[eps, 1 - eps]; the asymmetric focal part (1 - delta)(1 - p)^gamma CE on channel 0 and delta CE
on the others, averaged over the pixels; the asymmetric focal Tversky part 1 - D on channel 0 and
max(1 - D, eps)^(1 - gamma) on the others, D = (TP + eps) / (TP + delta FN + (1 - delta) FP +
eps); weight * focal + (1 - weight) * Tversky per (image, class), then the reduction. Ignored
pixels (segloss's ignore_index on label maps) have p and t set to 0 before the sums, which is
what leaving them out of every sum means (the focal part still divides by all pixels).
Gradients from autograd. For every case the CLI runs with --impl fast and --impl ref. Run with
/usr/bin/python3. Ends with `check_unified_focal: N passed, M failed`; exits 1 when M > 0.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_UNIFIED_FOCAL_CASES", "150"))
SEED = int(os.environ.get("CHECK_UNIFIED_FOCAL_SEED", "5150"))


def reference(x, kind, tgt, tkind, o):
    C = x.shape[1]
    p = torch.softmax(x, 1) if kind == "logits" else x
    if tkind == "labels":
        y = torch.from_numpy(tgt.astype(np.int64))
        valid = y != o["ignore_index"]
        t = torch.nn.functional.one_hot(torch.where(valid, y, torch.zeros_like(y)), C)
        t = t.movedim(-1, 1).double()
        v = valid.unsqueeze(1).double()
    else:
        t = torch.from_numpy(tgt.astype(np.float64))
        v = torch.ones_like(t)
    eps, de, ga, w = o["eps"], o["delta"], o["gamma"], o["weight"]
    p = torch.clamp(p, eps, 1.0 - eps)
    ce = -t * torch.log(p) * v
    back = (1 - de) * torch.pow(1 - p[:, 0:1], ga) * ce[:, 0:1]
    fore = de * ce[:, 1:]
    afl = torch.cat([back, fore], 1)
    axes = list(range(2, x.dim()))
    tp = (t * p * v).sum(axes)
    fn = (t * (1 - p) * v).sum(axes)
    fp = ((1 - t) * p * v).sum(axes)
    D = (tp + eps) / (tp + de * fn + (1 - de) * fp + eps)
    aftl = torch.cat([1 - D[:, 0:1], torch.pow(torch.clamp(1 - D[:, 1:], min=eps), 1 - ga)], 1)
    f = w * afl.mean(axes) + (1 - w) * aftl
    if not o["include_background"]:
        f = f[:, 1:]
    val = f.mean() if o["reduction"] == "mean" else f.sum()
    return val, f.detach()


def spec_of(o, say):
    kv = []
    for k in ("weight", "delta", "gamma", "eps", "include_background", "ignore_index",
              "reduction"):
        d = {"weight": 0.5, "delta": 0.6, "gamma": 0.5, "eps": 1e-7, "include_background": True,
             "ignore_index": -100, "reduction": "mean"}[k]
        if o[k] == d and not say:
            continue
        v = o[k]
        kv.append("%s=%s" % (k, ("true" if v else "false") if isinstance(v, bool) else v))
    return "asymmetric_unified_focal" + ("(" + ",".join(kv) + ")" if kv else "")


def random_case(rng, tmp, idx):
    N, C = int(rng.randint(1, 3)), int(rng.randint(2, 5))
    sp = [int(rng.randint(1, 9)), int(rng.randint(1, 9))] if rng.random_sample() < 0.7 else \
        [int(rng.randint(1, 30))]
    kind = "logits" if rng.random_sample() < 0.6 else "probs"
    shape = [N, C] + sp
    if kind == "logits":
        x = (rng.randn(*shape) * float(rng.choice([0.5, 2.0, 6.0]))).astype(np.float32)
    else:
        x = rng.random_sample(shape) + 0.01
        x = (x / x.sum(1, keepdims=True)).astype(np.float32)
    o = {"weight": float(rng.choice([0.5, 0.0, 0.3, 1.0])),
         "delta": float(rng.choice([0.6, 0.7, 0.25])),
         "gamma": float(rng.choice([0.5, 0.75, 2.0])),
         "eps": float(rng.choice([1e-7, 1e-7, 0.01])),
         "include_background": bool(rng.random_sample() < 0.7),
         "ignore_index": -100,
         "reduction": str(rng.choice(["mean", "sum", "none"]))}
    tkind = "labels" if rng.random_sample() < 0.7 else "perclass"
    y = rng.randint(0, C, size=[N] + sp)
    if tkind == "labels":
        if rng.random_sample() < 0.3:
            o["ignore_index"] = 255
            y[rng.random_sample(y.shape) < 0.2] = 255
        tgt = y.astype(np.int32)
    else:
        tgt = np.ascontiguousarray(np.eye(C)[y].transpose([0, len(sp) + 1] + list(
            range(1, len(sp) + 1)))).astype(np.float32)
        if rng.random_sample() < 0.5:
            tgt = (0.8 * tgt + 0.2 * rng.random_sample(tgt.shape)).astype(np.float32)
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    v, m = reference(xt, kind, tgt, tkind, o)
    v.backward()
    exp_v, exp_m, exp_g = float(v), m.numpy(), xt.grad.numpy()
    spec = spec_of(o, rng.random_sample() < 0.2)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt, kind=kind)
    desc = "case %d: '%s' input %s %s target %s" % (idx, spec, kind, shape, tkind)

    def value_problem(got):
        return None if checklib.close_scalar(got, exp_v, 1e-5, 1e-6) else \
            "%.12g expected %.12g" % (got, exp_v)

    checklib.check_loss_cli(
        tmp, desc, args, value_problem,
        lambda gm: checklib.compare_scaled(gm, exp_m, 1e-5, 1e-6, 1.0),
        lambda gg: checklib.compare_scaled(gg, exp_g, 1e-4, 1e-5, 1e-12))


def error_cases(tmp, rng):
    x = np.full((1, 2, 3), 0.5, np.float32)
    checklib.check_loss_refused(tmp, "probability above 1", "asymmetric_unified_focal",
                                checklib.loss_input_args(tmp, x * 3, np.zeros((1, 3), np.int32),
                                                         kind="probs"), want="above 1")


def main():
    return checklib.run_cases("check_unified_focal", SEED, NCASES, random_case,
                              after=[error_cases])


if __name__ == "__main__":
    sys.exit(main())
