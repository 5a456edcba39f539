#!/usr/bin/python3
"""Independent check of binary and multi-label segmentation in `segloss loss` against PyTorch
(float64): the sigmoid losses on one channel with a {0, 1} label map, and lovasz_hinge.

The references are written here from their definitions, never from the C code:

  lovasz_hinge   Berman et al.'s binary Lovasz hinge as the authors' lovasz_hinge computes it
                 (lovasz_losses.py): per image (per_image=true, their default) or over the whole
                 batch, the non-ignored elements flattened, errors 1 - x (2t - 1) sorted in
                 decreasing order, the dot product of relu(errors) with lovasz_grad of the
                 sorted targets; the mean over images. Several channels are flattened together
                 (segmentation_models_pytorch's multilabel mode); a label map is one-hot over
                 C > 1 channels and the {0, 1} target itself on one channel.
  bce            torch.nn.functional.binary_cross_entropy_with_logits on [N, 1, ...] logits with
                 the {0, 1} label map as its target (ignored pixels leave the mean).
  dice           MONAI DiceLoss(sigmoid=True) on one channel: the label is the target (MONAI
                 skips to_onehot_y for a single channel).

Labels come as [N, spatial...] or as MONAI's [N, 1, spatial...]. Gradients come from autograd
(the sort is a constant to autograd, as in the authors' code). For every case the CLI runs with
--impl fast and --impl ref. Run with /usr/bin/python3 (python3-torch). The binary is $SEGLOSS
(default build/segloss). Ends with `check_binary: N passed, M failed`; exits 1 when M > 0.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402

torch.set_default_dtype(torch.float64)

NCASES = int(os.environ.get("CHECK_BINARY_CASES", "300"))
SEED = int(os.environ.get("CHECK_BINARY_SEED", "9091"))


def lovasz_hinge_flat(logits, labels):
    """The authors' lovasz_hinge_flat (a stable sort: ties keep the element order)."""
    if len(labels) == 0:
        return logits.sum() * 0.0
    signs = 2.0 * labels - 1.0
    errors = 1.0 - logits * signs
    # decreasing order, ties by index: sort (-errors) stably
    perm = np.lexsort((np.arange(len(errors)), -errors.detach().numpy()))
    perm = torch.from_numpy(perm)
    errors_sorted = errors[perm]
    grad = checklib.lovasz_grad(labels[perm])
    return torch.dot(torch.relu(errors_sorted), grad)


def targets(tgt, tkind, C, ignore):
    """Per-element targets [N, C, ...] and a valid-pixel mask [N, ...]."""
    if tkind == "labels":
        y = torch.from_numpy(tgt.astype(np.int64))
        valid = y != ignore
        ys = torch.where(valid, y, torch.zeros_like(y))
        if C == 1:
            t = (ys == 1).unsqueeze(1).double()
        else:
            t = torch.nn.functional.one_hot(ys, C).movedim(-1, 1).double()
        return t, valid
    t = torch.from_numpy(tgt.astype(np.float64))
    return t, torch.ones(t.shape[:1] + t.shape[2:], dtype=torch.bool)


def ref_lovasz_hinge(x, t, valid, o):
    N, C = x.shape[:2]
    vm = valid.unsqueeze(1).expand_as(x)
    if o["per_image"]:
        vals = [lovasz_hinge_flat(x[n][vm[n]], t[n][vm[n]]) for n in range(N)]
    else:
        vals = [lovasz_hinge_flat(x[vm], t[vm])]
    m = torch.stack(vals)
    v = m.mean() if o["reduction"] == "mean" else m.sum()
    return v, m.detach()


def ref_bce(x, t, valid, o):
    el = torch.nn.functional.binary_cross_entropy_with_logits(x, t, reduction="none")
    el = el * valid.unsqueeze(1)
    v = el.sum() / valid.sum() if o["reduction"] == "mean" else el.sum()
    return v, el.detach()


def ref_dice(x, t, valid, o):
    p = torch.sigmoid(x) * valid.unsqueeze(1)
    g = t * valid.unsqueeze(1)
    axes = list(range(2, x.dim()))
    inter = (p * g).sum(axes)
    f = 1 - (2 * inter + 1e-5) / (p.sum(axes) + g.sum(axes) + 1e-5)
    v = f.mean() if o["reduction"] == "mean" else f.sum()
    return v, f.detach()


def spec_of(name, o):
    kv = []
    if name == "lovasz_hinge" and not o["per_image"]:
        kv.append("per_image=False" if o["say_py"] else "per_image=false")
    if name == "dice":
        kv.append("sigmoid=True" if o["say_py"] else "sigmoid=true")
    if o["ignore"] is not None:
        kv.append("ignore_index=%d" % o["ignore"])
    if o["reduction"] != "mean":
        kv.append("reduction=%s" % o["reduction"])
    return name + ("(" + ",".join(kv) + ")" if kv else "")


def check_case(tmp, idx, name, o, x, tgt, tkind):
    C = x.shape[1]
    xt = torch.tensor(x.astype(np.float64), requires_grad=True)
    squeezed = tgt[:, 0] if tkind == "labels" and tgt.ndim == x.ndim else tgt
    t, valid = targets(squeezed, tkind, C, o["ignore"] if o["ignore"] is not None else -100)
    ref = {"lovasz_hinge": ref_lovasz_hinge, "bce": ref_bce, "dice": ref_dice}[name]
    v, m = ref(xt, t, valid, o)
    v.backward()
    exp_v, exp_m, exp_g = float(v), m.numpy(), xt.grad.numpy()
    spec = spec_of(name, o)
    args = [spec] + checklib.loss_input_args(tmp, x, tgt)
    desc = "case %d: '%s' input %s target %s %s %s" % (idx, spec, list(x.shape), tkind,
                                                     list(tgt.shape), tgt.dtype)

    def value_problem(got_v):
        if checklib.close_scalar(got_v, exp_v, 1e-5, 1e-6):
            return None
        return "%.12g expected %.12g" % (got_v, exp_v)

    def map_problem(got_m):
        return checklib.compare_scaled(got_m.reshape(exp_m.shape), exp_m, 1e-5, 1e-6, 1.0)

    def grad_problem(got_g):
        return checklib.compare_scaled(got_g, exp_g, 1e-4, 1e-6, 1e-12)

    checklib.check_loss_cli(tmp, desc, args, value_problem, map_problem, grad_problem)


def random_case(rng, tmp, idx):
    name = ["lovasz_hinge", "lovasz_hinge", "bce", "dice"][idx % 4]
    nsp = int(rng.randint(1, 4))
    N = int(rng.randint(1, 4))
    C = 1 if name != "lovasz_hinge" or rng.random_sample() < 0.7 else int(rng.randint(2, 4))
    if nsp == 1:
        sp = [int(rng.randint(1, 40))]
    elif nsp == 2:
        sp = [int(rng.randint(1, 12)), int(rng.randint(1, 12))]
    else:
        sp = [int(rng.randint(1, 5)) for _ in range(3)]
    x = (rng.randn(*([N, C] + sp)) * float(rng.choice([0.3, 1.0, 3.0]))).astype(np.float32)
    if rng.random_sample() < 0.5:
        x = x.astype(np.float64)
    o = {"per_image": bool(rng.random_sample() < 0.6), "ignore": None,
         "reduction": str(rng.choice(["mean", "mean", "sum", "none"])),
         "say_py": bool(rng.random_sample() < 0.3)}
    tkind = "labels" if rng.random_sample() < 0.7 or name == "bce" else "perclass"
    if tkind == "labels":
        y = rng.randint(0, 2 if C == 1 else C, size=[N] + sp)
        if rng.random_sample() < 0.4:
            o["ignore"] = int(rng.choice([255, -1]))
            y[rng.random_sample(y.shape) < 0.2] = o["ignore"]
            if rng.random_sample() < 0.1:
                y[0] = o["ignore"]  # an image with every pixel ignored scores 0
        tgt = y[:, None] if rng.random_sample() < 0.5 else y  # MONAI's [N, 1, spatial...]
        tgt = tgt.astype(str(rng.choice(["int32", "int64", "uint8"])) if o["ignore"] != -1
                         else np.int64)
    else:
        tgt = (rng.random_sample([N, C] + sp) < 0.4).astype(np.float32)
    check_case(tmp, idx, name, o, x, tgt, tkind)


def anchors(tmp):
    """A hand case: one image, 4 pixels, logits [2, -1, 0.5, -0.2], labels [1, 0, 0, 1].
    Errors 1 - x s = [-1, 0, 1.5, 1.2]; sorted [1.5, 1.2, 0, -1] with targets [0, 1, 0, 1];
    G = 2: J = 1 - I/U = [1 - 2/3, 1 - 1/3, 1 - 1/4, 1 - 0/4] = [1/3, 2/3, 3/4, 1], g = [1/3,
    1/3, 1/12, 1/4]; loss = 1.5/3 + 1.2/3 = 0.9."""
    x = np.array([[[2.0, -1.0, 0.5, -0.2]]], np.float32)
    y = np.array([[1, 0, 0, 1]], np.int64)
    args = ["lovasz_hinge"] + checklib.loss_input_args(tmp, x, y) + ["--json"]
    rc, out, err = checklib.run_segloss(["loss"] + args)
    v, r = checklib.json_loss(out) if rc == 0 else (None, err.strip())
    checklib.check(r is None and abs(v - 0.9) < 1e-6, "anchor lovasz_hinge: got %s (%s), want 0.9"
                   % (v, r))


def error_cases(tmp):
    x1 = np.zeros((1, 1, 4), np.float32)
    checklib.check_loss_refused(tmp, "label 2 on one channel", "lovasz_hinge",
                                checklib.loss_input_args(tmp, x1, np.array([[0, 1, 2, 0]])),
                                want="out of range")
    checklib.check_loss_refused(tmp, "target above 1", "lovasz_hinge",
                                checklib.loss_input_args(tmp, x1, np.full((1, 1, 4), 2.0,
                                                                          np.float32)),
                                want="above 1")
    checklib.check_loss_refused(tmp, "lovasz on one channel", "lovasz",
                                checklib.loss_input_args(tmp, x1, np.array([[0, 1, 1, 0]])),
                                want="lovasz_hinge")


def main():
    return checklib.run_cases("check_binary", SEED, NCASES, random_case, before=[anchors],
                              after=[lambda tmp, rng: error_cases(tmp)])


if __name__ == "__main__":
    sys.exit(main())
